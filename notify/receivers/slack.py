"""Slack (incoming webhooks and chat.postMessage-compatible URLs), as Alertmanager 0.25 sends it.

    POST api_url (or the trimmed content of api_url_file, read at every send)
    {"channel"?, "username"?, "icon_emoji"?, "icon_url"?, "link_names"?,
     "attachments": [{"title"?, "title_link"?, "pretext"?, "text", "fallback", "callback_id",
                      "fields"?, "actions"?, "image_url"?, "thumb_url"?, "footer", "color"?,
                      "mrkdwn_in"?}]}

`?` marks Go's `omitempty`: the key is left out when the rendered value is empty. Every text
field is a template. The title is cut to 1024 runes. `mrkdwn_in` defaults to
["fallback", "pretext", "text"] when the config leaves it empty. A field's `short` falls back
to `short_fields`.

Retries: 5xx only (Slack answers 4xx for bad payloads and does not change its mind); the
`ok: false` body of a 200 is not inspected. Errors name the channel: `channel "#ops": ...`.
`send_resolved` defaults to false.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from notify.context import FlushContext
from notify.errors import NotifyError
from notify.model import Alert
from notify.receivers.base import go_json_string
from notify.receivers.common import (
    HttpIntegration,
    TextRenderer,
    inline_or_file,
    post_json,
    settings_bool,
    settings_list,
    settings_text,
    truncate_in_runes_logged,
)

logger = logging.getLogger("notify.receivers.slack")

INTEGRATION_NAME = "slack"
# Slack truncates attachment titles itself beyond this; Alertmanager cuts first and warns.
MAX_TITLE_RUNES = 1024
DEFAULT_MRKDWN_IN = ("fallback", "pretext", "text")


@dataclasses.dataclass(frozen=True, slots=True)
class SlackField:
    title: str
    value: str
    short: bool | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SlackConfirm:
    text: str = ""
    title: str = ""
    ok_text: str = ""
    dismiss_text: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class SlackAction:
    type: str = ""
    text: str = ""
    url: str = ""
    style: str = ""
    name: str = ""
    value: str = ""
    confirm: SlackConfirm | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SlackConfig:
    api_url: str = ""
    api_url_file: str = ""
    channel: str = ""
    username: str = '{{ template "slack.default.username" . }}'
    color: str = '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}'
    title: str = '{{ template "slack.default.title" . }}'
    title_link: str = '{{ template "slack.default.titlelink" . }}'
    pretext: str = '{{ template "slack.default.pretext" . }}'
    text: str = '{{ template "slack.default.text" . }}'
    fallback: str = '{{ template "slack.default.fallback" . }}'
    callback_id: str = '{{ template "slack.default.callbackid" . }}'
    footer: str = '{{ template "slack.default.footer" . }}'
    icon_emoji: str = '{{ template "slack.default.iconemoji" . }}'
    icon_url: str = '{{ template "slack.default.iconurl" . }}'
    image_url: str = ""
    thumb_url: str = ""
    fields: tuple[SlackField, ...] = ()
    short_fields: bool = False
    link_names: bool = False
    mrkdwn_in: tuple[str, ...] = ()
    actions: tuple[SlackAction, ...] = ()
    send_resolved: bool = False
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> SlackConfig:
        """From the loader's settings (YAML names; globals and defaults already filled in)."""
        api_url = settings_text(raw, "api_url")
        api_url_file = settings_text(raw, "api_url_file")
        if not api_url and not api_url_file:
            raise ValueError("no global Slack API URL set either inline or in a file")
        defaults = cls(api_url="-")
        text_fields = {
            name: settings_text(raw, name, getattr(defaults, name))
            for name in (
                "channel", "username", "color", "title", "title_link", "pretext", "text", "fallback",
                "callback_id", "footer", "icon_emoji", "icon_url", "image_url", "thumb_url",
            )
        }  # fmt: skip
        fields = tuple(
            SlackField(
                title=settings_text(field, "title"),
                value=settings_text(field, "value"),
                short=None if field.get("short") is None else bool(field["short"]),
            )
            for field in settings_list(raw, "fields")
        )
        actions = []
        for action in settings_list(raw, "actions"):
            confirm = action.get("confirm")
            actions.append(
                SlackAction(
                    **{
                        name: settings_text(action, name)
                        for name in ("type", "text", "url", "style", "name", "value")
                    },
                    confirm=None
                    if confirm is None
                    else SlackConfirm(
                        **{
                            name: settings_text(confirm, name)
                            for name in ("text", "title", "ok_text", "dismiss_text")
                        }
                    ),
                )
            )
        return cls(
            api_url=api_url,
            api_url_file=api_url_file,
            fields=fields,
            short_fields=settings_bool(raw, "short_fields", False),
            link_names=settings_bool(raw, "link_names", False),
            mrkdwn_in=tuple(str(item) for item in raw.get("mrkdwn_in") or ()),
            actions=tuple(actions),
            send_resolved=settings_bool(raw, "send_resolved", False),
            http_config=dict(raw.get("http_config") or {}),
            **text_fields,
        )


