"""The contracts between the pipeline and the application (the consumer owns the interface).

`daemon` supplies objects satisfying these Protocols; `notify` never imports `daemon`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from notify.model import Alert


@dataclasses.dataclass(frozen=True, slots=True)
class FlushContext:
    """What one aggregation-group flush carries down the pipeline."""

    group_key: str
    receiver: str
    group_labels: Mapping[str, str]
    repeat_interval: timedelta
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]
    now: datetime


class Notifier(Protocol):
    """A receiver's whole pipeline. Returns True when the flush succeeded (so the
    aggregation group may drop the resolved alerts it sent)."""

    async def notify(self, ctx: FlushContext, alerts: Sequence[Alert]) -> bool: ...


class AlertMuter(Protocol):
    """Inhibitor or silencer: decides (and records in the marker) whether an alert is muted."""

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool: ...


class TimeIntervals(Protocol):
    """Named time intervals from the config."""

    def any_contains(self, names: Sequence[str], moment: datetime) -> bool: ...


class ClusterGate(Protocol):
    """Settle gate and position of this replica among the sorted peer names."""

    async def wait_ready(self) -> None: ...

    def position(self) -> int: ...


@dataclasses.dataclass(frozen=True, slots=True)
class NotificationLogEntry:
    """One nflog entry, keyed by (group key, receiver name, integration type, index)."""

    group_key: str
    receiver_name: str
    integration: str
    index: int
    firing_alerts: frozenset[int]
    resolved_alerts: frozenset[int]
    timestamp: datetime
    expires_at: datetime


class NotificationLog(Protocol):
    def query(self, group_key: str, receiver_name: str, integration: str, index: int) -> (
        NotificationLogEntry | None
    ): ...

    def log(self, entry: NotificationLogEntry) -> None: ...
