"""Benchmark tocsin against the real Alertmanager 0.25 on the same machine (`make bench`).

Each target daemon runs alone, pinned to CPU 0 (`taskset -c 0`); this load generator and its
webhook sink run pinned to CPU 1. Both daemons get the same config, the same requests and the
same webhook sink, and every figure is printed for both with the ratio tocsin/Alertmanager.

Benchmarks (select with --only, repeatable):
  ingest   N distinct alerts (100 alertnames x N/100 instances, plus severity and job labels)
           POSTed in batches of 64 over 8 keep-alive connections: alerts/s and peak RSS.
  refresh  the same N alerts POSTed again (every one merges into an existing alert).
  query    GET /api/v2/alerts and /api/v2/alerts/groups holding those N alerts: latency,
           response bytes, peak RSS while answering.
  e2e      2,000 new alerts (one per group) at 200/s, group_wait 0: latency from POST to the
           webhook's arrival, p50/p99.
  fanout   20,000 groups at once with group_wait 1s and one webhook: notifications/s, peak RSS.

`--alerts N` shrinks ingest/refresh/query (and caps e2e and fanout at N) for a quick run.
Peak RSS is the kernel's high-water mark (VmHWM), reset at the start of each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.httpload import RawConnection, RecordingSinkServer, build_request  # noqa: E402
from tests.helpers.alerts_gen import api_time, batched, label_grid, utc_now  # noqa: E402
from tests.helpers.processes import DaemonKind, DaemonProcess, start_daemon  # noqa: E402

BENCHMARKS = ("ingest", "refresh", "query", "e2e", "fanout")
TARGETS: tuple[DaemonKind, ...] = ("alertmanager", "tocsin")

DEFAULT_ALERTS = 100_000
ALERTNAMES = 100  # the grid's width: N alerts = 100 alertnames x N/100 instances
BATCH_SIZE = 64  # what Prometheus's notifier sends per request by default
CONNECTIONS = 8
QUERY_REPEATS = 3  # median of three smooths one GC pause without tripling the run
E2E_ALERTS = 2_000
E2E_RATE_PER_SECOND = 200
FANOUT_GROUPS = 20_000
DAEMON_CPU = "0"
LOADGEN_CPU = 1
# Bounds on waiting for notifications: generous, since a slow daemon is a result, not an
# error, but a daemon that lost notifications must not hang the run.
E2E_DRAIN_SECONDS = 60.0
FANOUT_DRAIN_SECONDS = 600.0
# POSTs are answered in well under a second each by a healthy daemon; a phase that takes
# longer than this is reported as failed instead of stalling the whole run.
POST_PHASE_TIMEOUT_SECONDS = 600.0
# Long enough that every alert of a run stays active until the query phase is over.
RESOLVE_TIMEOUT = "1h"

INGEST_CONFIG = f"""\
global:
  resolve_timeout: {RESOLVE_TIMEOUT}
route:
  receiver: blackhole
  group_by: [alertname]
receivers:
  - name: blackhole
"""


def webhook_config(sink_url: str, group_wait: str) -> str:
    return f"""\
global:
  resolve_timeout: {RESOLVE_TIMEOUT}
route:
  receiver: hook
  group_by: [instance]
  group_wait: {group_wait}
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs:
      - url: {sink_url}
"""


# ---------------------------------------------------------------------------- results


@dataclass
class Figure:
    benchmark: str
    name: str
    unit: str
    better: str  # "higher" or "lower"
    values: dict[str, float] = field(default_factory=dict)


class Results:
    def __init__(self) -> None:
        self.figures: list[Figure] = []

    def record(self, benchmark: str, name: str, unit: str, better: str, target: str, value: float) -> None:
        for figure in self.figures:
            if figure.benchmark == benchmark and figure.name == name:
                figure.values[target] = value
                return
        self.figures.append(Figure(benchmark, name, unit, better, {target: value}))

    def table(self) -> str:
        rows = [("benchmark", "figure", "alertmanager", "tocsin", "tocsin/AM", "better")]
        for figure in self.figures:
            am, tocsin = figure.values.get("alertmanager"), figure.values.get("tocsin")
            ratio = f"{tocsin / am:.2f}x" if am and tocsin is not None else "n/a"
            rows.append(
                (
                    figure.benchmark,
                    f"{figure.name} ({figure.unit})",
                    format_value(am),
                    format_value(tocsin),
                    ratio,
                    figure.better,
                )
            )
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)


def format_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


# ---------------------------------------------------------------------------- process metrics


def reset_peak_rss(pid: int) -> None:
    """Reset the kernel's RSS high-water mark (writing 5 to clear_refs; needs owner or root)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass  # then the figure is the process-lifetime peak, which is still an upper bound


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


# ---------------------------------------------------------------------------- load


