"""Property tests: whatever the text, the engine answers with output or a TemplateError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from notify.template.data import TemplateData
from notify.template.errors import TemplateError
from notify.template.functions import DEFAULT_FUNCTIONS
from notify.template.parser import parse
from notify.template.templates import Templates
from tests.unit.template.conftest import SAMPLE_DATA, data_from

# Fragments of the template language, so generated text reaches deep into the parser.
_PIECES = [
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "\n",
    "/*",
    "*/",
    "(",
    ")",
    "|",
    ",",
    ":=",
    "=",
    "$",
    "$x",
    ".",
    ".Status",
    ".Alerts",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "nil",
    "true",
    '"s"',
    "`r`",
    "'c'",
    "1",
    "-1.5e3",
    "0x1F",
    "printf",
    '"%d"',
    "len",
    "index",
    "slice",
    "eq",
    "and",
    "toUpper",
    "join",
    "reReplaceAll",
    '"("',
    "x",
    "\\",
    '"',
]

template_like = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)
_DATA: TemplateData = data_from(SAMPLE_DATA)
_TEMPLATES = Templates.with_defaults(max_steps=20_000, max_output_chars=20_000)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(max_size=200), template_like))
def test_parser_raises_only_template_errors(text: str) -> None:
    try:
        trees = parse("fuzz", text, DEFAULT_FUNCTIONS)
    except TemplateError:
        return
    assert "fuzz" in trees


@settings(max_examples=500, deadline=None)
@given(text=template_like)
def test_execution_returns_text_or_template_error(text: str) -> None:
    try:
        result = _TEMPLATES.execute_text(text, _DATA)
    except TemplateError:
        return
    assert isinstance(result, str)


@settings(max_examples=300, deadline=None)
@given(text=template_like)
def test_html_execution_returns_text_or_template_error(text: str) -> None:
    try:
        result = _TEMPLATES.execute_html("<a href='" + text + "'>" + text, _DATA)
    except TemplateError:
        return
    assert isinstance(result, str)
