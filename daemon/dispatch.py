"""The dispatcher: files every stored alert into aggregation groups and flushes them on time.

The thin trio shell around `daemon.routing` and `daemon.aggregation`:
- one task consumes the alert store's subscription (a snapshot of all alerts first, then
  every update), matches each alert against the routing tree and inserts it into the group
  of (route, group labels), creating the group on first use;
- one timer task sleeps until the earliest group deadline and starts a flush task for each
  group that is due (a group has a task only while it flushes);
- one task drops empty groups every 30 seconds, as Alertmanager does.

A config reload stops the dispatcher (`stop()`) and starts a new one over the same store:
groups start over, and because the old alerts started long ago they flush immediately (the
notification log keeps receivers from hearing about them twice).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime

import trio

from daemon.aggregation import (
    AggregationGroup,
    PeerWait,
    WallClock,
    flush_timeout,
    no_peer_wait,
)
from daemon.alerts import AlertStore, AlertUpdate, Subscription
from daemon.routing import Route
from notify.context import Notifier

logger = logging.getLogger(__name__)

# Alertmanager's cleanup period for empty aggregation groups.
EMPTY_GROUP_CLEANUP_SECONDS = 30.0

# Filing takes ~10 µs an alert; yielding to the event loop every 1,000 alerts keeps a
# 100,000-alert snapshot (after a reload) from freezing the API for a whole second.
ALERTS_PER_CHECKPOINT = 1000

# Due flushes started before the timer lets the scheduler run them (and poll sockets). A new
# task runs until it first blocks, ~0.2 ms for a flush; 20,000 groups due at once started in
# one pass would keep every socket waiting for 4 seconds before the first request went out.
FLUSHES_STARTED_PER_PASS = 64

RouteFilter = Callable[[Route], bool]
AlertFilter = Callable[[AlertUpdate, datetime], bool]


@dataclasses.dataclass(frozen=True, slots=True)
class AlertGroupView:
    """One aggregation group as `/api/v2/alerts/groups` shows it (alerts in Alertmanager's
    order; groups come sorted by labels, then receiver)."""

    group: AggregationGroup
    alerts: list[AlertUpdate]

    @property
    def route(self) -> Route:
        return self.group.route

    @property
    def key(self) -> str:
        return self.group.key

    @property
    def labels(self) -> Mapping[str, str]:
        return self.group.labels

    @property
    def receiver(self) -> str:
        return self.group.receiver


def _sorted_names(route: Route) -> tuple[str, ...]:
    return tuple(sorted(route.opts.group_by))


class Dispatcher:
    """Routes alerts from `store` into aggregation groups; flushes call `notifiers[receiver]`."""

    def __init__(
        self,
        route: Route,
        store: AlertStore,
        notifiers: Mapping[str, Notifier],
        clock: WallClock,
        *,
        peer_wait: PeerWait = no_peer_wait,
        observe_processing: Callable[[float], None] | None = None,
    ) -> None:
        """`observe_processing(seconds)` is called once per filed alert (the
        `alertmanager_dispatcher_alert_processing_duration_seconds` summary); batches are
        timed as a whole and the time shared out, so the clock is read twice per batch."""
        self._route = route
        self._store = store
        self._notifiers = notifiers
        self._clock = clock
        self._peer_wait = peer_wait
        self._observe_processing = observe_processing
        self._groups: dict[Route, dict[Hashable, AggregationGroup]] = {}
        self._group_by_names = {node: _sorted_names(node) for node in route.walk()}
        self._group_count = 0
        # Min-heap of (deadline, tie-breaker, group); entries whose deadline no longer
        # matches the group's schedule are stale and skipped when popped.
        self._deadlines: list[tuple[float, int, AggregationGroup]] = []
        self._sequence = itertools.count()
        self._timer_target = math.inf
        self._wakeup = trio.Event()
        self._cancel_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._stop_requested = False
        self.stopped = trio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until `stop()`; reports started once subscribed (no alert can be missed)."""
        subscription = self._store.subscribe()
        try:
            with subscription:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    self._cancel_scope = nursery.cancel_scope
                    if self._stop_requested:
                        nursery.cancel_scope.cancel()
                    nursery.start_soon(self._consume, subscription)
                    nursery.start_soon(self._run_timer)
                    nursery.start_soon(self._clean_up_empty_groups)
                    task_status.started()
        finally:
            for groups in self._groups.values():
                for group in groups.values():
                    group.stop()
            self._nursery = None
            self.stopped.set()

    def stop(self) -> None:
        """Stop consuming, cancel in-flight flushes; `run` returns promptly (`stopped` is set)."""
        self._stop_requested = True
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    # ------------------------------------------------------------------ ingest

    async def _consume(self, subscription: Subscription) -> None:
        async for batch in subscription:
            for start in range(0, len(batch), ALERTS_PER_CHECKPOINT):
                if start:
                    await trio.lowlevel.checkpoint()
                self._file_alerts(batch[start : start + ALERTS_PER_CHECKPOINT])
        # The store closed the subscription (shutdown): nothing more will arrive.
        self.stop()

    def _file_alerts(self, updates: Sequence[AlertUpdate]) -> None:
        wall_now = self._clock()
        now = trio.current_time()
        started = time.perf_counter() if self._observe_processing is not None else 0.0
        for update in updates:
            for route in self._route.match(update.alert.labels):
                self._insert(update, route, wall_now, now)
        if self._observe_processing is not None and updates:
            per_alert = (time.perf_counter() - started) / len(updates)
            for _ in updates:
                self._observe_processing(per_alert)

    def _group_lookup_key(self, route: Route, labels: Mapping[str, str]) -> Hashable:
        if route.opts.group_by_all:
            return tuple(sorted(labels.items()))
        # A missing label gives None, which no label value equals.
        return tuple([labels.get(name) for name in self._group_by_names[route]])

    def _insert(self, update: AlertUpdate, route: Route, wall_now: datetime, now: float) -> None:
        groups = self._groups.get(route)
        if groups is None:
            groups = self._groups[route] = {}
        lookup_key = self._group_lookup_key(route, update.alert.labels)
        group = groups.get(lookup_key)
        if group is None:
            group = AggregationGroup(route, route.group_labels(update.alert.labels), now)
            groups[lookup_key] = group
            self._group_count += 1
            group.insert(update, wall_now, now)
            self._schedule(group)
        elif group.insert(update, wall_now, now):
            self._schedule(group)

    # ------------------------------------------------------------------ timing

    def _schedule(self, group: AggregationGroup) -> None:
        deadline = group.schedule.next_flush_at
        heapq.heappush(self._deadlines, (deadline, next(self._sequence), group))
        if deadline < self._timer_target:
            self._wakeup.set()

    async def _run_timer(self) -> None:
        while True:
            now = trio.current_time()
            started = 0
            while self._deadlines and self._deadlines[0][0] <= now:
                deadline, _, group = heapq.heappop(self._deadlines)
                if group.stopped or group.schedule.next_flush_at != deadline:
                    continue
                self._tick(group)
                started += 1
                if started % FLUSHES_STARTED_PER_PASS == 0:
                    await trio.lowlevel.checkpoint()
            self._timer_target = self._deadlines[0][0] if self._deadlines else math.inf
            with trio.move_on_at(self._timer_target):
                await self._wakeup.wait()
            self._wakeup = trio.Event()

    def _tick(self, group: AggregationGroup) -> None:
        if group.flushing:
            group.tick_pending = True
            return
        group.flushing = True
        assert self._nursery is not None
        self._nursery.start_soon(self._flush_while_due, group)

    async def _flush_while_due(self, group: AggregationGroup) -> None:
        try:
            while not group.stopped:
                # Schedule the next tick before flushing, as Alertmanager does.
                group.schedule.tick(trio.current_time())
                self._schedule(group)
                await self._flush(group)
                if not group.tick_pending:
                    break
                group.tick_pending = False
        finally:
            group.flushing = False

    async def _flush(self, group: AggregationGroup) -> None:
        notifier = self._notifiers.get(group.receiver)
        if notifier is None:
            logger.error("no notifier for receiver %r (aggrGroup %s)", group.receiver, group.key)
            return
        time_limit = flush_timeout(group.schedule.group_interval, self._peer_wait)
        await group.flush(notifier, self._clock, time_limit)

    async def _clean_up_empty_groups(self) -> None:
        while True:
            await trio.sleep(EMPTY_GROUP_CLEANUP_SECONDS)
            self.remove_empty_groups()

    def remove_empty_groups(self) -> int:
        """Stop and forget groups without alerts; returns how many were removed."""
        removed = 0
        for groups in self._groups.values():
            empty = [key for key, group in groups.items() if group.empty() and not group.flushing]
            for key in empty:
                groups.pop(key).stop()
            removed += len(empty)
        self._group_count -= removed
        return removed

    # ------------------------------------------------------------------ queries

    @property
    def group_count(self) -> int:
        """`alertmanager_dispatcher_aggregation_groups`."""
        return self._group_count

    def groups(
        self,
        route_filter: RouteFilter | None = None,
        alert_filter: AlertFilter | None = None,
    ) -> tuple[list[AlertGroupView], dict[int, list[str]]]:
        """Groups with their (filtered) alerts, sorted as the API wants, and the sorted
        receiver names of every listed alert by fingerprint (lists shared between alerts:
        read, never modify). Groups left without alerts by the filter are omitted."""
        now = self._clock()
        views: list[AlertGroupView] = []
        # Most alerts sit in one group: they share one list per receiver name (so 100,000
        # alerts do not cost 100,000 lists); an alert in several groups gets its own list.
        receivers: dict[int, list[str]] = {}
        shared_lists: dict[str, list[str]] = {}
        own_lists: dict[int, list[str]] = {}
        for route, groups in self._groups.items():
            if route_filter is not None and not route_filter(route):
                continue
            receiver = route.opts.receiver
            shared = shared_lists.setdefault(receiver, [receiver])
            for group in groups.values():
                # Already in Alertmanager's order; filtering keeps it.
                if alert_filter is None:
                    alerts = list(group.sorted_updates())
                else:
                    alerts = [update for update in group.sorted_updates() if alert_filter(update, now)]
                if not alerts:
                    continue
                for fingerprint, _ in alerts:
                    listed = receivers.get(fingerprint)
                    if listed is None:
                        receivers[fingerprint] = shared
                        continue
                    owned = own_lists.get(fingerprint)
                    if owned is None:
                        owned = own_lists[fingerprint] = receivers[fingerprint] = [*listed]
                    owned.append(receiver)
                views.append(AlertGroupView(group, alerts))
        views.sort(key=lambda view: view.group.sort_key)
        for names in own_lists.values():
            names.sort()
        return views, receivers


__all__ = [
    "ALERTS_PER_CHECKPOINT",
    "EMPTY_GROUP_CLEANUP_SECONDS",
    "FLUSHES_STARTED_PER_PASS",
    "AlertFilter",
    "AlertGroupView",
    "Dispatcher",
    "RouteFilter",
]
