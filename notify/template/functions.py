"""The functions templates can call: Go's text/template built-ins and Alertmanager's additions.

A function raises `FunctionError(message)`; the evaluator reports it as Go does,
`error calling NAME: message`. Parameter types are Go type names used for argument checks:
"any" accepts everything, "string" only strings, "[]string" only string slices.
"""

from __future__ import annotations

import dataclasses
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import re2

from notify.template.gofmt import NO_VALUE, GoValue, SafeHTML, go_type_name, sprint, sprintf, sprintln

# Compiled regular expressions kept for reuse; templates use a handful of fixed patterns.
MAX_CACHED_PATTERNS = 256


class FunctionError(Exception):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Function:
    call: Callable[..., Any]
    params: tuple[str, ...]
    variadic: str | None = None  # element type of a trailing ...T parameter
    builtin: bool = False


# Truth and comparison -----------------------------------------------------------------------


def is_true(value: Any) -> bool:
    """Go's template truth: false, 0, nil, and empty strings, slices and maps are false."""
    if value is None or value is NO_VALUE:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) > 0
    return True


_BOOL, _INT, _FLOAT, _STRING, _INVALID = "bool", "int", "float", "string", "invalid"


def _basic_kind(value: Any) -> str:
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _INT
    if isinstance(value, float):
        return _FLOAT
    if isinstance(value, str):
        return _STRING
    return _INVALID


def _is_nil(value: Any) -> bool:
    return value is None or value is NO_VALUE


# Operands of one of these exact classes compare directly; everything else takes the full path.
_DIRECTLY_COMPARABLE = (int, str)


def _eq(first: Any, *others: Any) -> bool:
    if (
        len(others) == 1
        and first.__class__ is others[0].__class__
        and first.__class__ in _DIRECTLY_COMPARABLE
    ):
        return bool(first == others[0])
    if not others:
        raise FunctionError("missing argument for comparison")
    first_kind = _basic_kind(first)
    for other in others:
        other_kind = _basic_kind(other)
        if first_kind != other_kind:
            if not _is_nil(first) and not _is_nil(other):
                raise FunctionError("incompatible types for comparison")
            continue
        if first_kind != _INVALID:
            if first == other:
                return True
            continue
        if _is_nil(first) or _is_nil(other):
            if _is_nil(first) == _is_nil(other):
                return True
            continue
        if isinstance(first, (list, dict)) or isinstance(other, (list, dict)):
            raise FunctionError(
                f"non-comparable types {sprint([first])}: {go_type_name(first)}, "
                f"{go_type_name(other)}: {sprint([other])}"
            )
        if first is other or first == other:
            return True
    return False


def _lt(first: Any, second: Any) -> bool:
    if first.__class__ is second.__class__ and first.__class__ in _DIRECTLY_COMPARABLE:
        return bool(first < second)
    first_kind, second_kind = _basic_kind(first), _basic_kind(second)
    if first_kind == _INVALID or second_kind == _INVALID:
        raise FunctionError("invalid type for comparison")
    if first_kind != second_kind:
        raise FunctionError("incompatible types for comparison")
    if first_kind == _BOOL:
        raise FunctionError("invalid type for comparison")
    return bool(first < second)


def _ne(first: Any, second: Any) -> bool:
    return not _eq(first, second)


def _le(first: Any, second: Any) -> bool:
    return _lt(first, second) or _eq(first, second)


def _gt(first: Any, second: Any) -> bool:
    if first.__class__ is second.__class__ and first.__class__ in _DIRECTLY_COMPARABLE:
        return bool(first > second)
    return not _le(first, second)


def _ge(first: Any, second: Any) -> bool:
    if first.__class__ is second.__class__ and first.__class__ in _DIRECTLY_COMPARABLE:
        return bool(first >= second)
    return not _lt(first, second)


# Indexing -----------------------------------------------------------------------------------


def _index_argument(index: Any, limit: int) -> int:
    if _is_nil(index):
        raise FunctionError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise FunctionError(f"cannot index slice/array with type {go_type_name(index)}")
    if index < 0 or index > limit:
        raise FunctionError(f"index out of range: {index}")
    return index


