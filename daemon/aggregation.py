"""Aggregation groups: the alerts of one (route, group labels) pair and when to flush them.

Timing, as Alertmanager 0.25 does it (reference §5.1, §5.7):
- A new group first flushes `group_wait` after it was created.
- It flushes at once instead if it has never flushed and an inserted alert started more
  than `group_wait` ago (old alerts after a restart or a config reload).
- At every tick the next flush is scheduled `group_interval` later, *before* the flush runs,
  so a slow flush does not delay the cadence. A tick that falls due while the previous flush
  is still running is served as soon as that flush ends.
- A flush hands a sorted snapshot to the receiver's pipeline. Alerts not resolved at flush
  time have `ends_at` zeroed in the copy, so they do not resolve while the pipeline runs.
- After a successful flush, the resolved alerts it carried are dropped from the group unless
  they were updated meanwhile. A failed flush keeps them for the next tick.

The decisions live in pure code (`FlushSchedule`, `flush_snapshot`, `sent_resolved`); the
group's only coroutine is `flush`. Groups have no task of their own between flushes: the
dispatcher keeps one timer for all of them (100,000 sleeping trio tasks cost ~350 MB), see
`daemon.dispatch`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

import trio

from daemon.alerts import AlertUpdate
from daemon.routing import Route, group_key
from notify.context import FlushContext, Notifier
from notify.model import ZERO_TIME, Alert

logger = logging.getLogger(__name__)

# Alertmanager's notify.MinTimeout: a flush gets at least this long even with a tiny
# group_interval, so one slow receiver request is not cut off needlessly.
MIN_FLUSH_TIMEOUT_SECONDS = 10.0

# Returns the extra seconds a flush may take on this replica (position × peer_timeout in a
# cluster: the pipeline's wait stage sleeps that long before sending).
PeerWait = Callable[[], float]
WallClock = Callable[[], datetime]


def no_peer_wait() -> float:
    return 0.0


def flush_timeout(group_interval_seconds: float, peer_wait: PeerWait = no_peer_wait) -> float:
    """How long one flush may run: max(group_interval, 10s) + position × peer_timeout."""
    return max(group_interval_seconds, MIN_FLUSH_TIMEOUT_SECONDS) + peer_wait()


# ---------------------------------------------------------------------------------------
# Sort orders (Go's model.LabelSet.Before and types.AlertSlice.Less)


# Label names are few and repeat in every alert; bounded so hostile label names cannot grow
# it without limit (past the bound names are still keyed, just not remembered).
_DESCENDING_NAME_CACHE_SIZE = 4096
_descending_names: dict[str, tuple[int, ...]] = {}


def _descending_name(name: str) -> tuple[int, ...]:
    # A key under which label names sort in reverse, prefixes included ("job" after "jobs"):
    # negated code points, closed by a terminator larger than any of them.
    key = _descending_names.get(name)
    if key is None:
        key = (*(-ord(char) for char in name), 1)
        if len(_descending_names) < _DESCENDING_NAME_CACHE_SIZE:
            _descending_names[name] = key
    return key


def label_set_sort_key(labels: Mapping[str, str]) -> tuple[int, tuple[tuple[tuple[int, ...], str], ...]]:
    """Key reproducing Go's LabelSet.Before: fewer labels first; then, at the first label
    name where two sets differ, the set lacking that name first; then by value."""
    names = _descending_names
    return (
        len(labels),
        tuple((names.get(name) or _descending_name(name), value) for name, value in sorted(labels.items())),
    )


def _present_first(labels: Mapping[str, str], name: str) -> tuple[int, str]:
    value = labels.get(name)
    return (0, value) if value is not None else (1, "")


def alert_sort_key(alert: Alert) -> tuple[object, ...]:
    """Alertmanager's alert order: by `job`, then `instance` (alerts having the label
    first), then by label set."""
    labels = alert.labels
    return (
        _present_first(labels, "job"),
        _present_first(labels, "instance"),
        label_set_sort_key(labels),
    )


def _update_sort_key(update: AlertUpdate) -> tuple[object, ...]:
    return alert_sort_key(update.alert)


# ---------------------------------------------------------------------------------------
# Pure decisions


@dataclasses.dataclass(slots=True)
class FlushSchedule:
    """When a group flushes next, on the monotonic (trio) clock, in seconds."""

    group_wait: float
    group_interval: float
    next_flush_at: float
    has_flushed: bool = False

    @classmethod
    def starting(cls, now: float, group_wait: float, group_interval: float) -> FlushSchedule:
        return cls(group_wait, group_interval, now + group_wait)

    def alert_inserted(self, starts_at: datetime, wall_now: datetime, now: float) -> bool:
        """Move the flush to `now` if the group never flushed and the alert's group_wait is
        already over. Returns True when the schedule moved."""
        if self.has_flushed or self.next_flush_at <= now:
            return False
        if (wall_now - starts_at).total_seconds() > self.group_wait:
            self.next_flush_at = now
            return True
        return False

    def is_due(self, now: float) -> bool:
        return now >= self.next_flush_at

    def tick(self, now: float) -> None:
        """A flush starts: the next one is group_interval from now."""
        self.has_flushed = True
        self.next_flush_at = now + self.group_interval


def flush_snapshot(
    alerts: Iterable[AlertUpdate], now: datetime, *, presorted: bool = False
) -> list[AlertUpdate]:
    """Sorted copies of the group's alerts; those not resolved at `now` get no end time.
    `presorted` says the alerts already come in Alertmanager's order."""
    snapshot = [
        update
        if update.alert.resolved_at(now)
        else AlertUpdate(update.fingerprint, dataclasses.replace(update.alert, ends_at=ZERO_TIME))
        for update in alerts
    ]
    if not presorted:
        snapshot.sort(key=_update_sort_key)
    return snapshot


