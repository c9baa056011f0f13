"""The create handler's shortcut for ordinary bodies (`_plain_request`) must agree with the
three gates it skips: for any body, either it declines (None) or the gates accept the body
and build exactly the same request from it. And `Silences.create`, which the shortcut feeds,
must store what `Silences.set` stores for the same request."""

from __future__ import annotations

from datetime import UTC, datetime
from random import Random
from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from daemon.api.response import FrameworkError
from daemon.api.silences import (
    _decode_silence_body,
    _ordinary_request,
    _plain_request,
    _request_from_document,
    _validate_schema,
)
from daemon.matchers import MatchType
from daemon.silences import MatcherSpec, SilenceInvalid, SilenceRequest, Silences, encode_silence

ORDINARY = {
    "matchers": [
        {"name": "alertname", "value": "Down", "isRegex": False, "isEqual": True},
        {"name": "instance", "value": "host-1:.*", "isRegex": True},
    ],
    "startsAt": "2026-11-25T16:00:00Z",
    "endsAt": "2026-11-25T18:00:00.5+01:00",
    "createdBy": "me",
    "comment": "maintenance",
}


def through_the_gates(body: bytes) -> SilenceRequest | None:
    try:
        document, times = _decode_silence_body(body)
        _validate_schema(document)
    except FrameworkError:
        return None
    return _request_from_document(document, times)


def test_an_ordinary_body_takes_the_shortcut() -> None:
    ordinary = _plain_request(orjson.dumps(ORDINARY))
    assert ordinary is not None
    request = _ordinary_request(ordinary)
    assert request.matchers == (
        MatcherSpec("alertname", MatchType.EQUAL, "Down"),
        MatcherSpec("instance", MatchType.REGEX, "host-1:.*"),
    )
    assert (request.id, request.created_by, request.comment) == ("", "me", "maintenance")
    assert request == through_the_gates(orjson.dumps(ORDINARY))


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from(["", "x", "a b", "2026-11-25T16:00:00Z", "2026-13-01T00:00:00Z", "2026-11-25 16:00:00"]),
)
MATCHER_VALUES = st.dictionaries(
    st.sampled_from(["name", "value", "isRegex", "isEqual", "other", "Name", "VALUE", "isregex"]),
    SCALARS,
    max_size=5,
)
FIELD_VALUES = st.one_of(
    SCALARS, st.lists(st.one_of(st.none(), st.integers(0, 1), MATCHER_VALUES), max_size=3)
)


# Other spellings of the fields (Go fills a field from a key equal to its name ignoring case).
FOLDED_KEYS = ["Comment", "COMMENTS", "EndsAt", "\u017ftartsAt", "Matchers", "ID", "createdby"]


@settings(max_examples=600)
@given(
    changes=st.dictionaries(
        st.sampled_from([*ORDINARY, "id", "status", *FOLDED_KEYS]), st.one_of(st.just(...), FIELD_VALUES)
    )
)
@example(changes={"matchers": [{"name": "a", "value": "b", "isRegex": 1}]})
@example(changes={"matchers": [{"name": "a", "value": "b", "isRegex": False, "isEqual": 0}]})
@example(changes={"matchers": [{"name": "a", "value": "b", "isRegex": False, "isEqual": None}]})
@example(changes={"id": None})
@example(changes={"matchers": []})
@example(changes={"Comment": "other"})
@example(changes={"matchers": [{"name": "a", "value": "b", "isRegex": False, "Name": "c"}]})
def test_the_shortcut_agrees_with_the_gates(changes: dict[str, Any]) -> None:
    document = dict(ORDINARY)
    for key, value in changes.items():
        if value is ...:
            document.pop(key, None)
        else:
            document[key] = value
    body = orjson.dumps(document)
    shortcut = _plain_request(body)
    if shortcut is not None:
        assert _ordinary_request(shortcut) == through_the_gates(body)


@given(
    body=st.one_of(st.binary(max_size=40), st.sampled_from([b"", b" ", b"null", b"[]", b"{}", b'{"id": 1}']))
)
def test_anything_else_is_declined_or_agrees(body: bytes) -> None:
    shortcut = _plain_request(body)
    if shortcut is not None:
        assert _ordinary_request(shortcut) == through_the_gates(body)


def test_create_stores_what_set_stores() -> None:
    now = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
    by_set, by_create = Silences(rng=Random(7)), Silences(rng=Random(7))
    ordinary = _plain_request(orjson.dumps(ORDINARY))
    assert ordinary is not None
    _, parts, starts_at, ends_at, created_by, comment = ordinary
    first = by_set.set(_ordinary_request(ordinary), now)
    assert by_create.create(parts, starts_at, ends_at, created_by, comment, now) == first
    assert encode_silence(by_create.get(first), now) == encode_silence(by_set.get(first), now)  # type: ignore[arg-type]
    # A refusal costs both an ID (an injected generator stays in step) and says the same.
    refused = [("a", MatchType.EQUAL, "")]
    messages = []
    for attempt in (
        lambda: by_set.set(_ordinary_request(("", refused, *ordinary[2:])), now),
        lambda: by_create.create(refused, starts_at, ends_at, created_by, comment, now),
    ):
        try:
            attempt()
        except SilenceInvalid as error:
            messages.append(str(error))
    assert messages == ["silence invalid: at least one matcher must not match the empty string"] * 2
    assert by_set.set(_ordinary_request(ordinary), now) == by_create.create(
        parts, starts_at, ends_at, created_by, comment, now
    )