def _omit_empty(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value not in ("", None, False, [], {})}


def build_payload(config: SlackConfig, render: TextRenderer, group_key: str = "") -> dict[str, Any]:
    """The request body (as an ordered dict for `go_json`); template errors stay in `render`."""
    title = truncate_in_runes_logged(render(config.title), MAX_TITLE_RUNES, logger, "title", "key", group_key)
    fields = [
        _omit_empty({"title": render(field.title), "value": render(field.value)})
        | {"short": config.short_fields if field.short is None else field.short}
        for field in config.fields
    ]
    actions = []
    for action in config.actions:
        rendered = _omit_empty(
            {
                "type": render(action.type),
                "text": render(action.text),
                "url": render(action.url),
                "style": render(action.style),
                "name": render(action.name),
                "value": render(action.value),
            }
        )
        if action.confirm is not None:
            rendered["confirm"] = _omit_empty(
                {
                    "text": render(action.confirm.text),
                    "title": render(action.confirm.title),
                    "ok_text": render(action.confirm.ok_text),
                    "dismiss_text": render(action.confirm.dismiss_text),
                }
            )
        actions.append(rendered)
    attachment: dict[str, Any] = {
        "title": title,
        "title_link": render(config.title_link),
        "pretext": render(config.pretext),
        "text": render(config.text),
        "fallback": render(config.fallback),
        "callback_id": render(config.callback_id),
        "fields": fields,
        "actions": actions,
        "image_url": render(config.image_url),
        "thumb_url": render(config.thumb_url),
        "footer": render(config.footer),
        "color": render(config.color),
        "mrkdwn_in": list(config.mrkdwn_in or DEFAULT_MRKDWN_IN),
    }
    always = {"text", "fallback", "callback_id", "footer"}
    attachment = {key: value for key, value in attachment.items() if key in always or value}
    request: dict[str, Any] = _omit_empty(
        {
            "channel": render(config.channel),
            "username": render(config.username),
            "icon_emoji": render(config.icon_emoji),
            "icon_url": render(config.icon_url),
            "link_names": config.link_names,
        }
    )
    request["attachments"] = [attachment]
    return request


class SlackIntegration(HttpIntegration[SlackConfig]):
    name = INTEGRATION_NAME

    def _target_url(self) -> str:
        return inline_or_file(self.config.api_url, self.config.api_url_file, "read api_url_file")

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        render = self.renderer(ctx, alerts)
        payload = build_payload(self.config, render, ctx.group_key)
        render.raise_if_failed()
        try:
            await post_json(self._client, self._target_url(), payload)
        except NotifyError as error:
            # Alertmanager wraps status errors with the channel; transport errors stay bare.
            if str(error).startswith("unexpected status code"):
                error.args = (f"channel {go_json_string(payload.get('channel', ''))}: {error}",)
            raise


__all__ = [
    "DEFAULT_MRKDWN_IN",
    "INTEGRATION_NAME",
    "MAX_TITLE_RUNES",
    "SlackAction",
    "SlackConfig",
    "SlackConfirm",
    "SlackField",
    "SlackIntegration",
    "build_payload",
]
