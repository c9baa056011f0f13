"""Retry and backoff, in virtual time (trio MockClock with autojump)."""

from __future__ import annotations

import random

import httpx
import pytest
import trio
import trio.testing

from notify.errors import PermanentError, RetryableError
from notify.httpclient import post_json
from notify.retry import ExponentialBackoff, RetryOutcome, retry_until_done
from tests.helpers.http_sink import HttpSink, ScriptedResponse

HOOK = "http://hook.test/hook"


class FixedRandom(random.Random):
    """random() always returns `value`: 0.5 gives the un-jittered intervals."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


def test_backoff_sequence_grows_by_half_and_caps_at_sixty_seconds() -> None:
    centred = ExponentialBackoff(FixedRandom(0.5))
    delays = [centred.next_delay() for _ in range(14)]
    # 0.5 x 1.5^11 = 43.25 is still drawn; once the interval reaches 60s / 1.5 it jumps to 60s.
    expected = [0.5 * 1.5**n for n in range(12)] + [60.0, 60.0]
    assert delays == pytest.approx(expected)


@pytest.mark.parametrize(("random_value", "factor"), [(0.0, 0.5), (1.0, 1.5)])
def test_backoff_jitter_is_plus_minus_fifty_percent(random_value: float, factor: float) -> None:
    backoff = ExponentialBackoff(FixedRandom(random_value))
    assert [backoff.next_delay() for _ in range(3)] == pytest.approx([0.5 * factor, 0.75 * factor, 1.125 * factor])


def test_backoff_with_a_seeded_random_stays_in_bounds() -> None:
    backoff = ExponentialBackoff(random.Random(42))
    interval = 0.5
    for _ in range(30):
        delay = backoff.next_delay()
        assert 0.5 * interval <= delay <= 1.5 * interval
        interval = min(interval * 1.5, 60.0) if interval < 40.0 else 60.0


async def _run_against_sink(sink: HttpSink, rng: random.Random) -> tuple[RetryOutcome, list[float]]:
    starts: list[float] = []
    async with httpx.AsyncClient(transport=sink.transport()) as client:

        async def attempt() -> None:
            starts.append(trio.current_time())
            await post_json(client, HOOK, b"{}")

        outcome = await retry_until_done(attempt, backoff=ExponentialBackoff(rng), label="team/webhook[0]")
    return outcome, starts


async def test_retries_5xx_until_success(mock_clock: trio.testing.MockClock) -> None:
    sink = HttpSink()
    sink.script("/hook", 500, 500, 200)
    outcome, starts = await _run_against_sink(sink, FixedRandom(0.5))
    assert outcome.succeeded
    assert outcome.attempts == 3
    assert starts == pytest.approx([0.0, 0.5, 1.25])
    assert len(sink.requests("/hook")) == 3


async def test_4xx_is_permanent_after_one_attempt(mock_clock: trio.testing.MockClock) -> None:
    sink = HttpSink()
    sink.script("/hook", ScriptedResponse(status=400, body=b"bad request"), 200)
    outcome, starts = await _run_against_sink(sink, FixedRandom(0.5))
    assert not outcome.succeeded
    assert starts == [0.0]
    assert isinstance(outcome.error, PermanentError)
    assert outcome.message == (
        "team/webhook[0]: notify retry canceled due to unrecoverable error after 1 attempts: "
        "unexpected status code 400: bad request"
    )


async def test_gives_up_when_the_next_attempt_would_start_after_the_deadline(
    mock_clock: trio.testing.MockClock,
) -> None:
    sink = HttpSink(default=ScriptedResponse(status=502, body=b"down"))
    with trio.move_on_after(10) as scope:
        outcome, starts = await _run_against_sink(sink, FixedRandom(0.5))
    assert not scope.cancelled_caught
    # Attempts start at 0, 0.5, 1.25, 2.375, 4.0625, 6.59375; the next would be at 10.39.
    assert starts == pytest.approx([0.0, 0.5, 1.25, 2.375, 4.0625, 6.59375])
    assert trio.current_time() == pytest.approx(6.59375)
    assert outcome.message == (
        "team/webhook[0]: notify retry canceled after 6 attempts: unexpected status code 502: down"
    )


async def test_slow_attempt_is_followed_immediately(mock_clock: trio.testing.MockClock) -> None:
    starts: list[float] = []

    async def slow_then_ok() -> None:
        starts.append(trio.current_time())
        if len(starts) == 1:
            await trio.sleep(2.0)  # longer than the 0.5s interval drawn when it started
            raise RetryableError("timeout")

    outcome = await retry_until_done(slow_then_ok, backoff=ExponentialBackoff(FixedRandom(0.5)), label="x")
    assert outcome.succeeded
    assert starts == [0.0, 2.0]


async def test_observer_sees_every_attempt(mock_clock: trio.testing.MockClock) -> None:
    seen: list[tuple[float, bool]] = []
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        await trio.sleep(0.25)
        if calls < 3:
            raise RetryableError("unexpected status code 500")

    await retry_until_done(
        flaky,
        backoff=ExponentialBackoff(FixedRandom(0.5)),
        label="x",
        on_attempt=lambda seconds, failed: seen.append((seconds, failed)),
    )
    assert seen == [(0.25, True), (0.25, True), (0.25, False)]


async def test_an_integration_bug_is_a_permanent_failure_not_a_crash(mock_clock: trio.testing.MockClock) -> None:
    async def broken() -> None:
        raise KeyError("oops")

    outcome = await retry_until_done(broken, backoff=ExponentialBackoff(FixedRandom(0.5)), label="x")
    assert not outcome.succeeded
    assert outcome.attempts == 1
    assert "internal error: KeyError('oops')" in outcome.message


async def test_caller_deadline_cancels_a_send_in_flight(mock_clock: trio.testing.MockClock) -> None:
    async def hangs() -> None:
        await trio.sleep_forever()

    with trio.move_on_after(5) as scope:
        await retry_until_done(hangs, backoff=ExponentialBackoff(FixedRandom(0.5)), label="x")
    assert scope.cancelled_caught
    assert trio.current_time() == 5
