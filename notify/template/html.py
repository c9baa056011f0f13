"""html/template-style contextual escaping: HTML contexts, literal-text transitions, escapers.

Go's html/template rewrites the parse tree ahead of time so each action escapes for the HTML
context it sits in. The pieces here serve both engines: the compiler follows the context
through literal text once (`literal_transition`) and picks each action's escaper
(`value_escaper`); the interpreter's HTMLWriter tracks the context as output is written.
Each value is escaped for its context:

    text            HTML-escape (`&amp; &lt; &gt; &#34; &#39; &#43;`); SafeHTML passes
    <title>, <textarea>
                    the same, RCDATA rules
    attribute value HTML-escape; a URL attribute (href, src, ...) first filters unsafe
                    schemes (`#ZgotmplZ`) and percent-encodes, or query-escapes after `?`/`#`
    unquoted value  also escapes spaces and `=`
    HTML comment    dropped, with anything interpolated into it
    <script>, on*   JSON-like JS values; <style>, style="": CSS value filter

A value ending its pipeline with `html` or `urlquery` is not escaped twice, as in Go.
Templates whose branches end in different contexts are refused before execution
(`escapecheck`), as Go refuses them.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from typing import Any

from notify.template.errors import TemplateExecError
from notify.template.evaluator import Writer
from notify.template.gofmt import SafeHTML, format_value
from notify.template.lexer import go_quote

FILTER_FAILSAFE = "ZgotmplZ"
DOCTYPE = "<!DOCTYPE"

_HTML_TABLE = {
    "\0": "\ufffd",
    '"': "&#34;",
    "&": "&amp;",
    "'": "&#39;",
    "+": "&#43;",
    "<": "&lt;",
    ">": "&gt;",
}
_HTML_NORM_TABLE = {k: v for k, v in _HTML_TABLE.items() if k != "&"}
_HTML_NOSPACE_TABLE = {
    "\0": "&#xfffd;",
    "\t": "&#9;",
    "\n": "&#10;",
    "\v": "&#11;",
    "\f": "&#12;",
    "\r": "&#13;",
    " ": "&#32;",
    '"': "&#34;",
    "&": "&amp;",
    "'": "&#39;",
    "+": "&#43;",
    "<": "&lt;",
    "=": "&#61;",
    ">": "&gt;",
    "`": "&#96;",
}
_HTML_PATTERN = re.compile("[\0\"&'+<>]")
_HTML_NORM_PATTERN = re.compile("[\0\"'+<>]")
_NOSPACE_PATTERN = re.compile("[\0\t\n\v\f\r \"&'+<=>`]")
_TAG_PATTERN = re.compile(r"<[^>]*>?")

_URL_ATTRIBUTES = frozenset(
    "action archive background cite classid codebase data formaction href icon longdesc manifest poster "
    "profile src usemap xmlns".split()
)
_RCDATA_ELEMENTS = frozenset(("textarea", "title"))
_SPECIAL_ELEMENTS = _RCDATA_ELEMENTS | {"script", "style"}
# Go quotes at most this many characters of a bad attribute name in its error.
_QUOTED_NAME_CHARS = 32
# Characters html/template refuses inside an unquoted attribute value (browsers disagree on them).
_UNQUOTED_ATTR_FORBIDDEN = frozenset("\"'<=`")


def _replace(text: str, pattern: re.Pattern[str], table: dict[str, str]) -> str:
    return pattern.sub(lambda found: table[found.group()], text)


# Exported for compiled templates, which inline html_escape.
HTML_ENTITY_PATTERN = _HTML_PATTERN


def html_entity(found: re.Match[str]) -> str:
    return _HTML_TABLE[found.group()]


def html_escape(text: str) -> str:
    if _HTML_PATTERN.search(text) is None:
        return text  # most label values need no escaping; searching is cheaper than substituting
    # Chained replacements beat a substitution callback per character; `&` goes first.
    return (
        text.replace("&", "&amp;")
        .replace("\0", "\ufffd")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
        .replace("+", "&#43;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


# Escaped forms of short strings printed in HTML text, for compiled templates: label values
# repeat across the alerts of a notification and across notifications. Bounded in entries
# and in the length of what is kept.
MAX_REMEMBERED_ESCAPES = 4096
MAX_REMEMBERED_LENGTH = 256
_remembered_escapes: dict[str, str] = {}


def remembered_escapes() -> dict[str, str]:
    return _remembered_escapes


def escape_and_remember(text: str) -> str:
    escaped = html_escape(text)
    if len(text) <= MAX_REMEMBERED_LENGTH:
        if len(_remembered_escapes) >= MAX_REMEMBERED_ESCAPES:
            _remembered_escapes.clear()
        _remembered_escapes[text] = escaped
    return escaped


def _strip_tags(text: str) -> str:
    return _TAG_PATTERN.sub("", text)


# Bytes html/template percent-encodes in a URL: everything but the unreserved characters; when
# normalizing, reserved characters and a `%` starting a valid escape stay too.
_URL_ESCAPED_BYTES = re.compile(rb"[^-._~a-zA-Z0-9]")
_URL_NORMALIZED_BYTES = re.compile(rb"[^-._~a-zA-Z0-9!#$&*+,/:;=?@\[\]%]|%(?![0-9a-fA-F]{2})")
# The same on text, for the usual all-ASCII URL (no encoding round trip).
_URL_ESCAPED_ASCII = re.compile(_URL_ESCAPED_BYTES.pattern.decode())
_URL_NORMALIZED_ASCII = re.compile(_URL_NORMALIZED_BYTES.pattern.decode())


def _percent_encode(found: re.Match[bytes]) -> bytes:
    return b"%%%02x" % found.group()[0]


def _percent_encode_ascii(found: re.Match[str]) -> str:
    return f"%{ord(found.group()):02x}"


_URL_KEPT_WHEN_NORMALIZED = re.compile(r"[^-._~a-zA-Z0-9!#$&*+,/:;=?@\[\]%]")
_URL_BAD_PERCENT = re.compile(r"%(?![0-9a-fA-F]{2})")


def _process_url(text: str, normalize: bool) -> str:
    if text.isascii():
        if normalize:
            # Two plain searches are cheaper than the combined pattern on a clean URL.
            if _URL_KEPT_WHEN_NORMALIZED.search(text) is None and (
                "%" not in text or _URL_BAD_PERCENT.search(text) is None
            ):
                return text
            return _URL_NORMALIZED_ASCII.sub(_percent_encode_ascii, text)
        if _URL_ESCAPED_ASCII.search(text) is None:
            return text
        return _URL_ESCAPED_ASCII.sub(_percent_encode_ascii, text)
    byte_pattern = _URL_NORMALIZED_BYTES if normalize else _URL_ESCAPED_BYTES
    return byte_pattern.sub(_percent_encode, text.encode()).decode("ascii")


def _is_safe_url(text: str) -> bool:
    protocol, colon, _ = text.partition(":")
    if colon and "/" not in protocol:
        return protocol.lower() in ("http", "https", "mailto")
    return True


# Memoised (context, literal text) -> (output, context) transitions, shared by all writers.
# Templates have a bounded number of literal nodes; the bound guards against generated ones.
MAX_MEMOISED_TRANSITIONS = 4096
_transitions: dict[tuple[Any, str], tuple[str, Any]] = {}


class State(enum.Enum):
    TEXT = enum.auto()
    TAG = enum.auto()  # inside a start tag, between attributes
    ATTR_NAME = enum.auto()
    AFTER_NAME = enum.auto()
    BEFORE_VALUE = enum.auto()
    ATTR = enum.auto()  # inside an attribute value
    HTML_COMMENT = enum.auto()
    RCDATA = enum.auto()
    SCRIPT = enum.auto()
    STYLE = enum.auto()


class AttrKind(enum.Enum):
    PLAIN = enum.auto()
    URL = enum.auto()
    JS = enum.auto()
    CSS = enum.auto()


class UrlPart(enum.Enum):
    NONE = enum.auto()
    PRE_QUERY = enum.auto()
    QUERY_OR_FRAGMENT = enum.auto()
    UNKNOWN = enum.auto()  # branches disagree; an action here is refused before execution


# (state, element, attribute name, attribute kind, value delimiter, URL part, JS string quote)
Context = tuple[State, str, str, AttrKind, str, UrlPart, str]
# The static check scans literal text only; its scratch writer never holds more than a node.
FLOW_LIMIT_CHARS = 1 << 62

_GO_STATES = {
    State.TEXT: "stateText",
    State.TAG: "stateTag",
    State.ATTR_NAME: "stateAttrName",
    State.AFTER_NAME: "stateAfterName",
    State.BEFORE_VALUE: "stateBeforeValue",
    State.HTML_COMMENT: "stateHTMLCmt",
    State.RCDATA: "stateRCDATA",
    State.SCRIPT: "stateJS",
    State.STYLE: "stateCSS",
}
_GO_ELEMENTS = {
    "script": "elementScript",
    "style": "elementStyle",
    "textarea": "elementTextarea",
    "title": "elementTitle",
}
_GO_URL_PARTS = {
    UrlPart.NONE: "urlPartNone",
    UrlPart.PRE_QUERY: "urlPartPreQuery",
    UrlPart.QUERY_OR_FRAGMENT: "urlPartQueryOrFrag",
    UrlPart.UNKNOWN: "urlPartUnknown",
}


def describe_context(context: Context) -> str:
    """Go's %v of an html/template context, as its error messages print it."""
    state, element, attr_name, attr_kind, delimiter, url_part, js_quote = context
    in_value = state is State.ATTR
    go_state = _GO_STATES.get(state, "stateAttr")
    if in_value:
        go_state = {AttrKind.URL: "stateURL", AttrKind.JS: "stateJS", AttrKind.CSS: "stateCSS"}.get(
            attr_kind, "stateAttr"
        )
    if go_state == "stateJS" and js_quote:
        go_state = "stateJSDqStr" if js_quote == '"' else "stateJSSqStr"
    go_delimiter = "delimNone"
    if in_value:
        go_delimiter = {'"': "delimDoubleQuote", "'": "delimSingleQuote"}.get(delimiter, "delimSpaceOrTagEnd")
    go_url_part = _GO_URL_PARTS[url_part] if in_value and attr_kind is AttrKind.URL else "urlPartNone"
    attr = "attrNone"
    if state in (State.ATTR_NAME, State.AFTER_NAME, State.BEFORE_VALUE, State.ATTR):
        kind = attr_kind if in_value else _attribute_kind(attr_name)
        attr = {AttrKind.URL: "attrURL", AttrKind.JS: "attrScript", AttrKind.CSS: "attrStyle"}.get(
            kind, "attrNone"
        )
    go_element = _GO_ELEMENTS.get(element, "elementNone")
    return "{" + f"{go_state} {go_delimiter} {go_url_part} jsCtxRegexp {attr} {go_element} <nil>" + "}"


