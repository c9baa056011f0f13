"""WeChat Work (企业微信) application messages, as Alertmanager 0.25 sends them.

    GET  {api_url}gettoken?corpid=<corp_id>&corpsecret=<api_secret>   -> {"access_token": ...}
    POST {api_url}message/send?access_token=<token>
         {"text": {"content"}, "touser"?, "toparty"?, "totag"?, "agentid"?, "safe": "0",
          "msgtype", "markdown": {"content"}}

The access token is cached for two hours per integration. `text` carries the message for
message_type `text` and `markdown` for `markdown`; the other one is written with an empty
content (Go's omitempty does not drop structs). Recipients and agent id are templates.

Outcome (Alertmanager's, quirks included):
- gettoken: a body that is not JSON, or has no access_token, fails without retry;
- message/send: any status but 200, or a body that is not JSON, is retried;
- the body is read as {"code", "error"}; WeChat really answers {"errcode", "errmsg"}, so
  its error codes are never seen and such sends count as successes;
- code 42001 (token expired) clears the cached token and retries; another non-zero code
  fails without retry.
`send_resolved` defaults to false. The secret and the token travel in query strings, so
errors never quote URLs.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from notify.context import FlushContext
from notify.errors import PermanentError, RetryableError
from notify.model import Alert
from notify.receivers.common import (
    HttpIntegration,
    TextRenderer,
    post_json,
    send_http,
    settings_bool,
    settings_text,
    url_with_path,
)
from notify.template import Templates

INTEGRATION_NAME = "wechat"
DEFAULT_API_URL = "https://qyapi.weixin.qq.com/cgi-bin/"
# Alertmanager refreshes the access token after this long (WeChat issues 7200s tokens).
TOKEN_LIFETIME_SECONDS = 2 * 3600.0
CODE_TOKEN_EXPIRED = 42001
STATUS_OK = 200
MESSAGE_TYPE_TEXT = "text"
MESSAGE_TYPE_MARKDOWN = "markdown"
VALID_MESSAGE_TYPES = (MESSAGE_TYPE_TEXT, MESSAGE_TYPE_MARKDOWN)


@dataclasses.dataclass(frozen=True, slots=True)
class WechatConfig:
    api_secret: str
    corp_id: str
    api_url: str = DEFAULT_API_URL
    message: str = '{{ template "wechat.default.message" . }}'
    message_type: str = MESSAGE_TYPE_TEXT
    to_user: str = '{{ template "wechat.default.to_user" . }}'
    to_party: str = '{{ template "wechat.default.to_party" . }}'
    to_tag: str = '{{ template "wechat.default.to_tag" . }}'
    agent_id: str = '{{ template "wechat.default.agent_id" . }}'
    send_resolved: bool = False
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> WechatConfig:
        api_secret, corp_id = settings_text(raw, "api_secret"), settings_text(raw, "corp_id")
        api_url = settings_text(raw, "api_url") or DEFAULT_API_URL
        if not api_secret:
            raise ValueError("no global Wechat ApiSecret set")
        if not corp_id:
            raise ValueError("no global Wechat CorpID set")
        message_type = settings_text(raw, "message_type") or MESSAGE_TYPE_TEXT
        if message_type not in VALID_MESSAGE_TYPES:
            raise ValueError(
                f'weChat message type "{message_type}" does not match valid options ^(text|markdown)$'
            )
        templated = {
            name: settings_text(raw, name, f'{{{{ template "wechat.default.{name}" . }}}}')
            for name in ("to_user", "to_party", "to_tag", "agent_id")
        }
        return cls(
            api_secret=api_secret,
            corp_id=corp_id,
            api_url=api_url,
            message=settings_text(raw, "message", '{{ template "wechat.default.message" . }}'),
            message_type=message_type,
            send_resolved=settings_bool(raw, "send_resolved", False),
            http_config=dict(raw.get("http_config") or {}),
            **templated,
        )


def build_message(config: WechatConfig, render: TextRenderer) -> dict[str, Any]:
    """The message/send body, fields in Go's struct order."""
    content = render(config.message)
    markdown = config.message_type == MESSAGE_TYPE_MARKDOWN
    message: dict[str, Any] = {"text": {"content": "" if markdown else content}}
    for key, template in (
        ("touser", config.to_user),
        ("toparty", config.to_party),
        ("totag", config.to_tag),
        ("agentid", config.agent_id),
    ):
        value = render(template)
        if value:
            message[key] = value
    message["safe"] = "0"
    if config.message_type:
        message["msgtype"] = config.message_type
    message["markdown"] = {"content": content if markdown else ""}
    return message


def token_url(config: WechatConfig, render: TextRenderer) -> str:
    query = urllib.parse.urlencode(
        sorted({"corpsecret": render(config.api_secret), "corpid": render(config.corp_id)}.items())
    )
    parts = urllib.parse.urlsplit(url_with_path(config.api_url, "gettoken"))
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class WechatIntegration(HttpIntegration[WechatConfig]):
    name = INTEGRATION_NAME

    def __init__(
        self,
        receiver_name: str,
        index: int,
        config: WechatConfig,
        client: httpx.AsyncClient,
        templates: Templates,
        external_url: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(receiver_name, index, config, client, templates, external_url)
        self._clock = clock
        self._access_token = ""
        self._token_fetched_at = 0.0

    async def _token(self, render: TextRenderer) -> str:
        if self._access_token and self._clock() - self._token_fetched_at <= TOKEN_LIFETIME_SECONDS:
            return self._access_token
        url = token_url(self.config, render)
        render.raise_if_failed("templating error")
        response = await send_http(self._client, "GET", url, content_type=None, check=False)
        try:
            answer = json.loads(response.content)
        except ValueError as exc:
            raise PermanentError(f"decode gettoken answer: {exc}") from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token or not isinstance(token, str):
            raise PermanentError(f"invalid APISecret for CorpID: {self.config.corp_id}")
        self._access_token = token
        self._token_fetched_at = self._clock()
        return token

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        render = self.renderer(ctx, alerts)
        token = await self._token(render)
        message = build_message(self.config, render)
        render.raise_if_failed("templating error")
        url = url_with_path(self.config.api_url, "message/send", {"access_token": token})
        response = await post_json(self._client, url, message, check=False)
        if response.status_code != STATUS_OK:
            raise RetryableError(f"unexpected status code {response.status_code}")
        try:
            answer = json.loads(response.content)
        except ValueError as exc:
            raise RetryableError(f"decode message/send answer: {exc}") from None
        code = answer.get("code", 0) if isinstance(answer, dict) else 0
        error = str(answer.get("error", "")) if isinstance(answer, dict) else ""
        if code == 0:
            return
        if code == CODE_TOKEN_EXPIRED:
            self._access_token = ""
            raise RetryableError(error)
        raise PermanentError(error)


__all__ = [
    "DEFAULT_API_URL",
    "INTEGRATION_NAME",
    "TOKEN_LIFETIME_SECONDS",
    "WechatConfig",
    "WechatIntegration",
    "build_message",
    "token_url",
]
