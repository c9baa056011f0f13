"""Regex matchers that validation settles without compiling: the shortcut must never accept a
pattern that RE2 plus Go's extra rules would refuse."""

from __future__ import annotations

import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.silences import _PLAIN_REGEX, MAX_PLAIN_REGEX_CHARACTERS, _regex_error

# Literal characters, the wildcard pieces the shortcut knows, and characters it must refuse.
PIECES = ["a", "Z", "9", "-", ":", "|", " ", "~", ".*", ".+", ".", "*", "+", "?", "(", ")", "[", "]", "\\", "{", "}"]


def compiles(pattern: str) -> bool:
    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(pattern, options=options)
    except re2.error:
        return False
    return True


@settings(max_examples=2000)
@given(st.lists(st.sampled_from(PIECES), max_size=12))
def test_shortcut_only_takes_patterns_go_accepts(pieces: list[str]) -> None:
    pattern = "".join(pieces)
    if _PLAIN_REGEX.fullmatch(pattern):
        assert compiles(pattern), pattern
        assert _regex_error(pattern) is None


def test_typical_silence_regexes_take_the_shortcut() -> None:
    for pattern in ("host-17:.*", "api|web|db", ".+", "node_exporter", ""):
        assert _PLAIN_REGEX.fullmatch(pattern)
        assert _regex_error(pattern) is None


def test_invalid_patterns_still_get_go_errors() -> None:
    assert _regex_error("a**") == "error parsing regexp: invalid nested repetition operator: `**`"
    assert _regex_error("*") == "error parsing regexp: missing argument to repetition operator: `*`"
    assert _regex_error("(?<name>x)") == "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"


def test_long_literals_go_to_re2() -> None:
    long_literal = "a" * (MAX_PLAIN_REGEX_CHARACTERS + 1)
    assert _PLAIN_REGEX.fullmatch(long_literal)  # plain, but past the bound RE2 decides
    assert _regex_error(long_literal) is None