def _attribute_kind(name: str) -> AttrKind:
    name = name.lower()
    if name.startswith("data-"):
        name = name[len("data-") :]
    elif ":" in name:
        prefix, _, local = name.partition(":")
        if prefix == "xmlns":
            return AttrKind.URL
        name = local
    if name in _URL_ATTRIBUTES:
        return AttrKind.URL
    if name == "style":
        return AttrKind.CSS
    if name.startswith("on"):
        return AttrKind.JS
    if "src" in name or "uri" in name or "url" in name:
        return AttrKind.URL
    return AttrKind.PLAIN


class HTMLWriter(Writer):
    contextual = True

    def __init__(self, max_chars: int) -> None:
        super().__init__(max_chars)
        self.state = State.TEXT
        self.element = ""  # the tag whose start tag we are in, or whose raw content follows
        self.attr_name = ""
        self.attr_kind = AttrKind.PLAIN
        self.delimiter = ""  # '"', "'" or " " (unquoted) while in an attribute value
        self.url_part = UrlPart.NONE
        self.js_quote = ""  # the quote of the JS string literal we are in, if any

    # Literal text ---------------------------------------------------------------------------

    def context(self) -> Context:
        """The current context, with the fields that cannot matter any more blanked, so equal
        situations compare equal (for memoising and for joining branches)."""
        state = self.state
        element = self.element if self.element in _SPECIAL_ELEMENTS else ""
        if state is State.ATTR:
            return (state, element, "", self.attr_kind, self.delimiter, self.url_part, self.js_quote)
        if state in (State.ATTR_NAME, State.AFTER_NAME, State.BEFORE_VALUE):
            return (state, element, self.attr_name, AttrKind.PLAIN, "", UrlPart.NONE, "")
        if state is State.SCRIPT:
            return (state, element, "", AttrKind.PLAIN, "", UrlPart.NONE, self.js_quote)
        if state in (State.TAG, State.RCDATA, State.STYLE):
            return (state, element, "", AttrKind.PLAIN, "", UrlPart.NONE, "")
        return (state, "", "", AttrKind.PLAIN, "", UrlPart.NONE, "")

    def set_context(self, context: Context) -> None:
        (
            self.state,
            self.element,
            self.attr_name,
            self.attr_kind,
            self.delimiter,
            self.url_part,
            self.js_quote,
        ) = context

    @staticmethod
    def unquoted_value_context(context: Context) -> Context:
        """The context of an unquoted attribute value starting right here (Go's nudge)."""
        _, element, attr_name, _, _, _, _ = context
        return (State.ATTR, element, attr_name, _attribute_kind(attr_name), " ", UrlPart.NONE, "")

    def text(self, text: str) -> None:
        """Write literal text, stripping HTML comments, and move the context past it.

        The same text in the same context always has the same effect, and templates emit the
        same literal nodes over and over, so the effect is memoised."""
        key = (self.context(), text)
        known = _transitions.get(key)
        if known is not None:
            output, after = known
            if output:
                self.write(output)
            self.set_context(after)
            return
        mark = len(self.parts)
        self._scan(text)
        output = "".join(self.parts[mark:])
        if len(_transitions) >= MAX_MEMOISED_TRANSITIONS:
            _transitions.clear()
        _transitions[key] = (output, self.context())

    def _scan(self, text: str) -> None:
        index = 0
        length = len(text)
        while index < length:
            state = self.state
            if state is State.TEXT:
                start = index
                found = text.find("<", index)
                while found >= 0:
                    if text.startswith("<!--", found):
                        break
                    following = text[found + 1 : found + 2]
                    if following.isalpha() or (following == "/" and text[found + 2 : found + 3].isalpha()):
                        break
                    if text[found : found + len(DOCTYPE)].upper() != DOCTYPE:
                        # A '<' that starts no tag is escaped, as html/template does.
                        self.write(text[start:found] + "&lt;")
                        start = found + 1
                    found = text.find("<", found + 1)
                if found < 0:
                    self.write(text[start:])
                    return
                self.write(text[start:found])
                if text.startswith("<!--", found):
                    self.state = State.HTML_COMMENT
                    index = found + 4
                    continue
                closing = text[found + 1] == "/"
                name_start = found + (2 if closing else 1)
                name_end = name_start
                while name_end < length and (text[name_end].isalnum() or text[name_end] in "-:"):
                    name_end += 1
                self.write(text[found:name_end])
                self.element = "" if closing else text[name_start:name_end].lower()
                self.state = State.TAG
                index = name_end
            elif state is State.HTML_COMMENT:
                end = text.find("-->", index)
                if end < 0:
                    return
                self.state = State.TEXT
                index = end + 3
            elif state in (State.RCDATA, State.SCRIPT, State.STYLE):
                end = text.lower().find("</" + self.element, index)
                if end < 0:
                    end = len(text)
                content = text[index:end]
                if state is State.SCRIPT:
                    self.js_quote = _js_quote_after(content, self.js_quote)
                elif state is State.RCDATA and "<" in content:
                    content = content.replace("<", "&lt;")
                self.write(content)
                if end == len(text):
                    return
                self.state = State.TEXT
                index = end
            elif state is State.TAG:
                char = text[index]
                if char == ">":
                    self.write(char)
                    index += 1
                    self._end_tag()
                elif char.isspace() or char == "/":
                    self.write(char)
                    index += 1
                else:
                    self.state = State.ATTR_NAME
                    self.attr_name = ""
            elif state is State.ATTR_NAME:
                end = index
                while end < length and not (text[end].isspace() or text[end] in "=>/"):
                    if text[end] in "\"'<":
                        raise TemplateExecError(
                            f"html/template: {go_quote(text[end])} in attribute name: "
                            f"{go_quote(text[index : index + _QUOTED_NAME_CHARS])}"
                        )
                    end += 1
                self.attr_name += text[index:end]
                self.write(text[index:end])
                index = end
                if end < length:
                    self.state = State.AFTER_NAME
            elif state is State.AFTER_NAME:
                char = text[index]
                if char.isspace():
                    self.write(char)
                    index += 1
                elif char == "=":
                    self.write(char)
                    index += 1
                    self.state = State.BEFORE_VALUE
                else:
                    self.state = State.TAG
            elif state is State.BEFORE_VALUE:
                char = text[index]
                if char.isspace():
                    self.write(char)
                    index += 1
                    continue
                self._start_value("" if char not in "\"'" else char)
                if char in "\"'":
                    self.write(char)
                    index += 1
            elif state is State.ATTR:
                index = self._attribute_text(text, index)

    def _start_value(self, quote: str) -> None:
        self.state = State.ATTR
        self.delimiter = quote or " "
        self.attr_kind = _attribute_kind(self.attr_name)
        self.url_part = UrlPart.NONE
        self.js_quote = ""

    def _attribute_text(self, text: str, index: int) -> int:
        if self.delimiter == " ":
            end = index
            while end < len(text) and not (text[end].isspace() or text[end] == ">"):
                end += 1
        else:
            end = text.find(self.delimiter, index)
            if end < 0:
                end = len(text)
        value = text[index:end]
        if self.delimiter == " ":
            for char in value:
                if char in _UNQUOTED_ATTR_FORBIDDEN:
                    raise TemplateExecError(
                        f"html/template: {go_quote(char)} in unquoted attr: {go_quote(value)}"
                    )
        self.write(value)
        if self.attr_kind is AttrKind.JS:
            self.js_quote = _js_quote_after(value, self.js_quote)
        if self.attr_kind is AttrKind.URL and value:
            if "#" in value or "?" in value:
                self.url_part = UrlPart.QUERY_OR_FRAGMENT
            elif self.url_part is UrlPart.NONE:
                self.url_part = UrlPart.PRE_QUERY
        if end < len(text):
            if self.delimiter != " ":
                self.write(text[end])
                end += 1
            self.state = State.TAG
        return end

    def _end_tag(self) -> None:
        element = self.element
        if element in _RCDATA_ELEMENTS:
            self.state = State.RCDATA
        elif element == "script":
            self.state = State.SCRIPT
        elif element == "style":
            self.state = State.STYLE
        else:
            self.state = State.TEXT

    # Values ---------------------------------------------------------------------------------

    def value(self, value: Any, escaped_by: str | None) -> None:
        context = value_context(self.context())
        text = escape_value(context, value, escaped_by)
        self.set_context(context)
        self.write(text)


