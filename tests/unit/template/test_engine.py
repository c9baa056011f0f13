"""Known-answer tests for the Go template engine (answers checked against Go 1.19 / amtool)."""

from __future__ import annotations

import pathlib

import pytest

from notify.template.data import TemplateData
from notify.template.errors import TemplateExecError, TemplateParseError
from notify.template.templates import Templates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ .Receiver }}|{{ .Status }}", "team-x\\+ops|firing"),
        ("{{ .CommonLabels.missing }}|{{ .CommonLabels.alertname }}", "|HighLatency"),
        ("{{ .CommonLabels.SortedPairs.Names }}", "[alertname job severity]"),
        ('{{ .CommonLabels.Remove (stringSlice "job") }}', "map[alertname:HighLatency severity:critical]"),
        ('  a  {{- "b" -}}  c  ', "  abc  "),
        ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
        ("{{ range $i, $a := .Alerts }}{{ $i }}={{ $a.Status }};{{ end }}", "0=firing;1=resolved;"),
        ("{{ range $k, $v := .GroupLabels }}{{ $k }}:{{ $v }}{{ end }}", "alertname:HighLatency"),
        ('{{ if eq .Status "resolved" }}R{{ else if eq .Status "firing" }}F{{ end }}', "F"),
        ("{{ with .GroupLabels.nope }}x{{ else }}empty{{ end }}", "empty"),
        ('{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" "arg" }}{{ template "t" }}', "[arg][<no value>]"),
        ('{{ block "b" .Status }}default {{ . }}{{ end }}', "default firing"),
        ('{{ title "hello wORLD foo-bar it\'s" }}', "Hello World Foo-Bar It's"),
        ('{{ join ", " (stringSlice "a" "b") }}', "a, b"),
        ('{{ reReplaceAll "a*" "X" "baaac" }}', "XbXcX"),
        ('{{ reReplaceAll "(\\\\w+):(\\\\d+)" "$2@$1" "host:9100" }}', "9100@host"),
        ('{{ html "<a href=\'x\'>&\\"</a>" }}', "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"),
        ('{{ urlquery "a b&c=d/é~" }}', "a+b%26c%3Dd%2F%C3%A9~"),
        ('{{ len "héllo" }} {{ len .Alerts }}', "6 2"),
        ('{{ printf "%d|%5d|%-5d|%05d|%x" 42 42 42 -42 255 }}', "42|   42|42   |-0042|ff"),
        ('{{ printf "%v %v %v" 1e20 100000.0 0.0001 }}|{{ 1e6 }}', "1e+20 100000 0.0001|1e+06"),
        ('{{ printf "%d %s" "str" 5 }}|{{ printf "%d" }}', "%!d(string=str) %!s(int=5)|%!d(MISSING)"),
        ('{{ and 1 0 "x" }}|{{ or 0 "" "y" }}|{{ not 0 }}', "0|y|true"),
        ("{{ (index .Alerts 0).StartsAt }}", "2024-03-01 10:00:00.123 +0000 UTC"),
        ("{{ (index .Alerts 0).EndsAt }}", "0001-01-01 00:00:00 +0000 UTC"),
        (
            '{{ (index .Alerts 0).StartsAt.Format "2006-01-02T15:04:05Z07:00 Mon Jan _2" }}',
            "2024-03-01T10:00:00Z Fri Mar  1",
        ),
        ('{{ template "__subject" . }}', "[FIRING:1] HighLatency (node critical)"),
    ],
)
def test_renders_like_go(templates: Templates, sample: TemplateData, text: str, expected: str) -> None:
    assert templates.execute_text(text, sample) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ .Foo }", 'template: :1: unexpected "}" in operand'),
        ("{{ if }}{{ end }}", "template: :1: missing value for if"),
        ("{{ $undefined }}", 'template: :1: undefined variable "$undefined"'),
        ("{{ nofunc 1 }}", 'template: :1: function "nofunc" not defined'),
        ("a\n{{ end }}", "template: :2: unexpected {{end}}"),
    ],
)
def test_parse_errors_name_template_and_line(
    templates: Templates, sample: TemplateData, text: str, message: str
) -> None:
    with pytest.raises(TemplateParseError) as caught:
        templates.execute_text(text, sample)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{{ .Foo }}",
            'template: :1:3: executing "" at <.Foo>: can\'t evaluate field Foo in type template.Data',
        ),
        ("x\n  {{ len 3 }}", 'template: :2:5: executing "" at <len 3>: error calling len: len of type int'),
        (
            "{{ index .Alerts 5 }}",
            'template: :1:3: executing "" at <index .Alerts 5>: error calling index: index out of range: 5',
        ),
        (
            '{{ eq 1 "a" }}',
            'template: :1:3: executing "" at <eq 1 "a">: error calling eq: incompatible types for comparison',
        ),
        (
            '{{ join "," .Alerts }}',
            'template: :1:12: executing "" at <.Alerts>: wrong type for value; expected []string; got template.Alerts',
        ),
    ],
)
def test_exec_errors_name_template_line_and_column(
    templates: Templates, sample: TemplateData, text: str, message: str
) -> None:
    with pytest.raises(TemplateExecError) as caught:
        templates.execute_text(text, sample)
    assert str(caught.value) == message