async def post_all(port: int, requests: Sequence[bytes], connections: int) -> float:
    """Send prebuilt requests over `connections` keep-alive connections; returns seconds."""
    next_index = 0
    failures: list[str] = []

    async def worker() -> None:
        nonlocal next_index
        connection = RawConnection(port)
        try:
            while next_index < len(requests):
                index = next_index
                next_index += 1
                response = await connection.send(requests[index], keep_body=True)
                if response.status != 200:
                    failures.append(f"{response.status} {response.body!r}"[:300])
        finally:
            await connection.close()

    started = time.perf_counter()
    async with asyncio.timeout(POST_PHASE_TIMEOUT_SECONDS):
        await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} POSTs failed, first: {failures[0]}")
    return elapsed


def alert_batches(count: int, starts_at: str) -> list[bytes]:
    alerts = [
        {"labels": labels, "startsAt": starts_at}
        for labels in label_grid(ALERTNAMES, max(1, count // ALERTNAMES))
    ]
    return [orjson.dumps(batch) for batch in batched(alerts[:count], BATCH_SIZE)]


def single_alert_batches(count: int, prefix: str, starts_at: str) -> list[bytes]:
    """`count` alerts with distinct instance labels, so each one is its own group."""
    alerts = [
        {"labels": {"alertname": "BenchFanout", "instance": f"{prefix}-{index:06d}"}, "startsAt": starts_at}
        for index in range(count)
    ]
    return [orjson.dumps(batch) for batch in batched(alerts, BATCH_SIZE)]


@dataclass
class Run:
    target: DaemonKind
    alerts: int
    workdir: Path
    results: Results
    pin: list[str]

    def start(self, name: str, config: str) -> DaemonProcess:
        return start_daemon(
            self.target, config, self.workdir / f"{self.target}-{name}", command_prefix=self.pin
        )

    def record(self, benchmark: str, name: str, unit: str, better: str, value: float) -> None:
        self.results.record(benchmark, name, unit, better, self.target, value)
        print(f"  {self.target:>12} {benchmark:>8} {name}: {format_value(value)} {unit}", flush=True)


async def bench_ingest_refresh_query(run: Run, selected: set[str]) -> None:
    daemon = run.start("ingest", INGEST_CONFIG)
    try:
        port = daemon.port
        requests = [
            build_request("POST", "/api/v2/alerts", port, body)
            for body in alert_batches(run.alerts, api_time(utc_now()))
        ]
        # ingest always runs when refresh or query do: they need the alerts in the store.
        reset_peak_rss(daemon.pid)
        elapsed = await post_all(port, requests, CONNECTIONS)
        if "ingest" in selected:
            run.record("ingest", "throughput", "alerts/s", "higher", run.alerts / elapsed)
            run.record("ingest", "peak RSS", "MiB", "lower", peak_rss_mib(daemon.pid))
        if "refresh" in selected:
            reset_peak_rss(daemon.pid)
            elapsed = await post_all(port, requests, CONNECTIONS)
            run.record("refresh", "throughput", "alerts/s", "higher", run.alerts / elapsed)
            run.record("refresh", "peak RSS", "MiB", "lower", peak_rss_mib(daemon.pid))
        if "query" in selected:
            await bench_query(run, daemon)
    finally:
        daemon.stop()


async def bench_query(run: Run, daemon: DaemonProcess) -> None:
    reset_peak_rss(daemon.pid)
    connection = RawConnection(daemon.port)
    try:
        for path, label in (("/api/v2/alerts", "alerts"), ("/api/v2/alerts/groups", "groups")):
            latencies = []
            size = 0
            for _ in range(QUERY_REPEATS):
                started = time.perf_counter()
                response = await connection.send(
                    build_request("GET", path, daemon.port), keep_body=label == "alerts"
                )
                latencies.append(time.perf_counter() - started)
                if response.status != 200:
                    raise RuntimeError(f"GET {path} -> {response.status}")
                size = response.length
                if response.body is not None:
                    count = len(orjson.loads(response.body))
                    if count != run.alerts:
                        print(
                            f"  warning: {run.target} holds {count} alerts, expected {run.alerts}", flush=True
                        )
            run.record("query", f"GET {label} latency", "ms", "lower", statistics.median(latencies) * 1000)
            run.record("query", f"GET {label} size", "MB", "lower", size / 1e6)
    finally:
        await connection.close()
    run.record("query", "peak RSS", "MiB", "lower", peak_rss_mib(daemon.pid))


def instance_of(body: bytes) -> list[str]:
    return [alert["labels"]["instance"] for alert in orjson.loads(body)["alerts"]]


async def bench_e2e(run: Run) -> None:
    count = min(E2E_ALERTS, run.alerts)
    sink = RecordingSinkServer()
    await sink.start()
    daemon = run.start("e2e", webhook_config(sink.url("/e2e"), group_wait="0s"))
    try:
        starts_at = api_time(utc_now())
        requests = [
            build_request(
                "POST",
                "/api/v2/alerts",
                daemon.port,
                orjson.dumps(
                    [
                        {
                            "labels": {"alertname": "BenchE2E", "instance": f"e2e-{index:06d}"},
                            "startsAt": starts_at,
                        }
                    ]
                ),
            )
            for index in range(count)
        ]
        sent_at: dict[str, float] = {}
        pool: asyncio.Queue[RawConnection] = asyncio.Queue()
        for _ in range(CONNECTIONS):
            pool.put_nowait(RawConnection(daemon.port))

        async def send(index: int) -> None:
            connection = await pool.get()
            try:
                sent_at[f"e2e-{index:06d}"] = time.perf_counter()
                response = await connection.send(requests[index])
                if response.status != 200:
                    raise RuntimeError(f"POST -> {response.status}")
            finally:
                pool.put_nowait(connection)

        started = time.perf_counter()
        tasks = []
        for index in range(count):
            # Open-loop pacing: the schedule does not slow down when the daemon does.
            delay = started + index / E2E_RATE_PER_SECOND - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(index)))
        await asyncio.gather(*tasks)
        try:
            async with asyncio.timeout(E2E_DRAIN_SECONDS):
                await sink.wait_for(count)
        except TimeoutError:
            print(f"  warning: {run.target} delivered {len(sink.state.records)}/{count} in time", flush=True)
        latencies = []
        for record in sink.state.records:
            for instance in instance_of(record.body):
                if instance in sent_at:
                    latencies.append(record.arrived_at - sent_at.pop(instance))
        run.record("e2e", "delivered", "notifications", "higher", len(latencies))
        if latencies:
            run.record("e2e", "latency p50", "ms", "lower", percentile(latencies, 0.50) * 1000)
            run.record("e2e", "latency p99", "ms", "lower", percentile(latencies, 0.99) * 1000)
        while not pool.empty():
            await pool.get_nowait().close()
    finally:
        daemon.stop()
        await sink.close()


