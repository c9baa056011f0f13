"""Webex messages API, as Alertmanager 0.25 calls it.

    POST api_url (global webex_api_url, default https://webexapis.com/v1/messages)
    {"markdown": <message>, "roomId"?: room_id}

The bot token travels in `http_config.authorization` (required by the config loader). The
message is a template cut to 7439 bytes (Webex counts bytes), without splitting a character.

Retries: 5xx only. `send_resolved` defaults to true.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from notify.context import FlushContext
from notify.model import Alert
from notify.receivers.common import (
    HttpIntegration,
    TextRenderer,
    post_json,
    settings_bool,
    settings_text,
    truncate_in_bytes,
)

logger = logging.getLogger("notify.receivers.webex")

INTEGRATION_NAME = "webex"
DEFAULT_API_URL = "https://webexapis.com/v1/messages"
# Webex rejects messages beyond this many bytes.
MAX_MESSAGE_BYTES = 7439
DEFAULT_MESSAGE = '{{ template "webex.default.message" . }}'


@dataclasses.dataclass(frozen=True, slots=True)
class WebexConfig:
    room_id: str
    api_url: str = DEFAULT_API_URL
    message: str = DEFAULT_MESSAGE
    send_resolved: bool = True
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> WebexConfig:
        room_id = settings_text(raw, "room_id")
        if not room_id:
            raise ValueError("missing room_id on webex_config")
        return cls(
            room_id=room_id,
            api_url=settings_text(raw, "api_url") or DEFAULT_API_URL,
            message=settings_text(raw, "message", DEFAULT_MESSAGE),
            send_resolved=settings_bool(raw, "send_resolved", True),
            http_config=dict(raw.get("http_config") or {}),
        )


def build_payload(config: WebexConfig, render: TextRenderer) -> dict[str, str]:
    message, truncated = truncate_in_bytes(render(config.message), MAX_MESSAGE_BYTES)
    if truncated:
        logger.debug("message truncated due to exceeding maximum allowed length by webex")
    payload = {"markdown": message}
    if config.room_id:
        payload["roomId"] = config.room_id
    return payload


class WebexIntegration(HttpIntegration[WebexConfig]):
    name = INTEGRATION_NAME

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        render = self.renderer(ctx, alerts)
        payload = build_payload(self.config, render)
        render.raise_if_failed()
        await post_json(self._client, self.config.api_url, payload)


__all__ = [
    "DEFAULT_API_URL",
    "INTEGRATION_NAME",
    "MAX_MESSAGE_BYTES",
    "WebexConfig",
    "WebexIntegration",
    "build_payload",
]
