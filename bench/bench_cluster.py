"""Benchmark a 3-replica tocsin cluster against a 3-replica Alertmanager 0.25 cluster.

Both clusters run on 127.0.0.1 with the same flags (Alertmanager's defaults: peer timeout
15 s, gossip interval 200 ms, push-pull 1 m; tocsin additionally gets `--cluster.peer-name
rN`, since its default name is the host name and three replicas on one host would collide).
Every replica lists the other two as `--cluster.peer`. Replicas run pinned to CPU 0, this
load generator and its webhook sink to CPU 1, as in `bench/bench.py`. Every figure is
printed for both implementations with the ratio tocsin/Alertmanager.

Benchmarks (select with --only, repeatable):
  dedup    500 alerts in distinct groups POSTed to all 3 replicas (as Prometheus HA does),
           group_wait 1s: notifications at one webhook sink, duplicates and how long after
           the group's first notification they came, missing groups.
  startup  3 fresh replicas started together: seconds from the first launch until every
           /api/v2/status says `ready` with 3 peers, and until a first notification arrives
           for an alert POSTed (group_wait 0s) to each replica as soon as its API answers.
  silence  ~50 silences created on replica 0, one at a time: time from the POST's answer
           until GET /api/v2/silence/{id} finds it on replicas 1 and 2 (polled every 5 ms).
  idle     CPU of each replica of a formed, idle cluster over 30 s, in percent of one core:
           utime + stime from /proc/PID/stat (clock ticks, 0.033 % resolution over 30 s) and
           the run time of the process's threads from /proc/PID/task/*/schedstat
           (nanoseconds). With `--census DIR`, tocsin replicas run under
           `bench/wakeup_census.py`, which counts their wake-ups and task steps over the
           same 30 s and writes DIR/<replica>-<repeat>.json (the instrument adds its own cost,
           so measure CPU figures without it).

`--repeat N` runs every benchmark N times per implementation, alternating implementations;
the table shows the median of the repeats (silence latencies pool all samples).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.bench import Results, format_value, machine_description, percentile  # noqa: E402
from bench.httpload import RawConnection, RecordingSinkServer, build_request  # noqa: E402
from bench.wakeup_census import summarise as summarise_census  # noqa: E402
from tests.helpers.alerts_gen import api_time, batched, utc_now  # noqa: E402
from tests.helpers.netns import Replica, ReplicaKind, make_loopback_replicas  # noqa: E402

BENCHMARKS = ("dedup", "startup", "silence", "idle")
TARGETS: tuple[ReplicaKind, ...] = ("alertmanager", "tocsin")
REPLICAS = 3
DAEMON_CPU = "0"
LOADGEN_CPU = 1

# Alertmanager's default; the duplicate watch below depends on it.
PEER_TIMEOUT_SECONDS = 15.0
CLUSTER_FLAGS = (f"--cluster.peer-timeout={PEER_TIMEOUT_SECONDS:g}s",)

DEDUP_GROUPS = 500
BATCH_SIZE = 64  # what Prometheus's notifier sends per request by default
# The last replica in position order sends at 2 x peer timeout if it did not see the
# notification log entry; watching a little longer than that after the last first
# notification catches every duplicate either implementation can produce.
DUPLICATE_WATCH_SECONDS = 2 * PEER_TIMEOUT_SECONDS + 5.0
# 500 groups are notified within seconds by a healthy cluster; past this the rest are missing.
DEDUP_DELIVERY_TIMEOUT_SECONDS = 120.0

# Alertmanager settles by polling the member count (several 2 s polls); a cluster not ready
# after this is reported as a failure rather than waited for.
STARTUP_TIMEOUT_SECONDS = 90.0
# How often each replica's status is polled while starting: fine enough for a figure
# reported in tenths of a second, coarse enough not to steal the CPU the replicas need.
STARTUP_POLL_SECONDS = 0.05

SILENCES = 50
SILENCE_POLL_SECONDS = 0.005
# Silences are created at irregular intervals so that creation does not phase-lock with a
# 200 ms gossip tick; the range spans one tick either way.
SILENCE_GAP_RANGE_SECONDS = (0.1, 0.3)
# Gossip reaches three replicas within a few rounds; a silence missing after this is lost.
SILENCE_SPREAD_TIMEOUT_SECONDS = 30.0

# (figure, samples, percentile): "both" is when the later of r1 and r2 has it, "first" the earlier.
SILENCE_FIGURES = (
    ("visible on r1 and r2, p50", "both", 0.50),
    ("visible on r1 and r2, p99", "both", 0.99),
    ("visible on the first of them, p50", "first", 0.50),
)

IDLE_SECONDS = 30.0
# The census writes its report from a signal handler; this covers the handler's turn.
CENSUS_REPORT_WAIT_SECONDS = 1.0
# After forming, replicas finish start-up work (first push-pulls, snapshots); measure after.
IDLE_WARMUP_SECONDS = 5.0

FORM_TIMEOUT_SECONDS = 90.0
FORM_POLL_SECONDS = 0.1
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
RANDOM_SEED = 4

BLACKHOLE_CONFIG = """\
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


