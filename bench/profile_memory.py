"""Where the daemon's memory goes: the whole application in this process, no sockets.

    .venv/bin/python bench/profile_memory.py --alerts 100000 [--trace]

Builds `daemon.app.Application` from the benchmark's ingest config, posts the benchmark's
alerts straight into the alerts handler (64 per call), then answers GET /api/v2/alerts and
/api/v2/alerts/groups through the handlers. After each step it prints RSS and peak RSS, the
CPU seconds the step took, and with `--trace` the biggest tracemalloc growth by line.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import trio

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.bench import INGEST_CONFIG, alert_batches  # noqa: E402
from daemon.app import (  # noqa: E402
    GC_GENERATION0_THRESHOLD,
    GC_GENERATION1_THRESHOLD,
    GC_GENERATION2_THRESHOLD,
    Application,
)
from daemon.flags import parse_flags  # noqa: E402
from tests.helpers.alerts_gen import api_time, utc_now  # noqa: E402

TOP_LINES = 12


class GcTimer:
    """Seconds the cyclic garbage collector ran, by generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started

    def take(self) -> str:
        text = "/".join(f"{seconds:.2f}" for seconds in self.seconds)
        self.seconds = [0.0, 0.0, 0.0]
        return text


GC_TIMER = GcTimer()


def rss_mib() -> tuple[float, float]:
    current = peak = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return current, peak


class Step:
    def __init__(self, trace: bool) -> None:
        self._trace = trace
        self._snapshot = tracemalloc.take_snapshot() if trace else None
        self._cpu = resource.getrusage(resource.RUSAGE_SELF)

    def report(self, name: str) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - self._cpu.ru_utime - self._cpu.ru_stime
        current, peak = rss_mib()
        print(
            f"{name}: CPU {cpu:.2f}s (GC by generation {GC_TIMER.take()}s), RSS {current:.0f} MiB, peak {peak:.0f} MiB",
            flush=True,
        )
        if self._snapshot is not None:
            after = tracemalloc.take_snapshot()
            for stat in after.compare_to(self._snapshot, "lineno")[:TOP_LINES]:
                print(f"    {stat}")
        self._cpu = usage
        self._snapshot = tracemalloc.take_snapshot() if self._trace else None


async def run(alerts: int, trace: bool, workdir: Path) -> None:
    config = workdir / "config.yml"
    config.write_text(INGEST_CONFIG)
    outcome = parse_flags(
        [
            f"--config.file={config}",
            f"--storage.path={workdir}",
            "--web.listen-address=127.0.0.1:0",
            "--cluster.listen-address=",
        ]
    )
    flags = outcome.flags
    assert flags is not None, outcome
    app = Application(flags, "http://localhost:9093", "/")
    bodies = alert_batches(alerts, api_time(utc_now()))
    async with trio.open_nursery() as nursery:
        await nursery.start(app.run)
        api = app._build_api()
        step = Step(trace)
        for body in bodies:
            response = await api.alerts.post(body, "application/json")
            assert response.status == 200, response.body
        await trio.sleep(0.5)  # let the dispatcher file the last batches
        step.report(f"ingest {alerts}")
        for body in bodies:
            await api.alerts.post(body, "application/json")
        await trio.sleep(0.5)
        step.report("refresh")
        for attempt in range(3):
            started = time.perf_counter()
            response = api.alerts.get({})
            size = len(response.body)
            del response
            step.report(
                f"GET alerts #{attempt + 1} ({size / 1e6:.1f} MB, {time.perf_counter() - started:.2f}s)"
            )
        for attempt in range(3):
            started = time.perf_counter()
            response = api.alerts.groups({})
            size = len(response.body)
            del response
            step.report(
                f"GET groups #{attempt + 1} ({size / 1e6:.1f} MB, {time.perf_counter() - started:.2f}s)"
            )
        nursery.cancel_scope.cancel()
    app.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--trace", action="store_true", help="tracemalloc growth per step (slow)")
    args = parser.parse_args()
    gc.set_threshold(GC_GENERATION0_THRESHOLD, GC_GENERATION1_THRESHOLD, GC_GENERATION2_THRESHOLD)
    if args.trace:
        tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix="tocsin-memory-") as workdir:
        trio.run(run, args.alerts, args.trace, Path(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
