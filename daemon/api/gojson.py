"""Go's encoding/json as Alertmanager's API decodes request bodies with it.

Both POST handlers (`/api/v2/alerts`, `/api/v2/silences`) must answer a malformed body with
the words Go uses, so they share:

- `decode_go_json(body)`: the first JSON value, as a `json.Decoder` accepts it (trailing data
  ignored, invalid UTF-8 and lone surrogate escapes turned into U+FFFD), raising
  `GoJsonSyntaxError` with Go's syntax message (`invalid character 'x' looking for ...`,
  `unexpected EOF`);
- `unmarshal_type_error(value, field, go_type)`: Go's `json: cannot unmarshal <kind> into Go
  struct field <field> of type <type>`, and `json_kind(value)`, the <kind> it names.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from daemon.matchers import go_quote


def json_kind(value: Any) -> str:
    """How encoding/json names a decoded value's JSON type in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def unmarshal_type_error(value: Any, field: str, go_type: str) -> str:
    return f"json: cannot unmarshal {json_kind(value)} into Go struct field {field} of type {go_type}"


_JSON_WHITESPACE = b" \t\r\n"
_DIGITS = b"0123456789"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_SIMPLE_ESCAPES = b'bfnrt\\/"'
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}


class GoJsonSyntaxError(ValueError):
    """A syntax error with encoding/json's wording (as a json.Decoder reports it)."""


