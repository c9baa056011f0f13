"""Label matchers as Alertmanager 0.25 parses, evaluates and prints them.

Regular expressions use RE2 (linear time: a hostile pattern in a silence cannot stall the
daemon) and are fully anchored, `^(?:value)$`, as Go's labels.Matcher does.

Three printed forms exist and each has its user:
- `str(matcher)`: `name="value"` with OpenMetrics escaping (only `\\`, newline and `"`), the
  form of route keys, group keys and amtool output.
- `format_matchers`: `{a="b",c=~"d"}`, the route-key fragment.
- `format_label_set`: Go's `LabelSet.String()`, `{a="x", b="y"}` with `%q` quoting, the
  group-label part of a group key.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import re2


class MatchType(enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


# Go's MatchType is an int enum in this order; matchers sort by it after name and value.
_TYPE_ORDER = {MatchType.EQUAL: 0, MatchType.NOT_EQUAL: 1, MatchType.REGEX: 2, MatchType.NOT_REGEX: 3}


class MatcherError(ValueError):
    """A matcher that cannot be parsed or compiled; the message is Alertmanager's."""


# RE2's own error texts, mapped to the wording of Go's regexp/syntax, which is what
# Alertmanager users (and amtool) see. Unknown codes pass through unchanged.
_GO_REGEX_ERROR_CODES = {
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class": "invalid character class",
    "invalid character class range": "invalid character class range",
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large",
    "pattern too large - reverse compile failed": "expression too large",
}


def _go_regex_error(error: Exception) -> str:
    raw = error.args[0] if error.args else str(error)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    for re2_code in sorted(_GO_REGEX_ERROR_CODES, key=len, reverse=True):
        if text == re2_code:
            return f"error parsing regexp: {_GO_REGEX_ERROR_CODES[re2_code]}"
        if text.startswith(re2_code + ": "):
            offending = text[len(re2_code) + 2 :]
            return f"error parsing regexp: {_GO_REGEX_ERROR_CODES[re2_code]}: `{offending}`"
    return f"error parsing regexp: {text}"


def _re2_options() -> Any:
    options = re2.Options()
    # RE2 would otherwise print every bad user regex to stderr.
    options.log_errors = False
    return options


_RE2_OPTIONS = _re2_options()


def compile_anchored(pattern: str) -> Any:
    """Compile `^(?:pattern)$` like Go's regexp.Compile; raises MatcherError with Go's text."""
    try:
        pattern.encode("utf-8")
    except UnicodeEncodeError as error:
        raise MatcherError(f"error parsing regexp: invalid UTF-8: `{pattern!r}`") from error
    try:
        compiled = re2.compile(f"^(?:{pattern})$", options=_RE2_OPTIONS)
    except re2.error as error:
        raise MatcherError(_go_regex_error(error)) from None
    go_rejection = _syntax_go_rejects(pattern)
    if go_rejection is not None:
        raise MatcherError(f"error parsing regexp: {go_rejection}")
    return compiled


def _syntax_go_rejects(pattern: str) -> str | None:
    """The two constructs RE2 (C++) accepts but Go 1.20's regexp refuses: `(?<name>...)`
    groups and the `\\C` any-byte escape. Scans outside character classes and `\\Q...\\E`."""
    index = 0
    in_class = False
    length = len(pattern)
    while index < length:
        char = pattern[index]
        if pattern.startswith("\\Q", index):
            end = pattern.find("\\E", index + 2)
            index = length if end < 0 else end + 2
            continue
        if char == "\\":
            if not in_class and pattern.startswith("\\C", index):
                return "invalid escape sequence: `\\C`"
            index += 2
            continue
        if in_class:
            if pattern.startswith("[:", index):
                end = pattern.find(":]", index + 2)
                index = index + 1 if end < 0 else end + 2
                continue
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            index += 1
            # A `]` right after `[` or `[^` is a literal member, not the end of the class.
            if pattern.startswith("^", index):
                index += 1
            if pattern.startswith("]", index):
                index += 1
            continue
        elif pattern.startswith("(?<", index):
            return "invalid or unsupported Perl syntax: `(?<`"
        index += 1
    return None


