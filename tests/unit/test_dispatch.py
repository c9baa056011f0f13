"""The dispatcher in virtual time: timelines of pushes and the flushes they cause.

Every test runs on trio's MockClock (autojump), with the wall clock tied to it:
wall time = T0 + trio time, and trio time starts at 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import trio
import trio.testing

from daemon.aggregation import PeerWait, no_peer_wait
from daemon.alerts import AlertStore
from daemon.config.model import RouteConfig
from daemon.dispatch import ALERTS_PER_CHECKPOINT, EMPTY_GROUP_CLEANUP_SECONDS, Dispatcher
from daemon.matchers import Matcher, MatchType
from daemon.routing import Route
from notify.context import FlushContext, Notifier
from notify.model import ZERO_TIME, Alert, fingerprint

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
FAR_FUTURE = T0 + timedelta(days=7)


def wall_clock() -> datetime:
    return T0 + timedelta(seconds=trio.current_time())


@dataclasses.dataclass(frozen=True)
class Firing:
    """An alert to push: times are filled in when it is pushed, as the API does."""

    labels: dict[str, str]
    started_ago: float = 0.0


@dataclasses.dataclass(frozen=True)
class Resolved:
    labels: dict[str, str]


def firing(name: str, started_ago: float = 0.0, **labels: str) -> Firing:
    return Firing({"alertname": name, **labels}, started_ago)


def resolved(alert: Firing) -> Resolved:
    return Resolved(alert.labels)


@dataclasses.dataclass
class Flush:
    at: float
    receiver: str
    group_key: str
    alerts: list[Alert]

    @property
    def names(self) -> list[str]:
        return [alert.labels["alertname"] for alert in self.alerts]

    @property
    def statuses(self) -> list[str]:
        return ["resolved" if alert.ends_at != ZERO_TIME else "firing" for alert in self.alerts]


class RecordingNotifier:
    """Records every flush at its virtual time; answers from a script (default success)."""

    def __init__(self, log: list[Flush], results: Sequence[bool] = (), delay: float = 0.0) -> None:
        self.log = log
        self.results = list(results)
        self.delay = delay

    async def notify(self, ctx: FlushContext, alerts: Sequence[Alert]) -> bool:
        self.log.append(Flush(trio.current_time(), ctx.receiver, ctx.group_key, list(alerts)))
        await trio.sleep(self.delay)
        return self.results.pop(0) if self.results else True


@dataclasses.dataclass
class Timeline:
    """Times given to and reported by a timeline are relative to its start."""

    store: AlertStore
    dispatcher: Dispatcher
    flushes: list[Flush]
    origin: float

    async def push(self, at: float, *specs: Firing | Resolved) -> None:
        await trio.sleep_until(self.origin + at)
        now = wall_clock()
        alerts = []
        for spec in specs:
            if isinstance(spec, Firing):
                starts_at = now - timedelta(seconds=spec.started_ago)
                alerts.append(Alert(spec.labels, starts_at=starts_at, ends_at=FAR_FUTURE, updated_at=now))
            else:
                stored = self.store.get(fingerprint(spec.labels))
                starts_at = stored.starts_at if stored is not None else now
                alerts.append(Alert(spec.labels, starts_at=starts_at, ends_at=now, updated_at=now))
        await self.store.put(alerts, now)

    async def until(self, at: float) -> None:
        await trio.sleep_until(self.origin + at)
        # Let tasks woken at exactly `at` run before the test looks.
        await trio.testing.wait_all_tasks_blocked()

    def times(self) -> list[float]:
        return [flush.at - self.origin for flush in self.flushes]


@asynccontextmanager
async def timeline(
    route: RouteConfig,
    notifiers: Mapping[str, Notifier] | None = None,
    peer_wait: PeerWait = no_peer_wait,
    store: AlertStore | None = None,
) -> AsyncIterator[Timeline]:
    flushes: list[Flush] = []
    if notifiers is None:
        names = {node.opts.receiver for node in Route.from_config(route).walk()}
        notifiers = {name: RecordingNotifier(flushes) for name in names}
    store = store if store is not None else AlertStore()
    dispatcher = Dispatcher(Route.from_config(route), store, notifiers, wall_clock, peer_wait=peer_wait)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        yield Timeline(store, dispatcher, flushes, trio.current_time())
        dispatcher.stop()


def route(**fields: object) -> RouteConfig:
    defaults: dict[str, object] = {
        "receiver": "default",
        "group_by": ["alertname"],
        "group_wait": timedelta(seconds=30),
        "group_interval": timedelta(minutes=5),
        "repeat_interval": timedelta(hours=4),
    }
    defaults.update(fields)
    return RouteConfig(**defaults)  # type: ignore[arg-type]


async def test_first_flush_after_group_wait_then_every_group_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with timeline(route()) as t:
        await t.push(1.0, firing("A"))
        await t.push(20.0, firing("A", instance="2"))
        await t.until(1000.0)
        assert t.times() == [31.0, 331.0, 631.0, 931.0]
        assert t.flushes[0].group_key == '{}:{alertname="A"}'
        assert len(t.flushes[0].alerts) == 2
        # Firing alerts go out without an end time.
        assert t.flushes[0].statuses == ["firing", "firing"]


async def test_old_alert_flushes_immediately(autojump_clock: trio.testing.MockClock) -> None:
    async with timeline(route()) as t:
        await t.push(1.0, firing("A", started_ago=31.0))
        await t.until(2.0)
        assert t.times() == [1.0]
        await t.until(400.0)
        assert t.times() == [1.0, 301.0]


async def test_alert_exactly_group_wait_old_still_waits(autojump_clock: trio.testing.MockClock) -> None:
    async with timeline(route()) as t:
        await t.push(1.0, firing("A", started_ago=30.0))
        await t.until(40.0)
        assert t.times() == [31.0]


async def test_old_alert_joining_a_flushed_group_waits_for_the_tick(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with timeline(route()) as t:
        await t.push(0.0, firing("A"))
        await t.push(100.0, firing("A", started_ago=3600.0, instance="old"))
        await t.until(400.0)
        assert t.times() == [30.0, 330.0]
        assert [len(flush.alerts) for flush in t.flushes] == [1, 2]


async def test_interval_is_reset_before_a_slow_flush(autojump_clock: trio.testing.MockClock) -> None:
    flushes: list[Flush] = []
    slow = RecordingNotifier(flushes, delay=100.0)
    async with timeline(route(), {"default": slow}) as t:
        await t.push(0.0, firing("A"))
        await t.until(700.0)
    assert [flush.at for flush in flushes] == [30.0, 330.0, 630.0]


async def test_tick_during_a_long_flush_runs_when_it_ends(autojump_clock: trio.testing.MockClock) -> None:
    flushes: list[Flush] = []
    # The peer wait lets a flush outlive group_interval (limit 300 + 200 = 500s).
    slow = RecordingNotifier(flushes, delay=400.0)
    async with timeline(route(), {"default": slow}, peer_wait=lambda: 200.0) as t:
        await t.push(0.0, firing("A"))
        await t.until(1300.0)
    # 30 runs to 430; the tick due at 330 runs at 430; then 730, 1130.
    assert [flush.at for flush in flushes] == [30.0, 430.0, 830.0, 1230.0]


async def test_flush_over_its_time_limit_is_cancelled(autojump_clock: trio.testing.MockClock) -> None:
    flushes: list[Flush] = []
    hanging = RecordingNotifier(flushes, delay=10_000.0)
    config = route(group_interval=timedelta(seconds=2))
    async with timeline(config, {"default": hanging}) as t:
        await t.push(0.0, firing("A"))
        await t.until(60.0)
    # Limit max(2s, 10s) = 10s: each flush is cut off; the pending tick runs right after.
    assert [flush.at for flush in flushes] == [30.0, 40.0, 50.0, 60.0]


async def test_resolved_alert_removed_only_after_successful_flush(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flushes: list[Flush] = []
    flaky = RecordingNotifier(flushes, results=[True, False, True])
    async with timeline(route(), {"default": flaky}) as t:
        alert = firing("A")
        await t.push(0.0, alert)
        await t.push(100.0, resolved(alert))
        await t.until(640.0)
        # 30 firing; 330 resolved but failed; 630 resolved again and succeeded.
        assert [flush.at for flush in flushes] == [30.0, 330.0, 630.0]
        assert [flush.statuses for flush in flushes] == [["firing"], ["resolved"], ["resolved"]]
        assert t.dispatcher.groups() == ([], {})
        # The empty group is dropped by a 30-second cleanup, and flushes no more.
        await t.until(640.0 + EMPTY_GROUP_CLEANUP_SECONDS)
        assert t.dispatcher.group_count == 0
        await t.until(1000.0)
        assert len(flushes) == 3


async def test_refiring_alert_in_a_new_group_waits_again(autojump_clock: trio.testing.MockClock) -> None:
    async with timeline(route()) as t:
        alert = firing("A")
        await t.push(0.0, alert)
        await t.push(10.0, resolved(alert))
        await t.until(400.0)
        assert t.times() == [30.0]  # sent resolved once, group emptied
        await t.until(400.0 + EMPTY_GROUP_CLEANUP_SECONDS)
        assert t.dispatcher.group_count == 0
        await t.push(500.0, firing("A"))
        await t.until(600.0)
        assert t.times() == [30.0, 530.0]


async def test_groups_by_labels_and_routes_with_continue(autojump_clock: trio.testing.MockClock) -> None:
    config = route(
        routes=[
            RouteConfig(
                matchers=[Matcher("team", MatchType.EQUAL, "db")],
                receiver="db",
                continue_matching=True,
                group_wait=timedelta(seconds=10),
            ),
            RouteConfig(matchers=[Matcher("team", MatchType.REGEX, "db|web")], receiver="dbweb"),
        ]
    )
    async with timeline(config) as t:
        await t.push(0.0, firing("A", team="db"), firing("B", team="db"), firing("C", team="ops"))
        await t.until(31.0)
        seen = sorted((flush.at, flush.receiver, flush.group_key) for flush in t.flushes)
        assert seen == [
            (10.0, "db", '{}/{team="db"}:{alertname="A"}'),
            (10.0, "db", '{}/{team="db"}:{alertname="B"}'),
            (30.0, "dbweb", '{}/{team=~"db|web"}:{alertname="A"}'),
            (30.0, "dbweb", '{}/{team=~"db|web"}:{alertname="B"}'),
            (30.0, "default", '{}:{alertname="C"}'),
        ]

        views, receivers = t.dispatcher.groups()
        assert [(dict(view.labels), view.receiver) for view in views] == [
            ({"alertname": "A"}, "db"),
            ({"alertname": "A"}, "dbweb"),
            ({"alertname": "B"}, "db"),
            ({"alertname": "B"}, "dbweb"),
            ({"alertname": "C"}, "default"),
        ]
        fingerprint_a = views[0].alerts[0].fingerprint
        assert receivers[fingerprint_a] == ["db", "dbweb"]

        only_db, _ = t.dispatcher.groups(route_filter=lambda node: node.opts.receiver == "db")
        assert {view.receiver for view in only_db} == {"db"}
        none_left, none_receivers = t.dispatcher.groups(alert_filter=lambda update, now: False)
        assert none_left == [] and none_receivers == {}


async def test_group_by_all_and_missing_group_labels(autojump_clock: trio.testing.MockClock) -> None:
    config = route(group_by=["alertname", "cluster"])
    async with timeline(config) as t:
        await t.push(0.0, firing("A"), firing("A", cluster="x"), firing("A", instance="i"))
        await t.until(31.0)
        assert sorted(flush.group_key for flush in t.flushes) == [
            '{}:{alertname="A", cluster="x"}',
            '{}:{alertname="A"}',
        ]
    async with timeline(route(group_by=["..."])) as t:
        await t.push(0.0, firing("A", b="2"))
        await t.until(31.0)
        assert [flush.group_key for flush in t.flushes] == ['{}:{alertname="A", b="2"}']


async def test_many_groups_flush_on_time(autojump_clock: trio.testing.MockClock) -> None:
    group_total = 2000
    async with timeline(route(group_by=["alertname", "instance"])) as t:
        await t.push(0.0, *[firing("A", instance=str(index)) for index in range(group_total)])
        await t.push(15.0, *[firing("A", instance=str(index), extra="y") for index in range(100)])
        await t.until(31.0)
        assert t.dispatcher.group_count == group_total
        assert len(t.flushes) == group_total
        assert {flush.at for flush in t.flushes} == {30.0}
        assert sum(len(flush.alerts) for flush in t.flushes) == group_total + 100


async def test_alerts_already_stored_are_dispatched_and_reload_flushes_them_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = AlertStore()
    await trio.sleep(5.0)
    await store.put([Alert({"alertname": "A"}, starts_at=wall_clock(), ends_at=FAR_FUTURE)], wall_clock())
    async with timeline(route(), store=store) as t:
        await t.until(35.0)
        assert t.times() == [30.0]
        t.dispatcher.stop()
        await t.dispatcher.stopped.wait()
    # A new dispatcher (config reload) over the same store: the alert is older than
    # group_wait, so its new group flushes immediately.
    async with timeline(route(), store=store) as t:
        await t.until(1.0)
        assert t.times() == [0.0]


async def test_stop_cancels_an_in_flight_flush(autojump_clock: trio.testing.MockClock) -> None:
    flushes: list[Flush] = []
    slow = RecordingNotifier(flushes, delay=200.0)
    async with timeline(route(), {"default": slow}) as t:
        await t.push(0.0, firing("A"))
        await t.until(31.0)
        t.dispatcher.stop()
        with trio.fail_after(1):
            await t.dispatcher.stopped.wait()
    assert [flush.at for flush in flushes] == [30.0]
    assert trio.current_time() < 40.0


async def test_unknown_receiver_is_skipped(autojump_clock: trio.testing.MockClock) -> None:
    async with timeline(route(), notifiers={}) as t:
        await t.push(0.0, firing("A"))
        await t.until(400.0)
        assert t.dispatcher.group_count == 1


async def test_large_batches_are_filed_in_chunks_and_timed(autojump_clock: trio.testing.MockClock) -> None:
    durations: list[float] = []
    store = AlertStore()
    config = route(group_by=["alertname", "instance"])
    notifiers = {"default": RecordingNotifier([])}
    dispatcher = Dispatcher(
        Route.from_config(config), store, notifiers, wall_clock, observe_processing=durations.append
    )
    alert_total = 2 * ALERTS_PER_CHECKPOINT + 5
    alerts = [
        Alert({"alertname": "A", "instance": str(index)}, ends_at=FAR_FUTURE) for index in range(alert_total)
    ]
    await store.put(alerts, wall_clock())
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        await trio.testing.wait_all_tasks_blocked()
        assert dispatcher.group_count == alert_total
        assert len(durations) == alert_total
        assert all(duration >= 0 for duration in durations)
        dispatcher.stop()
