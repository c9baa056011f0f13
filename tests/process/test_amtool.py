"""The real amtool 0.25 against tocsin, compared with the same commands against Alertmanager 0.25.

amtool is what users run, so tocsin must satisfy it byte for byte where its output is
deterministic: the alert tables (with explicit start and end times), `config show` (which
prints `config.original`), the route tree and route tests (amtool re-parses `config.original`
strictly, so they also prove it is loadable), and `cluster show`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DaemonFactory, require_binary
from tests.helpers.processes import AMTOOL_BINARY, DaemonProcess, amtool
from tests.oracle.differential import candidate_kind, normalise_api_alerts

pytestmark = [pytest.mark.process, pytest.mark.oracle]

CONFIG = """\
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - matchers: [team=~"db|web"]
      receiver: team
      routes:
        - matchers: [env="prod", 'tier!="batch"']
          receiver: 'prod+team'
receivers:
  - name: default
  - name: pager
  - name: team
  - name: 'prod+team'
"""

# Explicit start and end times make every column of the alert tables deterministic.
ADD_COMMANDS = [
    (
        "alert",
        "add",
        "Disk",
        "severity=critical",
        "team=db",
        "--annotation=summary=full disk",
        "--start=2024-01-02T03:04:05Z",
        "--end=2099-01-01T00:00:00Z",
        "--generator-url=http://prometheus.example/graph",
    ),
    (
        "alert",
        "add",
        "alertname=Cpu",
        "team=web",
        "env=prod",
        "--start=2024-01-02T03:04:05Z",
        "--end=2099-01-01T00:00:00Z",
    ),
    ("alert", "add", "Quiet", "team=ops", "--start=2024-01-02T03:04:05Z", "--end=2099-01-01T00:00:00Z"),
]


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, DaemonProcess]]:
    """(oracle, tocsin), both started once for the module and fed the same alerts by amtool."""
    require_binary(AMTOOL_BINARY)
    factory = DaemonFactory(tmp_path_factory.mktemp("amtool"))
    try:
        oracle, candidate = factory.start_many([("alertmanager", CONFIG), (candidate_kind(), CONFIG)])
        for daemon in (oracle, candidate):
            for command in ADD_COMMANDS:
                result = amtool(daemon.base_url, *command)
                assert result.returncode == 0, (daemon.kind, command, result.stderr)
        yield oracle, candidate
    finally:
        factory.stop_all()


def run_both(daemons: tuple[DaemonProcess, DaemonProcess], *args: str) -> tuple[str, str]:
    """Run one amtool command against both; assert equal exit codes; return both stdouts."""
    oracle, candidate = (amtool(daemon.base_url, *args) for daemon in daemons)
    assert candidate.returncode == oracle.returncode, (args, oracle.stderr, candidate.stderr)
    assert candidate.stderr == oracle.stderr, args
    return oracle.stdout, candidate.stdout


def test_alert_query_simple_output(daemons: tuple[DaemonProcess, DaemonProcess]) -> None:
    oracle, candidate = run_both(daemons, "alert", "query")
    assert candidate == oracle
    assert oracle.splitlines() == [
        "Alertname  Starts At                Summary    State   ",
        "Cpu        2024-01-02 03:04:05 UTC             active  ",
        "Quiet      2024-01-02 03:04:05 UTC             active  ",
        "Disk       2024-01-02 03:04:05 UTC  full disk  active  ",
    ]  # sorted by fingerprint, as GET /api/v2/alerts is


@pytest.mark.parametrize(
    "args",
    [
        ("alert",),
        ("-o", "extended", "alert", "query"),
        ("alert", "query", "Disk"),
        ("alert", "query", "team=~d.*"),
        ("alert", "query", "-r", "pager"),
        ("alert", "query", "--receiver=prod\\+team"),
        ("alert", "query", "--silenced"),
        ("alert", "query", "-a", "-i", "team!=db"),
    ],
    ids=lambda args: " ".join(args),
)
def test_alert_query_variants(daemons: tuple[DaemonProcess, DaemonProcess], args: tuple[str, ...]) -> None:
    oracle, candidate = run_both(daemons, *args)
    assert candidate == oracle


def test_alert_query_json_output(daemons: tuple[DaemonProcess, DaemonProcess]) -> None:
    oracle, candidate = run_both(daemons, "-o", "json", "alert", "query")
    assert normalise_api_alerts(json.loads(candidate)) == normalise_api_alerts(json.loads(oracle))
    disk = next(one for one in json.loads(oracle) if one["labels"]["alertname"] == "Disk")
    assert [receiver["name"] for receiver in disk["receivers"]] == ["pager", "team"]


def test_config_show(daemons: tuple[DaemonProcess, DaemonProcess]) -> None:
    oracle, candidate = run_both(daemons, "config", "show")
    assert candidate == oracle
    assert "group_by:\n  - alertname\n" in oracle


def test_config_routes_show(daemons: tuple[DaemonProcess, DaemonProcess]) -> None:
    oracle, candidate = run_both(daemons, "config", "routes", "show")
    assert candidate == oracle
    assert oracle.splitlines()[:4] == [
        "Routing tree:",
        ".",
        "└── default-route  receiver: default",
        '    ├── {severity="critical"}  continue: true  receiver: pager',
    ]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (("severity=critical", "team=db"), "pager,team"),
        (("severity=critical", "team=web", "env=prod"), "pager,prod+team"),
        (("team=web", "env=prod", "tier=batch"), "team"),
        (("team=ops",), "default"),
        ((), "default"),
    ],
)
def test_config_routes_test(
    daemons: tuple[DaemonProcess, DaemonProcess], labels: tuple[str, ...], expected: str
) -> None:
    oracle, candidate = run_both(daemons, "config", "routes", "test", *labels)
    assert candidate == oracle
    assert oracle.strip() == expected


def test_config_routes_test_tree_and_verify(daemons: tuple[DaemonProcess, DaemonProcess]) -> None:
    oracle, candidate = run_both(
        daemons, "config", "routes", "test", "--tree", "severity=critical", "team=db"
    )
    assert candidate == oracle
    mismatch = [
        amtool(daemon.base_url, "config", "routes", "test", "--verify.receivers=pager", "severity=critical")
        for daemon in daemons
    ]
    assert [result.returncode for result in mismatch] == [0, 0]
    wrong = [
        amtool(daemon.base_url, "config", "routes", "test", "--verify.receivers=team", "severity=critical")
        for daemon in daemons
    ]
    assert [result.returncode for result in wrong] == [1, 1]
    assert wrong[1].stdout == wrong[0].stdout


@pytest.mark.parametrize("output", ["simple", "json", "extended"])
def test_cluster_show(daemons: tuple[DaemonProcess, DaemonProcess], output: str) -> None:
    oracle, candidate = run_both(daemons, "-o", output, "cluster", "show")
    assert candidate == oracle


def test_routes_test_from_a_local_file_needs_no_daemon(tmp_path: Path) -> None:
    """Sanity check of the oracle tool itself: local route tests agree with the daemon's."""
    require_binary(AMTOOL_BINARY)
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(CONFIG)
    result = amtool(
        "http://127.0.0.1:1", "config", "routes", "test", f"--config.file={config_file}", "team=db"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "team"


UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CURRENT_TIME_PATTERN = re.compile(r"(?!2099)\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


def name_ids(text: str, names: dict[str, str]) -> str:
    """Replace silence UUIDs with the scenario's names, padded to keep amtool's column layout."""
    return UUID_PATTERN.sub(lambda match: names.get(match.group(0), "unknown").ljust(36, "_"), text)


def test_silence_add_query_expire(daemons: tuple[DaemonProcess, DaemonProcess]) -> None:
    outputs: list[list[str]] = []
    for daemon in daemons:
        names: dict[str, str] = {}
        pending = amtool(
            daemon.base_url,
            "silence",
            "add",
            "alertname=Maint",
            "team=~db|web",
            "--comment=maintenance",
            "--author=alice",
            "--start=2099-01-01T00:00:00Z",
            "--end=2099-01-03T00:00:00Z",
        )
        assert pending.returncode == 0, pending.stderr
        names[pending.stdout.strip()] = "pending"
        active = amtool(
            daemon.base_url,
            "silence",
            "add",
            "instance=~never-.*",
            "-c",
            "nothing",
            "-a",
            "bob",
            "--end=2099-01-02T00:00:00Z",
        )
        assert active.returncode == 0, active.stderr
        names[active.stdout.strip()] = "active"
        steps = [
            amtool(daemon.base_url, "silence", "query"),
            amtool(daemon.base_url, "silence", "query", "-q"),
            amtool(daemon.base_url, "silence", "query", "alertname=Maint"),
            amtool(daemon.base_url, "-o", "json", "silence", "query", "instance=~never-.*"),
            amtool(daemon.base_url, "silence", "add", "alertname=NoComment"),
            amtool(daemon.base_url, "silence", "expire", active.stdout.strip()),
            amtool(daemon.base_url, "silence", "query", "--expired"),
            amtool(daemon.base_url, "silence", "expire", "00000000-0000-0000-0000-000000000000"),
        ]
        outputs.append(
            [
                f"{step.returncode}\n{CURRENT_TIME_PATTERN.sub('<now>', name_ids(step.stdout, names))}\n{step.stderr}"
                for step in steps
            ]
        )
    oracle, candidate = outputs
    json_index = 3
    for index, (oracle_step, candidate_step) in enumerate(zip(oracle, candidate, strict=True)):
        if index == json_index:
            continue  # compared structurally below
        assert candidate_step == oracle_step, index
    # Active (by end time) before pending, as GET /api/v2/silences orders them.
    assert oracle[0].splitlines()[2:4] == [
        'active______________________________  instance=~"never-.*"              2099-01-02 00:00:00 UTC  bob         nothing      ',
        'pending_____________________________  alertname="Maint" team=~"db|web"  2099-01-03 00:00:00 UTC  alice       maintenance  ',
    ]
    assert oracle[4].startswith("1\n") and "comment required by config" in oracle[4]
    assert oracle[7].startswith("1\n") and "silence not found" in oracle[7]
    oracle_json, candidate_json = (
        json.loads(steps[json_index].split("\n", 1)[1].split("\n")[0]) for steps in outputs
    )
    for silences in (oracle_json, candidate_json):
        for silence in silences:
            silence["updatedAt"] = silence["startsAt"] = "<now>"
    assert candidate_json == oracle_json