def webhook_config(sink_url: str, group_wait: str) -> str:
    return f"""\
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


# ---------------------------------------------------------------------------- processes


CENSUS_SCRIPT = REPO_ROOT / "bench" / "wakeup_census.py"


class PinnedReplica(Replica):
    """A loopback replica whose command runs under `taskset` when pinning is on, and (tocsin
    only) under the wake-up census when a report path is set."""

    command_prefix: Sequence[str] = ()
    census_report: Path | None = None

    def argv(self) -> list[str]:
        argv = super().argv()
        if self.census_report is not None and self.kind == "tocsin":
            census = [sys.executable, str(CENSUS_SCRIPT), "--signals", "--report", str(self.census_report)]
            argv = [*census, "--", *argv[1:]]
        return [*self.command_prefix, *argv]


@dataclass
class Cluster:
    replicas: list[Replica]
    launched_at: float  # time.perf_counter() just before the first launch

    def stop(self) -> None:
        for replica in self.replicas:
            replica.kill()  # nothing to keep: SIGKILL avoids waiting out graceful leaves


def launch_cluster(
    target: ReplicaKind, config: str, workdir: Path, pin: Sequence[str], census_dir: Path | None = None
) -> Cluster:
    plain = make_loopback_replicas([target] * REPLICAS, config, workdir, CLUSTER_FLAGS)
    replicas: list[Replica] = []
    for replica in plain:
        pinned = PinnedReplica(**{name: getattr(replica, name) for name in replica.__dataclass_fields__})
        pinned.command_prefix = tuple(pin)
        if census_dir is not None:
            pinned.census_report = census_dir / f"{replica.name}-{workdir.name}.json"
        replicas.append(pinned)
    launched_at = time.perf_counter()
    for replica in replicas:
        replica.start()
    return Cluster(replicas, launched_at)


async def get_json(connection: RawConnection, port: int, path: str) -> tuple[int, Any]:
    response = await connection.send(build_request("GET", path, port), keep_body=True)
    body = orjson.loads(response.body) if response.status == 200 and response.body else None
    return response.status, body


async def poll_status(replica: Replica) -> dict[str, Any] | None:
    """The `cluster` part of /api/v2/status, or None while the API does not answer."""
    connection = RawConnection(replica.web_port)
    try:
        status, body = await get_json(connection, replica.web_port, "/api/v2/status")
    except (OSError, asyncio.IncompleteReadError):
        return None
    finally:
        await connection.close()
    return body["cluster"] if status == 200 else None


def is_ready(cluster_status: dict[str, Any] | None) -> bool:
    return (
        cluster_status is not None
        and cluster_status.get("status") == "ready"
        and len(cluster_status.get("peers") or []) == REPLICAS
    )


async def wait_formed(cluster: Cluster) -> None:
    deadline = time.perf_counter() + FORM_TIMEOUT_SECONDS
    while True:
        for replica in cluster.replicas:
            if not replica.is_running():
                raise RuntimeError(f"{replica.name} exited\n{replica.log_tail()}")
        statuses = await asyncio.gather(*(poll_status(replica) for replica in cluster.replicas))
        if all(is_ready(status) for status in statuses):
            return
        if time.perf_counter() > deadline:
            raise RuntimeError(f"cluster not formed after {FORM_TIMEOUT_SECONDS}s: {statuses}")
        await asyncio.sleep(FORM_POLL_SECONDS)


async def post(port: int, path: str, body: bytes) -> bytes:
    connection = RawConnection(port)
    try:
        response = await connection.send(build_request("POST", path, port, body), keep_body=True)
    finally:
        await connection.close()
    if response.status != 200:
        raise RuntimeError(f"POST {path} on :{port} -> {response.status} {response.body!r}"[:300])
    return response.body or b""


def cpu_seconds(pid: int) -> float:
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / CLOCK_TICKS_PER_SECOND


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """Run time of each live thread (first field of schedstat, in nanoseconds). A thread that
    exits takes its time with it, so callers only count threads alive at both ends."""
    times: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            times[task.name] = int((task / "schedstat").read_text().split()[0]) / 1e9
        except (OSError, IndexError, ValueError):
            continue  # the thread exited while we listed them
    return times


def threads_cpu_delta(before: dict[str, float], after: dict[str, float]) -> float:
    return sum(after[tid] - used for tid, used in before.items() if tid in after)


# ---------------------------------------------------------------------------- figures


class Collector:
    """Values per (benchmark, figure, target) across repeats; medians go into bench's table."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str, str], dict[str, list[float]]] = {}

    def add(self, benchmark: str, name: str, unit: str, better: str, target: str, value: float) -> None:
        key = (benchmark, name, unit, better)
        self.values.setdefault(key, {}).setdefault(target, []).append(value)
        print(f"  {target:>12} {benchmark:>8} {name}: {format_value(value)} {unit}", flush=True)

    def results(self) -> Results:
        results = Results()
        for (benchmark, name, unit, better), by_target in self.values.items():
            for target, values in by_target.items():
                results.record(benchmark, name, unit, better, target, statistics.median(values))
        return results