@dataclasses.dataclass(frozen=True)
class Matcher:
    name: str
    type: MatchType
    value: str
    # The compiled, anchored regex for REGEX/NOT_REGEX matchers; compiled once at construction.
    _regex: Any = dataclasses.field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            object.__setattr__(self, "_regex", compile_anchored(self.value))

    def matches(self, value: str) -> bool:
        if self.type is MatchType.EQUAL:
            return value == self.value
        if self.type is MatchType.NOT_EQUAL:
            return value != self.value
        found = self._regex.search(value) is not None
        return found if self.type is MatchType.REGEX else not found

    @property
    def is_regex(self) -> bool:
        return self.type in (MatchType.REGEX, MatchType.NOT_REGEX)

    @property
    def is_equal(self) -> bool:
        """The API's `isEqual`: true for `=` and `=~`."""
        return self.type in (MatchType.EQUAL, MatchType.REGEX)

    def sort_key(self) -> tuple[str, str, int]:
        """Alertmanager's Matchers order: name, then value, then operator."""
        return (self.name, self.value, _TYPE_ORDER[self.type])

    def to_api(self) -> dict[str, Any]:
        """The API v1/v2 matcher JSON object."""
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}

    @classmethod
    def from_api(cls, name: str, value: str, is_regex: bool, is_equal: bool = True) -> Matcher:
        if is_regex:
            match_type = MatchType.REGEX if is_equal else MatchType.NOT_REGEX
        else:
            match_type = MatchType.EQUAL if is_equal else MatchType.NOT_EQUAL
        return cls(name, match_type, value)

    def __str__(self) -> str:
        return f'{self.name}{self.type.value}"{open_metrics_escape(self.value)}"'


def open_metrics_escape(value: str) -> str:
    """The restricted escaping of Matcher.String(): backslash, newline and double quote only."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def sorted_matchers(matchers: Iterable[Matcher]) -> list[Matcher]:
    return sorted(matchers, key=Matcher.sort_key)


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches; a missing label counts as the empty string."""
    return all(matcher.matches(labels.get(matcher.name, "")) for matcher in matchers)


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """`{a="b",c=~"d"}`: Go's Matchers.String(), the route-key fragment."""
    return "{" + ",".join(str(matcher) for matcher in matchers) + "}"


# ---------------------------------------------------------------------------------------
# Go's %q (strconv.Quote) and LabelSet.String()

_GO_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}
_ASCII_DELETE = 0x7F
_BASIC_MULTILINGUAL_PLANE_END = 0x10000


def go_quote(text: str) -> str:
    """Go's strconv.Quote: printable runes kept, others escaped with \\x, \\u or \\U."""
    # Fast path (group keys quote every label value of every group): nothing to escape.
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    parts = ['"']
    for char in text:
        short = _GO_SHORT_ESCAPES.get(char)
        if short is not None:
            parts.append(short)
            continue
        # Python's isprintable and Go's unicode.IsPrint agree: letters, marks, numbers,
        # punctuation, symbols and the ASCII space.
        if char.isprintable():
            parts.append(char)
            continue
        code = ord(char)
        if code < 0x20 or code == _ASCII_DELETE:
            parts.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            parts.append("\\ufffd")  # Go sees a lone surrogate as an invalid rune
        elif code < _BASIC_MULTILINGUAL_PLANE_END:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(f"\\U{code:08x}")
    parts.append('"')
    return "".join(parts)


def format_label_set(labels: Mapping[str, str]) -> str:
    """Go's `LabelSet.String()`: `{a="x", b="y"}`, sorted by name, `%q` values."""
    return "{" + ", ".join(f"{name}={go_quote(labels[name])}" for name in sorted(labels)) + "}"


# ---------------------------------------------------------------------------------------
# Label names

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def is_valid_label_name(name: str) -> bool:
    """Prometheus' strict label name (silences and alerts): no colons."""
    return _LABEL_NAME.match(name) is not None