def value_context(context: Context) -> Context:
    """The context a value printed here lands in (Go's nudge): inside a tag, an attribute
    name; right after `=`, an unquoted attribute value. It is also the context after it."""
    state = context[0]
    if state is State.TAG or state is State.AFTER_NAME:
        return (State.ATTR_NAME, *context[1:])
    if state is State.BEFORE_VALUE:
        return HTMLWriter.unquoted_value_context(context)
    return context


def escape_value(context: Context, value: Any, escaped_by: str | None) -> str:
    """The text of `value` escaped for `context` (a value_context), as html/template's
    escapers for that context would print it; `escaped_by` is a predefined escaper ending
    the pipeline, which replaces the equivalent escaper."""
    key = (context, escaped_by)
    escaper = _escapers.get(key)
    if escaper is None:
        if len(_escapers) >= MAX_MEMOISED_TRANSITIONS:
            _escapers.clear()
        escaper = _escapers[key] = value_escaper(context, escaped_by)
    return escaper(value)


ValueEscaper = Callable[[Any], str]
_escapers: dict[tuple[Context, str | None], ValueEscaper] = {}


def _nothing(value: Any) -> str:
    return ""


def _escape_text(value: Any) -> str:
    if value.__class__ is str:
        return html_escape(value)
    if isinstance(value, SafeHTML):
        return format_value(value)
    return html_escape(format_value(value))


