"""Differential tests: Go's engine (the real amtool 0.25) and ours render the same text.

Each case renders through `amtool template render` with Alertmanager's Debian templates in
the glob and through `Templates.with_defaults()` (our own default.tmpl/email.tmpl). Outputs
must be identical; when Go fails we must fail too, with the same message unless the message
points into the default template files (whose layout is ours).
"""

from __future__ import annotations

import copy
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notify.template.errors import TemplateError
from notify.template.templates import Templates
from tests.unit.template.amtool import DEBIAN_TEMPLATES, GoRenderer, require_amtool
from tests.unit.template.conftest import SAMPLE_DATA, data_from
from tests.unit.template.corpus import HTML_SNIPPETS, TEXT_SNIPPETS
from tests.unit.template.test_properties import template_like

pytestmark = pytest.mark.oracle

# Error texts that point into default.tmpl/email.tmpl positions differ by design.
_LOCATION_IN_DEFAULTS = re.compile(r"(default|email)\.tmpl:\d+")


@pytest.fixture(scope="module")
def go(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoRenderer]:
    require_amtool()
    yield GoRenderer(tmp_path_factory.mktemp("amtool"))


def render_ours(
    templates: Templates, text: str, document: dict[str, Any], html: bool = False
) -> tuple[bool, str]:
    data = data_from(document)
    try:
        if html:
            return True, templates.execute_html(text, data)
        return True, templates.execute_text(text, data)
    except TemplateError as error:
        return False, str(error).strip()


def assert_same(go_result: tuple[bool, str], ours: tuple[bool, str], text: str) -> None:
    go_ok, go_text = go_result
    ok, our_text = ours
    if go_ok:
        assert ok, f"Go rendered {go_text!r} but we failed: {our_text}\ntemplate: {text!r}"
        assert our_text == go_text, f"template: {text!r}"
        return
    assert not ok, f"Go failed ({go_text}) but we rendered {our_text!r}\ntemplate: {text!r}"
    if _LOCATION_IN_DEFAULTS.search(go_text):
        return
    if go_text.startswith("html/template") and "predefined escaper" not in go_text:
        # html/template's static diagnoses of malformed HTML are reported in our own words.
        assert our_text.startswith("html/template"), f"template: {text!r}"
        return
    assert our_text == go_text, f"template: {text!r}"


@pytest.mark.parametrize("text", TEXT_SNIPPETS)
def test_text_snippet_matches_go(go: GoRenderer, templates: Templates, text: str) -> None:
    assert_same(go.render(text, SAMPLE_DATA), render_ours(templates, text, SAMPLE_DATA), text)


@pytest.mark.parametrize("text", HTML_SNIPPETS)
def test_html_snippet_matches_go(go: GoRenderer, templates: Templates, text: str) -> None:
    assert_same(
        go.render(text, SAMPLE_DATA, html=True), render_ours(templates, text, SAMPLE_DATA, html=True), text
    )


_OFFSET_DATA = copy.deepcopy(SAMPLE_DATA)
_OFFSET_DATA["alerts"][0]["startsAt"] = "2024-03-01T10:00:00.123456789+02:00"
_OFFSET_DATA["alerts"][1]["startsAt"] = "2024-03-01T10:00:00-05:30"
TIME_SNIPPETS = [
    "{{ range .Alerts }}{{ .StartsAt }}|{{ .EndsAt }}|{{ .StartsAt.UTC }}\n{{ end }}",
    '{{ range .Alerts }}{{ .StartsAt.Format "Z07:00 -0700 MST 15:04:05.000000000 .999 ,000" }}\n{{ end }}',
    '{{ range .Alerts }}{{ .StartsAt.Format "Monday January 2 2006 03:04:05 PM 06 002 _2 Jan Mon" }}\n{{ end }}',
    "{{ range .Alerts }}{{ .StartsAt.Unix }} {{ .StartsAt.UnixNano }} {{ .StartsAt.UnixMilli }} {{ .EndsAt.IsZero }}\n{{ end }}",
    "{{ range .Alerts }}{{ .StartsAt.Year }} {{ .StartsAt.Month }} {{ .StartsAt.Day }} {{ .StartsAt.Weekday }}\n{{ end }}",
    '{{ range .Alerts }}{{ printf "%v|%s|%q" .StartsAt .StartsAt .StartsAt }}\n{{ end }}',
]


@pytest.mark.parametrize("text", TIME_SNIPPETS)
def test_times_with_offsets_match_go(go: GoRenderer, templates: Templates, text: str) -> None:
    assert_same(go.render(text, _OFFSET_DATA), render_ours(templates, text, _OFFSET_DATA), text)


# Default templates -------------------------------------------------------------------------


