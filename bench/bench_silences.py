"""Silences benchmark: tocsin against the real Alertmanager 0.25 on the same machine.

The house style of `bench/bench.py` (whose helpers this reuses): each daemon runs alone,
pinned to CPU 0, the load generator on CPU 1; both get the same config and requests, and every
figure is printed for both with the ratio tocsin/Alertmanager.

Benchmarks (select with --only, repeatable):
  silenced  N alerts POSTed (ingest), POSTed again (refresh, still no silences), then S
            silences created (half equality-only, half with a regex matcher; each silences
            one stored alert), then the N alerts POSTed once more: alerts/s, and the ratio of
            that silenced re-POST to the same daemon's ingest and refresh without silences.
  query     on the same daemon, once it is idle again: the first `GET /api/v2/alerts`
            holding the N alerts and S silences (no alert's silence status has been asked
            for yet), then the median of later calls; wall time and the daemon's CPU time
            (from /proc, so a busy machine does not blur it); the number of suppressed
            alerts is checked against S.
  create    M silences created on a fresh daemon over 8 keep-alive connections: silences/s
            (tocsin fsyncs every acknowledged silence, with group commit; Alertmanager
            only snapshots every 15 minutes and on shutdown), and the daemon's CPU time
            per silence.
  startup   the M silences of `create` (written by each daemon's own shutdown snapshot) plus
            E notification-log entries written directly in each daemon's own format; the
            daemon is restarted and timed until `/-/ready` answers 200 and until the first
            `GET /api/v2/silences` has answered in full (its count is checked), wall time
            and the daemon's CPU time, the median of 5 restarts. tocsin's bytecode is
            compiled first, as an installed copy's is (see compile_bytecode).

The route uses `group_wait: 1h` so that no flush evaluates silences behind the API's back
before the first GET: that call pays for every alert's silence check, in both daemons.

Sizes: `--alerts N` (100,000), `--silences S` (5,000), `--startup-silences M` (50,000),
`--nflog-entries E` (100,000); e.g. `--alerts 10000 --silences 500 --startup-silences 5000
--nflog-entries 10000` for a quick run.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.bench import (  # noqa: E402
    ALERTNAMES,
    CONNECTIONS,
    DAEMON_CPU,
    LOADGEN_CPU,
    TARGETS,
    Results,
    Run,
    alert_batches,
    machine_description,
    post_all,
)
from bench.httpload import RawConnection, build_request  # noqa: E402
from daemon.nflog import encode_delimited, snapshot_batches  # noqa: E402
from daemon.storage import SNAPSHOT_KIND, frame, header  # noqa: E402
from notify.context import NotificationLogEntry  # noqa: E402
from tests.helpers.alerts_gen import api_time, utc_now  # noqa: E402
from tests.helpers.processes import DaemonProcess  # noqa: E402

BENCHMARKS = ("silenced", "query", "create", "startup")

DEFAULT_ALERTS = 100_000
DEFAULT_SILENCES = 5_000
DEFAULT_STARTUP_SILENCES = 50_000
DEFAULT_NFLOG_ENTRIES = 100_000
# Later GETs: the median of this many smooths one GC pause.
LATER_QUERY_REPEATS = 3
# Before the first GET the daemon is given time to finish dispatching the last POSTs: it is
# idle once it uses less than this much CPU in one check period (checked at most this often).
SETTLE_CHECK_SECONDS = 0.5
SETTLE_IDLE_CPU_SECONDS = 0.05
SETTLE_MAX_CHECKS = 60
# Silences outlive the run by far, so none expires while it is measured.
SILENCE_DURATION = datetime.timedelta(days=7)
# Alertmanager's default --data.retention: an nflog entry is kept this long after it is written.
NFLOG_RETENTION = datetime.timedelta(hours=120)
# How often start-up is probed: fine enough that the probe's period is noise next to the
# figure (hundreds of milliseconds at least), coarse enough not to load the probing CPU.
STARTUP_PROBE_SECONDS = 0.005
# Start-ups timed per daemon (the median is reported): one start-up is a second or two, and a
# single one on a shared machine can be off by half of that.
STARTUP_REPEATS = 5
# A daemon that is not ready after this long is a failed run, not a slow one.
STARTUP_TIMEOUT_SECONDS = 300.0
# Writing the shutdown snapshot of 50,000 silences must not be cut short by the helper's
# default 10 s grace: the next start-up would then read a log instead of a snapshot.
SHUTDOWN_TIMEOUT_SECONDS = 120.0
# The packages whose bytecode compile_bytecode() writes before tocsin's start-up is timed.
TOCSIN_PACKAGES = ("daemon", "cluster", "notify")
# Alertmanager's on-disk names (tocsin's are <name>.snapshot and <name>.log).
ALERTMANAGER_NFLOG_FILE = "nflog"

SILENCES_CONFIG = """\
global:
  resolve_timeout: 1h