async def bench_fanout(run: Run) -> None:
    groups = min(FANOUT_GROUPS, run.alerts)
    sink = RecordingSinkServer()
    await sink.start()
    daemon = run.start("fanout", webhook_config(sink.url("/fanout"), group_wait="1s"))
    try:
        requests = [
            build_request("POST", "/api/v2/alerts", daemon.port, body)
            for body in single_alert_batches(groups, "fan", api_time(utc_now()))
        ]
        reset_peak_rss(daemon.pid)
        started = time.perf_counter()
        try:
            posting_seconds = await post_all(daemon.port, requests, CONNECTIONS)
            run.record("fanout", "POSTing all alerts took", "s", "lower", posting_seconds)
        except TimeoutError:
            # Still worth knowing how much was delivered meanwhile; the drain below is bounded.
            print(f"  warning: {run.target} did not answer all POSTs within {POST_PHASE_TIMEOUT_SECONDS}s", flush=True)
        try:
            async with asyncio.timeout(FANOUT_DRAIN_SECONDS):
                await sink.wait_for(groups)
        except TimeoutError:
            print(f"  warning: {run.target} delivered {len(sink.state.records)}/{groups} in time", flush=True)
        records = sink.state.records
        run.record("fanout", "delivered", "notifications", "higher", len(records))
        if len(records) >= 2:
            spread = records[-1].arrived_at - records[0].arrived_at
            run.record("fanout", "throughput", "notifications/s", "higher", len(records) / max(spread, 1e-9))
            run.record("fanout", "first delivered after", "s", "lower", records[0].arrived_at - started)
            run.record("fanout", "all delivered after", "s", "lower", records[-1].arrived_at - started)
        run.record("fanout", "peak RSS", "MiB", "lower", peak_rss_mib(daemon.pid))
    finally:
        daemon.stop()
        await sink.close()


async def run_target(run: Run, selected: set[str]) -> None:
    if selected & {"ingest", "refresh", "query"}:
        await bench_ingest_refresh_query(run, selected)
    if "e2e" in selected:
        await bench_e2e(run)
    if "fanout" in selected:
        await bench_fanout(run)


def machine_description() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return f"{platform.machine()}, {os.cpu_count()} CPUs ({model}), {memory_kib / 1024 / 1024:.0f} GiB RAM, Linux {platform.release()}, Python {platform.python_version()}"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)"
    )
    parser.add_argument("--alerts", type=int, default=DEFAULT_ALERTS, help="alerts for ingest/refresh/query")
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
    print(f"tocsin benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    print(f"machine: {machine_description()}", flush=True)
    print(
        f"alerts: {args.alerts}, pinned: {pin}, benchmarks: {', '.join(b for b in BENCHMARKS if b in selected)}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as workdir:
        for target in targets:
            if target not in TARGETS:
                raise SystemExit(f"unknown target {target!r}")
            run = Run(
                target, args.alerts, Path(workdir), results, ["taskset", "-c", DAEMON_CPU] if pin else []
            )
            try:
                asyncio.run(run_target(run, selected))
            except Exception as error:  # one target failing must not lose the other's figures
                print(f"  {target} failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    print()
    print(results.table())
    if args.json:
        args.json.write_text(json.dumps([figure.__dict__ for figure in results.figures], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
