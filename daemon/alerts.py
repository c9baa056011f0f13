"""The alert store: every alert the daemon knows, keyed by fingerprint, and its subscribers.

Theory of operation (Alertmanager 0.25's in-memory provider, reference §5.1):
- `put` merges a re-posted alert with the stored one when their activity intervals overlap
  (the new start or end falls strictly inside the old (start, end)), else replaces it.
- Every stored alert (after merging) is handed to each subscriber: the dispatcher and the
  inhibitor. A subscriber receives first a snapshot of the whole store, then the updates.
  Subscriptions are bounded trio memory channels; a slow subscriber slows `put` down
  (back-pressure on the posting clients) instead of growing memory without limit.
- Updates travel in batches, one per `put` call, so a 64-alert POST costs one channel send
  per subscriber rather than 64: ingest must sustain tens of thousands of alerts a second.
- The fingerprints in ascending order (the API's order) are kept between queries and only
  re-sorted after an alert was added or dropped: Prometheus re-posting the same alerts every
  evaluation changes no fingerprint, so a GET of 100,000 alerts sorts nothing.
- Observers (`add_observer`) hear of every fingerprint the store starts or stops holding,
  not of updates: the silence table indexes alerts by label, and a fingerprint's labels
  never change.
- `gc` drops resolved alerts and their marker entries. Alerts still waiting for their
  resolved notification live on in the aggregation groups, which hold their own copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import NamedTuple, Protocol

import trio

from daemon.marker import Marker
from notify.model import Alert

# Alertmanager buffers 200 alerts per subscriber; we buffer 200 batches (one per POST), which
# absorbs a burst of concurrent posts while keeping the memory held for a stuck subscriber
# bounded by 200 requests' worth of alerts.
SUBSCRIBER_BUFFER_BATCHES = 200


class AlertUpdate(NamedTuple):
    """One stored alert as subscribers receive it (fingerprint computed once, here)."""

    fingerprint: int
    alert: Alert


AlertBatch = list[AlertUpdate]
Subscription = trio.MemoryReceiveChannel[AlertBatch]


class StoreObserver(Protocol):
    """Told which fingerprints the store holds (see `AlertStore.add_observer`)."""

    def alert_added(self, fingerprint: int, labels: Mapping[str, str]) -> None: ...

    def alert_removed(self, fingerprint: int) -> None: ...


def _overlaps(old: Alert, new: Alert) -> bool:
    """True when the new start or end falls strictly inside the old activity interval."""
    return (old.starts_at < new.ends_at < old.ends_at) or (old.starts_at < new.starts_at < old.ends_at)


class AlertStore:
    """All alerts by fingerprint (int). Single-threaded: used from the trio loop only."""

    def __init__(
        self,
        marker: Marker | None = None,
        on_deleted: Callable[[AlertUpdate], None] | None = None,
    ) -> None:
        self._alerts: dict[int, Alert] = {}
        self._marker = marker
        self._on_deleted = on_deleted
        self._subscribers: list[trio.MemorySendChannel[AlertBatch]] = []
        self._observers: list[StoreObserver] = []
        # Ascending fingerprints; None after the key set changed (sorted again on demand).
        self._sorted_fingerprints: list[int] | None = []

    def merge_in(self, alerts: Iterable[Alert], now: datetime) -> AlertBatch:
        """Store the alerts (merging with stored ones) without telling subscribers; returns
        what was stored. `put` is this plus the notification."""
        stored = self._alerts
        batch: AlertBatch = []
        for alert in alerts:
            fingerprint = alert.fingerprint()
            old = stored.get(fingerprint)
            if old is None:
                self._sorted_fingerprints = None
                for observer in self._observers:
                    observer.alert_added(fingerprint, alert.labels)
            elif _overlaps(old, alert):
                alert = old.merge(alert, now)
            stored[fingerprint] = alert
            batch.append(AlertUpdate(fingerprint, alert))
        return batch

    async def put(self, alerts: Iterable[Alert], now: datetime) -> None:
        """Store the alerts and hand them to every subscriber (waiting while one is full)."""
        batch = self.merge_in(alerts, now)
        if batch:
            await self._publish(batch)

    async def _publish(self, batch: AlertBatch) -> None:
        for channel in list(self._subscribers):
            try:
                await channel.send(batch)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                # The subscriber closed its end (dispatcher stopped for a reload).
                self._drop_subscriber(channel)

    def _drop_subscriber(self, channel: trio.MemorySendChannel[AlertBatch]) -> None:
        if channel in self._subscribers:
            self._subscribers.remove(channel)
            channel.close()

    def add_observer(self, observer: StoreObserver) -> None:
        """Report every stored fingerprint to `observer` now, and each one added or dropped
        from now on."""
        self._observers.append(observer)
        for fingerprint, alert in self._alerts.items():
            observer.alert_added(fingerprint, alert.labels)

    def subscribe(self) -> Subscription:
        """A channel yielding a snapshot batch of all stored alerts, then every update.

        Close the returned channel (e.g. `with subscription:`) to unsubscribe."""
        send_channel, receive_channel = trio.open_memory_channel[AlertBatch](SUBSCRIBER_BUFFER_BATCHES)
        if self._alerts:
            send_channel.send_nowait(list(self.items()))
        self._subscribers.append(send_channel)
        return receive_channel

    def get(self, fingerprint: int) -> Alert | None:
        return self._alerts.get(fingerprint)

    def items(self) -> Iterator[AlertUpdate]:
        for fingerprint, alert in self._alerts.items():
            yield AlertUpdate(fingerprint, alert)

    def sorted_view(self) -> tuple[Mapping[int, Alert], list[int]]:
        """The alerts by fingerprint and every fingerprint in ascending order (what
        `GET /api/v2/alerts` lists). Read-only, and only until the next await."""
        order = self._sorted_fingerprints
        if order is None:
            order = self._sorted_fingerprints = sorted(self._alerts)
        return self._alerts, order

    def sorted_items(self) -> Iterator[AlertUpdate]:
        """Every alert in ascending fingerprint order."""
        alerts, order = self.sorted_view()
        for fingerprint in order:
            yield AlertUpdate(fingerprint, alerts[fingerprint])

    def __iter__(self) -> Iterator[Alert]:
        return iter(list(self._alerts.values()))

    def __len__(self) -> int:
        return len(self._alerts)

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self._alerts

    def count(self, state: str, now: datetime) -> int:
        """Unresolved alerts whose marker state is `state` (the `alertmanager_alerts` gauge)."""
        marker = self._marker
        if marker is None:
            return 0
        return sum(
            1
            for fingerprint, alert in self._alerts.items()
            if not alert.resolved_at(now) and marker.status(fingerprint).state == state
        )

    def gc(self, now: datetime) -> list[AlertUpdate]:
        """Drop resolved alerts (and their marker state); returns what was dropped."""
        removed = [
            AlertUpdate(fingerprint, alert)
            for fingerprint, alert in self._alerts.items()
            if alert.resolved_at(now)
        ]
        if removed:
            self._sorted_fingerprints = None
        for update in removed:
            del self._alerts[update.fingerprint]
            if self._marker is not None:
                self._marker.delete(update.fingerprint)
            for observer in self._observers:
                observer.alert_removed(update.fingerprint)
            if self._on_deleted is not None:
                self._on_deleted(update)
        return removed

    async def run_gc(self, interval_seconds: float, wall_clock: Callable[[], datetime]) -> None:
        """Garbage-collect every `interval_seconds` (`--alerts.gc-interval`) until cancelled."""
        while True:
            await trio.sleep(interval_seconds)
            self.gc(wall_clock())

    def close(self) -> None:
        """End every subscription (their iterators finish)."""
        for channel in self._subscribers:
            channel.close()
        self._subscribers.clear()


__all__ = [
    "SUBSCRIBER_BUFFER_BATCHES",
    "AlertBatch",
    "AlertStore",
    "AlertUpdate",
    "StoreObserver",
    "Subscription",
]