@dataclass
class Run:
    target: ReplicaKind
    workdir: Path
    pin: list[str]
    collector: Collector
    silence_samples: dict[str, list[float]]
    repeat_index: int
    census_dir: Path | None = None

    def record(self, benchmark: str, name: str, unit: str, better: str, value: float) -> None:
        self.collector.add(benchmark, name, unit, better, self.target, value)

    def cluster_dir(self, benchmark: str) -> Path:
        return self.workdir / f"{self.target}-{benchmark}-{self.repeat_index}"


def group_of(body: bytes) -> tuple[str, str]:
    """(instance label of the notified group, sender replica from externalURL)."""
    payload = orjson.loads(body)
    sender = payload["externalURL"].removeprefix("http://").split(".invalid")[0]
    return payload["groupLabels"]["instance"], sender


async def bench_dedup(run: Run) -> None:
    sink = RecordingSinkServer()
    await sink.start()
    cluster = launch_cluster(
        run.target, webhook_config(sink.url("/dedup"), "1s"), run.cluster_dir("dedup"), run.pin
    )
    try:
        await wait_formed(cluster)
        starts_at = api_time(utc_now())
        alerts = [
            {"labels": {"alertname": "BenchHA", "instance": f"ha-{index:04d}"}, "startsAt": starts_at}
            for index in range(DEDUP_GROUPS)
        ]
        bodies = [orjson.dumps(batch) for batch in batched(alerts, BATCH_SIZE)]
        posted_at = time.perf_counter()
        await asyncio.gather(
            *(
                post(replica.web_port, "/api/v2/alerts", body)
                for replica in cluster.replicas
                for body in bodies
            )
        )
        try:
            async with asyncio.timeout(DEDUP_DELIVERY_TIMEOUT_SECONDS):
                await sink.wait_for(DEDUP_GROUPS)
        except TimeoutError:
            print(f"  warning: {run.target} delivered {len(sink.state.records)} in time", flush=True)
        # Duplicates come after the group's first notification, up to 2 x peer timeout later.
        last_first = sink.state.records[-1].arrived_at if sink.state.records else time.perf_counter()
        await asyncio.sleep(max(0.0, last_first + DUPLICATE_WATCH_SECONDS - time.perf_counter()))
        first_at: dict[str, float] = {}
        duplicate_delays: list[float] = []
        senders: collections.Counter[str] = collections.Counter()
        for record in sink.state.records:
            group, sender = group_of(record.body)
            senders[sender] += 1
            if group in first_at:
                duplicate_delays.append(record.arrived_at - first_at[group])
            else:
                first_at[group] = record.arrived_at
        records = sink.state.records
        run.record("dedup", "notifications", "count", "lower", len(records))
        run.record("dedup", "duplicates", "count", "lower", len(duplicate_delays))
        run.record("dedup", "missing groups", "count", "lower", DEDUP_GROUPS - len(first_at))
        if first_at:
            run.record("dedup", "all groups notified after", "s", "lower", max(first_at.values()) - posted_at)
        if duplicate_delays:
            delays = sorted(duplicate_delays)
            run.record("dedup", "duplicate came after first, min", "s", "higher", delays[0])
            run.record("dedup", "duplicate came after first, max", "s", "higher", delays[-1])
            histogram = collections.Counter(
                f"{round(delay / PEER_TIMEOUT_SECONDS) * PEER_TIMEOUT_SECONDS:g}s" for delay in delays
            )
            print(
                f"  {run.target} duplicate delays (rounded to the peer timeout): {dict(histogram)}",
                flush=True,
            )
        print(f"  {run.target} notifications by sender: {dict(sorted(senders.items()))}", flush=True)
    finally:
        cluster.stop()
        await sink.close()


