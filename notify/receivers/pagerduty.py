"""PagerDuty Events API v2 (`routing_key`) and v1 (`service_key`), as Alertmanager 0.25 sends them.

    v2: POST url (global pagerduty_url, default https://events.pagerduty.com/v2/enqueue)
        {"routing_key", "dedup_key": sha256(group key), "event_action": trigger|resolve,
         "payload": {"summary", "source", "severity", "class"?, "component"?, "group"?,
                     "custom_details"?},
         "client"?, "client_url"?, "images"?, "links"?}
    v1: POST https://events.pagerduty.com/generic/2010-04-15/create_event.json (fixed)
        {"service_key", "incident_key": sha256(group key), "event_type": trigger|resolve,
         "description", "event_action": "", "payload": null, "client"?, "client_url"?
         (trigger only), "details"?}

`?` marks Go's omitempty. `details` are templates rendered into `custom_details` (v2) or
`details` (v1); an encoded event over 512000 bytes has them replaced by one `error` entry.
Summary (v2) and description (v1) are cut to 1024 runes. The routing/service key is itself
templated and may come from a file (trimmed, read at every send). Images without `src` and
links without `href` are dropped. An empty severity means `error`.

Retries: 5xx, plus 429 for v2 and 403 for v1 (PagerDuty's rate-limit answers). A 400's error
text is PagerDuty's `message: errors,...` instead of the raw body. `send_resolved` defaults
to true.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from notify.context import FlushContext
from notify.errors import NotifyError, PermanentError, check_status
from notify.model import Alert
from notify.receivers.base import STATUS_RESOLVED, alerts_status, go_json
from notify.receivers.common import (
    HttpIntegration,
    TextRenderer,
    group_key_hash,
    inline_or_file,
    send_http,
    settings_bool,
    settings_list,
    settings_map,
    settings_text,
    truncate_in_runes_logged,
)
from notify.template import Templates

logger = logging.getLogger("notify.receivers.pagerduty")

INTEGRATION_NAME = "pagerduty"
EVENTS_V1_URL = "https://events.pagerduty.com/generic/2010-04-15/create_event.json"
DEFAULT_EVENTS_V2_URL = "https://events.pagerduty.com/v2/enqueue"
# PagerDuty's documented limits: summary/description 1024 characters, event 512 KB.
MAX_SUMMARY_RUNES = 1024
MAX_EVENT_BYTES = 512000
# units.MetricBytes(512000).String() in Alertmanager's message.
MAX_EVENT_SIZE_TEXT = "512KB"
DETAILS_REMOVED_MESSAGE = f"Custom details have been removed because the original event exceeds the maximum size of {MAX_EVENT_SIZE_TEXT}"
STATUS_BAD_REQUEST = 400
STATUS_FORBIDDEN = 403
STATUS_TOO_MANY_REQUESTS = 429
V1_RETRY_CODES = (STATUS_FORBIDDEN,)
V2_RETRY_CODES = (STATUS_TOO_MANY_REQUESTS,)
EVENT_TRIGGER = "trigger"
EVENT_RESOLVE = "resolve"
DEFAULT_SEVERITY = "error"
DEFAULT_DETAILS = {
    "firing": '{{ template "pagerduty.default.instances" .Alerts.Firing }}',
    "resolved": '{{ template "pagerduty.default.instances" .Alerts.Resolved }}',
    "num_firing": "{{ .Alerts.Firing | len }}",
    "num_resolved": "{{ .Alerts.Resolved | len }}",
}


@dataclasses.dataclass(frozen=True, slots=True)
class PagerdutyImage:
    src: str = ""
    alt: str = ""
    href: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class PagerdutyLink:
    href: str = ""
    text: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class PagerdutyConfig:
    routing_key: str = ""
    routing_key_file: str = ""
    service_key: str = ""
    service_key_file: str = ""
    url: str = DEFAULT_EVENTS_V2_URL
    client: str = '{{ template "pagerduty.default.client" . }}'
    client_url: str = '{{ template "pagerduty.default.clientURL" . }}'
    description: str = '{{ template "pagerduty.default.description" .}}'
    details: Mapping[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_DETAILS))
    images: tuple[PagerdutyImage, ...] = ()
    links: tuple[PagerdutyLink, ...] = ()
    source: str = '{{ template "pagerduty.default.client" . }}'
    severity: str = ""
    event_class: str = ""
    component: str = ""
    group: str = ""
    send_resolved: bool = True
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def is_v1(self) -> bool:
        return bool(self.service_key or self.service_key_file)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> PagerdutyConfig:
        keys = {
            name: settings_text(raw, name)
            for name in ("routing_key", "routing_key_file", "service_key", "service_key_file")
        }
        if not any(keys.values()):
            raise ValueError("missing service or routing key in PagerDuty config")
        defaults = cls()
        details = raw.get("details")
        return cls(
            **keys,
            url=settings_text(raw, "url") or DEFAULT_EVENTS_V2_URL,
            client=settings_text(raw, "client", defaults.client),
            client_url=settings_text(raw, "client_url", defaults.client_url),
            description=settings_text(raw, "description", defaults.description),
            details=dict(DEFAULT_DETAILS) if details is None else settings_map(raw, "details"),
            images=tuple(
                PagerdutyImage(settings_text(i, "src"), settings_text(i, "alt"), settings_text(i, "href"))
                for i in settings_list(raw, "images")
            ),
            links=tuple(
                PagerdutyLink(settings_text(link, "href"), settings_text(link, "text"))
                for link in settings_list(raw, "links")
            ),
            source=settings_text(raw, "source", defaults.source),
            severity=settings_text(raw, "severity"),
            event_class=settings_text(raw, "class"),
            component=settings_text(raw, "component"),
            group=settings_text(raw, "group"),
            send_resolved=settings_bool(raw, "send_resolved", True),
            http_config=dict(raw.get("http_config") or {}),
        )


# Go's omitempty, per struct: which keys are written even when empty.
_V2_ALWAYS = ("event_action", "payload")
_V1_ALWAYS = ("event_action", "payload")
_PAYLOAD_ALWAYS = ("summary", "source", "severity")


def _omit_empty(mapping: Mapping[str, Any], keep: Sequence[str]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key in keep or value not in ("", None, [], {})}


def render_details(config: PagerdutyConfig, render: TextRenderer) -> dict[str, str]:
    """Each detail template rendered; a map, so Go writes the keys sorted."""
    details = {name: render(config.details[name]) for name in sorted(config.details)}
    render.raise_if_failed("failed to template PagerDuty details")
    return details


def build_v2_event(
    config: PagerdutyConfig,
    render: TextRenderer,
    routing_key: str,
    group_key: str,
    event_action: str,
    details: Mapping[str, str],
) -> dict[str, Any]:
    """Every field of the v2 event in Go's order; `encode_event` drops the omitempty ones."""
    summary = truncate_in_runes_logged(
        render(config.description), MAX_SUMMARY_RUNES, logger, "summary", "key", group_key
    )
    images = []
    for image in config.images:
        rendered = {"src": render(image.src), "alt": render(image.alt), "href": render(image.href)}
        if rendered["src"]:
            images.append(rendered)
    links = []
    for link in config.links:
        rendered = {"href": render(link.href), "text": render(link.text)}
        if rendered["href"]:
            links.append(rendered)
    return {
        "routing_key": render(routing_key),
        "dedup_key": group_key_hash(group_key),
        "event_action": event_action,
        "payload": {
            "summary": summary,
            "source": render(config.source),
            "severity": render(config.severity or DEFAULT_SEVERITY),
            "class": render(config.event_class),
            "component": render(config.component),
            "group": render(config.group),
            "custom_details": dict(details),
        },
        "client": render(config.client),
        "client_url": render(config.client_url),
        "images": images,
        "links": links,
    }


