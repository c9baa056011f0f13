"""The compiled fast path renders exactly what the interpreter renders, and is really used.

The interpreter (`Templates(compiled=False)`) is the reference the amtool differential tests
pin to Go; here every corpus snippet, every default template and generated templates go
through both. A compiled render that succeeds must equal the interpreter's; one the
interpreter refuses must fail with the interpreter's message (the compiled code hands such
renders back to it). Successful renders of the corpus must not need that hand-back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings

from notify.model import Alert
from notify.template.data import TemplateData, build_template_data
from notify.template.errors import TemplateError
from notify.template.templates import Templates
from tests.unit.template.conftest import SAMPLE_DATA, data_from
from tests.unit.template.corpus import HTML_SNIPPETS, TEXT_SNIPPETS
from tests.unit.template.test_properties import template_like

_DATA = data_from(SAMPLE_DATA)


def _render(templates: Templates, text: str, data: Any, html: bool) -> tuple[bool, str]:
    try:
        return True, (templates.execute_html if html else templates.execute_text)(text, data)
    except TemplateError as error:
        return False, str(error)


_engines: dict[tuple[tuple[str, int], ...], tuple[Templates, Templates]] = {}


def _engines_for(limits: dict[str, int]) -> tuple[Templates, Templates]:
    """(compiled, interpreted) defaults with these limits, kept across tests: reusing their
    caches is part of what is tested."""
    key = tuple(sorted(limits.items()))
    if key not in _engines:
        _engines[key] = (
            Templates.with_defaults(**limits),
            Templates.with_defaults(compiled=False, **limits),
        )
    return _engines[key]


def assert_same_as_interpreter(text: str, data: Any, html: bool, **limits: int) -> None:
    compiled, interpreted = _engines_for(limits)
    expected = _render(interpreted, text, data, html)
    fallbacks = compiled.fallbacks
    assert _render(compiled, text, data, html) == expected, f"template: {text!r}"
    # Cached programs give the same answer the second time.
    assert _render(compiled, text, data, html) == expected, f"template: {text!r}"
    if expected[0]:
        assert compiled.fallbacks == fallbacks, f"fell back to the interpreter: {text!r}"


@pytest.mark.parametrize("text", TEXT_SNIPPETS)
def test_text_corpus_renders_as_interpreted(text: str) -> None:
    assert_same_as_interpreter(text, _DATA, html=False)


@pytest.mark.parametrize("text", HTML_SNIPPETS)
def test_html_corpus_renders_as_interpreted(text: str) -> None:
    assert_same_as_interpreter(text, _DATA, html=True)


def _alerts(count: int, now: datetime) -> list[Alert]:
    return [
        Alert(
            labels={"alertname": "Disk<Full>", "instance": f"host-{i}", "team": "a&b"},
            annotations={"summary": f'"{i}" is <b>full</b>'} if i % 2 else {},
            starts_at=now - timedelta(minutes=i),
            ends_at=now - timedelta(seconds=1) if i % 3 == 0 else now + timedelta(minutes=5),
            generator_url=f"http://prometheus:9090/graph?g0.expr=a%3Eb&tab={i}",
        )
        for i in range(count)
    ]


def _notification(count: int) -> TemplateData:
    now = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    return build_template_data(
        "team-x+ops", {"alertname": "Disk<Full>"}, _alerts(count, now), "http://am/", now
    )


@pytest.mark.parametrize("count", [0, 1, 4])
@pytest.mark.parametrize("html", [False, True], ids=["text", "html"])
def test_every_default_template_renders_as_interpreted(count: int, html: bool) -> None:
    data = _notification(count)
    names = Templates.with_defaults().defined_names()
    assert "email.default.html" in names
    for name in names:
        assert_same_as_interpreter('{{ template "' + name + '" . }}', data, html)


def test_default_email_renders_without_falling_back() -> None:
    templates = Templates.with_defaults()
    body = templates.execute_html('{{ template "email.default.html" . }}', _notification(20))
    assert body.count(">Source</a>") == 20
    assert "Disk&lt;Full&gt;" in body and "a&amp;b" in body
    assert templates.fallbacks == 0


def test_limits_are_reported_by_the_interpreter() -> None:
    loop = "{{ range $.Alerts }}" * 15 + "x" + "{{ end }}" * 15
    assert_same_as_interpreter(loop, _DATA, html=False, max_steps=1000)
    assert_same_as_interpreter(loop, _DATA, html=True, max_steps=1000)
    wide = "{{ range $i, $a := .Alerts }}" + "x" * 80 + "{{ end }}"
    assert_same_as_interpreter(wide, _DATA, html=False, max_output_chars=100)
    recursive = '{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}'
    assert_same_as_interpreter(recursive, _DATA, html=False)


def test_limits_checked_in_batches_still_stop_long_output() -> None:
    # Many small pieces per iteration: the batched size check must still trip.
    text = "{{ range $.Alerts }}{{ range $.Alerts }}" + "{{ .Status }}" * 400 + "{{ end }}{{ end }}"
    assert_same_as_interpreter(text, _DATA, html=False, max_output_chars=5000)


def test_break_continue_and_variables_match() -> None:
    text = (
        "{{ $n := 0 }}{{ range $i, $a := .Alerts }}{{ if eq $i 1 }}{{ continue }}{{ end }}"
        "{{ $n = $i }}{{ $a.Status }}{{ break }}{{ end }}{{ $n }}"
    )
    assert_same_as_interpreter(text, _DATA, html=False)
    assert_same_as_interpreter(text, _DATA, html=True)


def test_template_redefined_by_user_text_is_used() -> None:
    text = '{{ define "__tocsin_email_base" }}color: red;{{ end }}{{ template "email.default.html" . }}'
    assert_same_as_interpreter(text, _notification(2), html=True)


@settings(max_examples=200, deadline=None)
@given(text=template_like)
def test_generated_text_templates_render_as_interpreted(text: str) -> None:
    assert_same_as_interpreter(text, _DATA, html=False, max_steps=20_000, max_output_chars=20_000)


@settings(max_examples=150, deadline=None)
@given(text=template_like)
def test_generated_html_templates_render_as_interpreted(text: str) -> None:
    html_text = "<a href='" + text + "'>" + text
    assert_same_as_interpreter(html_text, _DATA, html=True, max_steps=20_000, max_output_chars=20_000)


def test_template_called_in_two_html_contexts_escapes_for_each() -> None:
    # One helper, compiled once per context it is called in (text, URL attribute, script).
    text = (
        '{{ define "v" }}{{ . }}{{ end }}'
        '<a href="{{ template "v" .ExternalURL }}?x={{ template "v" "a b&c" }}">'
        '{{ template "v" "<b>" }}</a><script>var x = {{ template "v" "</script>" }};</script>'
    )
    assert_same_as_interpreter(text, _DATA, html=True)
    rendered = Templates.with_defaults().execute_html(text, _DATA)
    assert "?x=a%20b%26c" in rendered and "&lt;b&gt;" in rendered


def test_nesting_beyond_python_block_limit_is_interpreted() -> None:
    # CPython refuses more than 20 nested loops in one function; such a template is left to
    # the interpreter and still renders.
    depth = 25
    text = "{{ range $.Alerts }}" * depth + "x" + "{{ end }}" * depth
    one_alert = {**SAMPLE_DATA, "alerts": SAMPLE_DATA["alerts"][:1]}
    assert_same_as_interpreter(text, data_from(one_alert), html=False)
    assert Templates.with_defaults().execute_text(text, data_from(one_alert)) == "x"


def test_range_else_variables_and_assignment_scopes() -> None:
    text = (
        '{{ $x := "top" }}{{ range $i, $e := .GroupLabels.nope }}{{ $i }}{{ else }}empty{{ end }}'
        "{{ range $k, $v := .CommonLabels }}{{ $y := $k }}{{ $x = $v }}{{ $y }};{{ end }}{{ $x }}"
        '{{ with $z := .Status }}{{ $z }}{{ $x = "w" }}{{ end }}{{ $x }}'
        "{{ if $a := .Alerts }}{{ len $a }}{{ end }}"
    )
    assert_same_as_interpreter(text, _DATA, html=False)
    assert_same_as_interpreter(text, _DATA, html=True)
