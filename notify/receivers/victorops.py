"""VictorOps (Splunk On-Call) REST endpoint, as Alertmanager 0.25 calls it.

    POST {api_url}{api_key}/{routing_key}
    {"entity_display_name", "entity_id": sha256(group key), "message_type", "monitoring_tool",
     "state_message", ...custom_fields}

The body is a flat map of strings, so Go writes its keys sorted. `routing_key`, the message
fields and every custom field are templates; `message_type` becomes RECOVERY when the
notification is resolved, and a firing type other than INFO, WARNING or CRITICAL becomes
CRITICAL. The state message is cut to 20480 runes. The API key (inline, or the trimmed content
of api_key_file read at every send) is part of the URL, so errors never quote the URL.

Retries: 5xx only. `send_resolved` defaults to true.

Deliberate difference: Alertmanager 0.25 retries a template error in the payload fields until
the flush deadline (its payload builder returns "retry"); a template cannot start working on
the next attempt, so we fail such a notification at once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from notify.context import FlushContext
from notify.model import Alert
from notify.receivers.base import STATUS_RESOLVED, alerts_status
from notify.receivers.common import (
    HttpIntegration,
    TextRenderer,
    group_key_hash,
    inline_or_file,
    post_json,
    settings_bool,
    settings_map,
    settings_text,
    truncate_in_runes_logged,
)

logger = logging.getLogger("notify.receivers.victorops")

INTEGRATION_NAME = "victorops"
DEFAULT_API_URL = "https://alert.victorops.com/integrations/generic/20131114/alert/"
# VictorOps' limit for state_message.
MAX_STATE_MESSAGE_RUNES = 20480
EVENT_TRIGGER = "CRITICAL"
EVENT_RESOLVE = "RECOVERY"
ALLOWED_FIRING_TYPES = frozenset({"INFO", "WARNING", "CRITICAL"})
# The fields a custom field may not replace, in the order Alertmanager checks them (the
# config loader reports the first one a config uses).
RESERVED_FIELDS = (
    "routing_key",
    "message_type",
    "state_message",
    "entity_display_name",
    "monitoring_tool",
    "entity_id",
    "entity_state",
)


@dataclasses.dataclass(frozen=True, slots=True)
class VictorOpsConfig:
    api_key: str = ""
    api_key_file: str = ""
    api_url: str = DEFAULT_API_URL
    routing_key: str = ""
    message_type: str = EVENT_TRIGGER
    state_message: str = '{{ template "victorops.default.state_message" . }}'
    entity_display_name: str = '{{ template "victorops.default.entity_display_name" . }}'
    monitoring_tool: str = '{{ template "victorops.default.monitoring_tool" . }}'
    custom_fields: Mapping[str, str] = dataclasses.field(default_factory=dict)
    send_resolved: bool = True
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> VictorOpsConfig:
        routing_key = settings_text(raw, "routing_key")
        if not routing_key:
            raise ValueError("missing Routing key in VictorOps config")
        api_key, api_key_file = settings_text(raw, "api_key"), settings_text(raw, "api_key_file")
        if not api_key and not api_key_file:
            raise ValueError("no global VictorOps API Key set")
        custom_fields = settings_map(raw, "custom_fields")
        for name in custom_fields:
            if name in RESERVED_FIELDS:
                raise ValueError(
                    f"victorOps config contains custom field {name} which cannot be used as it conflicts with the fixed/static fields"
                )
        defaults = cls()
        return cls(
            api_key=api_key,
            api_key_file=api_key_file,
            api_url=settings_text(raw, "api_url") or DEFAULT_API_URL,
            routing_key=routing_key,
            message_type=settings_text(raw, "message_type") or EVENT_TRIGGER,
            state_message=settings_text(raw, "state_message", defaults.state_message),
            entity_display_name=settings_text(raw, "entity_display_name", defaults.entity_display_name),
            monitoring_tool=settings_text(raw, "monitoring_tool", defaults.monitoring_tool),
            custom_fields=custom_fields,
            send_resolved=settings_bool(raw, "send_resolved", True),
            http_config=dict(raw.get("http_config") or {}),
        )


def build_payload(
    config: VictorOpsConfig, render: TextRenderer, group_key: str, resolved: bool
) -> dict[str, str]:
    """The flat message map, keys sorted as Go writes a map."""
    message_type = render(config.message_type)
    state_message = render(config.state_message)
    if resolved:
        message_type = EVENT_RESOLVE
    elif message_type not in ALLOWED_FIRING_TYPES:
        message_type = EVENT_TRIGGER
    state_message = truncate_in_runes_logged(
        state_message, MAX_STATE_MESSAGE_RUNES, logger, "state_message", "incident", group_key
    )
    message = {
        "message_type": message_type,
        "entity_id": group_key_hash(group_key),
        "entity_display_name": render(config.entity_display_name),
        "state_message": state_message,
        "monitoring_tool": render(config.monitoring_tool),
    }
    for name, template in config.custom_fields.items():
        message[name] = render(template)
    return {name: message[name] for name in sorted(message)}


class VictorOpsIntegration(HttpIntegration[VictorOpsConfig]):
    name = INTEGRATION_NAME

    def _api_key(self) -> str:
        return inline_or_file(
            self.config.api_key, self.config.api_key_file, "failed to read API key from file"
        )

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        render = self.renderer(ctx, alerts)
        url = f"{self.config.api_url}{self._api_key()}/{render(self.config.routing_key)}"
        render.raise_if_failed("templating error")
        resolved = alerts_status(alerts, ctx.now) == STATUS_RESOLVED
        payload = build_payload(self.config, render, ctx.group_key, resolved)
        render.raise_if_failed("templating error")
        await post_json(self._client, url, payload)


__all__ = [
    "DEFAULT_API_URL",
    "INTEGRATION_NAME",
    "MAX_STATE_MESSAGE_RUNES",
    "RESERVED_FIELDS",
    "VictorOpsConfig",
    "VictorOpsIntegration",
    "build_payload",
]