async def bench_startup(run: Run) -> None:
    sink = RecordingSinkServer()
    await sink.start()
    cluster = launch_cluster(
        run.target, webhook_config(sink.url("/startup"), "0s"), run.cluster_dir("startup"), run.pin
    )
    alert_body = orjson.dumps(
        [{"labels": {"alertname": "BenchStartup", "instance": "startup"}, "startsAt": api_time(utc_now())}]
    )
    answered_at: dict[str, float] = {}
    ready_at: dict[str, float] = {}

    async def watch(replica: Replica) -> None:
        while True:
            if not replica.is_running():
                raise RuntimeError(f"{replica.name} exited\n{replica.log_tail()}")
            status = await poll_status(replica)
            now = time.perf_counter()
            if status is not None and replica.name not in answered_at:
                answered_at[replica.name] = now
                # As Prometheus does: send the alert as soon as the replica takes it.
                await post(replica.web_port, "/api/v2/alerts", alert_body)
            if is_ready(status):
                ready_at[replica.name] = now
                return
            await asyncio.sleep(STARTUP_POLL_SECONDS)

    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
            await asyncio.gather(*(watch(replica) for replica in cluster.replicas))
            await sink.wait_for(1)
        start = cluster.launched_at
        run.record("startup", "API answers on all 3 after", "s", "lower", max(answered_at.values()) - start)
        run.record("startup", "status ready on all 3 after", "s", "lower", max(ready_at.values()) - start)
        run.record(
            "startup", "first notification after", "s", "lower", sink.state.records[0].arrived_at - start
        )
    finally:
        cluster.stop()
        await sink.close()


async def visible_after(connection: RawConnection, replica: Replica, silence_id: str, since: float) -> float:
    """Seconds from `since` until `replica` answers GET /api/v2/silence/{id} with 200."""
    deadline = since + SILENCE_SPREAD_TIMEOUT_SECONDS
    while True:
        status, _ = await get_json(connection, replica.web_port, f"/api/v2/silence/{silence_id}")
        now = time.perf_counter()
        if status == 200:
            return now - since
        if now > deadline:
            raise RuntimeError(
                f"silence {silence_id} not on {replica.name} after {SILENCE_SPREAD_TIMEOUT_SECONDS}s"
            )
        await asyncio.sleep(SILENCE_POLL_SECONDS)


async def bench_silence(run: Run) -> None:
    cluster = launch_cluster(run.target, BLACKHOLE_CONFIG, run.cluster_dir("silence"), run.pin)
    rng = random.Random(RANDOM_SEED + run.repeat_index)
    origin, *others = cluster.replicas
    creator = RawConnection(origin.web_port)
    pollers = [RawConnection(replica.web_port) for replica in others]
    both: list[float] = []
    first: list[float] = []
    try:
        await wait_formed(cluster)
        for index in range(SILENCES):
            now = utc_now()
            body = orjson.dumps(
                {
                    "matchers": [{"name": "bench", "value": f"silence-{index}", "isRegex": False}],
                    "startsAt": api_time(now),
                    "endsAt": api_time(now + datetime.timedelta(hours=1)),
                    "createdBy": "bench",
                    "comment": f"cluster benchmark {index}",
                }
            )
            response = await creator.send(
                build_request("POST", "/api/v2/silences", origin.web_port, body), keep_body=True
            )
            acknowledged_at = time.perf_counter()
            if response.status != 200 or response.body is None:
                raise RuntimeError(f"POST silence -> {response.status} {response.body!r}")
            silence_id = orjson.loads(response.body)["silenceID"]

            seen = await asyncio.gather(
                *(
                    visible_after(connection, replica, silence_id, acknowledged_at)
                    for connection, replica in zip(pollers, others, strict=True)
                )
            )
            both.append(max(seen))
            first.append(min(seen))
            await asyncio.sleep(rng.uniform(*SILENCE_GAP_RANGE_SECONDS))
        run.silence_samples.setdefault("both", []).extend(both)
        run.silence_samples.setdefault("first", []).extend(first)
        samples = {"both": both, "first": first}
        for figure, key, fraction in SILENCE_FIGURES:
            run.record("silence", figure, "ms", "lower", percentile(samples[key], fraction) * 1000)
    finally:
        for connection in (creator, *pollers):
            await connection.close()
        cluster.stop()