route:
  receiver: blackhole
  group_by: [alertname]
  group_wait: 1h
  group_interval: 1h
  repeat_interval: 4h
receivers:
  - name: blackhole
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:9/never-called
"""


# ---------------------------------------------------------------------------- requests


def silence_body(matchers: list[dict[str, object]], starts_at: str, ends_at: str) -> bytes:
    return orjson.dumps(
        {
            "matchers": matchers,
            "startsAt": starts_at,
            "endsAt": ends_at,
            "createdBy": "tocsin-bench",
            "comment": "benchmark silence",
        }
    )


def matcher(name: str, value: str, *, regex: bool = False) -> dict[str, object]:
    return {"name": name, "value": value, "isRegex": regex, "isEqual": True}


def targeted_silences(count: int, starts_at: str, ends_at: str) -> list[bytes]:
    """`count` silences, the k-th silencing exactly one alert of bench.py's label grid
    (alertname k mod 100, instance k div 100). Even k: equality matchers only; odd k: the
    instance as a regular expression that no literal index can anchor."""
    bodies = []
    for serial in range(count):
        alertname = f"BenchAlert{serial % ALERTNAMES:03d}"
        instance_index = serial // ALERTNAMES
        if serial % 2 == 0:
            matchers = [
                matcher("alertname", alertname),
                matcher("instance", f"host-{instance_index:05d}:9100"),
            ]
        else:
            matchers = [
                matcher("alertname", alertname),
                matcher("instance", f"host-{instance_index:05d}:.*", regex=True),
            ]
        bodies.append(silence_body(matchers, starts_at, ends_at))
    return bodies


def silence_requests(port: int, bodies: Sequence[bytes]) -> list[bytes]:
    return [build_request("POST", "/api/v2/silences", port, body) for body in bodies]


def alert_requests(port: int, alerts: int) -> list[bytes]:
    return [
        build_request("POST", "/api/v2/alerts", port, body)
        for body in alert_batches(alerts, api_time(utc_now()))
    ]


# ---------------------------------------------------------------------------- nflog files


def nflog_entries(count: int, now: datetime.datetime) -> list[NotificationLogEntry]:
    """Entries like those a webhook receiver leaves behind, one per group of one alert."""
    return [
        NotificationLogEntry(
            group_key=f'{{}}:{{instance="host-{index:06d}:9100"}}',
            receiver_name="hook",
            integration="webhook",
            index=0,
            firing_alerts=frozenset({(index * 0x9E3779B97F4A7C15) & (2**64 - 1)}),
            resolved_alerts=frozenset(),
            timestamp=now,
            expires_at=now + NFLOG_RETENTION,
        )
        for index in range(count)
    ]


def write_nflog(target: str, data_dir: Path, entries: Sequence[NotificationLogEntry]) -> None:
    """Replace the daemon's (stopped) notification log with `entries`, in its own format:
    Alertmanager's snapshot is a bare stream of length-delimited MeshEntry messages; tocsin's
    is the snapshot file its compaction writes (batch records, see docs/storage.md)."""
    if target == "alertmanager":
        (data_dir / ALERTMANAGER_NFLOG_FILE).write_bytes(b"".join(encode_delimited(entry) for entry in entries))
    else:
        records = snapshot_batches(entries)
        (data_dir / "nflog.snapshot").write_bytes(header(SNAPSHOT_KIND) + b"".join(frame(r) for r in records))


# ---------------------------------------------------------------------------- benchmarks


async def get_json(connection: RawConnection, port: int, path: str) -> tuple[float, list[dict[str, object]]]:
    started = time.perf_counter()
    response = await connection.send(build_request("GET", path, port), keep_body=True)
    elapsed = time.perf_counter() - started
    if response.status != 200 or response.body is None:
        raise RuntimeError(f"GET {path} -> {response.status}")
    return elapsed, orjson.loads(response.body)


def suppressed_count(alerts: list[dict[str, object]]) -> int:
    count = 0
    for alert in alerts:
        status = alert["status"]
        if isinstance(status, dict) and status.get("state") == "suppressed":
            count += 1
    return count


async def bench_silenced_and_query(run: Run, silences: int, selected: set[str]) -> None:
    daemon = run.start("silenced", SILENCES_CONFIG)
    try:
        port = daemon.port
        alerts = alert_requests(port, run.alerts)
        ingest_seconds = await post_all(port, alerts, CONNECTIONS)
        refresh_seconds = await post_all(port, alerts, CONNECTIONS)
        now = utc_now()
        bodies = targeted_silences(silences, api_time(now), api_time(now + SILENCE_DURATION))
        create_seconds = await post_all(port, silence_requests(port, bodies), CONNECTIONS)
        if "silenced" in selected:
            silenced_seconds = await post_all(port, alerts, CONNECTIONS)
            silenced_rate = run.alerts / silenced_seconds
            run.record("silenced", "ingest, no silences", "alerts/s", "higher", run.alerts / ingest_seconds)
            run.record("silenced", "refresh, no silences", "alerts/s", "higher", run.alerts / refresh_seconds)
            run.record(
                "silenced", f"create {silences} silences", "silences/s", "higher", silences / create_seconds
            )
            run.record("silenced", "re-POST with silences", "alerts/s", "higher", silenced_rate)
            run.record("silenced", "silenced / own ingest", "x", "higher", ingest_seconds / silenced_seconds)
            run.record(
                "silenced", "silenced / own refresh", "x", "higher", refresh_seconds / silenced_seconds
            )
        if "query" in selected:
            await bench_query(run, daemon, expected_suppressed=min(silences, run.alerts))
    finally:
        daemon.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3 of proc(5), utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settle(pid: int) -> None:
    """Wait until the daemon has finished what the POSTs left it (dispatching the last
    batches): otherwise that work lands in the first GET's time, in either daemon."""
    previous = cpu_seconds(pid)
    for _ in range(SETTLE_MAX_CHECKS):
        await asyncio.sleep(SETTLE_CHECK_SECONDS)
        current = cpu_seconds(pid)
        if current - previous < SETTLE_IDLE_CPU_SECONDS:
            return
        previous = current


