"""OpsGenie Alert API v2, as Alertmanager 0.25 calls it.

    firing:   POST {api_url}v2/alerts
              {"alias": sha256(group key), "message", "description"?, "details", "source",
               "responders"?, "tags"?, "note"?, "priority"?, "entity"?, "actions"?}
              with update_alerts also
              PUT {api_url}v2/alerts/{alias}/message?identifierType=alias      {"message"?}
              PUT {api_url}v2/alerts/{alias}/description?identifierType=alias  {"description"?}
    resolved: POST {api_url}v2/alerts/{alias}/close?identifierType=alias       {"source"}

Every request carries `Authorization: GenieKey <api_key>` (the key is a template; from
`api_key_file` it is used untrimmed, as Alertmanager does). `details` start from the common
labels and the configured (templated) details override them. `tags` and `actions` are comma
lists (empty items dropped). Responders: each field is a template; an all-empty responder is
skipped; type `teams` expands its comma-separated names into one `team` responder each. The
message is cut to 130 runes. Requests are sent in order; the first failure stops the rest.

Retries: 5xx and 429. `send_resolved` defaults to true.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from notify.context import FlushContext
from notify.errors import PermanentError
from notify.model import Alert
from notify.receivers.base import STATUS_RESOLVED, alerts_status, go_json, sorted_map
from notify.receivers.common import (
    HttpIntegration,
    TextRenderer,
    group_key_hash,
    send_http,
    settings_bool,
    settings_list,
    settings_map,
    settings_text,
    truncate_in_runes_logged,
    url_with_path,
)

logger = logging.getLogger("notify.receivers.opsgenie")

INTEGRATION_NAME = "opsgenie"
DEFAULT_API_URL = "https://api.opsgenie.com/"
# OpsGenie's documented limit for an alert message.
MAX_MESSAGE_RUNES = 130
STATUS_TOO_MANY_REQUESTS = 429
RETRY_CODES = (STATUS_TOO_MANY_REQUESTS,)
TEAMS_RESPONDER_TYPE = "teams"
TEAM_RESPONDER_TYPE = "team"
ALIAS_QUERY = {"identifierType": "alias"}


@dataclasses.dataclass(frozen=True, slots=True)
class OpsgenieResponder:
    id: str = ""
    name: str = ""
    username: str = ""
    type: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class OpsgenieConfig:
    api_key: str = ""
    api_key_file: str = ""
    api_url: str = DEFAULT_API_URL
    message: str = '{{ template "opsgenie.default.message" . }}'
    description: str = '{{ template "opsgenie.default.description" . }}'
    source: str = '{{ template "opsgenie.default.source" . }}'
    details: Mapping[str, str] = dataclasses.field(default_factory=dict)
    entity: str = ""
    responders: tuple[OpsgenieResponder, ...] = ()
    actions: str = ""
    tags: str = ""
    note: str = ""
    priority: str = ""
    update_alerts: bool = False
    send_resolved: bool = True
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> OpsgenieConfig:
        api_key = settings_text(raw, "api_key")
        api_key_file = settings_text(raw, "api_key_file")
        if not api_key and not api_key_file:
            raise ValueError("no global OpsGenie API Key set either inline or in a file")
        defaults = cls()
        api_url = settings_text(raw, "api_url") or DEFAULT_API_URL
        if not api_url.endswith("/"):
            # Alertmanager appends the slash when it loads the config.
            api_url += "/"
        return cls(
            api_key=api_key,
            api_key_file=api_key_file,
            api_url=api_url,
            message=settings_text(raw, "message", defaults.message),
            description=settings_text(raw, "description", defaults.description),
            source=settings_text(raw, "source", defaults.source),
            details=settings_map(raw, "details"),
            entity=settings_text(raw, "entity"),
            responders=tuple(
                OpsgenieResponder(
                    **{name: settings_text(item, name) for name in ("id", "name", "username", "type")}
                )
                for item in settings_list(raw, "responders")
            ),
            actions=settings_text(raw, "actions"),
            tags=settings_text(raw, "tags"),
            note=settings_text(raw, "note"),
            priority=settings_text(raw, "priority"),
            update_alerts=settings_bool(raw, "update_alerts", False),
            send_resolved=settings_bool(raw, "send_resolved", True),
            http_config=dict(raw.get("http_config") or {}),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class OpsgenieRequest:
    method: str
    url: str
    body: bytes


def safe_split(text: str, separator: str) -> list[str]:
    """Split after trimming the whole text, dropping empty items (items are not trimmed)."""
    return [item for item in text.strip().split(separator) if item]


def _omit_empty(mapping: Mapping[str, Any], keep: Sequence[str] = ()) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key in keep or value not in ("", None, [])}


def render_responders(config: OpsgenieConfig, render: TextRenderer) -> list[dict[str, str]]:
    responders: list[dict[str, str]] = []
    for responder in config.responders:
        rendered = {
            "id": render(responder.id),
            "name": render(responder.name),
            "username": render(responder.username),
            "type": render(responder.type),
        }
        if not any(rendered.values()):
            continue  # lets a responder be filled from labels that may be absent
        if rendered["type"] == TEAMS_RESPONDER_TYPE:
            responders.extend(
                {"name": render(team), "type": render(TEAM_RESPONDER_TYPE)}
                for team in safe_split(rendered["name"], ",")
            )
            continue
        responders.append(_omit_empty(rendered, keep=("type",)))
    return responders


def build_requests(
    config: OpsgenieConfig,
    render: TextRenderer,
    group_key: str,
    resolved: bool,
    common_labels: Mapping[str, str],
) -> list[OpsgenieRequest]:
    """The requests of one notification, in the order they are sent."""
    alias = group_key_hash(group_key)
    details = dict(common_labels)
    for name, template in config.details.items():
        details[name] = render(template)
    if resolved:
        close = {"source": render(config.source)}
        return [
            OpsgenieRequest(
                "POST",
                url_with_path(config.api_url, f"v2/alerts/{alias}/close", ALIAS_QUERY),
                go_json(close, trailing_newline=True),
            )
        ]
    message = truncate_in_runes_logged(
        render(config.message), MAX_MESSAGE_RUNES, logger, "message", "alert", group_key
    )
    create = _omit_empty(
        {
            "alias": alias,
            "message": message,
            "description": render(config.description),
            "details": sorted_map(details),
            "source": render(config.source),
            "responders": render_responders(config, render),
            "tags": safe_split(render(config.tags), ","),
            "note": render(config.note),
            "priority": render(config.priority),
            "entity": render(config.entity),
            "actions": safe_split(render(config.actions), ","),
        },
        keep=("alias", "message", "details", "source"),
    )
    requests = [
        OpsgenieRequest(
            "POST", url_with_path(config.api_url, "v2/alerts"), go_json(create, trailing_newline=True)
        )
    ]
    if config.update_alerts:
        requests.append(
            OpsgenieRequest(
                "PUT",
                url_with_path(config.api_url, f"v2/alerts/{alias}/message", ALIAS_QUERY),
                go_json(_omit_empty({"message": create["message"]}), trailing_newline=True),
            )
        )
        requests.append(
            OpsgenieRequest(
                "PUT",
                url_with_path(config.api_url, f"v2/alerts/{alias}/description", ALIAS_QUERY),
                go_json(_omit_empty({"description": create.get("description", "")}), trailing_newline=True),
            )
        )
    return requests


class OpsgenieIntegration(HttpIntegration[OpsgenieConfig]):
    name = INTEGRATION_NAME

    def _api_key(self, render: TextRenderer) -> str:
        if self.config.api_key:
            return render(self.config.api_key)
        try:
            with open(self.config.api_key_file, encoding="utf-8") as handle:
                return render(handle.read())
        except OSError as exc:
            raise PermanentError(f"read key_file error: {exc}") from None

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        data = self.template_data(ctx, alerts)
        render = TextRenderer(self._templates, data)
        resolved = alerts_status(alerts, ctx.now) == STATUS_RESOLVED
        requests = build_requests(self.config, render, ctx.group_key, resolved, data.field_CommonLabels)
        api_key = self._api_key(render)
        render.raise_if_failed("templating error")
        headers = {"Authorization": f"GenieKey {api_key}"}
        for request in requests:
            await send_http(
                self._client,
                request.method,
                request.url,
                content=request.body,
                headers=headers,
                extra_retry_codes=RETRY_CODES,
            )


__all__ = [
    "DEFAULT_API_URL",
    "INTEGRATION_NAME",
    "MAX_MESSAGE_RUNES",
    "OpsgenieConfig",
    "OpsgenieIntegration",
    "OpsgenieRequest",
    "OpsgenieResponder",
    "build_requests",
    "safe_split",
]
