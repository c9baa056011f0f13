"""Count what wakes an idle tocsin daemon: a debug wrapper for performance work, not a test.

    .venv/bin/python bench/wakeup_census.py --report census.json [--after 10] [--seconds 30] \\
        -- <the daemon's usual flags>

Runs the daemon in this process with a `trio.abc.Instrument` installed. After `--after`
seconds it counts, for `--seconds` seconds: scheduler passes that ran at least one task
("wake-ups"), task steps and their CPU time per task name, and the process CPU time of the
window. Then it writes the report (JSON) and keeps the daemon running until it is stopped.
With `--signals` the window is instead opened by SIGUSR1 and closed (report written) by
SIGUSR2. `bench_cluster.py --only idle --census DIR` launches tocsin replicas through this
wrapper, signals them around its measurement and prints each replica's census.

The instrument costs a few microseconds per step; compare censuses with each other, not
with the CPU figures of uninstrumented runs.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

# Start-up (joining, first push/pulls, snapshots) is not idleness; counting starts after this.
DEFAULT_AFTER_SECONDS = 10.0
DEFAULT_WINDOW_SECONDS = 30.0
# Steps listed in the printed summary; the JSON report has all of them.
SUMMARY_TASKS = 15


@dataclasses.dataclass
class TaskFigures:
    steps: int = 0
    cpu_seconds: float = 0.0


class WakeupCensus(trio.abc.Instrument):
    """Counts scheduler passes and task steps inside one time window (process CPU time)."""

    def __init__(self, report: Path, after_s: float, window_s: float) -> None:
        self.report = report
        started = time.monotonic()
        self.window_start = started + after_s
        self.window_end = self.window_start + window_s
        self.window_s = window_s
        self.tasks: dict[str, TaskFigures] = collections.defaultdict(TaskFigures)
        self.wakeups = 0
        self.io_waits = 0
        self.steps_this_pass = 0
        self.step_started = 0.0
        self.cpu_at_window_start: float | None = None
        self.step_cpu_total = 0.0
        self.done = False

    def open_window(self) -> None:
        self.window_start = time.monotonic()
        self.window_end = float("inf")

    def close_window(self) -> None:
        if not self.done and self.window_start <= time.monotonic():
            self.window_s = time.monotonic() - self.window_start
            self._write_report()

    def _counting(self) -> bool:
        if self.done:
            return False
        now = time.monotonic()
        if now < self.window_start:
            return False
        if now >= self.window_end:
            self._write_report()
            return False
        if self.cpu_at_window_start is None:
            self.cpu_at_window_start = time.process_time()
        return True

    def before_io_wait(self, timeout: float) -> None:
        if self._counting():
            self.io_waits += 1
            if self.steps_this_pass:
                self.wakeups += 1
        self.steps_this_pass = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.step_started = time.process_time()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if not self._counting():
            return
        spent = time.process_time() - self.step_started
        figures = self.tasks[task.name]
        figures.steps += 1
        figures.cpu_seconds += spent
        self.step_cpu_total += spent
        self.steps_this_pass += 1

    def _write_report(self) -> None:
        self.done = True
        process_cpu = time.process_time() - (self.cpu_at_window_start or 0.0)
        by_cost = sorted(self.tasks.items(), key=lambda item: -item[1].cpu_seconds)
        report: dict[str, Any] = {
            "window_seconds": self.window_s,
            "wakeups_per_second": self.wakeups / self.window_s,
            "io_waits_per_second": self.io_waits / self.window_s,
            "process_cpu_percent": 100 * process_cpu / self.window_s,
            "task_step_cpu_percent": 100 * self.step_cpu_total / self.window_s,
            "tasks": [
                {
                    "name": name,
                    "steps_per_second": figures.steps / self.window_s,
                    "cpu_ms_per_second": 1000 * figures.cpu_seconds / self.window_s,
                    "us_per_step": 1e6 * figures.cpu_seconds / figures.steps,
                }
                for name, figures in by_cost
            ],
        }
        self.report.write_text(json.dumps(report, indent=2))


def summarise(report: dict[str, Any]) -> str:
    lines = [
        f"wake-ups {report['wakeups_per_second']:.1f}/s, scheduler passes {report['io_waits_per_second']:.1f}/s,"
        f" process CPU {report['process_cpu_percent']:.3f}% (task steps {report['task_step_cpu_percent']:.3f}%)"
    ]
    for task in report["tasks"][:SUMMARY_TASKS]:
        lines.append(
            f"  {task['steps_per_second']:7.2f} steps/s {task['cpu_ms_per_second']:7.3f} ms/s"
            f" {task['us_per_step']:8.0f} us/step  {task['name']}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", type=Path, required=True, help="write the JSON census here")
    parser.add_argument("--after", type=float, default=DEFAULT_AFTER_SECONDS, help="seconds before counting")
    parser.add_argument("--seconds", type=float, default=DEFAULT_WINDOW_SECONDS, help="seconds counted")
    parser.add_argument(
        "--signals", action="store_true", help="SIGUSR1 opens the window, SIGUSR2 closes it"
    )
    parser.add_argument("daemon_args", nargs=argparse.REMAINDER, help="-- then the daemon's flags")
    args = parser.parse_args(argv)
    daemon_args = args.daemon_args[1:] if args.daemon_args[:1] == ["--"] else args.daemon_args
    census = WakeupCensus(args.report, args.after, args.seconds)
    if args.signals:
        census.window_start = census.window_end = float("inf")
        signal.signal(signal.SIGUSR1, lambda *_: census.open_window())
        signal.signal(signal.SIGUSR2, lambda *_: census.close_window())
    plain_run = trio.run

    def instrumented_run(*run_args: Any, **kwargs: Any) -> Any:
        kwargs["instruments"] = [*kwargs.get("instruments", ()), census]
        return plain_run(*run_args, **kwargs)

    trio.run = instrumented_run  # type: ignore[assignment]
    from daemon.app import run_from_args

    return int(run_from_args(daemon_args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
