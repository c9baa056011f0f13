"""The harness itself: processes start, answer, reload, stop, and report their logs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import DaemonFactory, require_binary
from tests.helpers.processes import DaemonProcess, DaemonStartError, start_daemon
from tests.helpers.sink_for_oracle import RecordingSink

pytestmark = pytest.mark.oracle

MINIMAL_CONFIG = """\
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


def test_alertmanager_starts_answers_reloads_and_stops(daemon_factory: DaemonFactory) -> None:
    alertmanager = daemon_factory("alertmanager", MINIMAL_CONFIG)
    status = httpx.get(f"{alertmanager.base_url}/api/v2/status").json()
    assert status["cluster"]["status"] == "disabled"
    assert status["versionInfo"]["version"].startswith("0.25.")

    renamed = MINIMAL_CONFIG.replace("blackhole", "renamed")
    assert alertmanager.reload(renamed).status_code == 200
    receivers = httpx.get(f"{alertmanager.base_url}/api/v2/receivers").json()
    assert receivers == [{"name": "renamed"}]

    assert alertmanager.stop() == 0
    assert not alertmanager.is_running()


def test_a_daemon_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    require_binary()
    with pytest.raises(DaemonStartError) as raised:
        start_daemon("alertmanager", "route: {}\n", tmp_path)
    # Alertmanager's own words about the bad config are quoted in the error.
    assert "no route provided" in str(raised.value) or "root route must specify" in str(raised.value)
    assert "exited with code 1" in str(raised.value)


def test_concurrent_start_gives_distinct_ports(daemon_factory: DaemonFactory) -> None:
    first, second = daemon_factory.start_many(
        [("alertmanager", MINIMAL_CONFIG), ("alertmanager", MINIMAL_CONFIG)]
    )
    assert first.port != second.port
    for daemon in (first, second):
        assert httpx.get(f"{daemon.base_url}/-/healthy").status_code == 200


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    require_binary()
    daemon = start_daemon("alertmanager", MINIMAL_CONFIG, tmp_path)
    daemon.process.send_signal(19)  # SIGSTOP: it can no longer act on SIGTERM
    assert isinstance(daemon, DaemonProcess)
    assert daemon.stop(timeout=0.5) is None
    assert not daemon.is_running()


def test_oracle_sink_records_bodies_and_scripted_statuses() -> None:
    with RecordingSink() as sink:
        sink.statuses["/flaky"] = [500]
        with httpx.Client() as client:
            assert client.post(sink.url("/flaky"), json={"n": 1}).status_code == 500
            assert client.post(sink.url("/flaky"), json={"n": 2}).status_code == 200
        seen = sink.wait_for_count(2, path="/flaky", timeout=5)
    assert [request.json() for request in seen] == [{"n": 1}, {"n": 2}]
