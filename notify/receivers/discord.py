"""Discord webhooks, as Alertmanager 0.25 calls them.

    POST webhook_url
    {"content": "", "embeds": [{"title", "description", "color"}]}

Title and description are templates (no length limit in 0.25). The embed is red (0x992D22)
while anything fires and green (0x2ECC71) once everything is resolved. The webhook URL holds
the webhook's token, so errors never quote it.

Retries: 5xx only. `send_resolved` defaults to true.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from notify.context import FlushContext
from notify.model import Alert
from notify.receivers.base import STATUS_FIRING, alerts_status
from notify.receivers.common import HttpIntegration, TextRenderer, post_json, settings_bool, settings_text

INTEGRATION_NAME = "discord"
COLOR_FIRING = 0x992D22
COLOR_RESOLVED = 0x2ECC71
DEFAULT_TITLE = '{{ template "discord.default.title" . }}'
DEFAULT_MESSAGE = '{{ template "discord.default.message" . }}'


@dataclasses.dataclass(frozen=True, slots=True)
class DiscordConfig:
    webhook_url: str
    title: str = DEFAULT_TITLE
    message: str = DEFAULT_MESSAGE
    send_resolved: bool = True
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> DiscordConfig:
        webhook_url = settings_text(raw, "webhook_url")
        if not webhook_url:
            raise ValueError("no discord webhook URL provided")
        return cls(
            webhook_url=webhook_url,
            title=settings_text(raw, "title", DEFAULT_TITLE),
            message=settings_text(raw, "message", DEFAULT_MESSAGE),
            send_resolved=settings_bool(raw, "send_resolved", True),
            http_config=dict(raw.get("http_config") or {}),
        )


def build_payload(config: DiscordConfig, render: TextRenderer, firing: bool) -> dict[str, Any]:
    embed = {
        "title": render(config.title),
        "description": render(config.message),
        "color": COLOR_FIRING if firing else COLOR_RESOLVED,
    }
    return {"content": "", "embeds": [embed]}


class DiscordIntegration(HttpIntegration[DiscordConfig]):
    name = INTEGRATION_NAME

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        render = self.renderer(ctx, alerts)
        firing = alerts_status(alerts, ctx.now) == STATUS_FIRING
        payload = build_payload(self.config, render, firing)
        render.raise_if_failed()
        await post_json(self._client, self.config.webhook_url, payload)


__all__ = [
    "COLOR_FIRING",
    "COLOR_RESOLVED",
    "INTEGRATION_NAME",
    "DiscordConfig",
    "DiscordIntegration",
    "build_payload",
]
