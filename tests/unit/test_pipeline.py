"""The receiver pipeline in virtual time: stage order, quiet stops, dedup against the nflog,
retry outcome, recording, the wait stage, and the webhook built from a config."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing

from daemon.config.model import Config, Receiver, RouteConfig
from daemon.integrations import IntegrationBuildError, build_notifiers
from daemon.nflog import NotificationLog
from notify.context import FlushContext
from notify.errors import PermanentError, RetryableError
from notify.model import Alert, alert_hash
from notify.pipeline import ReceiverPipeline
from tests.helpers.http_sink import HttpSink

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
REPEAT = timedelta(hours=4)
GROUP_KEY = '{}:{alertname="Disk"}'
FIRING_1 = Alert(labels={"alertname": "Disk", "instance": "h1"}, starts_at=T0 - timedelta(minutes=5))
FIRING_2 = Alert(labels={"alertname": "Disk", "instance": "h2"}, starts_at=T0 - timedelta(minutes=5))


def resolved(alert: Alert, at: datetime = T0 - timedelta(minutes=1)) -> Alert:
    return Alert(labels=alert.labels, starts_at=alert.starts_at, ends_at=at)


def virtual_now() -> datetime:
    return T0 + timedelta(seconds=trio.current_time())


def flush_context(
    mute: tuple[str, ...] = (), active: tuple[str, ...] = (), now: datetime | None = None
) -> FlushContext:
    return FlushContext(
        group_key=GROUP_KEY,
        receiver="team-x",
        group_labels={"alertname": "Disk"},
        repeat_interval=REPEAT,
        mute_time_intervals=mute,
        active_time_intervals=active,
        now=now or virtual_now(),
    )


class RecordingIntegration:
    """Records what it is asked to send and fails as scripted (None = success)."""

    def __init__(
        self,
        index: int = 0,
        send_resolved: bool = True,
        failures: Sequence[Exception | None] = (),
        name: str = "webhook",
    ) -> None:
        self.name = name
        self.index = index
        self.send_resolved = send_resolved
        self._failures = list(failures)
        self.sent: list[tuple[float, list[dict[str, str]]]] = []

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        self.sent.append((trio.current_time(), [dict(alert.labels) for alert in alerts]))
        if self._failures:
            failure = self._failures.pop(0)
            if failure is not None:
                raise failure


class InstanceMuter:
    """Mutes alerts whose `instance` is in the set; records what it was asked."""

    def __init__(self, muted: set[str]) -> None:
        self.muted = muted
        self.asked: list[str] = []

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        self.asked.append(labels.get("instance", ""))
        return labels.get("instance") in self.muted


class NamedIntervals:
    def __init__(self, containing_now: set[str]) -> None:
        self.containing_now = containing_now

    def any_contains(self, names: Sequence[str], moment: datetime) -> bool:
        return any(name in self.containing_now for name in names)


class FakeGate:
    def __init__(self, position: int, ready_at: float = 0.0) -> None:
        self._position = position
        self._ready_at = ready_at

    async def wait_ready(self) -> None:
        await trio.sleep_until(self._ready_at)

    def position(self) -> int:
        return self._position


class CountingObserver:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, bool | None]] = []

    def notification_started(self, integration: str) -> None:
        self.events.append(("started", integration, None))

    def notification_failed(self, integration: str) -> None:
        self.events.append(("failed", integration, None))

    def request_finished(self, integration: str, seconds: float, failed: bool) -> None:
        self.events.append(("request", integration, failed))


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


def pipeline(*integrations: RecordingIntegration, nflog: NotificationLog | None = None, **kwargs: object) -> ReceiverPipeline:
    return ReceiverPipeline(
        "team-x",
        integrations,
        nflog=nflog if nflog is not None else NotificationLog(),
        rng=random.Random(7),
        clock=virtual_now,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_first_flush_sends_and_records(mock_clock: trio.testing.MockClock) -> None:
    integration = RecordingIntegration()
    nflog = NotificationLog()
    assert await pipeline(integration, nflog=nflog).notify(flush_context(), [FIRING_1, FIRING_2])
    assert [labels for _, labels in integration.sent] == [[FIRING_1.labels, FIRING_2.labels]]
    entry = nflog.query(GROUP_KEY, "team-x", "webhook", 0)
    assert entry is not None
    assert entry.firing_alerts == {alert_hash(FIRING_1.labels), alert_hash(FIRING_2.labels)}
    assert entry.resolved_alerts == frozenset()
    assert entry.timestamp == T0
    assert entry.expires_at == T0 + 2 * REPEAT


async def test_unchanged_group_is_resent_only_after_repeat_interval(mock_clock: trio.testing.MockClock) -> None:
    integration = RecordingIntegration()
    notifier = pipeline(integration)
    for _ in range(3):
        assert await notifier.notify(flush_context(), [FIRING_1])
        await trio.sleep(REPEAT.total_seconds() / 2)
    # t=0 sent; t=2h deduplicated; t=4h: the entry is exactly repeat_interval old, not older.
    assert [at for at, _ in integration.sent] == [0.0]
    await trio.sleep(1)
    assert await notifier.notify(flush_context(), [FIRING_1])
    assert [at for at, _ in integration.sent] == [0.0, REPEAT.total_seconds() * 1.5 + 1]


async def test_inhibited_alerts_stop_the_chain_quietly(mock_clock: trio.testing.MockClock) -> None:
    integration = RecordingIntegration()
    nflog = NotificationLog()
    silencer = InstanceMuter(set())
    notifier = pipeline(integration, nflog=nflog, inhibitor=InstanceMuter({"h1", "h2"}), silencer=silencer)
    assert await notifier.notify(flush_context(), [FIRING_1, FIRING_2])
    assert integration.sent == []
    assert len(nflog) == 0
    assert silencer.asked == []  # later stages never ran


async def test_inhibit_runs_before_silence_and_each_drops_its_alerts(mock_clock: trio.testing.MockClock) -> None:
    integration = RecordingIntegration()
    inhibitor, silencer = InstanceMuter({"h1"}), InstanceMuter({"h3"})
    third = Alert(labels={"alertname": "Disk", "instance": "h3"})
    notifier = pipeline(integration, inhibitor=inhibitor, silencer=silencer)
    assert await notifier.notify(flush_context(), [FIRING_1, FIRING_2, third])
    assert inhibitor.asked == ["h1", "h2", "h3"]
    assert silencer.asked == ["h2", "h3"]
    assert [labels for _, labels in integration.sent] == [[FIRING_2.labels]]


@pytest.mark.parametrize(
    ("mute", "active", "containing_now", "sends"),
    [
        ((), (), set(), True),
        (("night",), (), {"night"}, False),
        (("night",), (), set(), True),
        ((), ("office",), set(), False),
        ((), ("office",), {"office"}, True),
        (("night",), ("office",), {"night", "office"}, False),
    ],
)
async def test_time_intervals(
    mock_clock: trio.testing.MockClock,
    mute: tuple[str, ...],
    active: tuple[str, ...],
    containing_now: set[str],
    sends: bool,
) -> None:
    integration = RecordingIntegration()
    nflog = NotificationLog()
    notifier = pipeline(integration, nflog=nflog, time_intervals=NamedIntervals(containing_now))
    assert await notifier.notify(flush_context(mute=mute, active=active), [FIRING_1])
    assert bool(integration.sent) is sends
    assert len(nflog) == (1 if sends else 0)


async def test_all_resolved_without_send_resolved_sends_nothing_but_clears_the_log(
    mock_clock: trio.testing.MockClock,
) -> None:
    integration = RecordingIntegration(send_resolved=False)
    nflog = NotificationLog()
    observer = CountingObserver()
    notifier = pipeline(integration, nflog=nflog, observer=observer)
    assert await notifier.notify(flush_context(), [FIRING_1])
    await trio.sleep(60)
    assert await notifier.notify(flush_context(), [resolved(FIRING_1, virtual_now())])
    assert len(integration.sent) == 1
    entry = nflog.query(GROUP_KEY, "team-x", "webhook", 0)
    assert entry is not None
    assert entry.firing_alerts == frozenset()
    assert entry.resolved_alerts == {alert_hash(FIRING_1.labels)}
    assert entry.timestamp == T0 + timedelta(seconds=60)
    # Counted as a notification, but no request was made for the suppressed one.
    assert observer.events == [
        ("started", "webhook", None),
        ("request", "webhook", False),
        ("started", "webhook", None),
    ]
    # The same resolved group again: nothing new.
    assert await notifier.notify(flush_context(), [resolved(FIRING_1)])
    assert nflog.query(GROUP_KEY, "team-x", "webhook", 0) == entry


async def test_mixed_group_without_send_resolved_strips_resolved(mock_clock: trio.testing.MockClock) -> None:
    integration = RecordingIntegration(send_resolved=False)
    assert await pipeline(integration).notify(flush_context(), [FIRING_1, resolved(FIRING_2)])
    assert [labels for _, labels in integration.sent] == [[FIRING_1.labels]]


async def test_send_resolved_sends_newly_resolved(mock_clock: trio.testing.MockClock) -> None:
    integration = RecordingIntegration(send_resolved=True)
    notifier = pipeline(integration)
    assert await notifier.notify(flush_context(), [FIRING_1, FIRING_2])
    assert await notifier.notify(flush_context(), [FIRING_1, resolved(FIRING_2)])
    assert [labels for _, labels in integration.sent][1] == [FIRING_1.labels, FIRING_2.labels]


async def test_retry_then_success_records(mock_clock: trio.testing.MockClock) -> None:
    failure = RetryableError("unexpected status code 500")
    integration = RecordingIntegration(failures=[failure, failure, None])
    nflog = NotificationLog()
    observer = CountingObserver()
    with trio.move_on_after(10):
        assert await pipeline(integration, nflog=nflog, observer=observer).notify(flush_context(), [FIRING_1])
    assert len(integration.sent) == 3
    entry = nflog.query(GROUP_KEY, "team-x", "webhook", 0)
    assert entry is not None
    assert entry.timestamp == T0 + timedelta(seconds=integration.sent[-1][0])
    assert [event for event in observer.events if event[0] == "request"] == [
        ("request", "webhook", True),
        ("request", "webhook", True),
        ("request", "webhook", False),
    ]


async def test_failure_is_reported_and_not_recorded(mock_clock: trio.testing.MockClock) -> None:
    ok = RecordingIntegration(index=0)
    broken = RecordingIntegration(index=1, failures=[PermanentError("unexpected status code 400")])
    nflog = NotificationLog()
    observer = CountingObserver()
    assert not await pipeline(ok, broken, nflog=nflog, observer=observer).notify(flush_context(), [FIRING_1])
    assert nflog.query(GROUP_KEY, "team-x", "webhook", 0) is not None
    assert nflog.query(GROUP_KEY, "team-x", "webhook", 1) is None
    assert ("failed", "webhook", None) in observer.events


async def test_integrations_run_concurrently(mock_clock: trio.testing.MockClock) -> None:
    failure = RetryableError("unexpected status code 503")
    slow = RecordingIntegration(index=0, failures=[failure, failure, None])
    fast = RecordingIntegration(index=1)
    with trio.move_on_after(10):
        assert await pipeline(slow, fast).notify(flush_context(), [FIRING_1])
    assert fast.sent[0][0] == 0.0
    assert slow.sent[0][0] == 0.0


async def test_gate_and_wait_by_position(mock_clock: trio.testing.MockClock) -> None:
    integration = RecordingIntegration()
    notifier = pipeline(integration, gate=FakeGate(position=2, ready_at=5.0), peer_timeout=timedelta(seconds=15))
    assert await notifier.notify(flush_context(), [FIRING_1])
    assert [at for at, _ in integration.sent] == [5.0 + 30.0]


async def test_wait_lets_a_peer_notification_dedup_ours(mock_clock: trio.testing.MockClock) -> None:
    """While we wait our turn, the first peer's nflog entry arrives by gossip."""
    integration = RecordingIntegration()
    nflog = NotificationLog()
    notifier = pipeline(integration, nflog=nflog, gate=FakeGate(position=1), peer_timeout=timedelta(seconds=15))

    async def peer_notifies_at_one_second() -> None:
        await trio.sleep(1)
        peer = pipeline(RecordingIntegration(), nflog=nflog)
        await peer.notify(flush_context(), [FIRING_1])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_notifies_at_one_second)
        assert await notifier.notify(flush_context(), [FIRING_1])
    assert integration.sent == []


