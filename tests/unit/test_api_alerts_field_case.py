"""POST /api/v2/alerts fills PostableAlert's fields from keys in any case, as Go does.

Every expectation below is what the real Alertmanager 0.25 stored or answered for the same
body (probed on 2026-11-26; tests/oracle/test_alerts_field_case_differential.py re-checks
the main ones against it).
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from daemon.api.alerts import decode_postable_alerts
from daemon.api.response import FrameworkError
from notify.model import ZERO_TIME

PREFIX = 'parsing alerts body from "" failed, because '
LONG_S = "\u017f"


def decoded(body: str) -> list[tuple[dict[str, str] | None, dict[str, str], datetime, datetime, str]]:
    return [
        (postable.labels, postable.annotations, postable.starts_at, postable.ends_at, postable.generator_url)
        for postable in decode_postable_alerts(body.encode())
    ]


def year(number: int) -> datetime:
    return datetime(number, 1, 1, tzinfo=UTC)


def test_go_struct_field_names_fill_the_fields() -> None:
    body = (
        '[{"Labels": {"alertname": "A1"}, "Annotations": {"x": "y"}, "StartsAt": "2020-01-01T00:00:00Z",'
        ' "EndsAt": "2030-01-01T00:00:00Z", "GeneratorURL": "http://prom/graph"}]'
    )
    assert decoded(body) == [({"alertname": "A1"}, {"x": "y"}, year(2020), year(2030), "http://prom/graph")]


def test_the_issues_example() -> None:
    body = '[{"Labels":{"alertname":"A1"},"ANNOTATIONS":{"x":"y"}}]'
    assert decoded(body) == [({"alertname": "A1"}, {"x": "y"}, ZERO_TIME, ZERO_TIME, "")]


@pytest.mark.parametrize(
    ("body", "labels", "annotations"),
    [
        # A map field named twice is merged into, in any spelling (exact, then folded, ...).
        ('[{"labels":{"alertname":"A2"},"Labels":{"b":"2"}}]', {"alertname": "A2", "b": "2"}, {}),
        ('[{"Labels":{"alertname":"A3"},"labels":{"b":"2"}}]', {"alertname": "A3", "b": "2"}, {}),
        (
            '[{"labels":{"alertname":"A15"},"annotations":{"a":"1"},"Annotations":{"b":"2"},"annotations":{"c":"3"}}]',
            {"alertname": "A15"},
            {"a": "1", "b": "2", "c": "3"},
        ),
        (
            f'[{{"labels":{{"alertname":"A17"}},"LABEL{LONG_S}":{{"k":"v"}},"Label{LONG_S}":{{"k2":"v2"}},'
            '"labelS":{"k3":"v3"}}]',
            {"alertname": "A17", "k": "v", "k2": "v2", "k3": "v3"},
            {},
        ),
        # ...and a null empties it before the next one.
        (
            '[{"labels":{"alertname":"A5x","a":"1"},"LABELS":null,"labels":{"alertname":"A5b","c":"3"}}]',
            {"alertname": "A5b", "c": "3"},
            {},
        ),
        ('[{"labels":{"alertname":"A18"},"annotations":{"x":"1"},"ANNOTATIONS":null}]', {"alertname": "A18"}, {}),
        # The maps' own keys are label names: not folded.
        (
            '[{"labels":{"alertname":"A12"},"LABELS":{"alertname":"A12x"},"annotations":{"Aa":"1","aa":"2"}}]',
            {"alertname": "A12x"},
            {"Aa": "1", "aa": "2"},
        ),
        # An escaped key is compared after unescaping.
        ('[{"labels":{"alertname":"A16"},"\\u004cabels":{"x":"1"}}]', {"alertname": "A16", "x": "1"}, {}),
        # Go 1.19 folds no dotted or dotless i: the key is unknown and skipped.
        ('[{"labels":{"alertname":"A10"},"annotat\u0130ons":{"a":"b"}}]', {"alertname": "A10"}, {}),
        ('[{"labels":{"alertname":"A11"},"annotat\u0131ons":{"a":"b"}}]', {"alertname": "A11"}, {}),
        (f'[{{"labels":{{"alertname":"A9"}},"annotation{LONG_S}":{{"a":"b"}}}}]', {"alertname": "A9"}, {"a": "b"}),
    ],
)
def test_map_fields(body: str, labels: dict[str, str], annotations: dict[str, str]) -> None:
    [(got_labels, got_annotations, *_)] = decoded(body)
    assert (got_labels, got_annotations) == (labels, annotations)


@pytest.mark.parametrize(
    ("body", "starts_at", "ends_at"),
    [
        (
            '[{"labels":{"a":"b"},"StartsAt":"2020-01-01T00:00:00Z","startsAt":"2021-01-01T00:00:00Z",'
            '"STARTSAT":"2022-01-01T00:00:00Z","EndsAt":"2030-01-01T00:00:00Z"}]',
            year(2022),
            year(2030),
        ),
        # The last key wins even when an exactly repeated key collapsed in the decoded dict.
        (
            '[{"labels":{"a":"b"},"startsAt":"2020-01-01T00:00:00Z","StartsAt":"2021-01-01T00:00:00Z",'
            '"startsAt":"2022-01-01T00:00:00Z"}]',
            year(2022),
            ZERO_TIME,
        ),
        (
            '[{"labels":{"a":"b"},"StartsAt":"2020-01-01T00:00:00Z","startsAt":"2021-01-01T00:00:00Z",'
            '"StartsAt":"2019-01-01T00:00:00Z"}]',
            year(2019),
            ZERO_TIME,
        ),
        (
            f'[{{"labels":{{"a":"b"}},"{LONG_S}tartsAt":"2020-01-01T00:00:00Z","end{LONG_S}At":"2031-01-01T00:00:00Z"}}]',
            year(2020),
            year(2031),
        ),
        # A null date-time leaves the field as it was.
        (
            '[{"labels":{"a":"b"},"startsAt":null,"StartsAt":"2020-01-01T00:00:00Z","startsAt":null,'
            '"ENDSAT":null,"endsAt":"2030-01-01T00:00:00Z","Endsat":null}]',
            year(2020),
            year(2030),
        ),
    ],
)
def test_time_fields(body: str, starts_at: datetime, ends_at: datetime) -> None:
    [(_, _, got_starts_at, got_ends_at, _)] = decoded(body)
    assert (got_starts_at, got_ends_at) == (starts_at, ends_at)


def test_generator_url_last_spelling_wins() -> None:
    body = (
        '[{"labels":{"a":"b"},"GeneratorUrl":"http://x/a","generatorURL":"http://x/b",'
        '"generatorurl":"http://x/c"}]'
    )
    [(_, _, _, _, generator_url)] = decoded(body)
    assert generator_url == "http://x/c"


def test_only_the_element_that_needs_it_changes_and_every_element_is_decoded() -> None:
    body = (
        '[{"labels":{"n":"1"}},{"labels":{"n":"2"},"Labels":{"m":"x"},"labels":{"o":"y"}},'
        '{"LABELS":{"n":"3"}}]'
    )
    assert [labels for labels, *_ in decoded(body)] == [{"n": "1"}, {"n": "2", "m": "x", "o": "y"}, {"n": "3"}]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        # Errors name the field by its json name, whatever the key's spelling.
        (
            '[{"Labels":5}]',
            400,
            PREFIX + "json: cannot unmarshal number into Go struct field Alert.labels of type models.LabelSet",
        ),
        (
            '[{"ANNOTATIONS":5,"labels":{"a":"b"}}]',
            400,
            PREFIX + "json: cannot unmarshal number into Go struct field .annotations of type models.LabelSet",
        ),
        (
            '[{"labels":{"a":"b"},"annotations":{"x":"1"},"ANNOTATIONS":5}]',
            400,
            PREFIX + "json: cannot unmarshal number into Go struct field .annotations of type models.LabelSet",
        ),
        (
            '[{"StartsAt":5,"labels":{"a":"b"}}]',
            400,
            PREFIX + "json: cannot unmarshal number into Go struct field .startsAt of type string",
        ),
        (
            '[{"ENDSAT":"garbage","labels":{"a":"b"}}]',
            400,
            PREFIX + 'parsing time "garbage" as "2006-01-02 15:04:05": cannot parse "garbage" as "2006"',
        ),
        (
            '[{"GENERATORURL":5,"labels":{"a":"b"}}]',
            400,
            PREFIX + "json: cannot unmarshal number into Go struct field Alert.generatorURL of type string",
        ),
        ('[{"GENERATORURL":"not a uri","labels":{"a":"b"}}]', 422, '0.generatorURL in body must be of type uri: "not a uri"'),
        ('[{"labels":{"a":"b"},"Labels":null}]', 422, "0.labels in body is required"),
        ('[{"labels":{"a":"b"}},{"LABELS":null,"labels":{"a":"b"},"Labels":null}]', 422, "1.labels in body is required"),
    ],
)
def test_errors(body: str, status: int, message: str) -> None:
    with pytest.raises(FrameworkError) as raised:
        decode_postable_alerts(body.encode())
    response = raised.value.response
    assert response.status == status
    assert orjson.loads(response.body)["message"] == message
