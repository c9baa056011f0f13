"""SilencesAPI handlers: status codes, bodies and messages as the real Alertmanager 0.25 gave
them (each expected text below was observed on /usr/bin/prometheus-alertmanager)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.api.silences import GoJsonSyntaxError, SilencesAPI, decode_go_json, parse_api_datetime
from daemon.silences import Silences

NOW = datetime(2026, 11, 25, 16, 0, 0, tzinfo=UTC)
FUTURE = "2030-01-01T00:00:00Z"


def body(**changes: Any) -> bytes:
    document: dict[str, Any] = {
        "matchers": [{"name": "a", "value": "b", "isRegex": False}],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": FUTURE,
        "createdBy": "x",
        "comment": "c",
    }
    for key, value in changes.items():
        if value is ...:
            document.pop(key)
        else:
            document[key] = value
    return orjson.dumps(document)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(clock: Clock) -> SilencesAPI:
    return SilencesAPI(Silences(rng=random.Random(7)), clock=clock)


def decoded(response: Any) -> Any:
    return orjson.loads(response.body) if response.body else None


async def create(api: SilencesAPI, raw: bytes) -> tuple[int, Any]:
    response = await api.create(raw, "application/json")
    return response.status, decoded(response)


@pytest.mark.parametrize(
    ("raw", "status", "payload"),
    [
        (b"{}", 422, {"code": 602, "message": "comment in body is required"}),
        (b"null", 422, {"code": 602, "message": "comment in body is required"}),
        (b"", 422, {"code": 602, "message": "silence in body is required"}),
        (body(createdBy=...), 422, {"code": 602, "message": "createdBy in body is required"}),
        (body(endsAt=None), 422, {"code": 602, "message": "endsAt in body is required"}),
        (body(matchers=...), 422, {"code": 602, "message": "matchers in body is required"}),
        (body(startsAt=...), 422, {"code": 602, "message": "startsAt in body is required"}),
        (body(matchers=[]), 422, {"code": 612, "message": "matchers in body should have at least 1 items"}),
        (body(matchers=[{"name": "a", "value": "b"}]), 422, {"code": 602, "message": "matchers.0.isRegex in body is required"}),
        (body(matchers=[{"isRegex": False, "value": "b"}]), 422, {"code": 602, "message": "matchers.0.name in body is required"}),
        (
            b'{"matchers": [], "startsAt": "x"}',
            400,
            {
                "code": 400,
                "message": 'parsing silence body from "" failed, because parsing time "x" as '
                '"2006-01-02 15:04:05": cannot parse "x" as "2006"',
            },
        ),
        (
            body(startsAt="2020-01-01T00:00:00.5+0200"),
            400,
            {
                "code": 400,
                "message": 'parsing silence body from "" failed, because parsing time '
                '"2020-01-01T00:00:00.5+0200" as "2006-01-02 15:04:05": cannot parse '
                '"T00:00:00.5+0200" as " "',
            },
        ),
        (
            body(startsAt="2020-13-01T00:00:00Z"),
            400,
            {
                "code": 400,
                "message": 'parsing silence body from "" failed, because parsing time '
                '"2020-13-01T00:00:00Z": month out of range',
            },
        ),
        (
            body(startsAt=5),
            400,
            {
                "code": 400,
                "message": 'parsing silence body from "" failed, because json: cannot unmarshal number '
                "into Go struct field Silence.startsAt of type string",
            },
        ),
        (
            body(matchers=[{"name": "a", "value": "b", "isRegex": "x"}]),
            400,
            {
                "code": 400,
                "message": 'parsing silence body from "" failed, because json: cannot unmarshal string '
                "into Go struct field Matcher.matchers.isRegex of type bool",
            },
        ),
        (
            body(id=5),
            400,
            {
                "code": 400,
                "message": 'parsing silence body from "" failed, because json: cannot unmarshal number '
                "into Go struct field .id of type string",
            },
        ),
        (
            body(matchers={}),
            400,
            {
                "code": 400,
                "message": 'parsing silence body from "" failed, because json: cannot unmarshal object '
                "into Go struct field Silence.matchers of type models.Matchers",
            },
        ),
        (
            b"[]",
            400,
            {
                "code": 400,
                "message": 'parsing silence body from "" failed, because json: cannot unmarshal array '
                'into Go value of type struct { ID string "json:\\"id,omitempty\\"" }',
            },
        ),
        (body(id="nope"), 404, "silence not found"),
        (body(startsAt="2031-01-01T00:00:00Z"), 400, "Failed to create silence: start time must be before end time"),
        (body(endsAt=""), 400, "Failed to create silence: start time must be before end time"),
        (body(endsAt="2021-01-01T00:00:00Z"), 400, "Failed to create silence: end time can't be in the past"),
        (
            body(matchers=[{"name": "a:b", "value": "b", "isRegex": False}]),
            400,
            'silence invalid: invalid label matcher 0: invalid label name "a:b"',
        ),
        (
            body(matchers=[{"name": "a", "value": "(", "isRegex": True}]),
            400,
            'silence invalid: invalid label matcher 0: invalid regular expression "(": error parsing regexp: '
            "missing closing ): `(`",
        ),
        (
            body(matchers=[{"name": "a", "value": "\\", "isRegex": True}]),
            400,
            'silence invalid: invalid label matcher 0: invalid regular expression "\\\\": error parsing regexp: '
            "trailing backslash at end of expression: ``",
        ),
        (
            body(matchers=[{"name": 'a"b\n', "value": "x", "isRegex": True}]),
            400,
            'silence invalid: invalid label matcher 0: invalid label name "a\\"b\\n"',
        ),
        (
            body(matchers=[{"name": "a", "value": ".*", "isRegex": True}, {"name": "b", "value": "", "isRegex": False}]),
            400,
            "silence invalid: at least one matcher must not match the empty string",
        ),
    ],
)
async def test_create_errors(api: SilencesAPI, raw: bytes, status: int, payload: Any) -> None:
    assert await create(api, raw) == (status, payload)


async def test_content_type_rules(api: SilencesAPI) -> None:
    missing = await api.create(body(), None)
    assert (missing.status, decoded(missing)) == (
        415,
        {"code": 415, "message": 'unsupported media type "application/octet-stream", only [application/json] are allowed'},
    )
    plain = await api.create(body(), "text/plain")
    assert plain.status == 415
    assert (await api.create(body(), "application/JSON; charset=utf-8")).status == 200


async def test_create_get_list_delete_round_trip(api: SilencesAPI, clock: Clock) -> None:
    status, created = await create(api, body(endsAt="2030-01-01T00:00:00.123456789+02:00"))
    assert status == 200
    silence_id = created["silenceID"]
    got = await api.get(silence_id)
    assert got.status == 200
    assert list(decoded(got)) == ["id", "status", "updatedAt", "comment", "createdBy", "endsAt", "matchers", "startsAt"]
    assert decoded(got) == {
        "id": silence_id,
        "status": {"state": "active"},
        "updatedAt": "2026-11-25T16:00:00.000Z",
        "comment": "c",
        "createdBy": "x",
        "endsAt": "2030-01-01T00:00:00.123+02:00",
        "matchers": [{"isEqual": True, "isRegex": False, "name": "a", "value": "b"}],
        "startsAt": "2026-11-25T16:00:00.000Z",
    }
    clock.now += timedelta(seconds=1)
    deleted = await api.delete(silence_id)
    assert (deleted.status, deleted.body, deleted.content_type) == (200, b"", None)
    assert (await api.delete(silence_id)).status == 200  # expired already: no-op success
    after = decoded(await api.get(silence_id))
    assert after["status"] == {"state": "expired"}
    assert after["endsAt"] == "2026-11-25T16:00:01.000Z"


async def test_path_ids(api: SilencesAPI) -> None:
    bad = await api.get("nope")
    assert (bad.status, decoded(bad)) == (422, {"code": 601, "message": 'silenceID in path must be of type uuid: "nope"'})
    assert (await api.delete("{00000000-0000-0000-0000-000000000000}")).status == 422
    missing = await api.get("00000000000000000000000000000000")
    assert (missing.status, missing.body, missing.content_type) == (404, b"", None)
    unknown = await api.delete("00000000-0000-0000-0000-000000000000")
    assert (unknown.status, decoded(unknown)) == (500, "silence not found")


async def test_list_order_and_exact_filters(api: SilencesAPI, clock: Clock) -> None:
    def matcher(name: str, value: str, regex: bool = False) -> dict[str, Any]:
        return {"name": name, "value": value, "isRegex": regex}

    ids = {}
    for key, matchers, starts, ends in [
        ("active_late", [matcher("job", "a")], "2020-01-01T00:00:00Z", "2029-01-01T00:00:00Z"),
        ("active_early", [matcher("job", "a"), matcher("env", "p.*", True)], "2020-01-01T00:00:00Z", "2028-01-01T00:00:00Z"),
        ("pending_late", [matcher("job", "b")], "2027-06-01T00:00:00Z", "2029-01-01T00:00:00Z"),
        ("pending_early", [matcher("job", "b")], "2027-01-01T00:00:00Z", "2029-01-01T00:00:00Z"),
        ("expired_first", [matcher("job", "c")], "2020-01-01T00:00:00Z", "2029-01-01T00:00:00Z"),
        ("expired_second", [matcher("job", "c")], "2020-01-01T00:00:00Z", "2029-01-01T00:00:00Z"),
    ]:
        status, created = await create(api, body(matchers=matchers, startsAt=starts, endsAt=ends))
        assert status == 200
        ids[key] = created["silenceID"]
    clock.now += timedelta(seconds=1)
    await api.delete(ids["expired_first"])
    clock.now += timedelta(seconds=1)
    await api.delete(ids["expired_second"])
    listed = decoded(await api.list({}))
    assert [s["id"] for s in listed] == [
        ids[k] for k in ("active_early", "active_late", "pending_early", "pending_late", "expired_second", "expired_first")
    ]
    filtered = decoded(await api.list({"filter": ['env=~"p.*"']}))
    assert [s["id"] for s in filtered] == [ids["active_early"]]
    # Not label matching: `env="prod"` would match the regex, but no silence has that matcher.
    assert decoded(await api.list({"filter": ['env="prod"']})) == []
    bad = await api.list({"filter": ['a="b']})
    assert (bad.status, decoded(bad)) == (400, 'matcher value contains unescaped double quote: "b')


async def test_update_in_place_and_replace_via_api(api: SilencesAPI, clock: Clock) -> None:
    _, created = await create(api, body())
    silence_id = created["silenceID"]
    current = decoded(await api.get(silence_id))
    clock.now += timedelta(minutes=1)
    _, same = await create(api, body(id=silence_id, startsAt=current["startsAt"], endsAt="2031-01-01T00:00:00Z"))
    assert same == {"silenceID": silence_id}
    _, other = await create(api, body(id=silence_id, matchers=[{"name": "a", "value": "c", "isRegex": False}]))
    assert other["silenceID"] != silence_id
    assert decoded(await api.get(silence_id))["status"]["state"] == "expired"


async def test_commit_runs_before_the_answer_and_failure_is_500(clock: Clock) -> None:
    commits = []

    async def commit() -> None:
        commits.append(True)

    api = SilencesAPI(Silences(rng=random.Random(1)), commit=commit, clock=clock)
    assert (await api.create(body(), "application/json")).status == 200
    assert commits == [True]

    async def failing() -> None:
        raise OSError("disk full")

    broken = SilencesAPI(Silences(rng=random.Random(1)), commit=failing, clock=clock)
    response = await broken.create(body(), "application/json")
    assert (response.status, decoded(response)) == (500, "failed to persist silence: disk full")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-01-01T00:00:00Z", datetime(2020, 1, 1, tzinfo=UTC)),
        ("2020-01-01T00:00:00.123456789+02:00", datetime(2020, 1, 1, 0, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))),
        ("2020-01-01T00:00:00.500+0200", datetime(2020, 1, 1, 0, 0, 0, 500000, tzinfo=timezone(timedelta(hours=2)))),
        ("2020-01-01T00:00:00.5", datetime(2020, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("2020-01-01T10:30Z", datetime(2020, 1, 1, 10, 30, tzinfo=UTC)),
        ("2020-01-01T10:30", datetime(2020, 1, 1, 10, 30, tzinfo=UTC)),
        ("2020-01-01 10:30:01", datetime(2020, 1, 1, 10, 30, 1, tzinfo=UTC)),
        ("", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_accepted_date_time_layouts(text: str, expected: datetime) -> None:
    parsed = parse_api_datetime(text)
    assert parsed == expected and parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2020-02-30T00:00:00Z", 'parsing time "2020-02-30T00:00:00Z" as "2006-01-02 15:04:05": cannot parse "T00:00:00Z" as " "'),
        ("2020-01-01", 'parsing time "2020-01-01" as "2006-01-02 15:04:05": cannot parse "" as " "'),
        ("2020-02-30 00:00:00", 'parsing time "2020-02-30 00:00:00": day out of range'),
        ("2020-01-01 00:00:00x", 'parsing time "2020-01-01 00:00:00x": extra text: "x"'),
        # Go reads ASCII digits only, and its time package quotes every byte of a non-ASCII
        # or control character as \xNN (messages taken from Alertmanager 0.25).
        (
            "\uff12\uff10\uff12\uff16-01-01T00:00:00Z",
            'parsing time "\\xef\\xbc\\x92\\xef\\xbc\\x90\\xef\\xbc\\x92\\xef\\xbc\\x96-01-01T00:00:00Z" as '
            '"2006-01-02 15:04:05": cannot parse '
            '"\\xef\\xbc\\x92\\xef\\xbc\\x90\\xef\\xbc\\x92\\xef\\xbc\\x96-01-01T00:00:00Z" as "2006"',
        ),
        (
            "2026-01-01T0\u0663:00:00Z",
            'parsing time "2026-01-01T0\\xd9\\xa3:00:00Z" as "2006-01-02 15:04:05": cannot parse "T0\\xd9\\xa3:00:00Z" as " "',
        ),
        (
            "2026-01-01 00:00:00\u00e4",
            'parsing time "2026-01-01 00:00:00\\xc3\\xa4": extra text: "\\xc3\\xa4"',
        ),
        (
            'x"y\\z\x01',
            'parsing time "x\\"y\\\\z\\x01" as "2006-01-02 15:04:05": cannot parse "x\\"y\\\\z\\x01" as "2006"',
        ),
    ],
)
def test_date_time_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_api_datetime(text)
    assert str(caught.value) == message


async def test_far_future_end_times_are_kept_and_survive_encoding(api: SilencesAPI) -> None:
    from daemon.silences import decode_silence, encode_silence

    for ends_at in ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59-10:00"):
        status, created = await create(api, body(endsAt=ends_at))
        assert status == 200
        silence = api.silences.get(created["silenceID"])
        assert silence is not None
        restored, expires_at = decode_silence(encode_silence(silence, api.silences.expires_at(silence.id) or NOW))
        assert restored.ends_at >= datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
        assert expires_at == datetime.max.replace(tzinfo=UTC)


# encoding/json's syntax messages as Alertmanager 0.25 returned them for these bodies.
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "unexpected EOF"),
        (b"nul", "unexpected EOF"),
        (b'{"a":"\\u12', "unexpected EOF"),
        (b'{"a":}', "invalid character '}' looking for beginning of value"),
        (b"{]", "invalid character ']' looking for beginning of object key string"),
        (b'{"a":1,}', "invalid character '}' looking for beginning of object key string"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"matchers":[{"name":"a"]}', "invalid character ']' after object key:value pair"),
        (b'{"a":01}', "invalid character '1' after object key:value pair"),
        (b'{"a":[1,2 3]}', "invalid character '3' after array element"),
        (b'{"a":tru}', "invalid character '}' in literal true (expecting 'e')"),
        (b'{"a":"\\q"}', "invalid character 'q' in string escape code"),
        (b'{"a":"\\u12g4"}', "invalid character 'g' in \\u hexadecimal character escape"),
        (b'{"a":"x\x01"}', "invalid character '\\x01' in string literal"),
        (b'{"a":1.}', "invalid character '}' after decimal point in numeric literal"),
        (b'{"a":1e+x}', "invalid character 'x' in exponent of numeric literal"),
        (b"{'a':1}", "invalid character '\\'' looking for beginning of object key string"),
        (b"\xff", "invalid character 'ÿ' looking for beginning of value"),
        (b'"s"', 'json: cannot unmarshal string into Go value of type struct { ID string "json:\\"id,omitempty\\"" }'),
    ],
)
async def test_json_syntax_errors_use_go_wording(api: SilencesAPI, raw: bytes, reason: str) -> None:
    assert await create(api, raw) == (400, {"code": 400, "message": f'parsing silence body from "" failed, because {reason}'})


@pytest.mark.parametrize("raw", [b"{} {}", b"{}x", b"\t\n{ }", b'{"a":"\\ud800","b":[]}', b'{"comment":"\xff"}'])
async def test_what_go_accepts_reaches_schema_validation(api: SilencesAPI, raw: bytes) -> None:
    status, payload = await create(api, raw)
    assert status == 422 and payload["code"] == 602


json_values = st.recursive(
    # Integers beyond 64 bits decode as floats (as into a Go interface{}), so stay within.
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_scanner_never_crashes(raw: bytes) -> None:
    try:
        decode_go_json(raw)
    except GoJsonSyntaxError:
        pass


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([b"", b" ", b"\n", b" trailing"]))
def test_scanner_accepts_valid_json(value: Any, suffix: bytes) -> None:
    encoded = json.dumps(value).encode()
    assert decode_go_json(encoded + suffix) == json.loads(encoded)