def build_v1_event(
    config: PagerdutyConfig,
    render: TextRenderer,
    service_key: str,
    group_key: str,
    event_type: str,
    details: Mapping[str, str],
) -> dict[str, Any]:
    """Every field of the v1 event in Go's order. v1 shares the v2 struct, so `event_action`
    ("") and `payload` (null) are written too; client fields only for a trigger."""
    description = truncate_in_runes_logged(
        render(config.description), MAX_SUMMARY_RUNES, logger, "description", "key", group_key
    )
    rendered_key = render(service_key)
    triggering = event_type == EVENT_TRIGGER
    return {
        "service_key": rendered_key,
        "incident_key": group_key_hash(group_key),
        "event_type": event_type,
        "description": description,
        "event_action": "",
        "payload": None,
        "client": render(config.client) if triggering else "",
        "client_url": render(config.client_url) if triggering else "",
        "details": dict(details),
    }


def _encode(event: Mapping[str, Any], v1: bool) -> bytes:
    if v1:
        return go_json(_omit_empty(event, _V1_ALWAYS), trailing_newline=True)
    shown = dict(event)
    shown["payload"] = _omit_empty(event["payload"], _PAYLOAD_ALWAYS)
    return go_json(_omit_empty(shown, _V2_ALWAYS), trailing_newline=True)