def _escape_rcdata(value: Any) -> str:
    if isinstance(value, SafeHTML):
        return _replace(format_value(value), _HTML_NORM_PATTERN, _HTML_NORM_TABLE)
    return html_escape(format_value(value))


def value_escaper(context: Context, escaped_by: str | None) -> ValueEscaper:
    """escape_value for one context, chosen once: the escapers Go's html/template would
    insert for an action in that context."""
    state = context[0]
    if state is State.HTML_COMMENT:
        return _nothing
    if state is State.TEXT:
        return format_value if escaped_by == "html" else _escape_text
    if state is State.RCDATA:
        return format_value if escaped_by == "html" else _escape_rcdata
    if state is State.SCRIPT:
        return (lambda value: _js_string(format_value(value))) if context[6] else _js_value
    if state is State.STYLE:
        return lambda value: _css_value(format_value(value))
    if state is State.ATTR_NAME:
        return lambda value: _html_name(format_value(value))
    return _attribute_escaper(context, escaped_by)


def _attribute_escaper(context: Context, escaped_by: str | None) -> ValueEscaper:
    """An attribute value: first the attribute kind's escaper (URL, JS, CSS), then HTML
    escaping for the attribute's quoting."""
    _, _, _, kind, delimiter, url_part, js_quote = context
    by_kind: Callable[[str, Any], str]
    urlquery_done = escaped_by == "urlquery"
    if kind is AttrKind.URL:
        if url_part is UrlPart.QUERY_OR_FRAGMENT:
            by_kind = _keep_text if urlquery_done else _url_query_part
        elif url_part is UrlPart.NONE:
            by_kind = _url_start_filtered if urlquery_done else _url_start
        else:
            by_kind = _keep_text if urlquery_done else _url_later
    elif kind is AttrKind.JS:
        by_kind = _js_in_string if js_quote else _js_whole_value
    elif kind is AttrKind.CSS:
        by_kind = _css_text
    else:
        by_kind = _keep_text
    if escaped_by == "html":
        return lambda value: by_kind(format_value(value), value)
    if delimiter == " ":
        return lambda value: _replace(
            by_kind(format_value(value), value), _NOSPACE_PATTERN, _HTML_NOSPACE_TABLE
        )
    if kind is AttrKind.PLAIN:
        return _escape_plain_attribute
    return lambda value: html_escape(by_kind(format_value(value), value))


