"""Pushover messages API, as Alertmanager 0.25 calls it.

    POST https://api.pushover.net/1/messages.json?expire=..&html=1?&message=..&priority=..
         &retry=..&sound=..&title=..&token=..&url=..&url_title=..&user=..
    (Content-Type: text/plain, empty body)

Every parameter travels in the query string (sorted by name, as Go's url.Values.Encode
writes them), including the token and user key, so errors never quote the URL. All text
parameters are templates; with `html: true` the message renders with HTML escaping and
`html=1` is added. Limits: title 250 runes, message 1024 runes (then trimmed; an empty message
becomes "(no details)", which Pushover requires), url 512 runes. `retry` and `expire` are
whole seconds.

Retries: 5xx only. `send_resolved` defaults to true.
"""

from __future__ import annotations

import dataclasses
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from notify.context import FlushContext
from notify.model import Alert
from notify.receivers.common import (
    HttpIntegration,
    TextRenderer,
    send_http,
    settings_bool,
    settings_text,
    truncate_in_runes_logged,
)
from notify.template import Templates

logger = logging.getLogger("notify.receivers.pushover")

INTEGRATION_NAME = "pushover"
API_URL = "https://api.pushover.net/1/messages.json"
# Pushover's documented limits (https://pushover.net/api#limits).
MAX_TITLE_RUNES = 250
MAX_MESSAGE_RUNES = 1024
MAX_URL_RUNES = 512
EMPTY_MESSAGE = "(no details)"
DEFAULT_RETRY_SECONDS = 60.0
DEFAULT_EXPIRE_SECONDS = 3600.0


@dataclasses.dataclass(frozen=True, slots=True)
class PushoverConfig:
    user_key: str
    token: str
    title: str = '{{ template "pushover.default.title" . }}'
    message: str = '{{ template "pushover.default.message" . }}'
    url: str = '{{ template "pushover.default.url" . }}'
    url_title: str = ""
    sound: str = ""
    priority: str = '{{ if eq .Status "firing" }}2{{ else }}0{{ end }}'
    retry_seconds: float = DEFAULT_RETRY_SECONDS
    expire_seconds: float = DEFAULT_EXPIRE_SECONDS
    html: bool = False
    send_resolved: bool = True
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> PushoverConfig:
        user_key, token = settings_text(raw, "user_key"), settings_text(raw, "token")
        if not user_key:
            raise ValueError("missing user key in Pushover config")
        if not token:
            raise ValueError("missing token in Pushover config")
        return cls(
            user_key=user_key,
            token=token,
            title=settings_text(raw, "title", '{{ template "pushover.default.title" . }}'),
            message=settings_text(raw, "message", '{{ template "pushover.default.message" . }}'),
            url=settings_text(raw, "url", '{{ template "pushover.default.url" . }}'),
            url_title=settings_text(raw, "url_title"),
            sound=settings_text(raw, "sound"),
            priority=settings_text(raw, "priority", '{{ if eq .Status "firing" }}2{{ else }}0{{ end }}'),
            retry_seconds=float(raw.get("retry") or DEFAULT_RETRY_SECONDS),
            expire_seconds=float(raw.get("expire") or DEFAULT_EXPIRE_SECONDS),
            html=settings_bool(raw, "html", False),
            send_resolved=settings_bool(raw, "send_resolved", True),
            http_config=dict(raw.get("http_config") or {}),
        )


def build_parameters(
    config: PushoverConfig, render: TextRenderer, group_key: str = ""
) -> list[tuple[str, str]]:
    """The query parameters, sorted by name (stable for equal names, as Go's Encode)."""
    title = truncate_in_runes_logged(
        render(config.title), MAX_TITLE_RUNES, logger, "title", "incident", group_key
    )
    params = [("token", render(config.token)), ("user", render(config.user_key)), ("title", title)]
    if config.html:
        params.append(("html", "1"))
        message = render.html()(config.message)
    else:
        message = render(config.message)
    message = truncate_in_runes_logged(message, MAX_MESSAGE_RUNES, logger, "message", "incident", group_key)
    message = message.strip() or EMPTY_MESSAGE
    params.append(("message", message))
    url = truncate_in_runes_logged(render(config.url), MAX_URL_RUNES, logger, "URL", "incident", group_key)
    params += [
        ("url", url),
        ("url_title", render(config.url_title)),
        ("priority", render(config.priority)),
        ("retry", str(int(config.retry_seconds))),
        ("expire", str(int(config.expire_seconds))),
        ("sound", render(config.sound)),
    ]
    return sorted(params, key=lambda item: item[0])


class PushoverIntegration(HttpIntegration[PushoverConfig]):
    name = INTEGRATION_NAME

    def __init__(
        self,
        receiver_name: str,
        index: int,
        config: PushoverConfig,
        client: httpx.AsyncClient,
        templates: Templates,
        external_url: str,
        *,
        api_url: str = API_URL,
    ) -> None:
        super().__init__(receiver_name, index, config, client, templates, external_url)
        # Fixed in Alertmanager 0.25; a parameter only so tests can point it at a sink.
        self._api_url = api_url

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        render = self.renderer(ctx, alerts)
        params = build_parameters(self.config, render, ctx.group_key)
        render.raise_if_failed()
        url = f"{self._api_url}?{urllib.parse.urlencode(params)}"
        await send_http(self._client, "POST", url, content=b"", content_type="text/plain")


__all__ = [
    "API_URL",
    "INTEGRATION_NAME",
    "MAX_MESSAGE_RUNES",
    "MAX_TITLE_RUNES",
    "MAX_URL_RUNES",
    "PushoverConfig",
    "PushoverIntegration",
    "build_parameters",
]
