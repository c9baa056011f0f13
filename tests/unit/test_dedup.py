"""The dedup decision (reference §5.4) rule by rule, and the other pure stage helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notify.context import NotificationLogEntry
from notify.model import Alert, alert_hash
from notify.stages import needs_update, nflog_expiry, payload_alerts, split_alert_hashes

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
REPEAT = timedelta(hours=4)
RECENT = NOW - timedelta(minutes=5)
STALE = NOW - REPEAT - timedelta(seconds=1)


def _entry(firing: set[int], resolved: set[int], at: datetime = RECENT) -> NotificationLogEntry:
    return NotificationLogEntry("{}:{}", "r", "webhook", 0, frozenset(firing), frozenset(resolved), at, at + REPEAT)


CASES = [
    # (description, entry, firing, resolved, send_resolved, expected)
    ("1: no entry, firing alerts", None, {1}, set(), True, True),
    ("1: no entry, only resolved alerts", None, set(), {1}, True, False),
    ("1: no entry, nothing", None, set(), set(), True, False),
    ("2: a new firing alert", _entry({1}, set()), {1, 2}, set(), False, True),
    ("2: a different firing alert", _entry({1}, set()), {2}, set(), False, True),
    ("unchanged firing set, within repeat", _entry({1, 2}, set()), {1, 2}, set(), True, False),
    ("a firing alert disappeared (silenced)", _entry({1, 2}, set()), {1}, set(), True, False),
    ("3: all resolved, send_resolved on", _entry({1}, set()), set(), {1}, True, True),
    ("3: all resolved, send_resolved off", _entry({1}, set()), set(), {1}, False, True),
    ("3: came and went between flushes", _entry(set(), set()), set(), {7}, True, False),
    ("3: no firing before or now, even after repeat", _entry(set(), {1}, STALE), set(), {1}, True, False),
    ("4: newly resolved, send_resolved on", _entry({1, 2}, set()), {1}, {2}, True, True),
    ("4: newly resolved, send_resolved off", _entry({1, 2}, set()), {1}, {2}, False, False),
    ("4: resolved already notified", _entry({1}, {2}), {1}, {2}, True, False),
    ("4: resolved set shrank", _entry({1}, {2, 3}), {1}, {2}, True, False),
    ("5: repeat interval passed", _entry({1}, set(), STALE), {1}, set(), False, True),
    ("5: exactly at repeat interval", _entry({1}, set(), NOW - REPEAT), {1}, set(), False, False),
]


@pytest.mark.parametrize(
    ("entry", "firing", "resolved", "send_resolved", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_needs_update(
    entry: NotificationLogEntry | None, firing: set[int], resolved: set[int], send_resolved: bool, expected: bool
) -> None:
    assert needs_update(entry, frozenset(firing), frozenset(resolved), send_resolved, REPEAT, NOW) is expected


def test_split_uses_nflog_hashes_and_resolution_at_now() -> None:
    firing_alert = Alert(labels={"a": "1"})
    resolved_alert = Alert(labels={"a": "2"}, ends_at=NOW)
    future_end = Alert(labels={"a": "3"}, ends_at=NOW + timedelta(seconds=1))
    firing, resolved = split_alert_hashes([firing_alert, resolved_alert, future_end], NOW)
    assert firing == {alert_hash({"a": "1"}), alert_hash({"a": "3"})}
    assert resolved == {alert_hash({"a": "2"})}
    assert alert_hash({"a": "1"}) != firing_alert.fingerprint()


def test_payload_drops_resolved_only_without_send_resolved() -> None:
    alerts = [Alert(labels={"a": "1"}), Alert(labels={"a": "2"}, ends_at=NOW - timedelta(minutes=1))]
    assert payload_alerts(alerts, True, NOW) == alerts
    assert payload_alerts(alerts, False, NOW) == alerts[:1]


@pytest.mark.parametrize(
    ("repeat", "retention", "expected"),
    [
        (timedelta(hours=4), timedelta(hours=120), timedelta(hours=8)),
        (timedelta(hours=100), timedelta(hours=120), timedelta(hours=120)),
        (timedelta(hours=60), timedelta(hours=120), timedelta(hours=120)),
        (timedelta(0), timedelta(hours=120), timedelta(hours=120)),
    ],
)
def test_nflog_expiry_is_min_of_retention_and_twice_repeat(
    repeat: timedelta, retention: timedelta, expected: timedelta
) -> None:
    assert nflog_expiry(NOW, repeat, retention) == NOW + expected
