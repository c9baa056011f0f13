"""The composition root's background commit wakes only when something was appended: an idle
daemon does not wake every second for an empty commit, and an append is still on disk
within the commit interval. Virtual time (MockClock); the daemon's sockets are real."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import trio
import trio.testing

from daemon.app import BACKGROUND_COMMIT_INTERVAL_SECONDS, Application
from daemon.flags import parse_flags

CONFIG = "route:\n  receiver: a\nreceivers:\n- name: a\n"
COMMIT_TASK = "daemon.app.Application._commit_logs_periodically"
IDLE_SECONDS = 30.0
# Virtual seconds; a worker thread's write and fsync take milliseconds of real time.
COMMIT_THREAD_TIMEOUT_SECONDS = 30.0


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


class StepCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps: collections.Counter[str] = collections.Counter()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task.name] += 1


def make_app(tmp_path: Path) -> Application:
    path = tmp_path / "am.yml"
    path.write_text(CONFIG)
    flags = parse_flags(
        [
            f"--config.file={path}",
            f"--storage.path={tmp_path}",
            "--web.listen-address=127.0.0.1:0",
            "--cluster.listen-address=",
        ]
    ).flags
    assert flags is not None
    return Application(flags, "http://localhost:9093", "/")


async def test_idle_daemon_does_not_wake_to_commit(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    app = make_app(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(app.run)
        counter = StepCounter()
        trio.lowlevel.add_instrument(counter)
        await trio.sleep(IDLE_SECONDS)
        assert counter.steps[COMMIT_TASK] == 0
        size_before = app.silences_log.log_path.stat().st_size
        app.silences_log.append(b"record")
        await trio.sleep(BACKGROUND_COMMIT_INTERVAL_SECONDS + 0.1)
        trio.lowlevel.remove_instrument(counter)
        assert counter.steps[COMMIT_TASK] >= 1  # the commit started within the interval
        # The write itself runs in a worker thread, while virtual time jumps ahead.
        with trio.fail_after(COMMIT_THREAD_TIMEOUT_SECONDS):
            while app.silences_log.log_path.stat().st_size == size_before:  # noqa: ASYNC110
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    app.close()