async def bench_idle(run: Run) -> None:
    census_dir = run.census_dir if run.target == "tocsin" else None
    cluster = launch_cluster(run.target, BLACKHOLE_CONFIG, run.cluster_dir("idle"), run.pin, census_dir)
    try:
        await wait_formed(cluster)
        await asyncio.sleep(IDLE_WARMUP_SECONDS)
        pids = [replica.process.pid for replica in cluster.replicas if replica.process is not None]
        if census_dir is not None:
            for pid in pids:
                os.kill(pid, signal.SIGUSR1)
        before = [cpu_seconds(pid) for pid in pids]
        threads_before = [thread_cpu_seconds(pid) for pid in pids]
        started = time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        elapsed = time.perf_counter() - started
        threads_after = [thread_cpu_seconds(pid) for pid in pids]
        percents = [100 * (cpu_seconds(pid) - used) / elapsed for pid, used in zip(pids, before, strict=True)]
        precise = [
            100 * threads_cpu_delta(first, last) / elapsed
            for first, last in zip(threads_before, threads_after, strict=True)
        ]
        if census_dir is not None:
            for pid in pids:
                os.kill(pid, signal.SIGUSR2)
        for replica, percent, exact in zip(cluster.replicas, percents, precise, strict=True):
            print(
                f"  {run.target} {replica.name} idle CPU: {percent:.2f}% of a core (threads: {exact:.3f}%)",
                flush=True,
            )
        run.record("idle", "CPU per replica, mean of 3", "% of a core", "lower", statistics.mean(percents))
        run.record("idle", "CPU per replica, max of 3", "% of a core", "lower", max(percents))
        run.record("idle", "thread run time per replica, mean of 3", "% of a core", "lower", statistics.mean(precise))
        if census_dir is not None:
            await asyncio.sleep(CENSUS_REPORT_WAIT_SECONDS)
            for replica in cluster.replicas:
                assert isinstance(replica, PinnedReplica) and replica.census_report is not None
                if replica.census_report.exists():
                    report = json.loads(replica.census_report.read_text())
                    print(f"  census of {replica.name}: {summarise_census(report)}", flush=True)
                else:
                    print(f"  census of {replica.name}: no report", flush=True)
    finally:
        cluster.stop()


RUNNERS = {"dedup": bench_dedup, "startup": bench_startup, "silence": bench_silence, "idle": bench_idle}


async def run_target(run: Run, selected: Sequence[str]) -> None:
    for benchmark in selected:
        try:
            await RUNNERS[benchmark](run)
        except Exception as error:  # one benchmark failing must not lose the others' figures
            print(
                f"  {run.target} {benchmark} failed: {type(error).__name__}: {error}",
                file=sys.stderr,
                flush=True,
            )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per benchmark and implementation")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated: alertmanager,tocsin")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--census", type=Path, help="idle: run tocsin under bench/wakeup_census.py, reports into this directory"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin replicas and load generator to CPUs"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    selected = [benchmark for benchmark in BENCHMARKS if benchmark in (args.only or BENCHMARKS)]
    targets = [target for target in args.targets.split(",") if target]
    for target in targets:
        if target not in TARGETS:
            raise SystemExit(f"unknown target {target!r}")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {LOADGEN_CPU})
    collector = Collector()
    silence_samples: dict[str, dict[str, list[float]]] = {target: {} for target in targets}
    print(f"tocsin cluster benchmark, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    print(f"machine: {machine_description()}", flush=True)
    print(
        f"replicas: {REPLICAS}, pinned: {pin}, repeat: {args.repeat}, benchmarks: {', '.join(selected)}",
        flush=True,
    )
    if args.census is not None:
        args.census.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-cluster-") as workdir:
        for repeat_index in range(args.repeat):
            for target in targets:
                run = Run(
                    target,
                    Path(workdir),
                    ["taskset", "-c", DAEMON_CPU] if pin else [],
                    collector,
                    silence_samples[target],
                    repeat_index,
                    args.census,
                )
                asyncio.run(run_target(run, selected))
    results = collector.results()
    if args.repeat > 1:
        # Percentiles over all samples of all repeats, not medians of per-run percentiles.
        for target, samples in silence_samples.items():
            for figure, key, fraction in SILENCE_FIGURES:
                if samples.get(key):
                    value = percentile(samples[key], fraction) * 1000
                    results.record("silence", figure, "ms", "lower", target, value)
    print()
    print(results.table())
    if args.json:
        args.json.write_text(json.dumps([figure.__dict__ for figure in results.figures], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
