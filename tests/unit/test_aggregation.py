"""Aggregation groups: pure timing and flush decisions, sort orders, and one group's flush."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from daemon.aggregation import (
    AggregationGroup,
    FlushSchedule,
    alert_sort_key,
    flush_snapshot,
    flush_timeout,
    label_set_sort_key,
    sent_resolved,
)
from daemon.alerts import AlertUpdate
from daemon.config.model import RouteConfig
from daemon.routing import Route
from notify.context import FlushContext
from notify.model import ZERO_TIME, Alert

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def update(
    labels: dict[str, str], starts: float = 0, ends: float | None = None, updated: float = 0
) -> AlertUpdate:
    alert = Alert(
        labels=labels,
        starts_at=at(starts),
        ends_at=ZERO_TIME if ends is None else at(ends),
        updated_at=at(updated),
    )
    return AlertUpdate(alert.fingerprint(), alert)


# ---------------------------------------------------------------------------- sort orders


def go_label_set_before(left: Mapping[str, str], right: Mapping[str, str]) -> bool:
    """A literal transcription of the algorithm of Go's model.LabelSet.Before."""
    if len(left) != len(right):
        return len(left) < len(right)
    for name in sorted([*left, *right]):
        if name not in left:
            return True
        if name not in right:
            return False
        if left[name] != right[name]:
            return left[name] < right[name]
    return False


label_names = st.sampled_from(["a", "ab", "b", "job", "jobs", "z"])
label_sets = st.dictionaries(label_names, st.sampled_from(["", "x", "xy", "y"]), max_size=4)


@given(label_sets, label_sets)
def test_label_set_key_orders_like_go_before(left: dict[str, str], right: dict[str, str]) -> None:
    assert (label_set_sort_key(left) < label_set_sort_key(right)) == go_label_set_before(left, right)


def test_label_set_order_examples() -> None:
    ordered = [
        {"z": "1"},
        {"b": "1", "c": "1"},  # lacks "a", the first differing name: comes first
        {"a": "1", "c": "1"},
        {"job": "x", "a": "1", "b": "1"},
    ]
    assert sorted(reversed(ordered), key=label_set_sort_key) == ordered
    # A name that is a prefix of another still follows Go's rule.
    assert go_label_set_before({"jobs": "1"}, {"job": "1"})
    assert label_set_sort_key({"jobs": "1"}) < label_set_sort_key({"job": "1"})


def test_alert_order_job_then_instance_then_labels() -> None:
    def make(**labels: str) -> Alert:
        return Alert(labels=dict(labels))

    alerts = [
        make(alertname="A"),
        make(alertname="B", instance="i1"),
        make(alertname="C", job="b"),
        make(alertname="D", job="a", instance="i2"),
        make(alertname="E", job="a", instance="i1"),
        make(alertname="F", job="a"),
    ]
    ordered = sorted(alerts, key=alert_sort_key)
    assert [alert.labels["alertname"] for alert in ordered] == ["E", "D", "F", "C", "B", "A"]


# ---------------------------------------------------------------------------- pure timing


def test_schedule_first_flush_after_group_wait() -> None:
    schedule = FlushSchedule.starting(100.0, group_wait=30, group_interval=300)
    assert schedule.next_flush_at == 130.0
    assert not schedule.is_due(129.9) and schedule.is_due(130.0)
    schedule.tick(130.0)
    assert schedule.has_flushed and schedule.next_flush_at == 430.0


def test_schedule_immediate_when_alert_older_than_group_wait() -> None:
    schedule = FlushSchedule.starting(100.0, group_wait=30, group_interval=300)
    # Started exactly group_wait ago: not strictly before now, so no change.
    assert not schedule.alert_inserted(at(0), at(30), 100.0)
    assert schedule.next_flush_at == 130.0
    assert schedule.alert_inserted(at(0), at(30.5), 100.0)
    assert schedule.next_flush_at == 100.0


def test_schedule_old_alert_after_first_flush_waits_for_the_interval() -> None:
    schedule = FlushSchedule.starting(0.0, group_wait=30, group_interval=300)
    schedule.tick(30.0)
    assert not schedule.alert_inserted(at(-3600), at(40), 40.0)
    assert schedule.next_flush_at == 330.0


def test_flush_timeout_is_at_least_ten_seconds_plus_peer_wait() -> None:
    assert flush_timeout(300.0) == 300.0
    assert flush_timeout(1.0) == 10.0
    assert flush_timeout(1.0, lambda: 15.0) == 25.0


# ---------------------------------------------------------------------------- pure flush


def test_snapshot_zeroes_end_of_unresolved_alerts_and_sorts() -> None:
    firing = update({"alertname": "B"}, starts=0, ends=600)
    resolved = update({"alertname": "A"}, starts=0, ends=10)
    snapshot = flush_snapshot([firing, resolved], at(20))
    assert [item.alert.labels["alertname"] for item in snapshot] == ["A", "B"]
    assert snapshot[0].alert.ends_at == at(10)
    assert snapshot[1].alert.ends_at == ZERO_TIME
    # The group's own copy keeps its end time.
    assert firing.alert.ends_at == at(600)


