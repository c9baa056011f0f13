"""Silence and notification-log query metrics, counted where the pipeline asks (as
Alertmanager counts them inside its silences and nflog)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from daemon.metrics import CountedMuter, CountedNotificationLog, Metrics
from daemon.nflog import NotificationLog
from notify.context import NotificationLogEntry

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def value(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name)


def test_nflog_queries_count_misses_as_errors_like_alertmanager() -> None:
    metrics = Metrics()
    nflog = CountedNotificationLog(NotificationLog(), metrics.nflog_state)
    assert nflog.query("{}:{}", "team", "webhook", 0) is None
    entry = NotificationLogEntry(
        "{}:{}", "team", "webhook", 0, frozenset({1}), frozenset(), NOW, NOW + timedelta(hours=120)
    )
    nflog.log(entry)
    assert nflog.query("{}:{}", "team", "webhook", 0) == entry
    assert value(metrics, "alertmanager_nflog_queries_total") == 2
    # Alertmanager's nflog answers a miss with ErrNotFound, which its Query counts as an error.
    assert value(metrics, "alertmanager_nflog_query_errors_total") == 1
    assert value(metrics, "alertmanager_nflog_query_duration_seconds_count") == 2
    assert value(metrics, "alertmanager_silences_queries_total") == 0


class Muter:
    def __init__(self, answer: bool | None) -> None:
        self.answer = answer

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        if self.answer is None:
            raise RuntimeError("broken")
        return self.answer


def test_every_silencer_decision_is_one_silence_query() -> None:
    metrics = Metrics()
    assert CountedMuter(Muter(True), metrics.silences_state).mutes({"a": "b"}, NOW) is True
    assert CountedMuter(Muter(False), metrics.silences_state).mutes({"a": "b"}, NOW) is False
    with pytest.raises(RuntimeError):
        CountedMuter(Muter(None), metrics.silences_state).mutes({"a": "b"}, NOW)
    assert value(metrics, "alertmanager_silences_queries_total") == 3
    assert value(metrics, "alertmanager_silences_query_errors_total") == 1
    assert value(metrics, "alertmanager_silences_query_duration_seconds_count") == 3
