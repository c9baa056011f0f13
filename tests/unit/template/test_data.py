"""build_template_data: Alertmanager's Template.Data from store alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notify.model import Alert, fingerprint_hex
from notify.template import Templates, build_template_data
from notify.template.data import KV

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _alerts() -> list[Alert]:
    return [
        Alert(
            labels={"alertname": "Disk", "job": "node", "instance": "a"},
            annotations={"summary": "full"},
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(minutes=5),  # still firing: the template sees a zero EndsAt
            generator_url="http://prom/graph",
        ),
        Alert(
            labels={"alertname": "Disk", "job": "node", "instance": "b"},
            annotations={"summary": "full", "runbook": "x"},
            starts_at=NOW - timedelta(hours=2),
            ends_at=NOW - timedelta(minutes=1),
        ),
    ]


def test_data_matches_alertmanager_shape() -> None:
    data = build_template_data("ops+eu", {"alertname": "Disk"}, _alerts(), "http://am:9093", NOW)
    templates = Templates.with_defaults()
    rendered = templates.execute_text(
        "{{ .Receiver }}|{{ .Status }}|{{ range .Alerts }}{{ .Status }} {{ .EndsAt }} {{ .Fingerprint }};{{ end }}"
        "|{{ .CommonLabels }}|{{ .CommonAnnotations }}|{{ .ExternalURL }}",
        data,
    )
    first, second = _alerts()
    assert rendered == (
        "ops\\+eu|firing|"
        f"firing 0001-01-01 00:00:00 +0000 UTC {fingerprint_hex(first.labels)};"
        f"resolved 2024-03-01 11:59:00 +0000 UTC {fingerprint_hex(second.labels)};"
        "|map[alertname:Disk job:node]|map[summary:full]|http://am:9093"
    )
    assert templates.execute_text('{{ template "__subject" . }}', data) == "[FIRING:1] Disk (node)"


def test_all_resolved_status_and_empty_notification() -> None:
    resolved = [alert for alert in _alerts() if alert.resolved_at(NOW)]
    assert build_template_data("r", {}, resolved, "", NOW).field_Status == "resolved"
    empty = build_template_data("r", {}, [], "", NOW)
    assert empty.field_Status == "resolved"
    assert empty.field_CommonLabels == KV()


def test_sorted_pairs_put_alertname_first() -> None:
    kv = KV({"b": "2", "alertname": "A", "a": "1"})
    assert [pair.field_Name for pair in kv.sorted_pairs()] == ["alertname", "a", "b"]
    assert kv.sorted_values() == ["A", "1", "2"]
    assert kv.remove(["a", "alertname"]) == KV({"b": "2"})
