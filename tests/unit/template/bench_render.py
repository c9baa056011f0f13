"""Benchmark (not a test): microseconds per render of the default Slack and email templates.

    .venv/bin/python -m tests.unit.template.bench_render [ALERTS]

Renders a notification of ALERTS (default 100) alerts the way the receivers do: the Slack
title, text-less fallback and the email HTML body.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

from notify.model import Alert
from notify.template.data import build_template_data
from notify.template.templates import Templates

DEFAULT_ALERTS = 100
ROUNDS = 20


def sample_alerts(count: int, now: datetime) -> list[Alert]:
    return [
        Alert(
            labels={
                "alertname": "HighLatency",
                "job": "node",
                "instance": f"host-{i}:9100",
                "severity": "page",
            },
            annotations={"summary": "p99 latency above 1s", "description": f"instance {i} is slow"},
            starts_at=now - timedelta(minutes=i),
            ends_at=now - timedelta(seconds=1) if i % 4 == 0 else now + timedelta(minutes=5),
            generator_url=f"http://prometheus:9090/graph?g0.expr=latency%3E1&g0.tab={i}",
        )
        for i in range(count)
    ]


def measure(templates: Templates, text: str, data: object, html: bool) -> float:
    render = templates.execute_html if html else templates.execute_text
    render(text, data)  # parse once, as the cached receivers do
    start = time.process_time()
    for _ in range(ROUNDS):
        render(text, data)
    return (time.process_time() - start) / ROUNDS * 1e6


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_ALERTS
    now = datetime.now(UTC)
    templates = Templates.with_defaults()
    data = build_template_data(
        "slack-ops", {"alertname": "HighLatency"}, sample_alerts(count, now), "http://am:9093", now
    )
    cases = [
        ("slack title", '{{ template "slack.default.title" . }}', False),
        ("slack fallback", '{{ template "slack.default.fallback" . }}', False),
        ("opsgenie description", '{{ template "opsgenie.default.description" . }}', False),
        ("email subject", '{{ template "email.default.subject" . }}', False),
        ("email html", '{{ template "email.default.html" . }}', True),
    ]
    for name, text, html in cases:
        print(f"{name:22s} {count} alerts: {measure(templates, text, data, html):10.0f} us/render")


if __name__ == "__main__":
    main()
