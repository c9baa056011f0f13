"""One receiver's notification pipeline, in Alertmanager's stage order (reference §5.2):

    settle gate ► inhibit ► time-active ► time-mute ► silence ► fan-out, one branch per
    integration, run concurrently:  wait ► dedup ► retry ► record (SetNotifies)

A stage that leaves no alerts ends the run quietly and successfully: nothing is sent and
nothing is written to the notification log. A branch fails when its retry loop gives up; the
run succeeds only if every branch did, which lets the aggregation group drop the resolved
alerts it sent.

Times: the flush time (`FlushContext.now`) decides alert status and time intervals, as the
aggregation group's snapshot was taken then; the injected wall clock stamps nflog entries and
drives the repeat-interval test, because in a cluster those happen after the position wait.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import trio

from notify.context import (
    AlertMuter,
    ClusterGate,
    FlushContext,
    NotificationLog,
    NotificationLogEntry,
    TimeIntervals,
)
from notify.model import Alert
from notify.retry import ExponentialBackoff, retry_until_done
from notify.stages import (
    filter_unmuted,
    needs_update,
    nflog_expiry,
    payload_alerts,
    split_alert_hashes,
    time_active_allows,
    time_mute_allows,
)

logger = logging.getLogger("notify.pipeline")

# Alertmanager's --data.retention default: the longest an nflog entry is kept.
DEFAULT_NFLOG_RETENTION = timedelta(hours=120)
# Alertmanager's --cluster.peer-timeout default: the wait per position in the peer list.
DEFAULT_PEER_TIMEOUT = timedelta(seconds=15)


class Integration(Protocol):
    """One configured integration: `name` is its type ("webhook"), `index` its position in
    that type's list within the receiver."""

    @property
    def name(self) -> str: ...

    @property
    def index(self) -> int: ...

    @property
    def send_resolved(self) -> bool: ...

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None: ...


class NotificationObserver(Protocol):
    """Metrics hooks, named after the Alertmanager metrics `daemon` wires them to."""

    def notification_started(self, integration: str) -> None:
        """alertmanager_notifications_total"""

    def notification_failed(self, integration: str) -> None:
        """alertmanager_notifications_failed_total"""

    def request_finished(self, integration: str, seconds: float, failed: bool) -> None:
        """alertmanager_notification_requests_total, ..._requests_failed_total and
        alertmanager_notification_latency_seconds"""


class NullObserver:
    def notification_started(self, integration: str) -> None:
        pass

    def notification_failed(self, integration: str) -> None:
        pass

    def request_finished(self, integration: str, seconds: float, failed: bool) -> None:
        pass


def wall_clock() -> datetime:
    return datetime.now(UTC)


