"""What the templated HTTP receivers (everything but the webhook and email) share:

- `TextRenderer`: renders configured strings against one notification's template data the
  way Alertmanager's `notify.TmplText` does: the first error is kept and every later render
  returns "", so a builder can fill a whole payload and check once at the end.
- `truncate_in_runes` / `truncate_in_bytes`: Alertmanager's truncation, ending with `…`.
- `group_key_hash`: the sha256 hex of the group key that PagerDuty, OpsGenie, VictorOps and
  SNS use as dedup key (Alertmanager's `notify.Key.Hash`).
- `send_http`: one request with the error classification of `notify.errors` (URL redacted in
  transport errors, Retry-After honoured) that returns the response for receivers that read it;
  `post_json` sends a payload the way Go's `json.NewEncoder` writes it.
- `truncate_in_runes_logged`: rune truncation with Alertmanager's "Truncated ..." warning.
- `inline_or_file`: a secret given inline or as a file read at every send.
- `HttpIntegration`: the identity, config and plumbing every templated integration has.
- `settings_text` / `settings_bool` and friends: reading the loader's plain settings mapping.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import httpx

from notify.context import FlushContext
from notify.errors import PermanentError, check_status, redact, transport_error
from notify.httpclient import read_secret_file
from notify.model import Alert
from notify.receivers.base import go_json
from notify.template import Templates, build_template_data
from notify.template.data import TemplateData
from notify.template.errors import TemplateError

TRUNCATION_MARKER = "…"
# Go's TruncateInRunes/TruncateInBytes keep no marker when the limit is this small.
MARKER_MIN_LIMIT = 3
CONTENT_TYPE_JSON = "application/json"


class TextRenderer:
    """Renders config strings for one notification; remembers the first template error."""

    def __init__(
        self,
        templates: Templates,
        data: TemplateData,
        *,
        html: bool = False,
        parent: TextRenderer | None = None,
    ) -> None:
        self._templates = templates
        self._data = data
        self._html = html
        self._parent = parent
        self._error: TemplateError | None = None

    @property
    def error(self) -> TemplateError | None:
        return self._parent.error if self._parent is not None else self._error

    def __call__(self, text: str) -> str:
        if self.error is not None:
            return ""
        try:
            if self._html:
                return self._templates.execute_html(text, self._data)
            return self._templates.execute_text(text, self._data)
        except TemplateError as error:
            target = self._parent if self._parent is not None else self
            target._error = error
            return ""

    def html(self) -> TextRenderer:
        """A renderer for the same data that escapes like html/template; it shares this
        renderer's error (Go's TmplText and TmplHTML write to the same error variable)."""
        root = self._parent if self._parent is not None else self
        return TextRenderer(self._templates, self._data, html=True, parent=root)

    def raise_if_failed(self, context: str = "") -> None:
        """Turn a remembered template error into a permanent failure: retrying cannot help.
        `context` prefixes the message as Go's errors.Wrap does."""
        if self.error is not None:
            raise PermanentError(f"{context}: {self.error}" if context else str(self.error))


def truncate_in_runes(text: str, limit: int) -> tuple[str, bool]:
    """At most `limit` code points; a cut text ends with `…` (counted in the limit)."""
    if len(text) <= limit:
        return text, False
    if limit <= MARKER_MIN_LIMIT:
        return text[:limit], True
    return text[: limit - 1] + TRUNCATION_MARKER, True


def truncate_in_runes_logged(
    text: str, limit: int, logger: logging.Logger, what: str, key_name: str, key: str
) -> str:
    """`truncate_in_runes`, warning as Alertmanager does when it cuts:
    `Truncated <what> <key_name>=<key> max_runes=<limit>`."""
    text, truncated = truncate_in_runes(text, limit)
    if truncated:
        logger.warning("Truncated %s %s=%s max_runes=%d", what, key_name, key, limit)
    return text


def truncate_in_bytes(text: str, limit: int) -> tuple[str, bool]:
    """At most `limit` UTF-8 bytes without splitting a character; a cut text ends with `…`
    (3 bytes, counted in the limit). Below 3 bytes Go writes dots instead."""
    encoded = text.encode("utf-8", errors="surrogatepass")
    if len(encoded) <= limit:
        return text, False
    marker_bytes = len(TRUNCATION_MARKER.encode("utf-8"))
    if limit < marker_bytes:
        return "." * limit, True
    if limit == marker_bytes:
        return TRUNCATION_MARKER, True
    budget = limit - marker_bytes
    kept = encoded[:budget].decode("utf-8", errors="ignore")
    return kept + TRUNCATION_MARKER, True


