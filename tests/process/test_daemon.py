"""The real `daemon` process: flags, start-up, alerts in and out, reload, shutdown, webhooks."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_tocsin
from tests.helpers.http_sink import HttpSink
from tests.helpers.processes import READY_TIMEOUT_SECONDS, DaemonProcess, free_port, tocsin_binary

pytestmark = pytest.mark.process

CONFIG = """\
route:
  receiver: first
receivers:
- name: first
"""
RELOADED_CONFIG = """\
route:
  receiver: second
receivers:
- name: second
- name: third
"""
# A process that needs longer than this to exit after SIGTERM has a shutdown bug.
PROMPT_EXIT_SECONDS = 5.0
# How long a reload by signal may take to show in the API.
RELOAD_POLL_SECONDS = 10.0
POLL_INTERVAL_SECONDS = 0.05
CLI_TIMEOUT_SECONDS = 30.0


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    require_tocsin()
    return subprocess.run(
        [str(tocsin_binary()), *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS, cwd=cwd, check=False
    )


def receiver_names(daemon: DaemonProcess) -> list[str]:
    return [receiver["name"] for receiver in httpx.get(f"{daemon.base_url}/api/v2/receivers").json()]


def post_alerts(daemon: DaemonProcess, *alerts: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{daemon.base_url}/api/v2/alerts", json=list(alerts))


def test_version_prints_build_info_and_exits_0() -> None:
    completed = run_cli("--version")
    assert completed.returncode == 0
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("tocsin, version 0.25.0 (branch: ")
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "build user", "build date", "go version", "platform",
    ]


def test_unknown_flag_is_an_error_naming_it() -> None:
    completed = run_cli("--foo")
    assert completed.returncode == 1
    assert completed.stderr.endswith(": error: unknown long flag '--foo', try --help\n")


def test_missing_named_config_fails_start(tmp_path: Path) -> None:
    completed = run_cli(
        f"--config.file={tmp_path / 'absent.yml'}", f"--storage.path={tmp_path}", "--cluster.listen-address=",
        f"--web.listen-address=127.0.0.1:{free_port()}",
    )
    assert completed.returncode == 1
    assert "Loading configuration file failed" in completed.stderr
    assert "no such file or directory" in completed.stderr


def test_invalid_config_fails_start(tmp_path: Path) -> None:
    config = tmp_path / "bad.yml"
    config.write_text("route: {}\nreceivers: []\nbogus: 1\n")
    completed = run_cli(
        f"--config.file={config}", f"--storage.path={tmp_path}", "--cluster.listen-address=",
        f"--web.listen-address=127.0.0.1:{free_port()}",
    )
    assert completed.returncode == 1
    assert "Loading configuration file failed" in completed.stderr


def test_post_then_get_alerts(tocsin_factory: Any) -> None:
    daemon = tocsin_factory(CONFIG)
    response = post_alerts(
        daemon,
        {"labels": {"alertname": "B", "empty": ""}, "annotations": {"summary": "s"}},
        {"labels": {"alertname": "A"}, "startsAt": "2020-01-01T00:00:00+02:00", "generatorURL": "http://p/g"},
    )
    assert (response.status_code, response.content) == (200, b"")
    listed = httpx.get(f"{daemon.base_url}/api/v2/alerts").json()
    assert [alert["labels"] for alert in listed] == sorted(
        [{"alertname": "B"}, {"alertname": "A"}], key=lambda labels: listed_fingerprint(listed, labels)
    )
    by_name = {alert["labels"]["alertname"]: alert for alert in listed}
    assert by_name["A"]["startsAt"] == "2020-01-01T00:00:00.000+02:00"
    assert by_name["A"]["generatorURL"] == "http://p/g"
    assert by_name["B"]["annotations"] == {"summary": "s"}
    assert by_name["B"]["receivers"] == [{"name": "first"}]
    assert by_name["B"]["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    groups = httpx.get(f"{daemon.base_url}/api/v2/alerts/groups").json()
    assert [(group["labels"], group["receiver"]) for group in groups] == [({}, {"name": "first"})]


def listed_fingerprint(listed: list[dict[str, Any]], labels: dict[str, str]) -> str:
    return next(alert["fingerprint"] for alert in listed if alert["labels"] == labels)


def test_status_reports_version_config_and_disabled_cluster(tocsin_factory: Any) -> None:
    daemon = tocsin_factory(CONFIG)
    status = httpx.get(f"{daemon.base_url}/api/v2/status").json()
    assert status["versionInfo"]["version"] == "0.25.0"
    assert status["cluster"] == {"peers": [], "status": "disabled"}
    assert "receiver: first" in status["config"]["original"]
    assert status["uptime"].endswith("Z")


def test_reload_good_and_bad_config(tocsin_factory: Any) -> None:
    daemon = tocsin_factory(CONFIG)
    assert post_alerts(daemon, {"labels": {"alertname": "kept"}}).status_code == 200
    bad = daemon.reload("route: {}\nnot_a_key: 1\n")
    assert bad.status_code == 500
    assert bad.text.startswith("failed to reload config: ")
    assert receiver_names(daemon) == ["first"]
    good = daemon.reload(RELOADED_CONFIG)
    assert (good.status_code, good.content) == (200, b"")
    assert receiver_names(daemon) == ["second", "third"]
    listed = httpx.get(f"{daemon.base_url}/api/v2/alerts").json()
    assert [(alert["labels"], alert["receivers"]) for alert in listed] == [
        ({"alertname": "kept"}, [{"name": "second"}])
    ]
    assert httpx.get(f"{daemon.base_url}/-/reload").status_code == 405


def test_sighup_reloads(tocsin_factory: Any) -> None:
    daemon = tocsin_factory(CONFIG)
    daemon.reload_by_signal(RELOADED_CONFIG)
    deadline = time.monotonic() + RELOAD_POLL_SECONDS
    while receiver_names(daemon) != ["second", "third"]:
        assert time.monotonic() < deadline, "SIGHUP did not reload the config"
        time.sleep(POLL_INTERVAL_SECONDS)


def test_sigterm_exits_promptly_and_cleanly(tocsin_factory: Any) -> None:
    daemon = tocsin_factory(CONFIG)
    started = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=PROMPT_EXIT_SECONDS) == 0
    assert time.monotonic() - started < PROMPT_EXIT_SECONDS
    assert "Received SIGTERM, exiting gracefully..." in daemon.log_text()


def wait_ready_at(daemon: DaemonProcess, path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        assert daemon.is_running(), daemon.log_tail()
        try:
            if httpx.get(daemon.base_url + path).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, daemon.log_tail()
        time.sleep(POLL_INTERVAL_SECONDS)


def test_route_prefix_and_root_redirect(tmp_path: Path) -> None:
    require_tocsin()
    # The shared helper polls /-/ready, which is not served outside the prefix.
    daemon = DaemonProcess.launch("tocsin", CONFIG, tmp_path, extra_args=["--web.route-prefix=/am/"])
    try:
        wait_ready_at(daemon, "/am/-/ready")
        check_prefixed_routes(daemon)
    finally:
        daemon.stop()


def check_prefixed_routes(daemon: DaemonProcess) -> None:
    root = httpx.get(f"{daemon.base_url}/")
    assert (root.status_code, root.headers["location"]) == (302, "/am")
    assert httpx.get(f"{daemon.base_url}/am/api/v2/status").status_code == 200
    assert httpx.get(f"{daemon.base_url}/am/-/healthy").text == "OK"
    assert httpx.get(f"{daemon.base_url}/api/v2/status").status_code == 404


def test_cors_on_api_v2(tocsin_factory: Any) -> None:
    daemon = tocsin_factory(CONFIG)
    preflight = httpx.options(
        f"{daemon.base_url}/api/v2/alerts",
        headers={"Origin": "http://ui", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-methods"] == "POST"
    simple = httpx.get(f"{daemon.base_url}/api/v2/receivers", headers={"Origin": "http://ui"})
    assert simple.headers["access-control-allow-origin"] == "*"
    assert simple.headers["vary"] == "Origin"


def test_metrics_count_received_alerts(tocsin_factory: Any) -> None:
    daemon = tocsin_factory(CONFIG)
    post_alerts(daemon, {"labels": {"alertname": "m"}}, {"labels": {"a-b": "bad"}})
    text = httpx.get(f"{daemon.base_url}/metrics").text
    assert 'alertmanager_alerts_received_total{status="firing",version="v2"} 2.0' in text
    assert 'alertmanager_alerts_invalid_total{version="v2"} 1.0' in text
    assert 'alertmanager_alerts{state="active"}' in text
    assert "alertmanager_config_last_reload_successful 1.0" in text
    assert 'alertmanager_silences{state="active"} 0.0' in text


def test_webhook_delivered_end_to_end(tocsin_factory: Any) -> None:
    with HttpSink() as sink:
        daemon = tocsin_factory(
            f"""\
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 100ms
receivers:
- name: hook
  webhook_configs:
  - url: {sink.url("/hook")}
"""
        )
        assert post_alerts(daemon, {"labels": {"alertname": "Fire", "job": "j"}}).status_code == 200
        (request,) = sink.wait_for(1, "/hook")
        body = request.json()
        assert body["receiver"] == "hook"
        assert body["status"] == "firing"
        assert body["groupLabels"] == {"alertname": "Fire"}
        assert body["groupKey"] == '{}:{alertname="Fire"}'
        assert [alert["labels"] for alert in body["alerts"]] == [{"alertname": "Fire", "job": "j"}]


def test_port_in_use_fails_start_with_gos_message(tmp_path: Path, tocsin_factory: Any) -> None:
    running = tocsin_factory(CONFIG)
    config = tmp_path / "am.yml"
    config.write_text(CONFIG)
    completed = run_cli(
        f"--config.file={config}", f"--storage.path={tmp_path}", "--cluster.listen-address=",
        f"--web.listen-address=127.0.0.1:{running.port}",
    )
    assert completed.returncode == 1
    assert f'err="listen tcp 127.0.0.1:{running.port}: bind: address already in use"' in completed.stderr
