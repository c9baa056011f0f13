"""Retry classification, secrets in errors, and Retry-After, per receiver (reference §11.21).

Each receiver is built from settings as the loader hands them over and sends to an in-memory
recording sink that answers with a scripted status. Virtual time (MockClock) for the retry
loop, so waiting for a Retry-After of minutes takes no real time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from notify.errors import NotifyError, PermanentError, RetryableError, check_status, parse_retry_after
from notify.retry import ExponentialBackoff, retry_until_done
from tests.helpers.http_sink import HttpSink, ScriptedResponse
from tests.unit.receivers.helpers import build, firing, send

SECRET = "s3cr3t-T0KEN"

# config key, settings, the path the notification goes to.
RECEIVERS: dict[str, tuple[str, Mapping[str, Any], str]] = {
    "slack": ("slack_configs", {"api_url": f"http://sink/slack/{SECRET}"}, f"/slack/{SECRET}"),
    "pagerduty_v2": (
        "pagerduty_configs",
        {"routing_key": SECRET, "url": "http://sink/v2/enqueue"},
        "/v2/enqueue",
    ),
    "opsgenie": ("opsgenie_configs", {"api_key": SECRET, "api_url": "http://sink/og/"}, "/og/v2/alerts"),
    "victorops": (
        "victorops_configs",
        {"api_key": SECRET, "routing_key": "rk", "api_url": "http://sink/vo/"},
        f"/vo/{SECRET}/rk",
    ),
    "discord": (
        "discord_configs",
        {"webhook_url": f"http://sink/api/webhooks/1/{SECRET}"},
        f"/api/webhooks/1/{SECRET}",
    ),
    "webex": (
        "webex_configs",
        {
            "room_id": "r",
            "api_url": "http://sink/v1/messages",
            "http_config": {"authorization": {"credentials": SECRET}},
        },
        "/v1/messages",
    ),
    "telegram": (
        "telegram_configs",
        {"bot_token": SECRET, "chat_id": 5, "api_url": "http://sink/tg"},
        f"/tg/bot{SECRET}/sendMessage",
    ),
    "webhook": ("webhook_configs", {"url": f"http://sink/hook/{SECRET}"}, f"/hook/{SECRET}"),
}

# (receiver, status) -> retryable? Alertmanager 0.25's classification: 5xx everywhere, plus
# 429 for PagerDuty v2 and OpsGenie; Telegram retries every failure.
CLASSIFICATION = [
    ("slack", 500, True),
    ("slack", 429, False),
    ("slack", 400, False),
    ("pagerduty_v2", 503, True),
    ("pagerduty_v2", 429, True),
    ("pagerduty_v2", 403, False),
    ("opsgenie", 429, True),
    ("opsgenie", 502, True),
    ("opsgenie", 422, False),
    ("victorops", 500, True),
    ("victorops", 429, False),
    ("discord", 500, True),
    ("discord", 404, False),
    ("webex", 500, True),
    ("webex", 401, False),
    ("telegram", 400, True),
    ("telegram", 500, True),
    ("webhook", 500, True),
    ("webhook", 429, False),
]


@pytest.mark.parametrize(("receiver", "status", "retryable"), CLASSIFICATION)
async def test_status_classification(receiver: str, status: int, retryable: bool) -> None:
    config_key, settings, path = RECEIVERS[receiver]
    sink = HttpSink()
    sink.script(path, ScriptedResponse(status, b"nope"))
    integration = build(config_key, settings, sink)
    with pytest.raises(NotifyError) as caught:
        await send(integration, firing())
    assert caught.value.retryable is retryable
    assert len(sink.requests(path)) == 1
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("receiver", sorted(RECEIVERS))
async def test_success_on_2xx_and_transport_errors_are_retryable_without_secrets(receiver: str) -> None:
    config_key, settings, path = RECEIVERS[receiver]
    ok = ScriptedResponse(200, b'{"ok":true,"result":{}}')
    sink = HttpSink(default=ok)
    await send(build(config_key, settings, sink), firing())
    assert len(sink.requests(path)) == 1

    class Refusing(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError(f"connection refused: {request.url}")

    integration = build(config_key, settings, sink)
    integration._client._transport = Refusing()
    with pytest.raises(RetryableError) as caught:
        await send(integration, firing())
    assert SECRET not in str(caught.value)
    assert "<redacted>" in str(caught.value)


@pytest.mark.parametrize(("service_key_status", "retryable"), [(403, True), (429, False), (500, True)])
async def test_pagerduty_v1_retries_403_not_429(service_key_status: int, retryable: bool) -> None:
    from notify.httpclient import build_client
    from notify.receivers.pagerduty import PagerdutyConfig, PagerdutyIntegration
    from tests.unit.receivers.helpers import EXTERNAL_URL, default_templates

    sink = HttpSink()
    sink.script("/v1", service_key_status)
    integration = PagerdutyIntegration(
        "team",
        0,
        PagerdutyConfig.from_mapping({"service_key": SECRET}),
        build_client(transport=sink.transport()),
        default_templates(),
        EXTERNAL_URL,
        v1_url="http://sink/v1",
    )
    with pytest.raises(NotifyError) as caught:
        await send(integration, firing())
    assert caught.value.retryable is retryable


async def test_pagerduty_400_reports_pagerduty_errors() -> None:
    config_key, settings, path = RECEIVERS["pagerduty_v2"]
    sink = HttpSink()
    sink.script(
        path,
        ScriptedResponse(
            400, b'{"status":"invalid event","message":"Event object is invalid","errors":["a","b"]}'
        ),
    )
    with pytest.raises(PermanentError, match=r"^unexpected status code 400: Event object is invalid: a,b$"):
        await send(build(config_key, settings, sink), firing())


# ---------------------------------------------------------------- Retry-After


def test_parse_retry_after_forms() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 7 ", now) == 7.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None


def test_check_status_429_with_retry_after_is_retryable_everywhere() -> None:
    with pytest.raises(RetryableError) as caught:
        check_status(429, b"slow down", (), httpx.Headers({"retry-after": "12"}))
    assert caught.value.retry_after == 12.0
    with pytest.raises(PermanentError):
        check_status(429, b"slow down", (), httpx.Headers({}))
    with pytest.raises(RetryableError) as unhinted:
        check_status(503, b"", (), httpx.Headers({}))
    assert unhinted.value.retry_after is None


@pytest.mark.parametrize(
    "receiver", ["slack", "discord", "victorops", "webex", "webhook", "opsgenie", "pagerduty_v2"]
)
async def test_429_with_retry_after_is_retried_after_that_delay(
    receiver: str, autojump_clock: trio.testing.MockClock
) -> None:
    config_key, settings, path = RECEIVERS[receiver]
    sink = HttpSink()
    sink.script(path, ScriptedResponse(429, b"rate limited", headers=(("Retry-After", "42"),)), 200)
    integration = build(config_key, settings, sink)
    started = trio.current_time()
    with trio.move_on_after(300):
        outcome = await retry_until_done(
            lambda: send(integration, firing()), backoff=ExponentialBackoff(random.Random(1)), label="t/x[0]"
        )
    assert outcome.succeeded and outcome.attempts == 2
    assert trio.current_time() - started == pytest.approx(42.0)


async def test_retry_after_past_the_flush_deadline_gives_up_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config_key, settings, path = RECEIVERS["slack"]
    sink = HttpSink()
    sink.script(path, ScriptedResponse(429, b"", headers=(("Retry-After", "600"),)), 200)
    integration = build(config_key, settings, sink)
    started = trio.current_time()
    with trio.move_on_after(60):
        outcome = await retry_until_done(
            lambda: send(integration, firing()),
            backoff=ExponentialBackoff(random.Random(1)),
            label="t/slack[0]",
        )
    assert not outcome.succeeded and outcome.attempts == 1
    assert trio.current_time() == started
    assert outcome.message.endswith(
        'notify retry canceled after 1 attempts: channel "": unexpected status code 429'
    )


async def test_telegram_flood_wait_from_the_body(autojump_clock: trio.testing.MockClock) -> None:
    config_key, settings, path = RECEIVERS["telegram"]
    sink = HttpSink()
    flood = b'{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 9","parameters":{"retry_after":9}}'
    sink.script(path, ScriptedResponse(429, flood), ScriptedResponse(200, b'{"ok":true,"result":{}}'))
    integration = build(config_key, settings, sink)
    started = trio.current_time()
    with trio.move_on_after(60):
        outcome = await retry_until_done(
            lambda: send(integration, firing()), backoff=ExponentialBackoff(random.Random(1)), label="t/tg[0]"
        )
    assert outcome.succeeded and outcome.attempts == 2
    assert trio.current_time() - started == pytest.approx(9.0)


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)
