"""WeChat's token handling and its answer quirks (Alertmanager 0.25's behaviour)."""

from __future__ import annotations

import pytest

from notify.errors import PermanentError, RetryableError
from notify.httpclient import build_client
from notify.receivers.wechat import TOKEN_LIFETIME_SECONDS, WechatConfig, WechatIntegration
from tests.helpers.http_sink import HttpSink, ScriptedResponse
from tests.unit.receivers.helpers import EXTERNAL_URL, default_templates, firing, send

TOKEN = ScriptedResponse(200, b'{"access_token":"tok-1"}')
SENT = ScriptedResponse(200, b"{}")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wechat(sink: HttpSink, clock: FakeClock) -> WechatIntegration:
    config = WechatConfig.from_mapping(
        {"api_secret": "sec", "corp_id": "corp", "api_url": "http://sink/cgi-bin/"}
    )
    return WechatIntegration(
        "team",
        0,
        config,
        build_client(transport=sink.transport()),
        default_templates(),
        EXTERNAL_URL,
        clock=clock,
    )


async def test_token_is_cached_for_two_hours() -> None:
    sink, clock = HttpSink(default=SENT), FakeClock()
    sink.script("/cgi-bin/gettoken", TOKEN, TOKEN)
    integration = _wechat(sink, clock)
    await send(integration, firing())
    clock.now += TOKEN_LIFETIME_SECONDS
    await send(integration, firing())
    assert len(sink.requests("/cgi-bin/gettoken")) == 1
    clock.now += 1
    await send(integration, firing())
    assert len(sink.requests("/cgi-bin/gettoken")) == 2
    assert [r.query for r in sink.requests("/cgi-bin/message/send")] == ["access_token=tok-1"] * 3


async def test_expired_token_code_clears_the_cache_and_retries() -> None:
    sink, clock = HttpSink(default=SENT), FakeClock()
    sink.script("/cgi-bin/gettoken", TOKEN, ScriptedResponse(200, b'{"access_token":"tok-2"}'))
    sink.script("/cgi-bin/message/send", ScriptedResponse(200, b'{"code":42001,"error":"token expired"}'))
    integration = _wechat(sink, clock)
    with pytest.raises(RetryableError, match=r"^token expired$"):
        await send(integration, firing())
    await send(integration, firing())
    assert sink.requests("/cgi-bin/message/send")[-1].query == "access_token=tok-2"


async def test_answer_quirks() -> None:
    sink, clock = HttpSink(), FakeClock()
    sink.script("/cgi-bin/gettoken", TOKEN)
    sink.script(
        "/cgi-bin/message/send",
        # WeChat's real error shape is never seen: counts as success.
        ScriptedResponse(200, b'{"errcode":40014,"errmsg":"invalid access_token"}'),
        ScriptedResponse(500, b"{}"),
        ScriptedResponse(200, b"not json"),
        ScriptedResponse(200, b'{"code":1,"error":"bad agent"}'),
    )
    integration = _wechat(sink, clock)
    await send(integration, firing())
    with pytest.raises(RetryableError, match=r"^unexpected status code 500$"):
        await send(integration, firing())
    with pytest.raises(RetryableError):
        await send(integration, firing())
    with pytest.raises(PermanentError, match=r"^bad agent$"):
        await send(integration, firing())


async def test_a_token_answer_without_token_fails_permanently_without_quoting_the_secret() -> None:
    sink, clock = HttpSink(), FakeClock()
    sink.script("/cgi-bin/gettoken", ScriptedResponse(200, b'{"errcode":40001}'))
    with pytest.raises(PermanentError) as caught:
        await send(_wechat(sink, clock), firing())
    assert str(caught.value) == "invalid APISecret for CorpID: corp"
    assert sink.requests("/cgi-bin/gettoken")[0].query == "corpid=corp&corpsecret=sec"
