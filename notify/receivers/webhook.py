"""The webhook integration: Alertmanager's webhook body (version "4"), byte for byte.

    {"receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
     "externalURL", "version": "4", "groupKey", "truncatedAlerts"}

followed by a newline (Go's json.Encoder). With `max_alerts` > 0 only the first `max_alerts`
alerts are sent, every other field is computed from those, and `truncatedAlerts` counts the
rest. `url_file` is read at every send so a rotated URL is used without a reload.
Retries: 5xx and transport errors; any other non-2xx status is permanent (checked against
Alertmanager 0.25: 500 is retried, 429 and 400 are tried once).

Deliberate difference: Alertmanager 0.25's webhook error text quotes the target URL
(`unexpected status code 500: http://host/path?token=...: <body>`, and `Post "http://...": ...`
for transport errors), which leaks secrets kept in webhook URLs into logs. We write
`unexpected status code 500: <body>` and `Post "<redacted>": ...`, as the other integrations
and later Alertmanager versions do. These texts only reach logs, never the API.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
import trio

from notify.context import FlushContext
from notify.errors import PermanentError, check_status, redact, transport_error
from notify.httpclient import read_secret_file
from notify.model import Alert
from notify.receivers.base import go_json, template_data

INTEGRATION_NAME = "webhook"
WEBHOOK_PAYLOAD_VERSION = "4"
# Requests in flight per webhook at once: httpx's default connection-pool size, so requests
# past it wait here, where waking the next one costs O(1). Waiting in httpcore's pool instead
# costs a scan of the whole queue per finished request, which made 20,000 groups flushing
# together quadratic (under 100 notifications a second). The wait counts against the flush
# deadline as the pool's did.
MAX_CONCURRENT_REQUESTS = 100


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str | None = None
    url_file: str | None = None
    send_resolved: bool = True
    max_alerts: int = 0
    http_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> WebhookConfig:
        """From the loader's plain mapping (YAML names, defaults possibly missing)."""
        url = raw.get("url")
        url_file = raw.get("url_file")
        if not url and not url_file:
            raise ValueError("one of url or url_file must be configured")
        if url and url_file:
            raise ValueError("at most one of url & url_file must be configured")
        send_resolved = raw.get("send_resolved")
        return cls(
            url=str(url) if url else None,
            url_file=str(url_file) if url_file else None,
            send_resolved=True if send_resolved is None else bool(send_resolved),
            max_alerts=int(raw.get("max_alerts") or 0),
            http_config=dict(raw.get("http_config") or {}),
        )


def truncate_alerts(alerts: Sequence[Alert], max_alerts: int) -> tuple[list[Alert], int]:
    """The first `max_alerts` alerts and how many were left out (0 means no limit)."""
    if max_alerts > 0 and len(alerts) > max_alerts:
        return list(alerts[:max_alerts]), len(alerts) - max_alerts
    return list(alerts), 0


def build_payload(
    receiver_name: str,
    group_key: str,
    group_labels: Mapping[str, str],
    alerts: Sequence[Alert],
    external_url: str,
    now: datetime,
    max_alerts: int = 0,
) -> bytes:
    """The exact request body Alertmanager 0.25 sends."""
    kept, truncated = truncate_alerts(alerts, max_alerts)
    message = template_data(receiver_name, group_labels, kept, external_url, now)
    message["version"] = WEBHOOK_PAYLOAD_VERSION
    message["groupKey"] = group_key
    message["truncatedAlerts"] = truncated
    return go_json(message, trailing_newline=True)


class WebhookIntegration:
    name = INTEGRATION_NAME

    def __init__(
        self,
        receiver_name: str,
        index: int,
        config: WebhookConfig,
        client: httpx.AsyncClient,
        external_url: str,
    ) -> None:
        self.receiver_name = receiver_name
        self.index = index
        self.config = config
        self.send_resolved = config.send_resolved
        self._client = client
        self._external_url = external_url
        self._request_slots = trio.Semaphore(MAX_CONCURRENT_REQUESTS)
        self._headers = httpx.Headers(client.headers)
        self._headers["Content-Type"] = "application/json"
        self._parsed_url_text = ""
        self._parsed_url = httpx.URL()

    def _target_url(self) -> str:
        if self.config.url_file:
            try:
                return read_secret_file(self.config.url_file)
            except OSError as exc:
                raise PermanentError(f"read url_file: {exc}") from None
        return self.config.url or ""

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        # The body is built once a slot is free: thousands of flushes waiting hold no bodies.
        async with self._request_slots:
            body = build_payload(
                self.receiver_name,
                ctx.group_key,
                ctx.group_labels,
                alerts,
                self._external_url,
                ctx.now,
                self.config.max_alerts,
            )
            await self._post(self._target_url(), body)

    async def _post(self, url: str, body: bytes) -> None:
        """`notify.httpclient.post_json` with the request built here: the URL parsed once and
        the client's headers merged once, which halves httpx's share of a notification's CPU.
        Like Alertmanager's client, it sends no cookies (httpx would echo a receiver's)."""
        if url != self._parsed_url_text:
            self._parsed_url, self._parsed_url_text = httpx.URL(url), url
        request = httpx.Request("POST", self._parsed_url, headers=self._headers, content=body)
        try:
            response = await self._client.send(request)
        except (httpx.HTTPError, OSError) as exc:
            raise transport_error("POST", RuntimeError(redact(str(exc), url))) from None
        check_status(response.status_code, response.content, (), response.headers)

    async def aclose(self) -> None:
        await self._client.aclose()


__all__ = [
    "INTEGRATION_NAME",
    "MAX_CONCURRENT_REQUESTS",
    "WEBHOOK_PAYLOAD_VERSION",
    "WebhookConfig",
    "WebhookIntegration",
    "build_payload",
    "truncate_alerts",
]