def _escape_plain_attribute(value: Any) -> str:
    if isinstance(value, SafeHTML):
        return _replace(_strip_tags(format_value(value)), _HTML_NORM_PATTERN, _HTML_NORM_TABLE)
    return html_escape(format_value(value))


def _keep_text(text: str, value: Any) -> str:
    return text


def _url_query_part(text: str, value: Any) -> str:
    return _process_url(text, normalize=False)


def _url_start_filtered(text: str, value: Any) -> str:
    return text if _is_safe_url(text) else "#" + FILTER_FAILSAFE


def _url_start(text: str, value: Any) -> str:
    return _process_url(text if _is_safe_url(text) else "#" + FILTER_FAILSAFE, normalize=True)


def _url_later(text: str, value: Any) -> str:
    return _process_url(text, normalize=True)


def _js_in_string(text: str, value: Any) -> str:
    return _js_string(text)


def _js_whole_value(text: str, value: Any) -> str:
    return _js_value(value)


def _css_text(text: str, value: Any) -> str:
    return _css_value(text)


def literal_transition(context: Context, text: str) -> tuple[str, Context]:
    """What literal template text in `context` writes (comments stripped, stray `<`
    escaped) and the context after it; a malformed tag raises TemplateExecError."""
    writer = HTMLWriter(FLOW_LIMIT_CHARS)
    writer.set_context(context)
    writer.text(text)
    return writer.result(), writer.context()


