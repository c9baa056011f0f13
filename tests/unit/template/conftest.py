"""Fixtures for template tests: sample data (the JSON amtool reads) and the defaults."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from notify.template.data import TemplateData, template_data_from_json
from notify.template.templates import Templates

SAMPLE_DATA: dict[str, Any] = {
    "receiver": "team-x\\+ops",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency",
                "severity": "critical",
                "instance": "a:9100",
                "job": "node",
            },
            "annotations": {"summary": "Latency > 1s", "description": 'p99 <high> & "rising"'},
            "startsAt": "2024-03-01T10:00:00.123Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
            "fingerprint": "1a2b3c4d5e6f7081",
        },
        {
            "status": "resolved",
            "labels": {
                "alertname": "HighLatency",
                "severity": "critical",
                "instance": "b:9100",
                "job": "node",
            },
            "annotations": {"summary": "Latency > 1s"},
            "startsAt": "2024-03-01T09:00:00Z",
            "endsAt": "2024-03-01T09:30:00Z",
            "generatorURL": "http://prom:9090/graph",
            "fingerprint": "0000000000000001",
        },
    ],
    "groupLabels": {"alertname": "HighLatency"},
    "commonLabels": {"alertname": "HighLatency", "severity": "critical", "job": "node"},
    "commonAnnotations": {"summary": "Latency > 1s"},
    "externalURL": "http://am.example:9093",
}


def data_from(document: dict[str, Any]) -> TemplateData:
    # amtool passes a Data value where Alertmanager passes a pointer; error texts name it.
    return template_data_from_json(document, as_value=True)


@pytest.fixture(scope="session")
def templates() -> Templates:
    return Templates.with_defaults()


@pytest.fixture()
def sample() -> TemplateData:
    return data_from(SAMPLE_DATA)


@pytest.fixture()
def sample_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(SAMPLE_DATA))
    return path
