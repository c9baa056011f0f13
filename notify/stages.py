"""The pipeline's decisions as pure functions of their inputs and `now`.

The trio code in `notify.pipeline` only sequences these; every rule that decides whether a
notification goes out lives here and is tested without a clock:

- `filter_unmuted`: the inhibit and silence stages (MuteStage in Alertmanager).
- `time_active_allows` / `time_mute_allows`: the route's active and mute time intervals,
  tested at the flush time.
- `split_alert_hashes` + `needs_update`: the dedup stage against the notification log.
- `payload_alerts`: the retry stage drops resolved alerts when `send_resolved` is off.
- `nflog_expiry`: how long SetNotifies keeps an entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from notify.context import AlertMuter, NotificationLogEntry, TimeIntervals
from notify.model import Alert, alert_hash

# Alertmanager keeps an nflog entry for twice the repeat interval: long enough that the next
# repeat still finds it, short enough that finished groups do not pile up until retention.
NFLOG_EXPIRY_REPEAT_FACTOR = 2


def filter_unmuted(alerts: Sequence[Alert], muter: AlertMuter, now: datetime) -> list[Alert]:
    """Keep the alerts the muter does not mute (it also records the mute in the marker)."""
    return [alert for alert in alerts if not muter.mutes(alert.labels, now)]


def time_active_allows(intervals: TimeIntervals, active_names: Sequence[str], flush_time: datetime) -> bool:
    """No active intervals means always active; otherwise the flush time must be in one."""
    if not active_names:
        return True
    return intervals.any_contains(active_names, flush_time)


def time_mute_allows(intervals: TimeIntervals, mute_names: Sequence[str], flush_time: datetime) -> bool:
    if not mute_names:
        return True
    return not intervals.any_contains(mute_names, flush_time)


def split_alert_hashes(alerts: Sequence[Alert], now: datetime) -> tuple[frozenset[int], frozenset[int]]:
    """(firing, resolved) sets of nflog alert hashes (xxhash64 of the labels, not fingerprints)."""
    firing: set[int] = set()
    resolved: set[int] = set()
    for alert in alerts:
        (resolved if alert.resolved_at(now) else firing).add(alert_hash(alert.labels))
    return frozenset(firing), frozenset(resolved)


def needs_update(
    entry: NotificationLogEntry | None,
    firing: frozenset[int],
    resolved: frozenset[int],
    send_resolved: bool,
    repeat_interval: timedelta,
    now: datetime,
) -> bool:
    """Alertmanager's dedup decision (reference §5.4), rule by rule."""
    if entry is None:
        # Never notified: only firing alerts are news; a group that fired and resolved
        # between two flushes was never seen by the receiver.
        return bool(firing)
    if not firing <= entry.firing_alerts:
        return True
    if not firing:
        # Everything resolved: notify once whatever send_resolved says, so the entry's firing
        # set is cleared (the payload itself is suppressed later when send_resolved is off).
        return bool(entry.firing_alerts)
    if send_resolved and not resolved <= entry.resolved_alerts:
        return True
    return entry.timestamp < now - repeat_interval


def payload_alerts(alerts: Sequence[Alert], send_resolved: bool, now: datetime) -> list[Alert]:
    if send_resolved:
        return list(alerts)
    return [alert for alert in alerts if not alert.resolved_at(now)]


def nflog_expiry(now: datetime, repeat_interval: timedelta, retention: timedelta) -> datetime:
    """Entries live min(retention, 2 x repeat_interval); a zero repeat keeps the retention."""
    expiry = NFLOG_EXPIRY_REPEAT_FACTOR * repeat_interval
    if expiry > timedelta(0) and expiry < retention:
        return now + expiry
    return now + retention


__all__ = [
    "NFLOG_EXPIRY_REPEAT_FACTOR",
    "filter_unmuted",
    "needs_update",
    "nflog_expiry",
    "payload_alerts",
    "split_alert_hashes",
    "time_active_allows",
    "time_mute_allows",
]
