"""Telegram Bot API sendMessage, as Alertmanager 0.25 calls it (through the telebot library).

    POST {api_url}/bot{bot_token}/sendMessage
    {"chat_id": "<id>", "disable_notification"?: "true", "disable_web_page_preview": "true",
     "parse_mode"?: <mode>, "text": <message>}

telebot sends a map of strings, so the keys come sorted and every value is a string. The
message is a template, rendered with HTML escaping when parse_mode is HTML, and cut to 4096
runes. The bot token is part of the URL, so errors never quote it. telebot sets no User-Agent
of its own: Go's default goes out.

A send succeeds when Telegram answers a JSON object with `"ok": true`. Every failure is
retried (Alertmanager's Telegram notifier retries all errors), including Telegram's own
refusals; a 429's `parameters.retry_after` (or a Retry-After header) sets the next attempt's
delay. `send_resolved` defaults to true.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from notify.context import FlushContext
from notify.errors import RETRY_AFTER_HEADER, RetryableError, parse_retry_after, status_error_text
from notify.model import Alert
from notify.receivers.common import (
    HttpIntegration,
    TextRenderer,
    post_json,
    settings_bool,
    settings_text,
    truncate_in_runes_logged,
)

logger = logging.getLogger("notify.receivers.telegram")

INTEGRATION_NAME = "telegram"
DEFAULT_API_URL = "https://api.telegram.org"
# Telegram's limit for a message text.
MAX_MESSAGE_RUNES = 4096
PARSE_MODE_HTML = "HTML"
VALID_PARSE_MODES = ("", "HTML", "Markdown", "MarkdownV2")
# What Go's net/http sends when the caller sets no User-Agent (telebot does not).
GO_DEFAULT_USER_AGENT = "Go-http-client/1.1"


@dataclasses.dataclass(frozen=True, slots=True)
class TelegramConfig:
    bot_token: str
    chat_id: int
    api_url: str = DEFAULT_API_URL
    message: str = '{{ template "telegram.default.message" . }}'
    disable_notifications: bool = False
    parse_mode: str = PARSE_MODE_HTML
    send_resolved: bool = True
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> TelegramConfig:
        bot_token = settings_text(raw, "bot_token")
        if not bot_token:
            raise ValueError("missing bot_token on telegram_config")
        chat_id = raw.get("chat_id")
        if not chat_id:
            raise ValueError("missing chat_id on telegram_config")
        parse_mode = settings_text(raw, "parse_mode", PARSE_MODE_HTML)
        if parse_mode not in VALID_PARSE_MODES:
            raise ValueError(
                "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string"
            )
        return cls(
            bot_token=bot_token,
            chat_id=int(chat_id),
            api_url=settings_text(raw, "api_url") or DEFAULT_API_URL,
            message=settings_text(raw, "message", '{{ template "telegram.default.message" . }}'),
            disable_notifications=settings_bool(raw, "disable_notifications", False),
            parse_mode=parse_mode,
            send_resolved=settings_bool(raw, "send_resolved", True),
            http_config=dict(raw.get("http_config") or {}),
        )


def build_payload(config: TelegramConfig, render: TextRenderer, group_key: str = "") -> dict[str, str]:
    """The sendMessage parameters, keys sorted as Go writes a map."""
    text = truncate_in_runes_logged(
        render(config.message), MAX_MESSAGE_RUNES, logger, "message", "alert", group_key
    )
    params = {
        "chat_id": str(config.chat_id),
        "text": text,
        "disable_web_page_preview": "true",
    }
    if config.parse_mode:
        params["parse_mode"] = config.parse_mode
    if config.disable_notifications:
        params["disable_notification"] = "true"
    return {name: params[name] for name in sorted(params)}


def check_answer(response: httpx.Response) -> None:
    """Raise a RetryableError unless Telegram answered `{"ok": true, ...}`."""
    try:
        answer = json.loads(response.content)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and answer.get("ok") is True:
        return
    description = ""
    retry_after = parse_retry_after(response.headers.get(RETRY_AFTER_HEADER))
    if isinstance(answer, dict):
        description = str(answer.get("description") or "")
        parameters = answer.get("parameters")
        if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
            retry_after = float(parameters["retry_after"])
    if not description:
        description = status_error_text(response.status_code, response.text)
    raise RetryableError(f"telegram: {description} ({response.status_code})", retry_after=retry_after)


class TelegramIntegration(HttpIntegration[TelegramConfig]):
    name = INTEGRATION_NAME

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        render = self.renderer(ctx, alerts)
        if self.config.parse_mode == PARSE_MODE_HTML:
            render = render.html()
        payload = build_payload(self.config, render, ctx.group_key)
        # Alertmanager loses a template error here and sends an empty text (which Telegram
        # refuses, so it retries until the deadline); we fail at once with the error instead.
        render.raise_if_failed()
        url = f"{self.config.api_url}/bot{self.config.bot_token}/sendMessage"
        response = await post_json(
            self._client, url, payload, headers={"User-Agent": GO_DEFAULT_USER_AGENT}, check=False
        )
        check_answer(response)


__all__ = [
    "DEFAULT_API_URL",
    "INTEGRATION_NAME",
    "MAX_MESSAGE_RUNES",
    "TelegramConfig",
    "TelegramIntegration",
    "build_payload",
    "check_answer",
]