def sent_resolved(snapshot: Iterable[AlertUpdate], current: Mapping[int, Alert], now: datetime) -> list[int]:
    """Fingerprints to drop after a successful flush: alerts sent as resolved that have not
    been updated since the snapshot was taken."""
    removable = []
    for update in snapshot:
        if not update.alert.resolved_at(now):
            continue
        stored = current.get(update.fingerprint)
        if stored is not None and stored.updated_at == update.alert.updated_at:
            removable.append(update.fingerprint)
    return removable


# ---------------------------------------------------------------------------------------
# The group


class AggregationGroup:
    """The alerts of one route and one set of group labels."""

    __slots__ = (
        "_cancel_scope",
        "_key",
        "_sort_key",
        "_sorted_fingerprints",
        "_sorted_updates",
        "alerts",
        "flushing",
        "labels",
        "route",
        "schedule",
        "stopped",
        "tick_pending",
    )

    def __init__(self, route: Route, labels: Mapping[str, str], now: float) -> None:
        self.route = route
        self.labels = dict(labels)
        # Formatted on first use: quoting label values costs more than the rest of filing
        # an alert, and a burst of new groups should not pay it before any flush is due.
        self._key: str | None = None
        self._sort_key: tuple[object, ...] | None = None
        self.alerts: dict[int, Alert] = {}
        # The alerts' fingerprints in Alertmanager's order. The order depends on labels only,
        # and a fingerprint stands for its labels, so it holds until an alert joins or leaves:
        # re-posted alerts (the common case) cost no sorting at flush or query time.
        self._sorted_fingerprints: list[int] | None = []
        # The same order as (fingerprint, alert) pairs; dropped on every insert, since the
        # store replaces alert objects, and rebuilt on demand (queries repeat it unchanged).
        self._sorted_updates: list[AlertUpdate] | None = []
        opts = route.opts
        self.schedule = FlushSchedule.starting(
            now, opts.group_wait.total_seconds(), opts.group_interval.total_seconds()
        )
        # A flush task is running; a tick that fell due meanwhile waits in `tick_pending`.
        self.flushing = False
        self.tick_pending = False
        self.stopped = False
        self._cancel_scope: trio.CancelScope | None = None

    @property
    def key(self) -> str:
        """The group key (`{}/{...}:{alertname="A"}`), as the nflog and receivers see it."""
        if self._key is None:
            self._key = group_key(self.route, self.labels)
        return self._key

    @property
    def sort_key(self) -> tuple[object, ...]:
        """Where the group comes in `/api/v2/alerts/groups`: by labels, then receiver."""
        if self._sort_key is None:
            self._sort_key = (label_set_sort_key(self.labels), self.receiver)
        return self._sort_key

    @property
    def receiver(self) -> str:
        return self.route.opts.receiver

    def insert(self, update: AlertUpdate, wall_now: datetime, now: float) -> bool:
        """Add or replace an alert; True when the group's flush moved earlier."""
        if update.fingerprint not in self.alerts:
            self._sorted_fingerprints = None
        self._sorted_updates = None
        self.alerts[update.fingerprint] = update.alert
        return self.schedule.alert_inserted(update.alert.starts_at, wall_now, now)

    def empty(self) -> bool:
        return not self.alerts

    def sorted_fingerprints(self) -> list[int]:
        """The fingerprints of the group's alerts in Alertmanager's order (do not modify)."""
        order = self._sorted_fingerprints
        if order is None and len(self.alerts) <= 1:
            order = self._sorted_fingerprints = list(self.alerts)
        if order is None:
            alerts = self.alerts
            order = self._sorted_fingerprints = sorted(
                alerts, key=lambda fingerprint: alert_sort_key(alerts[fingerprint])
            )
        return order

    def sorted_updates(self) -> list[AlertUpdate]:
        """The group's alerts in Alertmanager's order (as stored: no end-time rewriting; do
        not modify)."""
        updates = self._sorted_updates
        if updates is None:
            alerts = self.alerts
            updates = self._sorted_updates = [
                AlertUpdate(fingerprint, alerts[fingerprint]) for fingerprint in self.sorted_fingerprints()
            ]
        return updates

    def sorted_alerts(self) -> list[Alert]:
        """The group's alerts in Alertmanager's order (as stored: no end-time rewriting)."""
        alerts = self.alerts
        return [alerts[fingerprint] for fingerprint in self.sorted_fingerprints()]

    def flush_context(self, wall_now: datetime) -> FlushContext:
        opts = self.route.opts
        return FlushContext(
            group_key=self.key,
            receiver=opts.receiver,
            group_labels=self.labels,
            repeat_interval=opts.repeat_interval,
            mute_time_intervals=opts.mute_time_intervals,
            active_time_intervals=opts.active_time_intervals,
            now=wall_now,
        )

    async def flush(self, notifier: Notifier, wall_clock: WallClock, time_limit: float) -> bool:
        """Send a snapshot to the receiver's pipeline; returns whether it succeeded."""
        if not self.alerts:
            return True
        wall_now = wall_clock()
        snapshot = flush_snapshot(self.sorted_updates(), wall_now, presorted=True)
        context = self.flush_context(wall_now)
        succeeded = False
        self._cancel_scope = trio.CancelScope(deadline=trio.current_time() + time_limit)
        with self._cancel_scope:
            try:
                succeeded = await notifier.notify(context, [update.alert for update in snapshot])
            except Exception:
                # One broken receiver must not take the dispatcher down; the next tick retries.
                logger.exception("Notify for alerts failed", extra={"aggrGroup": self.key})
        self._cancel_scope = None
        if self.stopped:
            return False
        if not succeeded:
            logger.error("Notify for alerts failed num_alerts=%d aggrGroup=%s", len(snapshot), self.key)
            return False
        for fingerprint in sent_resolved(snapshot, self.alerts, wall_clock()):
            del self.alerts[fingerprint]
            self._sorted_fingerprints = None
            self._sorted_updates = None
        return True

    def stop(self) -> None:
        """Cancel an in-flight flush and take the group out of service."""
        self.stopped = True
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    def __repr__(self) -> str:
        return f"AggregationGroup({self.key!r}, receiver={self.receiver!r}, alerts={len(self.alerts)})"


__all__ = [
    "MIN_FLUSH_TIMEOUT_SECONDS",
    "AggregationGroup",
    "FlushSchedule",
    "PeerWait",
    "WallClock",
    "alert_sort_key",
    "flush_snapshot",
    "flush_timeout",
    "label_set_sort_key",
    "no_peer_wait",
    "sent_resolved",
]