def _debian_template_names() -> list[str]:
    names: list[str] = []
    for file_name in ("default.tmpl", "email.tmpl"):
        path = DEBIAN_TEMPLATES / file_name
        if path.exists():
            names += re.findall(r'define "([^"]+)"', path.read_text())
    return names


def _data_sets() -> dict[str, dict[str, Any]]:
    firing_only = copy.deepcopy(SAMPLE_DATA)
    firing_only["alerts"] = firing_only["alerts"][:1]
    firing_only["commonLabels"] = dict(firing_only["alerts"][0]["labels"])
    firing_only["commonAnnotations"] = dict(firing_only["alerts"][0]["annotations"])
    resolved_only = copy.deepcopy(SAMPLE_DATA)
    resolved_only["alerts"] = resolved_only["alerts"][1:]
    resolved_only["status"] = "resolved"
    grouped = copy.deepcopy(SAMPLE_DATA)
    grouped["groupLabels"] = {"job": "node", "alertname": "HighLatency", "severity": "critical"}
    grouped["commonAnnotations"] = {}
    grouped["receiver"] = "ops [eu] & <night>"
    grouped["externalURL"] = "https://am.example/prefix"
    empty = {
        "receiver": "r",
        "status": "resolved",
        "alerts": [],
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "",
    }
    return {
        "mixed": SAMPLE_DATA,
        "firing": firing_only,
        "resolved": resolved_only,
        "grouped": grouped,
        "empty": empty,
    }


DATA_SETS = _data_sets()
DEFAULT_NAMES = _debian_template_names() or ["__subject"]


def test_every_alertmanager_template_name_is_defined(templates: Templates) -> None:
    require_amtool()
    missing = set(_debian_template_names()) - set(templates.defined_names())
    assert not missing


# email.default.html is only ever rendered as HTML, where html/template drops the license
# comment Alertmanager's file opens with; rendered as text, Go would print that comment.
TEXT_RENDERED_NAMES = [name for name in DEFAULT_NAMES if name != "email.default.html"]


@pytest.mark.parametrize("data_name", sorted(DATA_SETS))
@pytest.mark.parametrize("name", TEXT_RENDERED_NAMES)
def test_default_template_matches_go(go: GoRenderer, templates: Templates, name: str, data_name: str) -> None:
    text = '{{ template "' + name + '" . }}'
    document = DATA_SETS[data_name]
    assert_same(go.render(text, document), render_ours(templates, text, document), text)


@pytest.mark.parametrize("data_name", sorted(DATA_SETS))
@pytest.mark.parametrize("name", ["email.default.html", "email.default.subject", "__alertmanagerURL"])
def test_default_html_template_matches_go(
    go: GoRenderer, templates: Templates, name: str, data_name: str
) -> None:
    text = '{{ template "' + name + '" . }}'
    document = DATA_SETS[data_name]
    assert_same(go.render(text, document, html=True), render_ours(templates, text, document, html=True), text)


def test_user_template_file_overrides_default_like_alertmanager(
    go: GoRenderer, tmp_path: pathlib.Path
) -> None:
    user = tmp_path / "user.tmpl"
    user.write_text(
        '{{ define "__subject" }}custom {{ .Status }}{{ end }}{{ define "__alertmanager" }}{{ end }}'
    )
    go_dir = go.glob_dir / "zz-user.tmpl"
    go_dir.write_text(user.read_text())
    try:
        text = '{{ template "slack.default.title" . }}|{{ template "slack.default.username" . }}'
        ours = Templates.with_defaults([str(tmp_path / "*.tmpl")])
        assert_same(go.render(text, SAMPLE_DATA), render_ours(ours, text, SAMPLE_DATA), text)
    finally:
        go_dir.unlink()


# Generated templates -----------------------------------------------------------------------

_FIELDS = [
    ".Status",
    ".Receiver",
    ".ExternalURL",
    ".CommonLabels.alertname",
    ".CommonLabels.nope",
    ".GroupLabels",
    ".CommonAnnotations.summary",
    ".Alerts",
    ".Alerts.Firing",
    ".CommonLabels.SortedPairs.Values",
    ".CommonLabels.Names",
    "$",
    ".",
    "$.Status",
]
_LITERALS = ['"x"', '"a b"', '""', "1", "0", "-2", "1.5", "true", "false", "nil", "'c'", "`raw`"]
_FUNCTIONS = [
    "len",
    "toUpper",
    "toLower",
    "title",
    "print",
    "println",
    "html",
    "js",
    "urlquery",
    "not",
    'printf "%v"',
    'printf "%s|%d"',
    'join ","',
    'eq "firing"',
    "lt 1",
    'index .CommonLabels "job"',
    'match "^H"',
    'reReplaceAll "[aeiou]" "_"',
    "stringSlice",
    "and 1",
    'or ""',
    'printf "%q|%x|%5.1f|%-4v|%t|%c|%U"',
    'printf "%08.3f|%+d|%o|%X|%e"',
    "slice",
    "index",
    'index (stringSlice "a" "b")',
    "urlquery 1",
    'ne "x"',
    "le 1",
    'ge ""',
    "println 1",
]
_TEXTS = [
    "",
    " ",
    "a",
    "\n",
    "<b>",
    " x ",
    "{",
    "}",
    "$",
    "{{ $v }}",
    "{{ $ }}",
    "{{ break }}",
    "{{ continue }}",
]