def _html_name(text: str) -> str:
    if not text or not all(char.isalnum() for char in text):
        return FILTER_FAILSAFE
    return text.lower()


def _js_quote_after(code: str, quote: str) -> str:
    """Which string literal (if any) we are inside after `code`; comments and regexps ignored."""
    escaped = False
    for char in code:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
    return quote


_JS_STRING_ESCAPES = {
    "\0": "\\u0000",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\u000b",
    "\f": "\\f",
    "\r": "\\r",
    '"': "\\u0022",
    "&": "\\u0026",
    "'": "\\u0027",
    "+": "\\u002b",
    "/": "\\/",
    "<": "\\u003c",
    ">": "\\u003e",
    "\\": "\\\\",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JS_STRING_PATTERN = re.compile("[" + re.escape("".join(_JS_STRING_ESCAPES)) + "]")
_JSON_HTML_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _js_string(text: str) -> str:
    """jsStrEscaper: a value inside a quoted JS string literal."""
    return _replace(text, _JS_STRING_PATTERN, _JS_STRING_ESCAPES)


def _js_value(value: Any) -> str:
    """jsValEscaper: the value's JSON (HTML-safe), padded with spaces next to identifiers."""
    if isinstance(value, bool) or value is None or (isinstance(value, int | float)):
        encoded = json.dumps(value)
    elif isinstance(value, list | dict):
        encoded = json.dumps(
            value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=format_value
        )
    else:
        encoded = json.dumps(format_value(value), ensure_ascii=False)
    for char, escape in _JSON_HTML_ESCAPES:
        encoded = encoded.replace(char, escape)
    if _is_js_ident_part(encoded[0]) or _is_js_ident_part(encoded[-1]):
        return " " + encoded + " "
    return encoded


def _is_js_ident_part(char: str) -> bool:
    return char.isalnum() or char in "$_"


_CSS_SAFE = re.compile(r"^[\w\s#%+\-.,!/]*$")


def _css_value(text: str) -> str:
    if _CSS_SAFE.match(text) and "expression" not in text.lower() and "url" not in text.lower():
        return text
    return FILTER_FAILSAFE
