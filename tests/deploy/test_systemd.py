"""The bare-metal unit: systemd accepts it, its sandbox scores as hardened, and the example
environment file is a command line the daemon's flag parser accepts for a three-host cluster."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.flags import parse_flags
from tests.deploy.helm import REPO

SYSTEMD_DIR = REPO / "deploy" / "systemd"
UNIT = SYSTEMD_DIR / "tocsin.service"
ENV_EXAMPLE = SYSTEMD_DIR / "tocsin.env.example"
INSTALLED_DAEMON = "/opt/tocsin/bin/daemon"
ANALYZE_TIMEOUT_S = 60
# systemd-analyze security's scale: 0 is fully locked down, 10 unprotected; "OK" ends at 2.0.
MAX_EXPOSURE = 2.0


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        from tests.conftest import require_binary

        require_binary(Path("/usr/bin/systemd-analyze"))
    return found or "systemd-analyze"


def _unit_for_this_checkout(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this venv's daemon (verify checks the binary exists)."""
    daemon = Path(sys.executable).with_name("daemon")
    if not daemon.exists():
        pytest.fail(f"{daemon} is missing: `pip install -e .` installs the console script")
    unit = tmp_path / "tocsin.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_DAEMON, str(daemon)))
    return unit


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    unit = _unit_for_this_checkout(tmp_path)
    verified = subprocess.run([_systemd_analyze(), "verify", str(unit)], capture_output=True, text=True,
                              timeout=ANALYZE_TIMEOUT_S, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "tocsin.service" not in verified.stderr, verified.stderr


def test_unit_sandbox_exposure_is_low(tmp_path: Path) -> None:
    unit = _unit_for_this_checkout(tmp_path)
    analyzed = subprocess.run([_systemd_analyze(), "security", "--offline=yes", str(unit)], capture_output=True,
                              text=True, timeout=ANALYZE_TIMEOUT_S, check=False)
    match = re.search(r"Overall exposure level for tocsin\.service: (\d+\.\d+)", analyzed.stdout)
    assert match, analyzed.stdout + analyzed.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE


def test_unit_hardening_and_reload() -> None:
    directives: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith(("#", " ")):
            directives.setdefault(key, []).append(value)
    assert directives["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert directives["CapabilityBoundingSet"] == [""]
    assert directives["NoNewPrivileges"] == ["yes"]
    assert directives["ProtectSystem"] == ["strict"]
    assert directives["StateDirectory"] == ["tocsin"]
    assert directives["User"] == ["tocsin"]


def _example_argv() -> list[str]:
    """ExecStart's arguments after systemd expands the environment file ($VAR splits on spaces)."""
    environment: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            environment[key] = " ".join(shlex.split(value))
    exec_start = re.search(r"^ExecStart=(.*?)(?<!\\)$", UNIT.read_text().replace("\\\n", " "), re.M)
    assert exec_start
    words = exec_start.group(1).split()
    assert words[0] == INSTALLED_DAEMON
    argv: list[str] = []
    for word in words[1:]:
        if word.startswith("$"):
            argv.extend(environment[word[1:]].split())
        else:
            argv.append(word)
    return argv


def test_environment_example_is_a_three_host_cluster_the_daemon_accepts() -> None:
    outcome = parse_flags(_example_argv(), program="daemon")
    assert outcome.flags is not None, outcome.stderr
    flags = outcome.flags
    assert flags.cluster_peers == [f"alerts-{host}.example.internal:9094" for host in "abc"]
    assert flags.cluster_peer_name == "alerts-a"
    assert flags.cluster_listen_address == "0.0.0.0:9094"
    assert flags.cluster_advertise_address == "10.0.0.11:9094"
    assert flags.cluster_key_file == "/etc/tocsin/cluster.key"
    assert flags.storage_path == "/var/lib/tocsin"