def encode_event(event: Mapping[str, Any], v1: bool) -> bytes:
    """Go's json.Encoder output; an event over 512000 bytes has its details replaced."""
    body = _encode(event, v1)
    if len(body) <= MAX_EVENT_BYTES:
        return body
    logger.warning(
        "Truncated Details because message of size %d bytes exceeds limit %s", len(body), MAX_EVENT_SIZE_TEXT
    )
    removed = {"error": DETAILS_REMOVED_MESSAGE}
    shrunk = dict(event)
    if v1:
        shrunk["details"] = removed
    else:
        shrunk["payload"] = {**event["payload"], "custom_details": removed}
    return _encode(shrunk, v1)


def error_details(status_code: int, body: bytes) -> str:
    """PagerDuty's errDetails: for a 400, `message: error1,error2`; otherwise nothing."""
    if status_code != STATUS_BAD_REQUEST or not body:
        return ""
    try:
        decoded = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(decoded, dict):
        return ""
    errors = decoded.get("errors") or []
    message = decoded.get("message") or ""
    return f"{message}: {','.join(str(item) for item in errors)}"


class PagerdutyIntegration(HttpIntegration[PagerdutyConfig]):
    name = INTEGRATION_NAME

    def __init__(
        self,
        receiver_name: str,
        index: int,
        config: PagerdutyConfig,
        client: httpx.AsyncClient,
        templates: Templates,
        external_url: str,
        *,
        v1_url: str = EVENTS_V1_URL,
    ) -> None:
        super().__init__(receiver_name, index, config, client, templates, external_url)
        # Fixed in Alertmanager; a parameter only so tests can point it at a local sink.
        self._v1_url = v1_url

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        render = self.renderer(ctx, alerts)
        resolved = alerts_status(alerts, ctx.now) == STATUS_RESOLVED
        event_type = EVENT_RESOLVE if resolved else EVENT_TRIGGER
        details = render_details(self.config, render)
        v1 = self.config.is_v1
        if v1:
            key = inline_or_file(
                self.config.service_key, self.config.service_key_file, "failed to read service key from file"
            )
            event = build_v1_event(self.config, render, key, ctx.group_key, event_type, details)
            render.raise_if_failed("failed to template PagerDuty v1 message")
            if not event.get("service_key"):
                raise PermanentError("service key cannot be empty")
            url, retry_codes = self._v1_url, V1_RETRY_CODES
        else:
            key = inline_or_file(
                self.config.routing_key, self.config.routing_key_file, "failed to read routing key from file"
            )
            event = build_v2_event(self.config, render, key, ctx.group_key, event_type, details)
            render.raise_if_failed("failed to template PagerDuty v2 message")
            if not event.get("routing_key"):
                raise PermanentError("routing key cannot be empty")
            url, retry_codes = self.config.url, V2_RETRY_CODES
        body = encode_event(event, v1)
        try:
            response = await send_http(self._client, "POST", url, content=body, check=False)
        except NotifyError as error:
            prefix = "failed to post message to PagerDuty v1" if v1 else "failed to post message to PagerDuty"
            error.args = (f"{prefix}: {error}",)
            raise
        details_text = error_details(response.status_code, response.content)
        check_status(response.status_code, details_text.encode(), retry_codes, response.headers)


__all__ = [
    "DEFAULT_DETAILS",
    "DEFAULT_EVENTS_V2_URL",
    "DETAILS_REMOVED_MESSAGE",
    "EVENTS_V1_URL",
    "INTEGRATION_NAME",
    "MAX_EVENT_BYTES",
    "MAX_SUMMARY_RUNES",
    "PagerdutyConfig",
    "PagerdutyImage",
    "PagerdutyIntegration",
    "PagerdutyLink",
    "build_v1_event",
    "build_v2_event",
    "encode_event",
    "error_details",
    "render_details",
]