# ---------------------------------------------------------------------------------------
# Parsing (labels.ParseMatchers / labels.ParseMatcher)

# Go's `\s` is ASCII-only: tab, newline, form feed, carriage return, space (not \v).
_GO_SPACE = "[\\t\\n\\f\\r ]"
# The parser accepts colons in names (config and filters do; silences check separately).
# `=~` comes before `=` so that the tilde is not swallowed into the value.
_MATCHER_SYNTAX = re.compile(
    rf"{_GO_SPACE}*([a-zA-Z_:][a-zA-Z0-9_:]*){_GO_SPACE}*(=~|=|!=|!~){_GO_SPACE}*(.*?){_GO_SPACE}*\Z",
    re.DOTALL,
)
# Unicode White_Space, which Go's strings.TrimSpace strips (narrower than str.strip()).
_GO_UNICODE_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def go_trim_space(text: str) -> str:
    return text.strip(_GO_UNICODE_SPACE)


def parse_matcher(text: str) -> Matcher:
    """One matcher, `name op value`, the value optionally double-quoted with escapes."""
    found = _MATCHER_SYNTAX.match(text)
    if found is None:
        raise MatcherError(f"bad matcher format: {text}")
    name, operator, quoted_value = found.group(1), found.group(2), found.group(3)
    raw_value = quoted_value
    expect_trailing_quote = raw_value.startswith('"')
    if expect_trailing_quote:
        raw_value = raw_value[1:]
    try:
        raw_value.encode("utf-8")
    except UnicodeEncodeError:
        raise MatcherError(f"matcher value not valid UTF-8: {quoted_value}") from None

    value: list[str] = []
    escaped = False
    last_index = len(raw_value) - 1
    for index, char in enumerate(raw_value):
        if escaped:
            escaped = False
            if char == "n":
                value.append("\n")
            elif char in ('"', "\\"):
                value.append(char)
            else:
                # A spurious escape: the backslash stays literal.
                value.append("\\" + char)
            continue
        if char == "\\":
            if index < last_index:
                escaped = True
                continue
            value.append("\\")
        elif char == '"':
            if not expect_trailing_quote or index < last_index:
                raise MatcherError(f"matcher value contains unescaped double quote: {quoted_value}")
            expect_trailing_quote = False
        else:
            value.append(char)
    if expect_trailing_quote:
        raise MatcherError(f"matcher value contains unescaped double quote: {quoted_value}")
    return Matcher(name, MatchType(operator), "".join(value))


def _split_matcher_tokens(text: str) -> list[str]:
    """Split on commas outside double quotes, exactly as Alertmanager's tokenizer does
    (including its quirk that a comma does not reset a pending backslash escape)."""
    tokens: list[str] = []
    token: list[str] = []
    inside_quotes = False
    escaped = False
    for char in text:
        if char == ",":
            if not inside_quotes:
                tokens.append("".join(token))
                token = []
                continue
        elif char == '"':
            if not escaped:
                inside_quotes = not inside_quotes
            else:
                escaped = False
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(char)
    last = go_trim_space("".join(token))
    if last:
        tokens.append(last)
    return tokens


def parse_matchers(text: str) -> list[Matcher]:
    """Alertmanager 0.25's labels.ParseMatchers: `{a="b", c=~d,}`; braces optional,
    comma separated, trailing comma allowed, values quoted or not."""
    if text.startswith("{"):
        text = text[1:]
    if text.endswith("}"):
        text = text[:-1]
    return [parse_matcher(token) for token in _split_matcher_tokens(text)]


__all__ = [
    "MatchType",
    "Matcher",
    "MatcherError",
    "compile_anchored",
    "format_label_set",
    "format_matchers",
    "go_quote",
    "is_valid_label_name",
    "matches_all",
    "open_metrics_escape",
    "parse_matcher",
    "parse_matchers",
    "sorted_matchers",
]