def test_empty_text_renders_empty_without_parsing(templates: Templates, sample: TemplateData) -> None:
    assert templates.execute_text("", sample) == ""


def test_output_size_is_bounded(sample: TemplateData) -> None:
    small = Templates(max_output_chars=100)
    with pytest.raises(TemplateExecError, match="output exceeds 100 characters"):
        small.execute_text("{{ range $i, $a := .Alerts }}" + "x" * 80 + "{{ end }}", sample)


def test_evaluation_steps_are_bounded(sample: TemplateData) -> None:
    limited = Templates(max_steps=1000)
    text = "{{ range $.Alerts }}" * 15 + "x" + "{{ end }}" * 15
    with pytest.raises(TemplateExecError, match="exceeded 1000 steps"):
        limited.execute_text(text, sample)


def test_recursive_template_stops_at_depth_limit(templates: Templates, sample: TemplateData) -> None:
    with pytest.raises(TemplateExecError, match="exceeded maximum template depth"):
        templates.execute_text(
            '{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}', sample
        )


def test_user_file_overrides_default_but_empty_define_does_not(
    tmp_path: pathlib.Path, sample: TemplateData
) -> None:
    (tmp_path / "a.tmpl").write_text(
        '{{ define "__alertmanager" }}Tocsin{{ end }}{{ define "slack.default.title" }}{{ end }}'
    )
    templates = Templates.with_defaults([str(tmp_path / "*.tmpl")])
    assert templates.execute_text('{{ template "slack.default.username" . }}', sample) == "Tocsin"
    assert templates.execute_text('{{ template "slack.default.title" . }}', sample).startswith("[FIRING:1]")


def test_duplicate_define_in_one_file_is_an_error(templates: Templates, sample: TemplateData) -> None:
    with pytest.raises(TemplateParseError, match='multiple definition of template "x"'):
        templates.execute_text('{{ define "x" }}y{{ end }}{{ define "x" }}z{{ end }}', sample)


GOLDEN = pathlib.Path(__file__).parent / "golden"


@pytest.mark.parametrize("path", sorted(GOLDEN.iterdir()), ids=lambda path: path.name)
def test_default_template_matches_recorded_go_output(
    templates: Templates, sample: TemplateData, path: pathlib.Path
) -> None:
    """Outputs recorded from amtool 0.25 with Alertmanager's own templates (file name = template)."""
    name, _, kind = path.name.rpartition(".")
    text = '{{ template "' + name + '" . }}'
    rendered = (
        templates.execute_html(text, sample) if kind == "html" else templates.execute_text(text, sample)
    )
    assert rendered == path.read_text()