def _index(item: Any, *indexes: Any) -> Any:
    if _is_nil(item):
        raise FunctionError("index of untyped nil")
    for index in indexes:
        if isinstance(item, str):
            data = item.encode()
            position = _index_argument(index, len(data))
            if position == len(data):
                raise FunctionError(f"index out of range: {position}")
            item = data[position]
        elif isinstance(item, (list, tuple)):
            position = _index_argument(index, len(item))
            if position == len(item):
                raise FunctionError(f"index out of range: {position}")
            item = item[position]
        elif isinstance(item, Mapping):
            if _is_nil(index):
                raise FunctionError("value is nil; should be of type string")
            if not isinstance(index, str):
                raise FunctionError(f"value has type {go_type_name(index)}; should be string")
            item = item.get(index, "")
        else:
            raise FunctionError(f"can't index item of type {go_type_name(item)}")
    return item


MAX_SLICE_INDEXES = 3


def _slice(item: Any, *indexes: Any) -> Any:
    if _is_nil(item):
        raise FunctionError("slice of untyped nil")
    if len(indexes) > MAX_SLICE_INDEXES:
        raise FunctionError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == MAX_SLICE_INDEXES:
            raise FunctionError("cannot 3-index slice a string")
        data = item.encode()
        length = len(data)
    elif isinstance(item, (list, tuple)):
        length = len(item)
    else:
        raise FunctionError(f"can't slice item of type {go_type_name(item)}")
    bounds = [0, length, length]
    for position, index in enumerate(indexes):
        bounds[position] = _index_argument(index, length)
    if bounds[0] > bounds[1]:
        raise FunctionError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == MAX_SLICE_INDEXES and bounds[1] > bounds[2]:
        raise FunctionError(f"invalid slice index: {bounds[1]} > {bounds[2]}")
    if isinstance(item, str):
        return data[bounds[0] : bounds[1]].decode(errors="replace")
    result = item[bounds[0] : bounds[1]]
    return type(item)(result) if isinstance(item, list) and type(item) is not list else list(result)


def _len(item: Any) -> int:
    if item is NO_VALUE:
        raise FunctionError("reflect: call of reflect.Value.Type on zero Value")
    if item is None:
        raise FunctionError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, (list, tuple, dict)):
        return len(item)
    raise FunctionError(f"len of type {go_type_name(item)}")


def _not(value: Any) -> bool:
    return not is_true(value)


def _call(function: Any, *args: Any) -> Any:
    if _is_nil(function):
        raise FunctionError("call of nil")
    raise FunctionError(f"non-function of type {go_type_name(function)}")


# Escapers -----------------------------------------------------------------------------------


def _join_args(args: Sequence[Any]) -> str:
    """text/template's evalArgs: one string as is, else Sprint with nil shown as <no value>."""
    if len(args) == 1 and isinstance(args[0], str) and not isinstance(args[0], SafeHTML):
        return args[0]
    return sprint(["<no value>" if arg is None or arg is NO_VALUE else arg for arg in args])


_HTML_ESCAPES = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}


def html_escape_string(text: str) -> str:
    """text/template's HTMLEscapeString."""
    if not any(char in text for char in _HTML_ESCAPES):
        return text
    return "".join(_HTML_ESCAPES.get(char, char) for char in text)


_JS_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def js_escape_string(text: str) -> str:
    out: list[str] = []
    for char in text:
        escaped = _JS_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char < " ":
            out.append(f"\\u{ord(char):04X}")
        elif ord(char) >= 0x80 and not char.isprintable():
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def _html(*args: Any) -> str:
    return html_escape_string(_join_args(args))


def _js(*args: Any) -> str:
    return js_escape_string(_join_args(args))


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_join_args(args), safe="-_.~")


def _print(*args: Any) -> str:
    return sprint(args)


def _println(*args: Any) -> str:
    return sprintln(args)


def _printf(template: str, *args: Any) -> str:
    return sprintf(template, args)


# Alertmanager's functions -------------------------------------------------------------------


def _map_runes(text: str, convert: Callable[[str], str]) -> str:
    # Go maps rune by rune; a conversion that would change the length (ß -> SS) is skipped.
    out: list[str] = []
    for char in text:
        converted = convert(char)
        out.append(converted if len(converted) == 1 else char)
    return "".join(out)


def to_upper(text: str) -> str:
    return text.upper() if text.isascii() else _map_runes(text, str.upper)