class ReceiverPipeline:
    """Satisfies `notify.context.Notifier` for one receiver."""

    def __init__(
        self,
        receiver_name: str,
        integrations: Sequence[Integration],
        *,
        nflog: NotificationLog,
        inhibitor: AlertMuter | None = None,
        silencer: AlertMuter | None = None,
        time_intervals: TimeIntervals | None = None,
        gate: ClusterGate | None = None,
        peer_timeout: timedelta = DEFAULT_PEER_TIMEOUT,
        nflog_retention: timedelta = DEFAULT_NFLOG_RETENTION,
        rng: random.Random | None = None,
        observer: NotificationObserver | None = None,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self.receiver_name = receiver_name
        self.integrations = tuple(integrations)
        self._nflog = nflog
        self._inhibitor = inhibitor
        self._silencer = silencer
        self._time_intervals = time_intervals
        self._gate = gate
        self._peer_timeout = peer_timeout
        self._nflog_retention = nflog_retention
        self._rng = rng if rng is not None else random.Random()
        self._observer: NotificationObserver = observer if observer is not None else NullObserver()
        self._clock = clock

    async def aclose(self) -> None:
        """Release the integrations' connections (after a reload replaced this pipeline)."""
        for integration in self.integrations:
            close = getattr(integration, "aclose", None)
            if close is not None:
                await close()

    async def notify(self, ctx: FlushContext, alerts: Sequence[Alert]) -> bool:
        if self._gate is not None:
            await self._gate.wait_ready()
        remaining = self._filter(ctx, alerts)
        if not remaining or not self.integrations:
            return True
        if len(self.integrations) == 1:
            # The common receiver has one integration: no branches to run side by side, so
            # no nursery (a task and a cancel scope per flush add up when 20,000 groups flush).
            return await self._notify_integration(ctx, self.integrations[0], remaining)
        results: list[bool] = [False] * len(self.integrations)

        async def run_branch(slot: int, integration: Integration) -> None:
            results[slot] = await self._notify_integration(ctx, integration, remaining)

        async with trio.open_nursery() as nursery:
            for slot, integration in enumerate(self.integrations):
                nursery.start_soon(run_branch, slot, integration)
        return all(results)

    def _filter(self, ctx: FlushContext, alerts: Sequence[Alert]) -> list[Alert]:
        remaining = list(alerts)
        if self._inhibitor is not None:
            remaining = filter_unmuted(remaining, self._inhibitor, ctx.now)
            if not remaining:
                return remaining
        if self._time_intervals is not None:
            if not time_active_allows(self._time_intervals, ctx.active_time_intervals, ctx.now):
                logger.debug("%s: notifications not sent, route is not within active time", ctx.receiver)
                return []
            if not time_mute_allows(self._time_intervals, ctx.mute_time_intervals, ctx.now):
                logger.debug("%s: notifications not sent, route is within mute time", ctx.receiver)
                return []
        if self._silencer is not None:
            remaining = filter_unmuted(remaining, self._silencer, ctx.now)
        return remaining

    async def _notify_integration(self, ctx: FlushContext, integration: Integration, alerts: list[Alert]) -> bool:
        label = f"{self.receiver_name}/{integration.name}[{integration.index}]"
        if self._gate is not None:
            # The position is read at every flush: it changes as peers join and leave.
            wait = self._gate.position() * self._peer_timeout
            if wait > timedelta(0):
                await trio.sleep(wait.total_seconds())

        firing, resolved = split_alert_hashes(alerts, ctx.now)
        entry = self._nflog.query(ctx.group_key, self.receiver_name, integration.name, integration.index)
        if not needs_update(entry, firing, resolved, integration.send_resolved, ctx.repeat_interval, self._clock()):
            return True

        self._observer.notification_started(integration.name)
        to_send = payload_alerts(alerts, integration.send_resolved, ctx.now)
        if to_send:
            outcome = await retry_until_done(
                lambda: integration.send(ctx, to_send),
                backoff=ExponentialBackoff(self._rng),
                label=label,
                on_attempt=lambda seconds, failed: self._observer.request_finished(
                    integration.name, seconds, failed
                ),
            )
            if not outcome.succeeded:
                self._observer.notification_failed(integration.name)
                logger.error(
                    "Notify for alerts failed receiver=%s num_alerts=%d err=%s",
                    self.receiver_name,
                    len(alerts),
                    outcome.message,
                )
                return False
        # else: only resolved alerts and send_resolved off: nothing to send, but the run
        # counts as a success so the log forgets the firing alerts.

        now = self._clock()
        self._nflog.log(
            NotificationLogEntry(
                group_key=ctx.group_key,
                receiver_name=self.receiver_name,
                integration=integration.name,
                index=integration.index,
                firing_alerts=firing,
                resolved_alerts=resolved,
                timestamp=now,
                expires_at=nflog_expiry(now, ctx.repeat_interval, self._nflog_retention),
            )
        )
        return True


__all__ = [
    "DEFAULT_NFLOG_RETENTION",
    "DEFAULT_PEER_TIMEOUT",
    "Integration",
    "NotificationObserver",
    "NullObserver",
    "ReceiverPipeline",
    "wall_clock",
]
