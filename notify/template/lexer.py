"""Tokenizer for Go's text/template language (the Go 1.19 rules Alertmanager 0.25 runs on).

The whole input is tokenized up front into a list; a lexical error becomes a final ERROR token
at the place it happened, so the parser reports it exactly when it reaches it, as Go does.
Positions are string indices; lines are 1-based.
"""

from __future__ import annotations

import dataclasses
import enum

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
LEFT_COMMENT = "/*"
RIGHT_COMMENT = "*/"
TRIM_MARKER = "-"
# The marker plus the one space that must separate it from the delimiter.
TRIM_MARKER_LENGTH = 2
SPACE_CHARS = " \t\r\n"
# Characters after which an identifier, field or variable may end.
TERMINATOR_CHARS = frozenset(SPACE_CHARS) | frozenset(".,|:()")
# Longest token text quoted in full in error messages; Go abbreviates longer ones.
MAX_QUOTED_TOKEN_LENGTH = 10


class Kind(enum.IntEnum):
    ERROR = enum.auto()
    BOOL = enum.auto()
    CHAR = enum.auto()  # a printable ASCII character inside an action, e.g. ','
    CHAR_CONSTANT = enum.auto()
    COMPLEX = enum.auto()
    ASSIGN = enum.auto()
    DECLARE = enum.auto()
    EOF = enum.auto()
    FIELD = enum.auto()
    IDENTIFIER = enum.auto()
    LEFT_DELIM = enum.auto()
    LEFT_PAREN = enum.auto()
    NUMBER = enum.auto()
    PIPE = enum.auto()
    RAW_STRING = enum.auto()
    RIGHT_DELIM = enum.auto()
    RIGHT_PAREN = enum.auto()
    SPACE = enum.auto()
    STRING = enum.auto()
    TEXT = enum.auto()
    VARIABLE = enum.auto()
    # Keywords: everything after KEYWORD prints as <word> in error messages.
    KEYWORD = enum.auto()
    BLOCK = enum.auto()
    BREAK = enum.auto()
    CONTINUE = enum.auto()
    DOT = enum.auto()
    DEFINE = enum.auto()
    ELSE = enum.auto()
    END = enum.auto()
    IF = enum.auto()
    NIL = enum.auto()
    RANGE = enum.auto()
    TEMPLATE = enum.auto()
    WITH = enum.auto()


