"""Profile one phase of the benchmark inside the tocsin daemon with py-spy (a helper for
performance work, not part of `make bench`).

    .venv/bin/python bench/profile_daemon.py query --alerts 100000 [--spy out.svg] [--target alertmanager]

Starts the daemon pinned to CPU 0 as the benchmark does, loads the alerts (ingest), then runs
the chosen phase while `py-spy record` samples the daemon (when `--spy` names an output file;
the `.txt` suffix gives py-spy's collapsed stacks, anything else a flame graph). Prints the
phase's timings, the daemon's CPU seconds spent in the phase and its peak RSS (VmHWM).
Phases: ingest, refresh, alerts (GET /api/v2/alerts), groups (GET /api/v2/alerts/groups),
query (both GETs), fanout (20,000 one-alert groups, group_wait 1s, one webhook), create
(`--alerts` silences created over 8 connections, as bench_silences.py does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.bench import (  # noqa: E402
    CONNECTIONS,
    FANOUT_GROUPS,
    INGEST_CONFIG,
    alert_batches,
    peak_rss_mib,
    post_all,
    reset_peak_rss,
    single_alert_batches,
    webhook_config,
)
from bench.httpload import RawConnection, RecordingSinkServer, build_request  # noqa: E402
from tests.helpers.alerts_gen import api_time, utc_now  # noqa: E402
from tests.helpers.processes import start_daemon  # noqa: E402

PHASES = ("ingest", "refresh", "alerts", "groups", "query", "fanout", "create")
# py-spy's default rate (100 Hz) misses short phases; 250 Hz keeps its own cost small.
SAMPLES_PER_SECOND = 250
PY_SPY = Path(sys.executable).parent / "py-spy"
FANOUT_DRAIN_SECONDS = 600.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def thread_cpu_seconds(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds of each of the process's threads, by name (and id)."""
    ticks = os.sysconf("SC_CLK_TCK")
    result: dict[str, tuple[float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # the thread ended
        result[f"{name}/{task.name}"] = (int(fields[11]) / ticks, int(fields[12]) / ticks)
    return result


class Spy:
    def __init__(self, pid: int, output: Path | None) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        if output is not None:
            format_args = ["--format", "raw"] if output.suffix == ".txt" else []
            self._process = subprocess.Popen(
                [
                    str(PY_SPY),
                    "record",
                    "-p",
                    str(pid),
                    "-r",
                    str(SAMPLES_PER_SECOND),
                    "-o",
                    str(output),
                    *format_args,
                ],
                stdout=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # py-spy attaches asynchronously

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)
            self._process.wait()


async def run_phase(phase: str, target: str, alerts: int, workdir: Path, spy_output: Path | None) -> None:
    pin = ["taskset", "-c", "0"]
    if phase == "create":
        await profile_create(target, alerts, workdir, spy_output, pin)
        return
    if phase == "fanout":
        sink = RecordingSinkServer()
        await sink.start()
        daemon = start_daemon(
            target, webhook_config(sink.url("/fanout"), "1s"), workdir / "d", command_prefix=pin
        )  # type: ignore[arg-type]
    else:
        daemon = start_daemon(target, INGEST_CONFIG, workdir / "d", command_prefix=pin)  # type: ignore[arg-type]
    try:
        port = daemon.port
        if phase == "fanout":
            groups = min(FANOUT_GROUPS, alerts)
            requests = [
                build_request("POST", "/api/v2/alerts", port, body)
                for body in single_alert_batches(groups, "fan", api_time(utc_now()))
            ]
            spy = Spy(daemon.pid, spy_output)
            reset_peak_rss(daemon.pid)
            cpu_before = cpu_seconds(daemon.pid)
            started = time.perf_counter()
            await post_all(port, requests, CONNECTIONS)
            async with asyncio.timeout(FANOUT_DRAIN_SECONDS):
                await sink.wait_for(groups)
            records = sink.state.records
            spread = records[-1].arrived_at - records[0].arrived_at
            print(
                f"fanout: {len(records)} notifications, {len(records) / max(spread, 1e-9):,.0f}/s, "
                f"all after {records[-1].arrived_at - started:.2f}s"
            )
            await sink.close()
        else:
            requests = [
                build_request("POST", "/api/v2/alerts", port, body)
                for body in alert_batches(alerts, api_time(utc_now()))
            ]
            spy = Spy(daemon.pid, spy_output if phase == "ingest" else None)
            reset_peak_rss(daemon.pid)
            cpu_before = cpu_seconds(daemon.pid)
            elapsed = await post_all(port, requests, CONNECTIONS)
            print(
                f"ingest: {alerts / elapsed:,.0f} alerts/s, daemon CPU {cpu_seconds(daemon.pid) - cpu_before:.2f}s, "
                f"peak RSS {peak_rss_mib(daemon.pid):.0f} MiB"
            )
            if phase != "ingest":
                spy.stop()
                spy = Spy(daemon.pid, spy_output)
                reset_peak_rss(daemon.pid)
                cpu_before = cpu_seconds(daemon.pid)
            if phase == "refresh":
                elapsed = await post_all(port, requests, CONNECTIONS)
                print(f"refresh: {alerts / elapsed:,.0f} alerts/s")
            paths = {"alerts": ["/api/v2/alerts"], "groups": ["/api/v2/alerts/groups"]}.get(
                phase, ["/api/v2/alerts", "/api/v2/alerts/groups"] if phase == "query" else []
            )
            connection = RawConnection(port)
            for path in paths:
                for _ in range(3):
                    started = time.perf_counter()
                    cpu_started = cpu_seconds(daemon.pid)
                    response = await connection.send(build_request("GET", path, port))
                    print(
                        f"GET {path}: {response.status} {(time.perf_counter() - started) * 1000:.0f} ms, "
                        f"daemon CPU {(cpu_seconds(daemon.pid) - cpu_started) * 1000:.0f} ms, "
                        f"{response.length / 1e6:.1f} MB, RSS now {rss_mib(daemon.pid):.0f} MiB "
                        f"peak {peak_rss_mib(daemon.pid):.0f} MiB"
                    )
            await connection.close()
        spy.stop()
        print(
            f"{phase}: daemon CPU {cpu_seconds(daemon.pid) - cpu_before:.2f}s, peak RSS {peak_rss_mib(daemon.pid):.0f} MiB"
        )
    finally:
        daemon.stop()


async def profile_create(
    target: str, silences: int, workdir: Path, spy_output: Path | None, pin: list[str]
) -> None:
    from bench.bench_silences import SILENCE_DURATION, SILENCES_CONFIG, silence_requests, targeted_silences

    daemon = start_daemon(target, SILENCES_CONFIG, workdir / "d", command_prefix=pin)  # type: ignore[arg-type]
    try:
        now = utc_now()
        bodies = targeted_silences(silences, api_time(now), api_time(now + SILENCE_DURATION))
        requests = silence_requests(daemon.port, bodies)
        spy = Spy(daemon.pid, spy_output)
        cpu_before = cpu_seconds(daemon.pid)
        threads_before = thread_cpu_seconds(daemon.pid)
        elapsed = await post_all(daemon.port, requests, CONNECTIONS)
        cpu = cpu_seconds(daemon.pid) - cpu_before
        threads_after = thread_cpu_seconds(daemon.pid)
        spy.stop()
        print(
            f"create: {silences / elapsed:,.0f} silences/s, daemon CPU per silence {cpu / silences * 1e6:.0f} us"
        )
        for name, (user, system) in threads_after.items():
            user_before, system_before = threads_before.get(name, (0.0, 0.0))
            print(
                f"  thread {name}: user {(user - user_before) / silences * 1e6:.0f} us, "
                f"system {(system - system_before) / silences * 1e6:.0f} us per silence"
            )
    finally:
        daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("phase", choices=PHASES)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--target", default="tocsin", choices=("tocsin", "alertmanager"))
    parser.add_argument("--spy", type=Path, help="py-spy output (.svg flame graph or .txt collapsed stacks)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="tocsin-profile-") as workdir:
        asyncio.run(run_phase(args.phase, args.target, args.alerts, Path(workdir), args.spy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
