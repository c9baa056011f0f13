from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from notify.model import (
    Alert,
    alert_hash,
    fingerprint,
    fingerprint_hex,
    format_api_time,
    format_go_time,
)


def test_fingerprint_of_empty_label_set_is_fnv_offset_basis() -> None:
    assert fingerprint_hex({}) == "cbf29ce484222325"


def test_fingerprint_is_independent_of_insertion_order() -> None:
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})


def test_fingerprint_separates_names_from_values() -> None:
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})


@given(st.dictionaries(st.text(min_size=1), st.text()))
def test_alert_hash_differs_from_fingerprint_but_is_deterministic(labels: dict[str, str]) -> None:
    assert alert_hash(dict(labels)) == alert_hash(dict(reversed(list(labels.items()))))


def test_api_time_has_milliseconds_and_keeps_offsets() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert format_api_time(moment) == "2024-01-02T03:04:05.678Z"
    from datetime import timezone

    plus_two = moment.astimezone(timezone(timedelta(hours=2)))
    assert format_api_time(plus_two) == "2024-01-02T05:04:05.678+02:00"


def test_go_time_trims_fraction() -> None:
    assert format_go_time(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    assert format_go_time(datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)) == "2024-01-02T03:04:05.5Z"


def test_merge_keeps_earliest_start_and_explicit_end() -> None:
    now = datetime(2024, 1, 1, 12, tzinfo=UTC)
    old = Alert({"a": "1"}, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=2),
                updated_at=now - timedelta(minutes=1))
    new = Alert({"a": "1"}, starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(minutes=5),
                updated_at=now, timeout=True)
    merged = old.merge(new, now)
    assert merged.starts_at == old.starts_at
    assert merged.ends_at == old.ends_at
    assert merged.updated_at == now


@given(st.dictionaries(st.text(), st.text(), max_size=8))
def test_c_fingerprint_agrees_with_reference_loop(labels: dict[str, str]) -> None:
    from notify.model import fingerprint_reference

    assert fingerprint(labels) == fingerprint_reference(labels)
