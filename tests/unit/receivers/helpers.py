"""Build one integration from settings (as the config loader hands them over) against an
in-memory recording sink, and a flush context for it."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from daemon.config.model import Receiver
from daemon.integrations import build_integrations
from notify.context import FlushContext
from notify.model import Alert
from notify.pipeline import Integration
from notify.template import Templates
from tests.helpers.http_sink import HttpSink

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EXTERNAL_URL = "http://am.example:9093"
RECEIVER = "team"
GROUP_LABELS = {"alertname": "HighLatency"}
GROUP_KEY = '{}:{alertname="HighLatency"}'


@functools.cache
def default_templates() -> Templates:
    return Templates.with_defaults()


def build(
    config_key: str, settings: Mapping[str, Any], sink: HttpSink, templates: Templates | None = None
) -> Any:
    receiver = Receiver(name=RECEIVER, integrations={config_key: [dict(settings)]})
    (integration,) = build_integrations(
        receiver, EXTERNAL_URL, sink.transport(), templates or default_templates()
    )
    return integration


def firing(count: int = 2, **annotations: str) -> list[Alert]:
    return [
        Alert(
            labels={"alertname": "HighLatency", "instance": f"api-{index}", "job": "api"},
            annotations={"summary": f"slow {index}", **annotations},
            starts_at=NOW - timedelta(minutes=5),
            ends_at=NOW + timedelta(minutes=5),
            generator_url="http://prom/graph",
        )
        for index in range(1, count + 1)
    ]


def resolved(alerts: Sequence[Alert]) -> list[Alert]:
    return [
        Alert(a.labels, a.annotations, a.starts_at, NOW - timedelta(seconds=1), NOW, a.generator_url)
        for a in alerts
    ]


def flush_context(now: datetime = NOW) -> FlushContext:
    return FlushContext(
        group_key=GROUP_KEY,
        receiver=RECEIVER,
        group_labels=GROUP_LABELS,
        repeat_interval=timedelta(hours=4),
        mute_time_intervals=(),
        active_time_intervals=(),
        now=now,
    )


async def send(integration: Integration, alerts: Sequence[Alert], now: datetime = NOW) -> None:
    await integration.send(flush_context(now), alerts)
