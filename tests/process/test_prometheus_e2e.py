"""A real Prometheus fires a rule, delivers the alert to tocsin, and tocsin calls the webhook.

This is the path every user depends on: Prometheus's notifier (API v2, its own start/end
times and generatorURL), tocsin's ingest, routing and grouping, and the webhook receiver.
The same scenario runs against the real Alertmanager first when it is installed, so the
expectations below are the oracle's behaviour, not our guess.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.conftest import DaemonFactory, require_binary
from tests.helpers.http_sink import HttpSink
from tests.helpers.processes import PROMETHEUS_BINARY, DaemonKind, DaemonProcess

pytestmark = pytest.mark.process

# Prometheus evaluates every second; its first delivery follows the first evaluation, then
# the daemon's group_wait (1s). 30s covers a slow start of both processes on a loaded box.
DELIVERY_TIMEOUT_SECONDS = 30.0
RESEND_DELAY = "1s"

RULES = """\
groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1) > 0
        labels:
          severity: page
        annotations:
          summary: "the e2e rule fires with value {{ $value }}"
"""

DAEMON_CONFIG = """\
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs:
      - url: $SINK/prometheus-e2e
"""


def prometheus_config(daemon: DaemonProcess) -> str:
    return f"""\
global:
  evaluation_interval: 1s
  external_labels:
    replica: e2e
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: ["127.0.0.1:{daemon.port}"]
"""


@pytest.mark.parametrize("kind", ["alertmanager", "tocsin"])
def test_prometheus_alert_reaches_the_webhook(
    daemon_factory: DaemonFactory, recording_sink: HttpSink, kind: DaemonKind
) -> None:
    require_binary(PROMETHEUS_BINARY)
    daemon = daemon_factory(kind, DAEMON_CONFIG.replace("$SINK", recording_sink.base_url))
    prometheus = DaemonProcess.launch_prometheus(
        prometheus_config(daemon),
        daemon.workdir.parent / f"prometheus-{kind}",
        rules={"rules.yml": RULES},
        # The first evaluation can beat alertmanager discovery (Prometheus then drops the alert);
        # the default 1m resend delay would make that a one-minute stall.
        extra_args=[f"--rules.alert.resend-delay={RESEND_DELAY}"],
    )
    daemon_factory.started.append(prometheus)  # stopped (and its log dumped) with the daemons
    prometheus.wait_ready()

    (request, *_) = recording_sink.wait_for(1, timeout=DELIVERY_TIMEOUT_SECONDS)
    body = request.json()
    assert request.path == "/prometheus-e2e"
    assert body["status"] == "firing"
    assert body["receiver"] == "hook"
    assert body["groupKey"] == '{}:{alertname="AlwaysFiring"}'
    (alert,) = body["alerts"]
    # Prometheus adds the external labels; the rule's own labels and templated annotation arrive intact.
    assert alert["labels"] == {"alertname": "AlwaysFiring", "severity": "page", "replica": "e2e"}
    assert alert["annotations"] == {"summary": "the e2e rule fires with value 1"}
    # Prometheus builds generatorURL from its default external URL, http://<hostname>:<port>.
    assert alert["generatorURL"].startswith(f"http://{socket.gethostname()}:{prometheus.port}/graph?g0.expr=")
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"

    # The daemon's API shows the alert as Prometheus sent it.
    (stored,) = httpx.get(f"{daemon.base_url}/api/v2/alerts").json()
    assert stored["labels"] == alert["labels"]
    assert stored["generatorURL"] == alert["generatorURL"]
    assert stored["startsAt"][:19] == alert["startsAt"][:19]

    # The rule stops firing: Prometheus sends the alert with an end time, and the daemon
    # sends the resolved notification (send_resolved defaults to true for webhooks).
    (prometheus.workdir / "rules.yml").write_text(RULES.replace("vector(1) > 0", "vector(1) < 0"))
    prometheus.reload_by_signal()
    requests = recording_sink.wait_for(2, timeout=DELIVERY_TIMEOUT_SECONDS)
    resolved = requests[-1].json()
    assert resolved["status"] == "resolved"
    assert resolved["groupKey"] == body["groupKey"]
    (resolved_alert,) = resolved["alerts"]
    assert resolved_alert["labels"] == alert["labels"]
    assert resolved_alert["startsAt"] == alert["startsAt"]
    assert resolved_alert["endsAt"] > alert["startsAt"]