def test_sent_resolved_only_unchanged_resolved_alerts() -> None:
    resolved = update({"alertname": "A"}, ends=10, updated=10)
    updated_later = update({"alertname": "B"}, ends=10, updated=10)
    firing = update({"alertname": "C"}, ends=None)
    snapshot = flush_snapshot([resolved, updated_later, firing], at(20))
    current = {
        resolved.fingerprint: resolved.alert,
        updated_later.fingerprint: update({"alertname": "B"}, updated=15).alert,
        firing.fingerprint: firing.alert,
    }
    assert sent_resolved(snapshot, current, at(20)) == [resolved.fingerprint]


# ---------------------------------------------------------------------------- one group


class ScriptedNotifier:
    def __init__(self, results: Sequence[bool] = (), delay: float = 0.0) -> None:
        self.results = list(results)
        self.delay = delay
        self.calls: list[tuple[FlushContext, list[Alert]]] = []
        self.cancelled = 0

    async def notify(self, ctx: FlushContext, alerts: Sequence[Alert]) -> bool:
        self.calls.append((ctx, list(alerts)))
        try:
            await trio.sleep(self.delay)
        except trio.Cancelled:
            self.cancelled += 1
            raise
        return self.results.pop(0) if self.results else True


def wall_clock() -> datetime:
    return T0 + timedelta(seconds=trio.current_time())


def make_group(**route_fields: object) -> AggregationGroup:
    route = Route.from_config(RouteConfig(receiver="team", group_by=["alertname"], **route_fields))  # type: ignore[arg-type]
    return AggregationGroup(route, {"alertname": "A"}, trio.current_time())


async def test_flush_context_and_removal_after_success(autojump_clock: trio.testing.MockClock) -> None:
    group = make_group(repeat_interval=timedelta(hours=1), mute_time_intervals=["nights"])
    firing = update({"alertname": "A", "i": "1"}, ends=3600)
    resolved = update({"alertname": "A", "i": "2"}, ends=0)
    group.insert(firing, wall_clock(), trio.current_time())
    group.insert(resolved, wall_clock(), trio.current_time())
    notifier = ScriptedNotifier([False, True])

    assert not await group.flush(notifier, wall_clock, 10.0)
    assert len(group.alerts) == 2  # failure keeps the resolved alert
    await trio.sleep(5)
    assert await group.flush(notifier, wall_clock, 10.0)
    assert list(group.alerts) == [firing.fingerprint]

    ctx, alerts = notifier.calls[1]
    assert ctx.group_key == '{}:{alertname="A"}'
    assert ctx.receiver == "team"
    assert ctx.group_labels == {"alertname": "A"}
    assert ctx.repeat_interval == timedelta(hours=1)
    assert ctx.mute_time_intervals == ("nights",)
    assert ctx.active_time_intervals == ()
    assert ctx.now == at(5)
    assert [alert.ends_at for alert in alerts] == [ZERO_TIME, at(0)]


async def test_alert_updated_during_flush_is_kept(autojump_clock: trio.testing.MockClock) -> None:
    group = make_group()
    resolved = update({"alertname": "A"}, ends=0, updated=0)
    group.insert(resolved, wall_clock(), trio.current_time())
    notifier = ScriptedNotifier(delay=2.0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(group.flush, notifier, wall_clock, 10.0)
        await trio.sleep(1)
        refired = update({"alertname": "A"}, starts=1, ends=None, updated=1)
        group.insert(refired, wall_clock(), trio.current_time())
    assert group.alerts[resolved.fingerprint] is refired.alert


async def test_flush_is_cut_off_at_its_time_limit(autojump_clock: trio.testing.MockClock) -> None:
    group = make_group()
    group.insert(update({"alertname": "A"}, ends=0), wall_clock(), trio.current_time())
    notifier = ScriptedNotifier(delay=100.0)
    started = trio.current_time()
    assert not await group.flush(notifier, wall_clock, 10.0)
    assert trio.current_time() - started == 10.0
    assert notifier.cancelled == 1
    assert len(group.alerts) == 1


async def test_failing_notifier_does_not_raise(autojump_clock: trio.testing.MockClock) -> None:
    class Broken:
        async def notify(self, ctx: FlushContext, alerts: Sequence[Alert]) -> bool:
            raise RuntimeError("boom")

    group = make_group()
    group.insert(update({"alertname": "A"}, ends=0), wall_clock(), trio.current_time())
    assert not await group.flush(Broken(), wall_clock, 10.0)
    assert len(group.alerts) == 1


async def test_empty_group_flush_sends_nothing(autojump_clock: trio.testing.MockClock) -> None:
    group = make_group()
    notifier = ScriptedNotifier()
    assert await group.flush(notifier, wall_clock, 10.0)
    assert notifier.calls == []
