"""Which struct field a JSON object key fills, as Go's encoding/json decides it.

Alertmanager decodes request bodies into Go structs. For each key of a JSON object, in
document order, encoding/json (Go 1.19, which built the Debian Alertmanager 0.25) looks for
the field whose json name equals the key exactly, and only when none does, for the first
field (in struct order) whose name equals the key case-insensitively. Unknown keys are
skipped. The folding is ASCII case folding plus two non-ASCII letters that fold to ASCII
ones: the Kelvin sign U+212A matches `k` and the long s U+017F matches `s` (the later Go
releases that also fold the dotted and dotless i do not apply: `annotatİons` is ignored by
Alertmanager 0.25). Keys are applied in document order, so of several keys naming one
field the last wins: `{"startsAt": a, "StartsAt": b}` sets b. A map field is not replaced
but merged into (`{"labels": {"a": "1"}, "Labels": {"b": "2"}}` gives both labels, a null
empties it), so callers get the keys in order rather than a last-wins dict.

The dict a JSON decoder returns has lost one piece of that order: an exactly repeated key
keeps its first position with its last value (`{"a": 1, "A": 2, "a": 3}` decodes to
`{"a": 3, "A": 2}`, where Go ends with 3). So when two keys of one dict name the same field,
`GoFields.items` raises `KeyOrderLost`; the caller then decodes the body again with
`decode_keeping_key_order`, whose objects (`DocumentOrderDict`) remember every pair. An
exactly repeated key alone (`"labels"` twice, which Go merges) stays collapsed: detecting it
would cost every request a scan of its bytes, and no client sends it.

Use:
    ALERT_FIELDS = GoFields(("labels", "annotations", ...))
    for name, value in ALERT_FIELDS.items(element): ...     # map fields, strict order
    document = ALERT_FIELDS.rekeyed(element)                # scalar fields, last wins

Both cost one subset test (about 0.1 us) when every key is already a field name, the case
of every client that follows the API's spelling.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Go folds these two non-ASCII letters to ASCII ones (and no other letter to an ASCII one).
_GO_FOLDS_TO_ASCII = str.maketrans({"\u212a": "k", "\u017f": "s"})
# Bounds the memo of keys that are not field names (one entry per distinct such key seen;
# a client sends the same few, so this is only reached by someone inventing keys).
MAX_REMEMBERED_KEYS = 1024
_JSON_WHITESPACE = " \t\r\n"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class KeyOrderLost(Exception):
    """Two keys of a plain dict name the same field, so the result depends on the order of
    an exactly repeated key that the dict no longer records: decode the body again with
    `decode_keeping_key_order` and ask again."""

    def __init__(self, field: str) -> None:
        super().__init__(f"several keys name the field {field!r}")
        self.field = field


class DocumentOrderDict(dict[str, Any]):
    """A decoded JSON object that also keeps every (key, value) pair in document order,
    repeated keys included (the dict itself keeps the last value of each key)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs


def go_fold(key: str) -> str | None:
    """The key as encoding/json compares it with an ASCII field name case-insensitively:
    lower-cased, or None when no ASCII name can match it."""
    if not key.isascii():
        key = key.translate(_GO_FOLDS_TO_ASCII)
        if not key.isascii():
            return None
    return key.lower()


class GoFields:
    """The json names of one Go struct's fields, in struct order (the order matters only
    when two names fold alike: Go then fills the first)."""

    __slots__ = ("_by_folded_name", "_field_of_key", "names")

    def __init__(self, names: Iterable[str]) -> None:
        ordered = tuple(names)
        if not all(name.isascii() for name in ordered):
            raise ValueError("field names must be ASCII (as every Alertmanager model's are)")
        self.names = frozenset(ordered)
        self._by_folded_name: dict[str, str] = {}
        for name in ordered:
            self._by_folded_name.setdefault(name.lower(), name)
        # Keys that are not exactly a field name: the field they fold to, or None.
        self._field_of_key: dict[str, str | None] = {}

    def field_of(self, key: str) -> str | None:
        """The field a key fills, or None when Go skips the key."""
        if key in self.names:
            return key
        remembered = self._field_of_key
        if key in remembered:
            return remembered[key]
        folded = go_fold(key)
        field = None if folded is None else self._by_folded_name.get(folded)
        if len(remembered) >= MAX_REMEMBERED_KEYS:
            remembered.clear()
        remembered[key] = field
        return field

    def items(self, document: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
        """(field name, value) for every key that fills a field, in the order Go applies
        them; keys Go skips are left out. Raises KeyOrderLost (see the module docstring)."""
        if self.names.issuperset(document) and type(document) is dict:
            return document.items()  # every key a field name, each once
        return self._applied(document, keep_skipped=False)

    def rekeyed(self, document: dict[str, Any]) -> dict[str, Any]:
        """The object with every key that fills a field renamed to the field's name, the
        last in document order winning; keys Go skips kept as they are. The object itself
        when no key needs renaming. Meant for fields whose value Go replaces whole
        (strings, numbers, times, bools); Go merges into a map or struct field, see
        `items`. Raises KeyOrderLost (see the module docstring)."""
        if self.names.issuperset(document) and type(document) is dict:
            return document
        if type(document) is dict and all(self.field_of(key) in (key, None) for key in document):
            return document
        return dict(self._applied(document, keep_skipped=True))

    def _applied(self, document: Mapping[str, Any], keep_skipped: bool) -> list[tuple[str, Any]]:
        ordered = isinstance(document, DocumentOrderDict)
        pairs = document.pairs if isinstance(document, DocumentOrderDict) else document.items()
        applied: list[tuple[str, Any]] = []
        filled: set[str] = set()
        for key, value in pairs:
            field = self.field_of(key)
            if field is None:
                if keep_skipped:
                    applied.append((key, value))
                continue
            if field in filled and not ordered:
                raise KeyOrderLost(field)
            filled.add(field)
            applied.append((field, value))
        return applied


def decode_keeping_key_order(body: bytes) -> Any:
    """The first JSON value of `body` with every object a DocumentOrderDict. For a body that
    `daemon.api.gojson.decode_go_json` has accepted (this one trusts its syntax): the same
    value, decoded the same way (invalid UTF-8 and lone surrogate escapes become U+FFFD,
    trailing data is ignored), only slower."""
    text = body.decode("utf-8", "replace")
    start = len(text) - len(text.lstrip(_JSON_WHITESPACE))
    value, _ = json.JSONDecoder(object_pairs_hook=DocumentOrderDict).raw_decode(text, start)
    if "\\u" in text:
        value = _replace_lone_surrogates(value)
    return value


def _replace_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    if isinstance(value, DocumentOrderDict):
        return DocumentOrderDict(
            [(_replace_lone_surrogates(key), _replace_lone_surrogates(item)) for key, item in value.pairs]
        )
    return value


__all__ = [
    "MAX_REMEMBERED_KEYS",
    "DocumentOrderDict",
    "GoFields",
    "KeyOrderLost",
    "decode_keeping_key_order",
    "go_fold",
]