def group_key_hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode("utf-8")).hexdigest()


async def send_http(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    content_type: str | None = CONTENT_TYPE_JSON,
    headers: Mapping[str, str] | None = None,
    extra_retry_codes: Collection[int] = (),
    check: bool = True,
) -> httpx.Response:
    """Send one request. Transport errors become `RetryableError` with the URL redacted (it
    may hold a key); with `check`, a non-2xx answer raises the classified error."""
    request_headers: dict[str, str] = {}
    if content_type is not None:
        request_headers["Content-Type"] = content_type
    if headers:
        request_headers.update(headers)
    try:
        response = await client.request(method, url, content=content, headers=request_headers)
    except (httpx.HTTPError, OSError) as exc:
        raise transport_error(method, RuntimeError(redact(str(exc), url))) from None
    if check:
        check_status(response.status_code, response.content, extra_retry_codes, response.headers)
    return response


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    *,
    headers: Mapping[str, str] | None = None,
    check: bool = True,
) -> httpx.Response:
    """`send_http` POSTing `payload` as Go's `json.NewEncoder(...).Encode` writes it (Go's
    escaping, a trailing newline), which is how Alertmanager's notifiers send JSON."""
    body = go_json(payload, trailing_newline=True)
    return await send_http(client, "POST", url, content=body, headers=headers, check=check)


def inline_or_file(inline: str, path: str, error_prefix: str) -> str:
    """The inline secret, else the trimmed content of `path` read now (so a rotated file is
    picked up at the next send). An unreadable file is a permanent failure."""
    if inline:
        return inline
    try:
        return read_secret_file(path)
    except OSError as exc:
        raise PermanentError(f"{error_prefix}: {exc}") from None


class IntegrationConfig(Protocol):
    """What `HttpIntegration` reads from every integration's config."""

    @property
    def send_resolved(self) -> bool: ...


ConfigT = TypeVar("ConfigT", bound=IntegrationConfig)


class HttpIntegration(Generic[ConfigT]):
    """The identity and plumbing every templated HTTP integration has: its (receiver, type,
    index), its config and the `send_resolved` it sets, its own httpx client (from its
    `http_config`), the loaded templates and the external URL the template data carries."""

    name: ClassVar[str] = ""

    def __init__(
        self,
        receiver_name: str,
        index: int,
        config: ConfigT,
        client: httpx.AsyncClient,
        templates: Templates,
        external_url: str,
    ) -> None:
        self.receiver_name = receiver_name
        self.index = index
        self.config = config
        self.send_resolved = config.send_resolved
        self._client = client
        self._templates = templates
        self._external_url = external_url

    def template_data(self, ctx: FlushContext, alerts: Sequence[Alert]) -> TemplateData:
        return build_template_data(self.receiver_name, ctx.group_labels, alerts, self._external_url, ctx.now)

    def renderer(self, ctx: FlushContext, alerts: Sequence[Alert]) -> TextRenderer:
        return TextRenderer(self._templates, self.template_data(ctx, alerts))

    async def aclose(self) -> None:
        await self._client.aclose()


def url_with_path(base: str, path: str, query: Mapping[str, str] | None = None) -> str:
    """`base` with `path` appended to its path (Go's `u.Path += path`); `query` entries are
    set on its query, which is then written with sorted keys (Go's `q.Set` + `q.Encode()`)."""
    parts = urllib.parse.urlsplit(base)
    raw_query = parts.query
    if query:
        merged = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        merged.update(query)
        raw_query = urllib.parse.urlencode(sorted(merged.items()))
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path + path, raw_query, parts.fragment))


def settings_text(settings: Mapping[str, Any], key: str, default: str = "") -> str:
    value = settings.get(key)
    return default if value is None else str(value)


def settings_bool(settings: Mapping[str, Any], key: str, default: bool) -> bool:
    value = settings.get(key)
    return default if value is None else bool(value)


def settings_map(settings: Mapping[str, Any], key: str) -> dict[str, str]:
    value = settings.get(key) or {}
    return {str(name): "" if item is None else str(item) for name, item in value.items()}


def settings_list(settings: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [item for item in settings.get(key) or [] if item is not None]


__all__ = [
    "CONTENT_TYPE_JSON",
    "TRUNCATION_MARKER",
    "HttpIntegration",
    "IntegrationConfig",
    "TextRenderer",
    "group_key_hash",
    "inline_or_file",
    "post_json",
    "send_http",
    "settings_bool",
    "settings_list",
    "settings_map",
    "settings_text",
    "truncate_in_bytes",
    "truncate_in_runes",
    "truncate_in_runes_logged",
    "url_with_path",
]