_DEFAULT_CALLS = ["__subject", "__alertmanagerURL", "__text_alert_list", "slack.default.fallback"]


def _operand() -> st.SearchStrategy[str]:
    return st.sampled_from(_FIELDS + _LITERALS)


@st.composite
def _pipeline(draw: st.DrawFn) -> str:
    first = draw(
        st.one_of(_operand(), st.builds(lambda f, a: f"{f} {a}", st.sampled_from(_FUNCTIONS), _operand()))
    )
    stages = draw(st.lists(st.sampled_from(_FUNCTIONS), max_size=2))
    return " | ".join([first, *stages])


@st.composite
def _action(draw: st.DrawFn) -> str:
    left = draw(st.sampled_from(["{{ ", "{{- "]))
    right = draw(st.sampled_from([" }}", " -}}"]))
    return left + draw(_pipeline()) + right


def _body() -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(_TEXTS), _action())
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda a, b: a + b, inner, inner),
            st.builds(lambda p, b: "{{ if " + p + " }}" + b + "{{ end }}", _pipeline(), inner),
            st.builds(
                lambda p, b, e: "{{ if " + p + " }}" + b + "{{ else }}" + e + "{{ end }}",
                _pipeline(),
                inner,
                inner,
            ),
            st.builds(lambda p, b: "{{ with " + p + " }}" + b + "{{ end }}", _pipeline(), inner),
            st.builds(lambda p, b: "{{ $v := " + p + " }}" + b, _pipeline(), inner),
            st.builds(lambda p: '{{ template "gen" ' + p + " }}", _pipeline()),
            st.builds(lambda name: '{{ template "' + name + '" . }}', st.sampled_from(_DEFAULT_CALLS)),
            st.builds(
                lambda p, b, e: (
                    "{{ range $i, $v := " + p + " }}{{ $i }}" + b + "{{ else }}" + e + "{{ end }}"
                ),
                st.sampled_from(
                    [".Alerts", ".CommonLabels", ".Alerts.Resolved", ".GroupLabels.SortedPairs", ".Status"]
                ),
                inner,
                inner,
            ),
        ),
        max_leaves=6,
    )


_GENERATED_DEFINE = '{{ define "gen" }}<{{ . }}>{{ end }}'


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(text=_body(), html=st.booleans())
def test_generated_templates_match_go(go: GoRenderer, templates: Templates, text: str, html: bool) -> None:
    text = _GENERATED_DEFINE + text
    assert_same(go.render(text, SAMPLE_DATA, html), render_ours(templates, text, SAMPLE_DATA, html), text)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(text=template_like)
def test_token_soup_fails_or_renders_like_go(go: GoRenderer, templates: Templates, text: str) -> None:
    """Mostly malformed input: the same parse errors, word for word."""
    assert_same(go.render(text, SAMPLE_DATA), render_ours(templates, text, SAMPLE_DATA), text)


_HTML_PIECES = [
    '<a href="',
    '"',
    "'",
    ">",
    "<p title=",
    "</a>",
    "<b>",
    "</b>",
    "{{ .Status }}",
    "{{ .ExternalURL }}",
    "?",
    "#",
    "&",
    " ",
    "x",
    "<!--",
    "-->",
    '{{ "<&>" }}',
    '{{ safeHtml "<i>" }}',
    "{{ urlquery .Receiver }}",
    "<title>",
    "</title>",
    "=",
    "{{ if .Alerts }}",
    "{{ else }}",
    "{{ end }}",
    "{{ range .Alerts }}",
]
html_soup = st.lists(st.sampled_from(_HTML_PIECES), max_size=15).map("".join)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(text=html_soup)
def test_html_soup_escapes_or_fails_like_go(go: GoRenderer, templates: Templates, text: str) -> None:
    """Tags, attributes, URLs and branches in every order: same output, or both refuse."""
    assert_same(
        go.render(text, SAMPLE_DATA, html=True), render_ours(templates, text, SAMPLE_DATA, html=True), text
    )
