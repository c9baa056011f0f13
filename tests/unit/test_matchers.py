"""Matchers: parsing, evaluation and printing, checked against Alertmanager 0.25's behaviour.

The error texts in the tables were produced by the real amtool 0.25
(`amtool config routes test --config.file=min.yml a=b '<matcher>'`).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.matchers import (
    Matcher,
    MatcherError,
    MatchType,
    format_label_set,
    format_matchers,
    go_quote,
    is_valid_label_name,
    matches_all,
    parse_matcher,
    parse_matchers,
    sorted_matchers,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("foo=bar", [Matcher("foo", MatchType.EQUAL, "bar")]),
        ('{foo="bar"}', [Matcher("foo", MatchType.EQUAL, "bar")]),
        ("{foo=~bar.*}", [Matcher("foo", MatchType.REGEX, "bar.*")]),
        ("foo!=bar", [Matcher("foo", MatchType.NOT_EQUAL, "bar")]),
        ('foo!~"bar"', [Matcher("foo", MatchType.NOT_REGEX, "bar")]),
        (
            '{foo="bar", baz!~"q,ux"}',
            [Matcher("foo", MatchType.EQUAL, "bar"), Matcher("baz", MatchType.NOT_REGEX, "q,ux")],
        ),
        ("a=b,", [Matcher("a", MatchType.EQUAL, "b")]),
        ("{a=b, }", [Matcher("a", MatchType.EQUAL, "b")]),
        ("  a  =  b  ", [Matcher("a", MatchType.EQUAL, "b")]),
        ("a=", [Matcher("a", MatchType.EQUAL, "")]),
        ('a=""', [Matcher("a", MatchType.EQUAL, "")]),
        ('a="x y "', [Matcher("a", MatchType.EQUAL, "x y ")]),
        # Escapes: \n, \" and \\ are decoded; any other backslash stays literal.
        (r'a="x\ny"', [Matcher("a", MatchType.EQUAL, "x\ny")]),
        (r'a="say \"hi\""', [Matcher("a", MatchType.EQUAL, 'say "hi"')]),
        (r'a="back\\slash"', [Matcher("a", MatchType.EQUAL, "back\\slash")]),
        (r"a=\d+", [Matcher("a", MatchType.EQUAL, "\\d+")]),
        ("a=trailing\\", [Matcher("a", MatchType.EQUAL, "trailing\\")]),
        # `=~` is taken before `=`; a spaced `= ~` makes the tilde part of the value.
        ("a=~b", [Matcher("a", MatchType.REGEX, "b")]),
        ("a= ~b", [Matcher("a", MatchType.EQUAL, "~b")]),
        ("job:rate=x", [Matcher("job:rate", MatchType.EQUAL, "x")]),
        ("a==b", [Matcher("a", MatchType.EQUAL, "=b")]),
        ("a=b=c", [Matcher("a", MatchType.EQUAL, "b=c")]),
        ("", []),
        ("{}", []),
        ("a=\u00e9t\u00e9", [Matcher("a", MatchType.EQUAL, "\u00e9t\u00e9")]),
    ],
)
def test_parse_matchers(text: str, expected: list[Matcher]) -> None:
    assert parse_matchers(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "bad matcher format: foo"),
        ("{a=b,,c=d}", "bad matcher format: {a=b,,c=d}"),
        ("1a=b", "bad matcher format: 1a=b"),
        ("a-b=c", "bad matcher format: a-b=c"),
        ('a="b', 'matcher value contains unescaped double quote: "b'),
        ('a=b"c', 'matcher value contains unescaped double quote: b"c'),
        ('a="b"c"', 'matcher value contains unescaped double quote: "b"c"'),
        ("foo=~(", "error parsing regexp: missing closing ): `^(?:()$`"),
        ("foo=~a**", "error parsing regexp: invalid nested repetition operator: `**`"),
        ("foo=~[z-a]", "error parsing regexp: invalid character class range: `z-a`"),
        ("x=~\\", "error parsing regexp: missing closing ): `^(?:\\)$`"),
        ("x=~a{2,1}", "error parsing regexp: invalid repeat count: `{2,1}`"),
        ("x=~a{1001}", "error parsing regexp: invalid repeat count: `{1001}`"),
        ("x=~*", "error parsing regexp: missing argument to repetition operator: `*`"),
        ("x=~(?<n>a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"),
        ("x=~[[:alpha:]](?<n>a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"),
        ("x=~\\8", "error parsing regexp: invalid escape sequence: `\\8`"),
        ("x=~\\C", "error parsing regexp: invalid escape sequence: `\\C`"),
        ("x=~[a", "error parsing regexp: missing closing ]: `[a)$`"),
        ("x=~)", "error parsing regexp: unexpected ): `^(?:))$`"),
        ("x=~\\pX", "error parsing regexp: invalid character class range: `\\pX`"),
        ("x=~(?P<>a)", "error parsing regexp: invalid named capture: `(?P<>`"),
    ],
)
def test_parse_errors_have_alertmanagers_text(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matcher(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # An empty token between two commas reaches ParseMatcher as "".
        ("{a=b,,c=d}", "bad matcher format: "),
        ("a=b, c", "bad matcher format: c"),  # the last token is trimmed
        # Commas inside a repetition split the token unless the value is quoted.
        ("x=~a{2,1}", "bad matcher format: 1"),
        ('x=~"a{2,1}"', "error parsing regexp: invalid repeat count: `{2,1}`"),
    ],
)
def test_parse_matchers_tokenizes_before_parsing(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("pattern", ["[(?<]", "\\(?<", "\\Q(?<\\E", "(?P<n>a)", "(?i)A", "\\z"])
def test_regexes_go_accepts(pattern: str) -> None:
    Matcher("x", MatchType.REGEX, pattern)


def test_invalid_regex_raises_at_construction() -> None:
    with pytest.raises(MatcherError, match="missing closing"):
        Matcher("a", MatchType.NOT_REGEX, "(")


def test_parse_matcher_single() -> None:
    assert parse_matcher('severity!="page"') == Matcher("severity", MatchType.NOT_EQUAL, "page")


@pytest.mark.parametrize(
    ("matcher", "value", "expected"),
    [
        (Matcher("a", MatchType.EQUAL, "x"), "x", True),
        (Matcher("a", MatchType.EQUAL, "x"), "xx", False),
        (Matcher("a", MatchType.NOT_EQUAL, "x"), "y", True),
        # Fully anchored: a substring match is not a match.
        (Matcher("a", MatchType.REGEX, "b"), "abc", False),
        (Matcher("a", MatchType.REGEX, "b|c"), "c", True),
        (Matcher("a", MatchType.REGEX, "a|bc"), "abc", False),
        (Matcher("a", MatchType.REGEX, ".*"), "", True),
        (Matcher("a", MatchType.REGEX, ".+"), "", False),
        # `.` does not match a newline (Go's default flags).
        (Matcher("a", MatchType.REGEX, "a.b"), "a\nb", False),
        (Matcher("a", MatchType.NOT_REGEX, "foo.*"), "foobar", False),
        (Matcher("a", MatchType.NOT_REGEX, "foo.*"), "bar", True),
        (Matcher("a", MatchType.REGEX, "(?i)FOO"), "foo", True),
        (Matcher("a", MatchType.REGEX, "\u00e9+"), "\u00e9\u00e9", True),
    ],
)
def test_matches(matcher: Matcher, value: str, expected: bool) -> None:
    assert matcher.matches(value) is expected


def test_matches_all_treats_missing_label_as_empty() -> None:
    matchers = [Matcher("a", MatchType.EQUAL, "1"), Matcher("b", MatchType.EQUAL, "")]
    assert matches_all(matchers, {"a": "1"})
    assert not matches_all(matchers, {"a": "1", "b": "2"})
    assert matches_all([], {})
    assert matches_all([Matcher("c", MatchType.NOT_REGEX, ".+")], {"a": "1"})


@pytest.mark.parametrize(
    ("matcher", "printed"),
    [
        (Matcher("a", MatchType.EQUAL, "b"), 'a="b"'),
        (Matcher("a", MatchType.REGEX, "b.*"), 'a=~"b.*"'),
        (Matcher("a", MatchType.NOT_EQUAL, ""), 'a!=""'),
        (Matcher("a", MatchType.NOT_REGEX, "\\d"), 'a!~"\\\\d"'),
        # OpenMetrics escaping: only backslash, newline and quote; tabs stay raw.
        (Matcher("a", MatchType.EQUAL, 'x"y\nz\tw'), 'a="x\\"y\\nz\tw"'),
    ],
)
def test_str_uses_open_metrics_escaping(matcher: Matcher, printed: str) -> None:
    assert str(matcher) == printed


def test_format_matchers_has_no_spaces() -> None:
    matchers = [Matcher("a", MatchType.EQUAL, "b"), Matcher("c", MatchType.REGEX, "d")]
    assert format_matchers(matchers) == '{a="b",c=~"d"}'
    assert format_matchers([]) == "{}"


def test_sorted_by_name_value_then_operator() -> None:
    unsorted = [
        Matcher("b", MatchType.EQUAL, "1"),
        Matcher("a", MatchType.NOT_REGEX, "x"),
        Matcher("a", MatchType.EQUAL, "x"),
        Matcher("a", MatchType.REGEX, "w"),
    ]
    assert [str(m) for m in sorted_matchers(unsorted)] == ['a=~"w"', 'a="x"', 'a!~"x"', 'b="1"']


@pytest.mark.parametrize(
    ("labels", "printed"),
    [
        ({}, "{}"),
        ({"alertname": "A"}, '{alertname="A"}'),
        ({"b": "y", "a": "x"}, '{a="x", b="y"}'),
        # Go's %q: control characters escaped, printable Unicode kept.
        ({"a": 'q"\\\n\t\x01\x7f'}, '{a="q\\"\\\\\\n\\t\\x01\\x7f"}'),
        ({"a": "\u00e9\u2028\U0001f600\u00a0"}, '{a="\u00e9\\u2028\U0001f600\\u00a0"}'),
    ],
)
def test_format_label_set_like_go(labels: dict[str, str], printed: str) -> None:
    assert format_label_set(labels) == printed


def test_go_quote_astral_non_printable() -> None:
    assert go_quote("\U000e0001") == '"\\U000e0001"'


@pytest.mark.parametrize(
    ("name", "valid"),
    [("a", True), ("_a1", True), ("A_Z", True), ("a:b", False), ("1a", False), ("", False), ("a-b", False)],
)
def test_is_valid_label_name(name: str, valid: bool) -> None:
    assert is_valid_label_name(name) is valid


def test_api_form() -> None:
    matcher = Matcher("a", MatchType.NOT_REGEX, "b")
    assert matcher.to_api() == {"name": "a", "value": "b", "isRegex": True, "isEqual": False}
    assert Matcher.from_api("a", "b", is_regex=True, is_equal=False) == matcher
    assert Matcher.from_api("a", "b", is_regex=False) == Matcher("a", MatchType.EQUAL, "b")


# ---------------------------------------------------------------------------------------
# Properties

_label_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,10}", fullmatch=True)
_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@st.composite
def _matchers(draw: st.DrawFn) -> Matcher:
    match_type = draw(st.sampled_from(list(MatchType)))
    value = draw(_values)
    if match_type in (MatchType.REGEX, MatchType.NOT_REGEX):
        try:
            return Matcher(draw(_label_names), match_type, value)
        except MatcherError:
            value = "".join(char if char.isalnum() else "." for char in value)
    return Matcher(draw(_label_names), match_type, value)


@given(_matchers())
def test_parse_of_str_round_trips(matcher: Matcher) -> None:
    assert parse_matcher(str(matcher)) == matcher
    assert parse_matchers(str(matcher)) == [matcher]


@given(st.lists(_matchers(), max_size=4))
def test_parse_of_format_matchers_round_trips(matchers: list[Matcher]) -> None:
    assert parse_matchers(format_matchers(matchers)) == matchers


@given(st.text(max_size=60))
def test_parser_raises_only_matcher_error(text: str) -> None:
    try:
        parse_matchers(text)
    except MatcherError:
        pass


@given(st.text(alphabet='ab=~!",{}\\ \n()*[]', max_size=30))
def test_parser_raises_only_matcher_error_on_syntax_soup(text: str) -> None:
    try:
        parse_matchers(text)
    except MatcherError:
        pass