async def bench_query(run: Run, daemon: DaemonProcess, expected_suppressed: int) -> None:
    connection = RawConnection(daemon.port)
    try:
        await settle(daemon.pid)
        cpu_before = cpu_seconds(daemon.pid)
        first_seconds, alerts = await get_json(connection, daemon.port, "/api/v2/alerts")
        first_cpu = cpu_seconds(daemon.pid) - cpu_before
        run.record("query", "first GET alerts", "ms", "lower", first_seconds * 1000)
        # CPU time is what the daemon spent, whoever else shares the machine; wall time
        # also counts waiting for a core and the transfer of the body.
        run.record("query", "first GET alerts, daemon CPU", "ms", "lower", first_cpu * 1000)
        later = []
        later_cpu = []
        for _ in range(LATER_QUERY_REPEATS):
            cpu_before = cpu_seconds(daemon.pid)
            seconds, alerts = await get_json(connection, daemon.port, "/api/v2/alerts")
            later_cpu.append(cpu_seconds(daemon.pid) - cpu_before)
            later.append(seconds)
        run.record("query", "later GET alerts", "ms", "lower", statistics.median(later) * 1000)
        run.record("query", "later GET alerts, daemon CPU", "ms", "lower", statistics.median(later_cpu) * 1000)
        suppressed = suppressed_count(alerts)
        if len(alerts) != run.alerts or suppressed != expected_suppressed:
            print(
                f"  warning: {run.target} holds {len(alerts)} alerts ({run.alerts} expected), "
                f"{suppressed} suppressed ({expected_suppressed} expected)",
                flush=True,
            )
    finally:
        await connection.close()