def _quote_char(byte: int) -> str:
    """encoding/json's quoteChar: the byte as a rune in single quotes, Go-escaped."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    return "'" + go_quote(chr(byte))[1:-1] + "'"


def go_json_value_end(body: bytes) -> int:
    """Scan the first JSON value of `body` as Go's json.Decoder does and return the offset
    just past it (trailing data is ignored, as the Decoder ignores it). Raises
    GoJsonSyntaxError with Go's message (`unexpected EOF` for a truncated value)."""
    length = len(body)
    position = 0
    # Containers open around the current point: b"{" (expecting a key), b":" (in an
    # object, expecting a value), b"[" (in an array).
    stack: list[bytes] = []

    def fail(byte: int, context: str) -> GoJsonSyntaxError:
        return GoJsonSyntaxError(f"invalid character {_quote_char(byte)} {context}")

    def skip_whitespace(at: int) -> int:
        while at < length and body[at] in _JSON_WHITESPACE:
            at += 1
        return at

    def scan_string(at: int) -> int:  # `at` is just past the opening quote
        while at < length:
            byte = body[at]
            if byte == ord('"'):
                return at + 1
            if byte == ord("\\"):
                at += 1
                if at >= length:
                    break
                escape = body[at]
                if escape == ord("u"):
                    for offset in range(1, 5):
                        if at + offset >= length:
                            raise GoJsonSyntaxError("unexpected EOF")
                        if body[at + offset] not in _HEX_DIGITS:
                            raise fail(body[at + offset], "in \\u hexadecimal character escape")
                    at += 5
                    continue
                if escape not in _SIMPLE_ESCAPES:
                    raise fail(escape, "in string escape code")
            elif byte < 0x20:
                raise fail(byte, "in string literal")
            at += 1
        raise GoJsonSyntaxError("unexpected EOF")

    def scan_number(at: int) -> int:
        if body[at] == ord("-"):
            at += 1
            if at >= length:
                raise GoJsonSyntaxError("unexpected EOF")
            if body[at] not in _DIGITS:
                raise fail(body[at], "in numeric literal")
        if body[at] == ord("0"):
            at += 1
        else:
            while at < length and body[at] in _DIGITS:
                at += 1
        if at < length and body[at] == ord("."):
            at += 1
            if at >= length:
                raise GoJsonSyntaxError("unexpected EOF")
            if body[at] not in _DIGITS:
                raise fail(body[at], "after decimal point in numeric literal")
            while at < length and body[at] in _DIGITS:
                at += 1
        if at < length and body[at] in b"eE":
            at += 1
            if at < length and body[at] in b"+-":
                at += 1
            if at >= length:
                raise GoJsonSyntaxError("unexpected EOF")
            if body[at] not in _DIGITS:
                raise fail(body[at], "in exponent of numeric literal")
            while at < length and body[at] in _DIGITS:
                at += 1
        return at

    def scan_literal(at: int) -> int:
        word = _LITERALS[body[at]]
        for offset in range(1, len(word)):
            if at + offset >= length:
                raise GoJsonSyntaxError("unexpected EOF")
            if body[at + offset] != word[offset]:
                expected = _quote_char(word[offset])
                raise fail(body[at + offset], f"in literal {word.decode()} (expecting {expected})")
        return at + len(word)

    expecting_value = True
    while True:
        if not expecting_value and not stack:
            return position  # the first value is complete; the Decoder reads no further
        position = skip_whitespace(position)
        if position >= length:
            raise GoJsonSyntaxError("unexpected EOF")
        byte = body[position]
        if expecting_value:
            if byte == ord("{"):
                position = skip_whitespace(position + 1)
                if position >= length:
                    raise GoJsonSyntaxError("unexpected EOF")
                if body[position] == ord("}"):
                    position += 1
                    expecting_value = False
                else:
                    if body[position] != ord('"'):
                        raise fail(body[position], "looking for beginning of object key string")
                    position = scan_string(position + 1)
                    stack.append(b"{")
                    expecting_value = False
            elif byte == ord("["):
                position = skip_whitespace(position + 1)
                if position >= length:
                    raise GoJsonSyntaxError("unexpected EOF")
                if body[position] == ord("]"):
                    position += 1
                    expecting_value = False
                else:
                    stack.append(b"[")
                    continue  # a value follows
            elif byte == ord('"'):
                position = scan_string(position + 1)
                expecting_value = False
            elif byte == ord("-") or byte in _DIGITS:
                position = scan_number(position)
                expecting_value = False
            elif byte in _LITERALS:
                position = scan_literal(position)
                expecting_value = False
            else:
                raise fail(byte, "looking for beginning of value")
            continue
        # After a value (or an object key): what may follow depends on the container.
        top = stack[-1]
        if top == b"{":  # just read a key
            if byte != ord(":"):
                raise fail(byte, "after object key")
            stack[-1] = b":"
            position += 1
            expecting_value = True
        elif top == b":":
            if byte == ord(","):
                position = skip_whitespace(position + 1)
                if position >= length:
                    raise GoJsonSyntaxError("unexpected EOF")
                if body[position] != ord('"'):
                    raise fail(body[position], "looking for beginning of object key string")
                position = scan_string(position + 1)
                stack[-1] = b"{"
            elif byte == ord("}"):
                stack.pop()
                position += 1
            else:
                raise fail(byte, "after object key:value pair")
        else:
            if byte == ord(","):
                position += 1
                expecting_value = True
            elif byte == ord("]"):
                stack.pop()
                position += 1
            else:
                raise fail(byte, "after array element")


def decode_go_json(body: bytes) -> Any:
    """The first JSON value of `body`, decoded as Go's json.Decoder would accept it: syntax
    errors carry Go's wording, trailing data is ignored, invalid UTF-8 becomes U+FFFD."""
    try:
        # Fast path: a body orjson accepts is one JSON value, valid UTF-8, nothing after it,
        # and decodes to what Go decodes. Everything else gets Go's scanner.
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    end = go_json_value_end(body)
    text = body[:end].decode("utf-8", "replace")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # Syntax is already known good, so this is a lone surrogate escape (`"\\ud800"`),
        # which orjson refuses and Go turns into U+FFFD.
        return _replace_lone_surrogates(json.loads(text))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_replace_lone_surrogates(key): _replace_lone_surrogates(item) for key, item in value.items()}
    return value


__all__ = [
    "GoJsonSyntaxError",
    "decode_go_json",
    "go_json_value_end",
    "json_kind",
    "unmarshal_type_error",
]