async def test_no_alerts_and_no_integrations_are_quiet_successes(mock_clock: trio.testing.MockClock) -> None:
    assert await pipeline(RecordingIntegration()).notify(flush_context(), [])
    assert await pipeline().notify(flush_context(), [FIRING_1])


def webhook_config(url: str, **extra: object) -> Config:
    return Config(
        global_config={},
        resolve_timeout=timedelta(minutes=5),
        route=RouteConfig(receiver="team-x", routes=[RouteConfig(routes=[RouteConfig(receiver="blackhole")])]),
        receivers=[
            Receiver(
                name="team-x",
                integrations={
                    "webhook_configs": [{"url": url, "send_resolved": True, "max_alerts": 0, **extra}],
                    # A type without an implementation is skipped (logged), not an error.
                    "future_configs": [{"to": "x@example.org"}],
                },
            ),
            Receiver(name="blackhole"),
            # Unused by any route: never built, so its unreadable CA file cannot fail a reload.
            Receiver(
                name="unused",
                integrations={"webhook_configs": [{"url": "https://x/", "http_config": {"tls_config": {"ca_file": "/nonexistent"}}}]},
            ),
        ],
    )


async def test_build_notifiers_webhook_end_to_end_in_virtual_time(mock_clock: trio.testing.MockClock) -> None:
    sink = HttpSink()
    sink.script("/hook", 500, 500, 200)
    nflog = NotificationLog()
    notifiers = build_notifiers(
        webhook_config("http://hook.test/hook"),
        "http://am.example/",
        nflog=nflog,
        rng=random.Random(1),
        transport=sink.transport(),
    )
    assert sorted(notifiers) == ["blackhole", "team-x"]
    assert [integration.name for integration in notifiers["team-x"].integrations] == ["webhook"]
    with trio.move_on_after(10):
        assert await notifiers["team-x"].notify(flush_context(now=T0), [FIRING_1])
    requests = sink.requests("/hook")
    assert len(requests) == 3
    body = requests[-1].json()
    assert body["externalURL"] == "http://am.example"
    assert body["groupKey"] == GROUP_KEY
    assert body["alerts"][0]["labels"] == FIRING_1.labels
    assert nflog.query(GROUP_KEY, "team-x", "webhook", 0) is not None
    assert await notifiers["blackhole"].notify(flush_context(now=T0), [FIRING_1])


async def test_webhook_over_real_http_with_bearer_token() -> None:
    """Real sockets and the real clock: 500 then 200, the second attempt after ~0.5s."""
    with HttpSink() as sink:
        sink.script("/hook", 500, 200)
        notifiers = build_notifiers(
            webhook_config(sink.url("/hook"), http_config={"authorization": {"type": "Bearer", "credentials": "t0k"}}),
            "http://am.example",
            nflog=NotificationLog(),
        )
        with trio.fail_after(10):
            assert await notifiers["team-x"].notify(flush_context(now=datetime.now(UTC)), [FIRING_1])
        await notifiers["team-x"].aclose()
        first, second = sink.requests("/hook")
    assert second.headers["authorization"] == "Bearer t0k"
    assert second.headers["user-agent"] == "Alertmanager/0.25.0"
    assert 0.2 <= second.received_at - first.received_at <= 2.0


def test_a_used_receiver_that_cannot_be_built_fails_the_build() -> None:
    config = webhook_config("https://hook.test/", http_config={"tls_config": {"ca_file": "/nonexistent/ca.pem"}})
    with pytest.raises(IntegrationBuildError, match=r'^receiver "team-x": webhook\[0\]: '):
        build_notifiers(config, "http://am.example", nflog=NotificationLog())