KEYWORDS = {
    ".": Kind.DOT,
    "block": Kind.BLOCK,
    "break": Kind.BREAK,
    "continue": Kind.CONTINUE,
    "define": Kind.DEFINE,
    "else": Kind.ELSE,
    "end": Kind.END,
    "if": Kind.IF,
    "range": Kind.RANGE,
    "nil": Kind.NIL,
    "template": Kind.TEMPLATE,
    "with": Kind.WITH,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    pos: int
    value: str
    line: int

    def describe(self) -> str:
        """How Go's parser names this token in an error message."""
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind is Kind.ERROR:
            return self.value
        if self.kind > Kind.KEYWORD:
            return f"<{self.value}>"
        if len(self.value) > MAX_QUOTED_TOKEN_LENGTH:
            return go_quote(self.value[:MAX_QUOTED_TOKEN_LENGTH]) + "..."
        return go_quote(self.value)


def go_quote(text: str) -> str:
    """strconv.Quote: double-quoted with Go escapes; printable Unicode kept as is."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def describe_rune(char: str) -> str:
    """Go's %#U: U+0021 '!'."""
    code = ord(char)
    text = f"U+{code:04X}"
    if char.isprintable():
        text += f" '{char}'"
    return text


def is_space(char: str) -> bool:
    return char != "" and char in SPACE_CHARS


def is_alphanumeric(char: str) -> bool:
    return char == "_" or char.isalpha() or (char.isdigit() and char.isdecimal())


def has_left_trim_marker(text: str, pos: int) -> bool:
    return text.startswith(TRIM_MARKER, pos) and is_space(text[pos + 1 : pos + 2])


def has_right_trim_marker(text: str, pos: int) -> bool:
    return is_space(text[pos : pos + 1]) and text.startswith(TRIM_MARKER, pos + 1)


class _LexicalError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class Lexer:
    """Turns template text into tokens. `break`/`continue` are keywords unless shadowed by a function."""

    def __init__(self, text: str, break_ok: bool = True, continue_ok: bool = True) -> None:
        self.text = text
        self.break_ok = break_ok
        self.continue_ok = continue_ok
        self.tokens: list[Token] = []
        self._newline_offsets: list[int] = [i for i, char in enumerate(text) if char == "\n"]

    def line_at(self, pos: int) -> int:
        # Number of newlines before pos, plus one.
        low, high = 0, len(self._newline_offsets)
        while low < high:
            middle = (low + high) // 2
            if self._newline_offsets[middle] < pos:
                low = middle + 1
            else:
                high = middle
        return low + 1

    def _emit(self, kind: Kind, start: int, end: int) -> None:
        self.tokens.append(Token(kind, start, self.text[start:end], self.line_at(start)))

    def tokenize(self) -> list[Token]:
        pos = 0
        try:
            while True:
                pos = self._lex_text(pos)
                if pos < 0:
                    break
                pos = self._lex_action(pos)
        except _LexicalError as error:
            self.tokens.append(Token(Kind.ERROR, error.pos, error.message, self.line_at(error.pos)))
        return self.tokens

    def _lex_text(self, pos: int) -> int:
        """Emit text up to the next left delimiter; return its position, or -1 at EOF."""
        text = self.text
        found = text.find(LEFT_DELIM, pos)
        if found < 0:
            if len(text) > pos:
                self._emit(Kind.TEXT, pos, len(text))
            self.tokens.append(Token(Kind.EOF, len(text), "", self.line_at(len(text))))
            return -1
        end = found
        if has_left_trim_marker(text, found + len(LEFT_DELIM)):
            end = len(text[pos:found].rstrip(SPACE_CHARS)) + pos
        if end > pos:
            self._emit(Kind.TEXT, pos, end)
        return found

    def _at_right_delim(self, pos: int) -> tuple[bool, bool]:
        if has_right_trim_marker(self.text, pos) and self.text.startswith(
            RIGHT_DELIM, pos + TRIM_MARKER_LENGTH
        ):
            return True, True
        if self.text.startswith(RIGHT_DELIM, pos):
            return True, False
        return False, False

    def _after_right_delim(self, pos: int, trim: bool) -> int:
        pos += len(RIGHT_DELIM)
        if trim:
            stripped = self.text[pos:].lstrip(SPACE_CHARS)
            pos = len(self.text) - len(stripped)
        return pos

    def _lex_action(self, pos: int) -> int:
        """Lex from a left delimiter through its right delimiter; return the position after it."""
        text = self.text
        start = pos
        pos += len(LEFT_DELIM)
        after_marker = TRIM_MARKER_LENGTH if has_left_trim_marker(text, pos) else 0
        if text.startswith(LEFT_COMMENT, pos + after_marker):
            comment_start = pos + after_marker
            close = text.find(RIGHT_COMMENT, comment_start + len(LEFT_COMMENT))
            if close < 0:
                raise _LexicalError("unclosed comment", comment_start)
            pos = close + len(RIGHT_COMMENT)
            is_delim, trim = self._at_right_delim(pos)
            if not is_delim:
                raise _LexicalError("comment ends before closing delimiter", comment_start)
            if trim:
                pos += TRIM_MARKER_LENGTH
            return self._after_right_delim(pos, trim)
        self._emit(Kind.LEFT_DELIM, start, pos)
        pos += after_marker
        paren_depth = 0
        while True:
            is_delim, trim = self._at_right_delim(pos)
            if is_delim:
                if paren_depth:
                    raise _LexicalError("unclosed left paren", pos)
                if trim:
                    pos += TRIM_MARKER_LENGTH
                self._emit(Kind.RIGHT_DELIM, pos, pos + len(RIGHT_DELIM))
                return self._after_right_delim(pos, trim)
            if pos >= len(text):
                raise _LexicalError("unclosed action", pos)
            char = text[pos]
            if is_space(char):
                pos = self._lex_space(pos)
            elif char == "=":
                self._emit(Kind.ASSIGN, pos, pos + 1)
                pos += 1
            elif char == ":":
                if text[pos + 1 : pos + 2] != "=":
                    raise _LexicalError("expected :=", pos)
                self._emit(Kind.DECLARE, pos, pos + 2)
                pos += 2
            elif char == "|":
                self._emit(Kind.PIPE, pos, pos + 1)
                pos += 1
            elif char == '"':
                pos = self._lex_quote(pos)
            elif char == "`":
                close = text.find("`", pos + 1)
                if close < 0:
                    raise _LexicalError("unterminated raw quoted string", pos)
                self._emit(Kind.RAW_STRING, pos, close + 1)
                pos = close + 1
            elif char == "$":
                pos = self._lex_field_or_variable(pos, Kind.VARIABLE)
            elif char == "'":
                pos = self._lex_char(pos)
            elif char == "." and pos + 1 < len(text) and not "0" <= text[pos + 1] <= "9":
                pos = self._lex_field_or_variable(pos, Kind.FIELD)
            elif char in "+-." or "0" <= char <= "9":
                pos = self._lex_number(pos)
            elif is_alphanumeric(char):
                pos = self._lex_identifier(pos)
            elif char == "(":
                self._emit(Kind.LEFT_PAREN, pos, pos + 1)
                paren_depth += 1
                pos += 1
            elif char == ")":
                self._emit(Kind.RIGHT_PAREN, pos, pos + 1)
                paren_depth -= 1
                if paren_depth < 0:
                    raise _LexicalError(f"unexpected right paren {describe_rune(char)}", pos)
                pos += 1
            elif ord(char) < 0x80 and char.isprintable():
                self._emit(Kind.CHAR, pos, pos + 1)
                pos += 1
            else:
                raise _LexicalError(f"unrecognized character in action: {describe_rune(char)}", pos)

    def _lex_space(self, pos: int) -> int:
        start = pos
        while is_space(self.text[pos : pos + 1]):
            pos += 1
        # A run ending in " -}}" leaves its last space to the trim marker.
        if has_right_trim_marker(self.text, pos - 1) and self.text.startswith(
            RIGHT_DELIM, pos - 1 + TRIM_MARKER_LENGTH
        ):
            pos -= 1
            if pos == start:
                return pos
        self._emit(Kind.SPACE, start, pos)
        return pos

    def _at_terminator(self, pos: int) -> bool:
        char = self.text[pos : pos + 1]
        if char == "" or char in TERMINATOR_CHARS:
            return True
        return self.text.startswith(RIGHT_DELIM, pos)

    def _lex_identifier(self, pos: int) -> int:
        start = pos
        while pos < len(self.text) and is_alphanumeric(self.text[pos]):
            pos += 1
        if not self._at_terminator(pos):
            raise _LexicalError(f"bad character {describe_rune(self.text[pos])}", start)
        word = self.text[start:pos]
        keyword = KEYWORDS.get(word)
        if keyword is not None and keyword > Kind.KEYWORD:
            if (keyword is Kind.BREAK and not self.break_ok) or (
                keyword is Kind.CONTINUE and not self.continue_ok
            ):
                keyword = Kind.IDENTIFIER
            self._emit(keyword, start, pos)
        elif word in ("true", "false"):
            self._emit(Kind.BOOL, start, pos)
        else:
            self._emit(Kind.IDENTIFIER, start, pos)
        return pos

    def _lex_field_or_variable(self, pos: int, kind: Kind) -> int:
        start = pos
        pos += 1
        if self._at_terminator(pos):
            self._emit(Kind.VARIABLE if kind is Kind.VARIABLE else Kind.DOT, start, pos)
            return pos
        while pos < len(self.text) and is_alphanumeric(self.text[pos]):
            pos += 1
        if not self._at_terminator(pos):
            raise _LexicalError(f"bad character {describe_rune(self.text[pos])}", start)
        self._emit(kind, start, pos)
        return pos

    def _lex_char(self, pos: int) -> int:
        return self._lex_delimited(pos, "'", Kind.CHAR_CONSTANT, "unterminated character constant")

    def _lex_quote(self, pos: int) -> int:
        return self._lex_delimited(pos, '"', Kind.STRING, "unterminated quoted string")

    def _lex_delimited(self, pos: int, closing: str, kind: Kind, unterminated: str) -> int:
        """A char constant or quoted string starting at `pos`: backslash escapes anything but a
        newline; a newline or the end of the text before `closing` is `unterminated`."""
        start = pos
        pos += 1
        text = self.text
        while True:
            char = text[pos : pos + 1]
            pos += 1
            if char == "\\":
                following = text[pos : pos + 1]
                pos += 1
                if following not in ("", "\n"):
                    continue
                raise _LexicalError(unterminated, start)
            if char in ("", "\n"):
                raise _LexicalError(unterminated, start)
            if char == closing:
                break
        self._emit(kind, start, pos)
        return pos

    def _scan_number(self, pos: int) -> tuple[int, bool]:
        text = self.text

        def accept(pos: int, valid: str) -> tuple[int, bool]:
            if pos < len(text) and text[pos] in valid:
                return pos + 1, True
            return pos, False

        def accept_run(pos: int, valid: str) -> int:
            while pos < len(text) and text[pos] in valid:
                pos += 1
            return pos

        pos, _ = accept(pos, "+-")
        digits = "0123456789_"
        pos, leading_zero = accept(pos, "0")
        if leading_zero:
            for prefix, prefix_digits in (
                ("xX", "0123456789abcdefABCDEF_"),
                ("oO", "01234567_"),
                ("bB", "01_"),
            ):
                pos, matched = accept(pos, prefix)
                if matched:
                    digits = prefix_digits
                    break
        pos = accept_run(pos, digits)
        pos, dot = accept(pos, ".")
        if dot:
            pos = accept_run(pos, digits)
        if digits == "0123456789_":
            pos, exponent = accept(pos, "eE")
            if exponent:
                pos, _ = accept(pos, "+-")
                pos = accept_run(pos, "0123456789_")
        if digits == "0123456789abcdefABCDEF_":
            pos, exponent = accept(pos, "pP")
            if exponent:
                pos, _ = accept(pos, "+-")
                pos = accept_run(pos, "0123456789_")
        pos, _ = accept(pos, "i")
        if pos < len(text) and is_alphanumeric(text[pos]):
            return pos + 1, False
        return pos, True

    def _lex_number(self, start: int) -> int:
        pos, ok = self._scan_number(start)
        if not ok:
            raise _LexicalError(f"bad number syntax: {go_quote(self.text[start:pos])}", start)
        if self.text[pos : pos + 1] in ("+", "-") and pos < len(self.text):
            pos, ok = self._scan_number(pos)
            if not ok or self.text[pos - 1] != "i":
                raise _LexicalError(f"bad number syntax: {go_quote(self.text[start:pos])}", start)
            self._emit(Kind.COMPLEX, start, pos)
        else:
            self._emit(Kind.NUMBER, start, pos)
        return pos