# The one rune whose simple (Go) lowercase differs from the first rune of its full (Python) one.
_SIMPLE_LOWER_EXCEPTIONS = {"\u0130": "i"}


def to_lower(text: str) -> str:
    if text.isascii():
        return text.lower()
    return _map_runes(text, lambda char: _SIMPLE_LOWER_EXCEPTIONS.get(char) or char.lower())


# Word-break classes (Unicode UAX #29, simplified to what labels and annotations contain).
_MID_LETTER = frozenset(":·\u0387\u05f4\u2027\ufe13\ufe55\uff1a")
_MID_NUM_LET = frozenset(".'\u2018\u2019\u2024\ufe52\uff07\uff0e")
_MID_NUM = frozenset(",;\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b")


def _is_letter(char: str) -> bool:
    return char.isalpha() or unicodedata.category(char) in ("Mn", "Mc")


def _is_word_char(char: str) -> bool:
    return _is_letter(char) or char.isdecimal() or char == "_"


def title(text: str) -> str:
    """x/text cases.Title(en-US): upper-case each word's first letter, lower-case the rest.

    Words follow Unicode word boundaries: letters, digits and underscores, joined across a
    single `.` or `'` between letters (so "it's" and "a.b" are one word) and across `,` or `.`
    between digits.
    """
    out: list[str] = []
    in_word = False
    seen_cased = False
    length = len(text)
    for index, char in enumerate(text):
        if _is_word_char(char):
            if not in_word:
                in_word, seen_cased = True, False
            if _is_letter(char) and not seen_cased:
                out.append(_title_rune(char))
                seen_cased = True
            elif _is_letter(char):
                out.append(char.lower())  # x/text uses the full mapping here, unlike toLower
            else:
                out.append(char)
            continue
        if in_word and 0 < index < length - 1:
            before, after = text[index - 1], text[index + 1]
            joins_letters = (
                _is_letter(before) and _is_letter(after) and (char in _MID_LETTER or char in _MID_NUM_LET)
            )
            joins_digits = (
                before.isdecimal() and after.isdecimal() and (char in _MID_NUM or char in _MID_NUM_LET)
            )
            if joins_letters or joins_digits:
                out.append(char)
                continue
        in_word = False
        out.append(char)
    return "".join(out)


def _title_rune(char: str) -> str:
    # Full title-case mapping, as x/text/cases: "ß" -> "Ss", "ﬁ" -> "Fi".
    return char.title()


def join(separator: str, items: Sequence[str]) -> str:
    return separator.join(items)


_pattern_cache: dict[str, Any] = {}
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # errors are reported to the template's caller, not stderr
# RE2's C++ parse errors and the names Go's regexp/syntax gives the same conditions.
_GO_REGEXP_ERRORS = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "unexpected )": "unexpected )",
    "bad repetition operator": "invalid nested repetition operator",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "invalid named capture group": "invalid named capture",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class range": "invalid character class range",
    "invalid character class": "invalid character class",
}


def _regexp_error(error: Exception) -> str:
    """`error parsing regexp: <Go's name for the problem>: `<where>``."""
    raw = error.args[0] if error.args else b""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    if text.startswith("trailing \\"):
        return "error parsing regexp: trailing backslash at end of expression: ``"
    problem, _, where = text.partition(": ")
    return f"error parsing regexp: {_GO_REGEXP_ERRORS.get(problem, problem)}: `{where}`"


def compile_go_regexp(pattern: str) -> Any:
    """Compile with RE2 (Go's syntax); raise FunctionError with Go's message on bad syntax."""
    compiled = _pattern_cache.get(pattern)
    if compiled is None:
        try:
            compiled = re2.compile(pattern, _RE2_OPTIONS)
        except re2.error as error:
            raise FunctionError(_regexp_error(error)) from None
        if len(_pattern_cache) >= MAX_CACHED_PATTERNS:
            _pattern_cache.clear()
        _pattern_cache[pattern] = compiled
    return compiled


def match(pattern: str, text: str) -> bool:
    return compile_go_regexp(pattern).search(text) is not None


