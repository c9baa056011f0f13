"""What every receiver integration shares: Go-compatible JSON bytes, `regexp.QuoteMeta`, and
the template data (`.Receiver`, `.Status`, `.Alerts`, ...) that payloads and templates see.

Go's encoding/json differs from Python's json module in ways receivers notice when they
compare bodies byte for byte: it escapes `<`, `>`, `&`, U+2028 and U+2029 as `\\u003c` and so
on, writes `\\b` and `\\f` as `\\u0008` and `\\u000c` (Go before 1.22, which Alertmanager 0.25
is built with), leaves other non-ASCII text as raw UTF-8, and orders map keys by byte value.
`go_json` reproduces that; the caller decides the key order of structs by building dicts in
field order and sorts maps itself (`sorted_map`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from notify.model import Alert, fingerprint_hex, format_go_time

_GO_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_NEEDS_ESCAPE = re.compile('[\\x00-\\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')
# Go replaces invalid UTF-8 (a lone surrogate is the Python equivalent) with U+FFFD.
_REPLACEMENT_ESCAPE = "\\ufffd"
_SURROGATE_FIRST, _SURROGATE_LAST = 0xD800, 0xDFFF

# What Go's encoder escapes and orjson writes raw, as UTF-8 bytes and Go's escape.
_GO_HTML_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)

# Characters regexp.QuoteMeta escapes with a backslash.
_REGEXP_META = re.compile(r"([\\.+*?()|\[\]{}^$])")

STATUS_FIRING = "firing"
STATUS_RESOLVED = "resolved"


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    known = _GO_ESCAPES.get(char)
    if known is not None:
        return known
    code = ord(char)
    if _SURROGATE_FIRST <= code <= _SURROGATE_LAST:
        return _REPLACEMENT_ESCAPE
    return f"\\u{code:04x}"


def go_json_string(text: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(go_json_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for position, (key, item) in enumerate(value.items()):
            if position:
                out.append(",")
            out.append(go_json_string(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def go_json(value: Any, *, trailing_newline: bool = False) -> bytes:
    """Encode like Go: `json.Marshal` (or `json.NewEncoder().Encode`, which adds a newline).

    orjson writes the same bytes apart from the escapes Go adds for HTML safety, which are
    patched in afterwards (those characters occur only inside strings). Output holding a
    `\b` or `\f` escape (Go writes `\u0008`, `\u000c`), text orjson refuses (lone
    surrogates) or values it cannot take (non-str keys, other Mappings) is encoded by the
    reference encoder instead."""
    try:
        encoded = orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE if trailing_newline else 0)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _go_json_reference(value, trailing_newline)
    if b"\\b" in encoded or b"\\f" in encoded:
        return _go_json_reference(value, trailing_newline)
    for raw, escaped in _GO_HTML_ESCAPES:
        if raw in encoded:
            encoded = encoded.replace(raw, escaped)
    return encoded


def _go_json_reference(value: Any, trailing_newline: bool) -> bytes:
    out: list[str] = []
    _encode(value, out)
    if trailing_newline:
        out.append("\n")
    return "".join(out).encode("utf-8")


def sorted_map(mapping: Mapping[str, str]) -> dict[str, str]:
    """A Go map[string]string as encoding/json writes it: keys in byte order (for str,
    code-point order is the same as UTF-8 byte order)."""
    return {key: mapping[key] for key in sorted(mapping)}


def quote_meta(text: str) -> str:
    """Go's regexp.QuoteMeta."""
    return _REGEXP_META.sub(r"\\\1", text)


def alerts_status(alerts: Sequence[Alert], now: datetime) -> str:
    return STATUS_FIRING if any(not alert.resolved_at(now) for alert in alerts) else STATUS_RESOLVED


def _common_pairs(mappings: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not mappings:
        return {}
    common = dict(mappings[0])
    for other in mappings[1:]:
        if not common:
            break
        common = {name: value for name, value in common.items() if other.get(name) == value}
    return common


def template_alert(alert: Alert, now: datetime) -> dict[str, Any]:
    """One element of `.Alerts`, in the Go struct's field order."""
    return {
        "status": alert.status_at(now),
        "labels": sorted_map(alert.labels),
        "annotations": sorted_map(alert.annotations),
        "startsAt": format_go_time(alert.starts_at),
        "endsAt": format_go_time(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": fingerprint_hex(alert.labels),
    }


def template_data(
    receiver_name: str,
    group_labels: Mapping[str, str],
    alerts: Sequence[Alert],
    external_url: str,
    now: datetime,
) -> dict[str, Any]:
    """Alertmanager's template.Data, in field order: the receiver name QuoteMeta'd, the group
    status, the alerts, and the labels and annotations every alert shares."""
    return {
        "receiver": quote_meta(receiver_name),
        "status": alerts_status(alerts, now),
        "alerts": [template_alert(alert, now) for alert in alerts],
        "groupLabels": sorted_map(group_labels),
        "commonLabels": sorted_map(_common_pairs([alert.labels for alert in alerts])),
        "commonAnnotations": sorted_map(_common_pairs([alert.annotations for alert in alerts])),
        "externalURL": external_url,
    }


__all__ = [
    "STATUS_FIRING",
    "STATUS_RESOLVED",
    "alerts_status",
    "go_json",
    "go_json_string",
    "quote_meta",
    "sorted_map",
    "template_alert",
    "template_data",
]
