"""`Config.original`: the re-marshalled config, compared with what the real Alertmanager 0.25
printed in `/api/v2/status` for the same file (fixtures `*.original.yml`).

The only deliberate difference: TLS versions are printed by name (`TLS12`), where
Alertmanager prints `771`, which it cannot load back.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

from daemon.config.loader import load_config_file, parse_config

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "configs"
ORACLE_CASES = sorted(path.name.removesuffix(".original.yml") for path in FIXTURES.glob("*.original.yml"))


@pytest.mark.parametrize("name", ORACLE_CASES)
def test_original_matches_real_alertmanager(name: str) -> None:
    config = load_config_file(str(FIXTURES / f"{name}.yml"))
    assert config.original == (FIXTURES / f"{name}.original.yml").read_text()


@pytest.mark.parametrize("name", ORACLE_CASES)
def test_original_loads_back_and_settles(name: str) -> None:
    # Not always a fixed point on the first pass, exactly as in Alertmanager: a field set
    # explicitly to "" is omitted and so takes its default on the way back in
    # (`quoting.yml` has `pretext: ''`). The second pass must be stable.
    original = load_config_file(str(FIXTURES / f"{name}.yml")).original
    reloaded = parse_config(original, str(FIXTURES)).original
    assert parse_config(reloaded, str(FIXTURES)).original == reloaded
    if name != "quoting":
        assert reloaded == original


@pytest.mark.parametrize("name", ORACLE_CASES)
def test_original_passes_amtool_check_config(name: str, tmp_path: pathlib.Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("amtool (Alertmanager 0.25) is required under CI")
        pytest.skip("amtool (Alertmanager 0.25) is not installed")
    marshalled = tmp_path / "original.yml"
    marshalled.write_text(load_config_file(str(FIXTURES / f"{name}.yml")).original)
    result = subprocess.run([amtool, "check-config", str(marshalled)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