def _expand_replacement(template: str, found: Any, names: Mapping[str, int]) -> str:
    """regexp.Expand: $1, ${1}, $name, ${name}, $$; unknown groups expand to nothing."""
    out: list[str] = []
    index = 0
    length = len(template)
    while index < length:
        dollar = template.find("$", index)
        if dollar < 0:
            out.append(template[index:])
            break
        out.append(template[index:dollar])
        index = dollar + 1
        if index < length and template[index] == "$":
            out.append("$")
            index += 1
            continue
        name = ""
        if index < length and template[index] == "{":
            close = template.find("}", index + 1)
            candidate = template[index + 1 : close] if close >= 0 else ""
            if close < 0 or not candidate or not all(c.isalnum() or c == "_" for c in candidate):
                out.append("$")
                continue
            name = candidate
            index = close + 1
        else:
            end = index
            while end < length and (template[end].isalnum() or template[end] == "_"):
                end += 1
            if end == index:
                out.append("$")
                continue
            name = template[index:end]
            index = end
        group: int | None = None
        if name.isdigit():
            group = int(name)
        elif name in names:
            group = names[name]
        if group is not None and group <= found.re.groups:
            value = found.group(group)
            if value is not None:
                out.append(value)
    return "".join(out)


def re_replace_all(pattern: str, replacement: str, text: str) -> str:
    """regexp.ReplaceAllString: successive non-overlapping matches; an empty match right after
    a previous match is skipped, as Go does."""
    try:
        compiled = compile_go_regexp(pattern)
    except FunctionError as error:
        # Go's regexp.MustCompile panics; the template engine reports the panic text.
        raise FunctionError(f"regexp: Compile({_backquote(pattern)}): {error}") from None
    names = dict(compiled.groupindex)
    out: list[str] = []
    position = 0
    last_match_end = -1
    search_from = 0
    while search_from <= len(text):
        found = compiled.search(text, search_from)
        if found is None:
            break
        start, end = found.span()
        if not (start == end and start == last_match_end):
            out.append(text[position:start])
            out.append(_expand_replacement(replacement, found, names))
            position = end
        last_match_end = end
        search_from = end + 1 if end == start else end
    out.append(text[position:])
    return "".join(out)


def _backquote(text: str) -> str:
    return "`" + text + "`"


def safe_html(text: str) -> SafeHTML:
    return SafeHTML(text)


def string_slice(*items: str) -> list[str]:
    return list(items)


# Parameter "value" is Go's reflect.Value: a nil or missing argument stays <no value>;
# "any" is interface{}: it becomes nil.
BUILTINS: dict[str, Function] = {
    "and": Function(lambda *args: args, ("value",), "value", builtin=True),
    "or": Function(lambda *args: args, ("value",), "value", builtin=True),
    "not": Function(_not, ("value",), builtin=True),
    "call": Function(_call, ("value",), "value", builtin=True),
    "html": Function(_html, (), "any", builtin=True),
    "index": Function(_index, ("value",), "value", builtin=True),
    "slice": Function(_slice, ("value",), "value", builtin=True),
    "js": Function(_js, (), "any", builtin=True),
    "len": Function(_len, ("value",), builtin=True),
    "print": Function(_print, (), "any", builtin=True),
    "printf": Function(_printf, ("string",), "any", builtin=True),
    "println": Function(_println, (), "any", builtin=True),
    "urlquery": Function(_urlquery, (), "any", builtin=True),
    "eq": Function(_eq, ("value",), "value", builtin=True),
    "ge": Function(_ge, ("value", "value"), builtin=True),
    "gt": Function(_gt, ("value", "value"), builtin=True),
    "le": Function(_le, ("value", "value"), builtin=True),
    "lt": Function(_lt, ("value", "value"), builtin=True),
    "ne": Function(_ne, ("value", "value"), builtin=True),
}

ALERTMANAGER_FUNCTIONS: dict[str, Function] = {
    "toUpper": Function(to_upper, ("string",)),
    "toLower": Function(to_lower, ("string",)),
    "title": Function(title, ("string",)),
    "join": Function(join, ("string", "[]string")),
    "match": Function(match, ("string", "string")),
    "reReplaceAll": Function(re_replace_all, ("string", "string", "string")),
    "safeHtml": Function(safe_html, ("string",)),
    "stringSlice": Function(string_slice, (), "string"),
}

DEFAULT_FUNCTIONS: dict[str, Function] = {**BUILTINS, **ALERTMANAGER_FUNCTIONS}

__all__ = ["DEFAULT_FUNCTIONS", "Function", "FunctionError", "GoValue", "is_true"]