async def wait_until_answered(port: int, path: str, deadline: float) -> list[dict[str, object]] | None:
    """Probe `path` until it answers 200; returns the parsed body of a JSON path."""
    while True:
        connection = RawConnection(port)
        try:
            response = await connection.send(build_request("GET", path, port), keep_body=True)
            if response.status == 200:
                assert response.body is not None
                return orjson.loads(response.body) if path.startswith("/api/") else None
        except OSError:
            pass  # not listening yet
        finally:
            await connection.close()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"GET {path} did not answer 200 within {STARTUP_TIMEOUT_SECONDS}s")
        await asyncio.sleep(STARTUP_PROBE_SECONDS)


def compile_bytecode() -> None:
    """Write the bytecode of tocsin's packages, as `pip install` does for an installed copy.

    The benchmark runs tocsin from the working tree, where PYTHONDONTWRITEBYTECODE (set in
    this environment) leaves no bytecode behind: every start would first compile about 80
    modules from source, a cost no installed tocsin pays (the container image compiles at
    build time too) and one that has nothing to do with the state it loads."""
    for package in TOCSIN_PACKAGES:
        compileall.compile_dir(REPO_ROOT / package, quiet=1)


async def bench_create_and_startup(run: Run, silences: int, nflog_size: int, selected: set[str]) -> None:
    daemon = run.start("startup", SILENCES_CONFIG)
    try:
        port = daemon.port
        now = utc_now()
        # Distinct silences, none of which silences a stored alert (none are stored).
        bodies = targeted_silences(silences, api_time(now), api_time(now + SILENCE_DURATION))
        cpu_before = cpu_seconds(daemon.pid)
        seconds = await post_all(port, silence_requests(port, bodies), CONNECTIONS)
        cpu = cpu_seconds(daemon.pid) - cpu_before
        if "create" in selected:
            run.record(
                "create",
                f"{silences} silences, {CONNECTIONS} connections",
                "silences/s",
                "higher",
                silences / seconds,
            )
            # What each silence costs the daemon, whoever else shares the machine: the rate
            # times this is the share of its core the daemon got (the rest of the time it
            # waited, for the disk or for the core).
            run.record("create", "daemon CPU per silence", "us", "lower", cpu / silences * 1e6)
    finally:
        exit_code = daemon.stop(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    if "startup" not in selected:
        return
    if exit_code != 0:
        raise RuntimeError(
            f"{run.target} did not shut down cleanly (exit {exit_code}); its snapshot may be missing"
        )
    write_nflog(run.target, daemon.storage_path, nflog_entries(nflog_size, utc_now()))
    timings = [await time_startup(run, daemon.workdir, silences) for _ in range(STARTUP_REPEATS)]
    ready, loaded, ready_cpu, loaded_cpu = (statistics.median(column) for column in zip(*timings, strict=True))
    run.record("startup", "until /-/ready", "ms", "lower", ready * 1000)
    run.record("startup", "until first GET silences", "ms", "lower", loaded * 1000)
    # What the daemon itself spent (clock ticks: 10 ms steps), whoever else shares the
    # machine; the wall times above also count waiting for the core.
    run.record("startup", "until /-/ready, daemon CPU", "ms", "lower", ready_cpu * 1000)
    run.record("startup", "until first GET silences, daemon CPU", "ms", "lower", loaded_cpu * 1000)


async def time_startup(run: Run, workdir: Path, silences: int) -> tuple[float, float, float, float]:
    """One start of the daemon on its state in `workdir`: seconds until `/-/ready` and until
    the first full `GET /api/v2/silences`, wall and the daemon's CPU."""
    started = time.perf_counter()
    restarted = DaemonProcess.launch(run.target, SILENCES_CONFIG, workdir, command_prefix=run.pin)
    try:
        deadline = started + STARTUP_TIMEOUT_SECONDS
        await wait_until_answered(restarted.port, "/-/ready", deadline)
        ready_seconds = time.perf_counter() - started
        ready_cpu = cpu_seconds(restarted.pid)
        loaded = await wait_until_answered(restarted.port, "/api/v2/silences", deadline)
        loaded_seconds = time.perf_counter() - started
        loaded_cpu = cpu_seconds(restarted.pid)
        if loaded is None or len(loaded) != silences:
            print(
                f"  warning: {run.target} loaded {len(loaded or [])} silences, {silences} expected",
                flush=True,
            )
    finally:
        exit_code = restarted.stop(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    # The shutdown snapshot of this start is what the next one loads.
    if exit_code != 0:
        raise RuntimeError(f"{run.target} did not shut down cleanly (exit {exit_code}); its snapshot may be missing")
    return ready_seconds, loaded_seconds, ready_cpu, loaded_cpu


async def run_target(run: Run, args: argparse.Namespace, selected: set[str]) -> None:
    if selected & {"silenced", "query"}:
        await bench_silenced_and_query(run, args.silences, selected)
    if selected & {"create", "startup"}:
        if run.target == "tocsin":
            compile_bytecode()
        await bench_create_and_startup(run, args.startup_silences, args.nflog_entries, selected)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)"
    )
    parser.add_argument("--alerts", type=int, default=DEFAULT_ALERTS, help="alerts for silenced/query")
    parser.add_argument("--silences", type=int, default=DEFAULT_SILENCES, help="silences for silenced/query")
    parser.add_argument(
        "--startup-silences", type=int, default=DEFAULT_STARTUP_SILENCES, help="silences for create/startup"
    )
    parser.add_argument(
        "--nflog-entries", type=int, default=DEFAULT_NFLOG_ENTRIES, help="nflog entries for startup"
    )
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated: alertmanager,tocsin")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--no-pin", action="store_true", help="do not pin daemon and load generator to CPUs")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    selected = set(args.only or BENCHMARKS)
    targets = [target for target in args.targets.split(",") if target]
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {LOADGEN_CPU})
    results = Results()
    print(f"tocsin silences benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    print(f"machine: {machine_description()}", flush=True)
    print(
        f"alerts: {args.alerts}, silences: {args.silences}, start-up: {args.startup_silences} silences + "
        f"{args.nflog_entries} nflog entries, pinned: {pin}, "
        f"benchmarks: {', '.join(b for b in BENCHMARKS if b in selected)}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-silences-") as workdir:
        for target in targets:
            if target not in TARGETS:
                raise SystemExit(f"unknown target {target!r}")
            run = Run(
                target, args.alerts, Path(workdir), results, ["taskset", "-c", DAEMON_CPU] if pin else []
            )
            try:
                asyncio.run(run_target(run, args, selected))
            except Exception as error:  # one target failing must not lose the other's figures
                print(f"  {target} failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    print()
    print(results.table())
    if args.json:
        args.json.write_text(json.dumps([figure.__dict__ for figure in results.figures], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
