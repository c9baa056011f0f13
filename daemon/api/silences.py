"""`/api/v2/silences` and `/api/v2/silence/{id}` with Alertmanager 0.25's exact answers.

Request bodies go through the same three gates as in Alertmanager, in its order:
1. JSON decoding as Go's encoding/json + go-openapi do it (400, `{"code":400,...}`): syntax
   errors, type mismatches (`json: cannot unmarshal number into Go struct field ...`) and
   strfmt date-time parsing (the layouts go-openapi accepts, and Go's parse error text);
2. schema validation (422, `{"code":602|612,...}`), reporting only the first failure in the
   schema's field order, as go-openapi's error responder does;
3. the handler (400/404 with a JSON string body), then `Silences.set`.

Every change is made durable (`commit`, the storage log's group commit) before the answer.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from daemon.api.gofields import GoFields, KeyOrderLost, decode_keeping_key_order
from daemon.api.gojson import (
    GoJsonSyntaxError,
    decode_go_json,
    go_json_value_end,
    json_kind,
    unmarshal_type_error,
)
from daemon.api.response import (
    CODE_INVALID_TYPE,
    CODE_REQUIRED,
    CODE_TOO_FEW_ITEMS,
    JSON_CONTENT_TYPE,
    FrameworkError,
    Response,
    body_decode_failure,
    framework_error,
    handler_error,
    json_response,
    unsupported_media_type,
)
from daemon.matchers import MatcherError, MatchType, go_quote, parse_matcher
from daemon.silences import (
    MatcherParts,
    MatcherSpec,
    Silence,
    SilenceInvalid,
    SilenceNotFound,
    SilenceRequest,
    Silences,
    SilenceState,
)
from notify.model import ZERO_TIME, format_api_time

logger = logging.getLogger(__name__)

# strfmt's UUID format (it accepts uppercase and missing dashes).
_UUID_SYNTAX = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\Z")

Clock = Callable[[], datetime]
Commit = Callable[[], Awaitable[None]]


# ---------------------------------------------------------------------------------------
# strfmt.DateTime parsing (go-openapi's ParseDateTime over Go's time.Parse)

_TIME_OF_DAY = r"(\d{1,2}):(\d{2})"  # Go reads the "15" hour with one or two digits
_FRACTION = r"(?:[.,](\d+))?"
# re.ASCII: Go's parser reads ASCII digits only; Python's \d would also take '٣' or '２'.
_ACCEPTED_LAYOUTS = [
    # RFC3339 (and its Millis/Micro/Nano variants): any fraction, `Z` or `±hh:mm`.
    re.compile(
        rf"(\d{{4}})-(\d{{2}})-(\d{{2}})T{_TIME_OF_DAY}:(\d{{2}}){_FRACTION}(Z|[+-]\d{{2}}:\d{{2}})\Z",
        re.ASCII,
    ),
    # RFC3339Millis/MicroNoColon: exactly 3 or 6 fraction digits, `Z` or `±hhmm`.
    re.compile(
        rf"(\d{{4}})-(\d{{2}})-(\d{{2}})T{_TIME_OF_DAY}:(\d{{2}})\.(\d{{3}}|\d{{6}})(Z|[+-]\d{{4}})\Z",
        re.ASCII,
    ),
    # ISO8601 local time (read as UTC), optional fraction.
    re.compile(rf"(\d{{4}})-(\d{{2}})-(\d{{2}})T{_TIME_OF_DAY}:(\d{{2}}){_FRACTION}()\Z", re.ASCII),
    # Reduced precision (no seconds), with a literal Z or without zone.
    re.compile(rf"(\d{{4}})-(\d{{2}})-(\d{{2}})T{_TIME_OF_DAY}()()(Z?)\Z", re.ASCII),
]
# The last layout go-openapi tries, `2006-01-02 15:04:05`.
_SPACE_LAYOUT = re.compile(
    rf"(\d{{4}})-(\d{{2}})-(\d{{2}}) {_TIME_OF_DAY}:(\d{{2}}){_FRACTION}()\Z", re.ASCII
)
_LAST_LAYOUT = "2006-01-02 15:04:05"
_FIRST_NON_ASCII = "\x80"
_TIME_QUOTE_ESCAPED = frozenset('"\\')
_MAX_OFFSET_HOURS = 24
_MINUTES_PER_HOUR = 60


@functools.lru_cache(maxsize=64)
def _zone(zone: str) -> timezone | None:
    """The fixed zone of `Z`, `±hh:mm` or `±hhmm`; None when Go would refuse the offset."""
    if not zone or zone == "Z":
        return UTC
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    # Go also takes +24:00, which Python cannot represent; we refuse it.
    if hours >= _MAX_OFFSET_HOURS or minutes >= _MINUTES_PER_HOUR:
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    if not offset:
        return UTC
    return timezone(-offset if zone[0] == "-" else offset)


def _build_time(parts: Sequence[str]) -> datetime | None:
    year = int(parts[0])
    second = int(parts[5]) if parts[5] else 0
    fraction, zone = parts[6] or "", parts[7]
    if year < 1:
        # Go can say year 0; Python cannot, and both are "long ago".
        in_range = 1 <= int(parts[1]) <= 12 and int(parts[3]) < 24 and int(parts[4]) < 60 and second < 60
        return ZERO_TIME if in_range else None
    tz = _zone(zone)
    if tz is None:
        return None
    micros = int((fraction + "000000")[:6]) if fraction else 0
    try:
        # The constructor checks month, day of month, hour, minute and second as Go does.
        return datetime(
            year, int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4]), second, micros, tzinfo=tz
        )
    except ValueError:
        return None


def _time_quote(text: str) -> str:
    """Quoted as Go's time package quotes in its parse errors (not strconv.Quote): every
    byte of a non-ASCII or control character as `\\xNN`, `"` and `\\` escaped."""
    quoted = ['"']
    for char in text:
        if char < " " or char >= _FIRST_NON_ASCII:
            quoted.extend(f"\\x{byte:02x}" for byte in char.encode("utf-8", "surrogatepass"))
        elif char in _TIME_QUOTE_ESCAPED:
            quoted.append("\\" + char)
        else:
            quoted.append(char)
    quoted.append('"')
    return "".join(quoted)


def _last_layout_error(text: str) -> str:
    """Go's time.Parse error for the last layout go-openapi tries, `2006-01-02 15:04:05`."""
    head = f"parsing time {_time_quote(text)}"

    def cannot(rest: str, element: str) -> str:
        return f"{head} as {_time_quote(_LAST_LAYOUT)}: cannot parse {_time_quote(rest)} as {_time_quote(element)}"

    def number(rest: str, fixed: bool) -> tuple[int, str] | None:
        if not rest[:1].isdigit() or not rest[:1].isascii():
            return None
        if not rest[1:2].isdigit() or not rest[1:2].isascii():
            return None if fixed else (int(rest[0]), rest[1:])
        return int(rest[:2]), rest[2:]

    rest = text
    if len(rest) < 4 or not ("0" <= rest[0] <= "9"):
        return cannot(rest, "2006")
    if not (rest[:4].isascii() and rest[:4].isdigit()):
        return cannot(rest[4:], "2006")  # Go consumes four characters before converting them
    rest = rest[4:]
    for separator, element, name, fixed, limit in (
        ("-", "01", "month", True, 13),
        ("-", "02", "day", True, 100),
        (" ", "15", "hour", False, 24),
        (":", "04", "minute", True, 60),
        (":", "05", "second", True, 60),
    ):
        if not rest.startswith(separator):
            return cannot(rest, separator)
        rest = rest[1:]
        parsed = number(rest, fixed)
        if parsed is None:
            return cannot(rest, element)
        value, rest = parsed
        if value >= limit or (name == "month" and value < 1):
            return f"{head}: {name} out of range"
    fraction = re.match(r"[.,]\d+", rest)
    if fraction:
        rest = rest[fraction.end() :]
    if rest:
        return f"{head}: extra text: {_time_quote(rest)}"
    # Every field was in range, so the day is not in its month, or the year is 0000, which
    # Go accepts and Python's datetime cannot hold: refused with the same message (a known
    # difference from Alertmanager, for a time nobody sends).
    return f"{head}: day out of range"


# Date-times parsed, by their text: a client creating silences (or Prometheus re-sending
# alerts) repeats the same few texts, and a hit costs well under a microsecond against about
# 3 µs for the layout regexes. Failures are not remembered (lru_cache does not keep raises).
PARSED_DATETIME_CACHE_SIZE = 256


@functools.lru_cache(maxsize=PARSED_DATETIME_CACHE_SIZE)
def parse_api_datetime(text: str) -> datetime:
    """go-openapi strfmt.ParseDateTime; raises ValueError with Go's message."""
    if text == "":
        return datetime(1970, 1, 1, tzinfo=UTC)  # strfmt.NewDateTime(): the Unix epoch
    for layout in _ACCEPTED_LAYOUTS:
        found = layout.match(text)
        if found is not None:
            moment = _build_time(found.groups())
            if moment is not None:
                return moment
    found = _SPACE_LAYOUT.match(text)
    if found is not None:
        moment = _build_time(found.groups())
        if moment is not None:
            return moment
    raise ValueError(_last_layout_error(text))


# ---------------------------------------------------------------------------------------
# Go's encoding/json type errors for the postableSilence schema

_STRING_FIELDS = ("comment", "createdBy")
_TIME_FIELDS = ("startsAt", "endsAt")
_MATCHER_STRING_FIELDS = ("name", "value")
_MATCHER_BOOL_FIELDS = ("isRegex", "isEqual")
_ID_STRUCT = 'struct { ID string "json:\\"id,omitempty\\"" }'


def _decode_failure(message: str) -> FrameworkError:
    return body_decode_failure("silence", message)


# The json names of PostableSilence's fields and of a Matcher's: the keys of a posted silence
# fill them as Go's encoding/json decides (daemon.api.gofields: exactly, else case-folded, the
# last of several winning). Slices and strings are replaced whole, so renaming suffices.
_SILENCE_FIELDS = GoFields(("id", "comment", "createdBy", "endsAt", "matchers", "startsAt"))
_MATCHER_FIELDS = GoFields(("isEqual", "isRegex", "name", "value"))


def _spelled_as_fields(document: dict[str, Any], fields: GoFields) -> bool:
    """Whether no key of `document` is another spelling of a field (the usual case)."""
    return fields.names.issuperset(document) or all(fields.field_of(key) in (key, None) for key in document)


def _as_fields(document: dict[str, Any]) -> dict[str, Any]:
    """The silence object with its and its matchers' keys renamed to the fields they fill.
    Raises KeyOrderLost (see daemon.api.gofields)."""
    document = _SILENCE_FIELDS.rekeyed(document)
    matchers = document.get("matchers")
    if type(matchers) is list and not all(
        not isinstance(matcher, dict) or _spelled_as_fields(matcher, _MATCHER_FIELDS) for matcher in matchers
    ):
        document = {
            **document,
            "matchers": [
                _MATCHER_FIELDS.rekeyed(matcher) if isinstance(matcher, dict) else matcher
                for matcher in matchers
            ],
        }
    return document


def _decode_silence_body(body: bytes) -> tuple[dict[str, Any], dict[str, datetime]]:
    """Decode and type-check like Go; returns the object (possibly with nulls) and its
    date-times, parsed."""
    try:
        document = decode_go_json(body)
    except GoJsonSyntaxError as error:
        raise _decode_failure(str(error)) from None
    if document is None:
        return {}, {}
    if not isinstance(document, dict):
        raise _decode_failure(
            f"json: cannot unmarshal {json_kind(document)} into Go value of type {_ID_STRUCT}"
        )
    try:
        document = _as_fields(document)
    except KeyOrderLost:
        document = _as_fields(decode_keeping_key_order(body))
    silence_id = document.get("id")
    if silence_id is not None and not isinstance(silence_id, str):
        raise _decode_failure(unmarshal_type_error(silence_id, ".id", "string"))
    # Go keeps the first type mismatch but goes on decoding; a date-time that does not parse
    # aborts at once, so it wins over an earlier mismatch.
    first_mismatch: str | None = None
    times: dict[str, datetime] = {}
    for key, value in document.items():
        if value is None:
            continue
        mismatch: str | None = None
        if key in _STRING_FIELDS and not isinstance(value, str):
            mismatch = unmarshal_type_error(value, f"Silence.{key}", "string")
        elif key in _TIME_FIELDS:
            if not isinstance(value, str):
                raise _decode_failure(unmarshal_type_error(value, f"Silence.{key}", "string"))
            try:
                times[key] = parse_api_datetime(value)
            except ValueError as error:
                raise _decode_failure(str(error)) from None
        elif key == "matchers":
            mismatch = _matchers_type_error(value)
        if mismatch is not None and first_mismatch is None:
            first_mismatch = mismatch
    if first_mismatch is not None:
        raise _decode_failure(first_mismatch)
    return document, times


def _matchers_type_error(value: Any) -> str | None:
    if not isinstance(value, list):
        return unmarshal_type_error(value, "Silence.matchers", "models.Matchers")
    first: str | None = None
    for element in value:
        mismatch: str | None = None
        if element is not None and not isinstance(element, dict):
            mismatch = unmarshal_type_error(element, "Silence.matchers", "models.Matcher")
        elif isinstance(element, dict):
            for key, field_value in element.items():
                if field_value is None:
                    continue
                if key in _MATCHER_STRING_FIELDS and not isinstance(field_value, str):
                    mismatch = mismatch or unmarshal_type_error(
                        field_value, f"Matcher.matchers.{key}", "string"
                    )
                elif key in _MATCHER_BOOL_FIELDS and not isinstance(field_value, bool):
                    mismatch = mismatch or unmarshal_type_error(
                        field_value, f"Matcher.matchers.{key}", "bool"
                    )
        first = first or mismatch
    return first


def _required(field: str) -> FrameworkError:
    return FrameworkError(422, CODE_REQUIRED, f"{field} in body is required")


def _validate_schema(document: Mapping[str, Any]) -> None:
    """go-openapi's validation of postableSilence; the first failure only."""
    for field in ("comment", "createdBy", "endsAt"):
        if document.get(field) is None:
            raise _required(field)
    matchers = document.get("matchers")
    if matchers is None:
        raise _required("matchers")
    if len(matchers) < 1:
        raise FrameworkError(422, CODE_TOO_FEW_ITEMS, "matchers in body should have at least 1 items")
    for index, matcher in enumerate(matchers):
        if matcher is None:
            # Alertmanager dereferences the null and drops the connection; we answer instead.
            raise _required(f"matchers.{index}")
        for field in ("isRegex", "name", "value"):
            if matcher.get(field) is None:
                raise _required(f"matchers.{index}.{field}")
    if document.get("startsAt") is None:
        raise _required("startsAt")


def _request_from_document(document: Mapping[str, Any], times: Mapping[str, datetime]) -> SilenceRequest:
    specs = []
    for matcher in document["matchers"]:
        is_regex = matcher["isRegex"]
        is_equal = matcher.get("isEqual")
        is_equal = True if is_equal is None else is_equal
        if is_regex:
            kind = MatchType.REGEX if is_equal else MatchType.NOT_REGEX
        else:
            kind = MatchType.EQUAL if is_equal else MatchType.NOT_EQUAL
        specs.append(MatcherSpec(matcher["name"], kind, matcher["value"]))
    return SilenceRequest(
        id=document.get("id") or "",
        matchers=tuple(specs),
        starts_at=times["startsAt"],
        ends_at=times["endsAt"],
        created_by=document["createdBy"],
        comment=document["comment"],
    )


# The operator of an API matcher by its (isRegex, isEqual) pair of booleans.
_MATCH_TYPES_BY_FLAGS = {
    (False, True): MatchType.EQUAL,
    (False, False): MatchType.NOT_EQUAL,
    (True, True): MatchType.REGEX,
    (True, False): MatchType.NOT_REGEX,
}


# The fields of an ordinary silence body: id ("" for none), matchers (name, type, value),
# startsAt, endsAt, createdBy, comment.
OrdinaryBody = tuple[str, list[MatcherParts], datetime, datetime, str, str]


def _plain_request(body: bytes) -> OrdinaryBody | None:
    """The fields of an ordinary body, one that every decoding and schema gate above lets
    through at first sight (JSON orjson accepts, an object whose fields all have their
    types, date-times that parse, every required field present); None for anything else,
    which then goes through the gates one by one for their exact answer. Both ways give the
    same request for a body this accepts (`_ordinary_request`): this only skips checks that
    cannot fail, and the request objects a new silence does not need."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(document) is not dict or not _spelled_as_fields(document, _SILENCE_FIELDS):
        return None
    get = document.get
    matchers, created_by, comment = get("matchers"), get("createdBy"), get("comment")
    starts_text, ends_text, silence_id = get("startsAt"), get("endsAt"), get("id")
    if (
        type(matchers) is not list
        or not matchers
        or type(created_by) is not str
        or type(comment) is not str
        or type(starts_text) is not str
        or type(ends_text) is not str
    ):
        return None
    if silence_id is None:
        silence_id = ""
    elif type(silence_id) is not str:
        return None
    parts: list[MatcherParts] = []
    for matcher in matchers:
        if type(matcher) is not dict or not _spelled_as_fields(matcher, _MATCHER_FIELDS):
            return None
        name, value = matcher.get("name"), matcher.get("value")
        is_regex, is_equal = matcher.get("isRegex"), matcher.get("isEqual", True)
        # `type(...) is bool`: 1 and 0 would otherwise find True's and False's entries.
        if (
            type(name) is not str
            or type(value) is not str
            or type(is_regex) is not bool
            or type(is_equal) is not bool
        ):
            return None
        parts.append((name, _MATCH_TYPES_BY_FLAGS[is_regex, is_equal], value))
    try:
        starts_at = parse_api_datetime(starts_text)
        ends_at = parse_api_datetime(ends_text)
    except ValueError:
        return None
    return silence_id, parts, starts_at, ends_at, created_by, comment


def _ordinary_request(ordinary: OrdinaryBody) -> SilenceRequest:
    """The request the gates build from the same body."""
    silence_id, parts, starts_at, ends_at, created_by, comment = ordinary
    specs = tuple(MatcherSpec(name, kind, value) for name, kind, value in parts)
    return SilenceRequest(silence_id, specs, starts_at, ends_at, created_by, comment)


def _fields_of(request: SilenceRequest) -> OrdinaryBody:
    """The fields of a request the gates built, as `_plain_request` gives them."""
    parts = [(spec.name, spec.type, spec.value) for spec in request.matchers]
    return request.id, parts, request.starts_at, request.ends_at, request.created_by, request.comment


def _created_response(silence_id: str) -> Response:
    """`{"silenceID":"<id>"}` without building the dict orjson would write it from."""
    return Response(200, b'{"silenceID":' + orjson.dumps(silence_id) + b"}", JSON_CONTENT_TYPE)


# ---------------------------------------------------------------------------------------
# Presentation

_STATE_ORDER = {SilenceState.ACTIVE: 0, SilenceState.PENDING: 1, SilenceState.EXPIRED: 2}


def gettable_silence(silence: Silence, now: datetime) -> dict[str, Any]:
    """The API's gettableSilence, keys in Alertmanager's order."""
    return {
        "id": silence.id,
        "status": {"state": silence.api_state_at(now).value},
        "updatedAt": format_api_time(silence.updated_at),
        "comment": silence.comment,
        "createdBy": silence.created_by,
        "endsAt": format_api_time(silence.ends_at),
        "matchers": [
            {"isEqual": m.is_equal, "isRegex": m.is_regex, "name": m.name, "value": m.value}
            for m in silence.matchers
        ],
        "startsAt": format_api_time(silence.starts_at),
    }


def _sort_key(silence: Silence, now: datetime) -> tuple[int, float]:
    """Active by end ascending, pending by start ascending, expired by end descending."""
    state = silence.api_state_at(now)
    if state is SilenceState.ACTIVE:
        return (0, silence.ends_at.timestamp())
    if state is SilenceState.PENDING:
        return (1, silence.starts_at.timestamp())
    return (2, -silence.ends_at.timestamp())


def silence_has_matchers(silence: Silence, filters: Sequence[Any]) -> bool:
    """Alertmanager's filter: every filter matcher appears in the silence, same name,
    operator and value string (not label matching)."""
    return all(
        any(f.name == m.name and f.type is m.type and f.value == m.value for m in silence.matchers)
        for f in filters
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _no_commit() -> None:
    return None


class SilencesAPI:
    """Handlers for the ASGI router. `commit` makes every change so far durable."""

    def __init__(self, silences: Silences, commit: Commit | None = None, clock: Clock = _utc_now) -> None:
        self.silences = silences
        self._commit = commit if commit is not None else _no_commit
        self._clock = clock

    async def list(self, query: Mapping[str, list[str]]) -> Response:
        filters = []
        for text in query.get("filter", []):
            try:
                filters.append(parse_matcher(text))
            except MatcherError as error:
                return handler_error(400, str(error))
        now = self._clock()
        found = [s for s in self.silences.all() if silence_has_matchers(s, filters)]
        found.sort(key=lambda silence: _sort_key(silence, now))
        return json_response(200, [gettable_silence(silence, now) for silence in found])

    async def get(self, silence_id: str) -> Response:
        invalid = _invalid_path_id(silence_id)
        if invalid is not None:
            return invalid
        silence = self.silences.get(silence_id)
        if silence is None:
            return Response(404)
        return json_response(200, gettable_silence(silence, self._clock()))

    async def delete(self, silence_id: str) -> Response:
        invalid = _invalid_path_id(silence_id)
        if invalid is not None:
            return invalid
        try:
            self.silences.expire(silence_id, self._clock())
        except SilenceNotFound as error:
            return handler_error(500, str(error))
        except SilenceInvalid as error:
            return handler_error(500, str(error))
        failure = await self._make_durable()
        return failure if failure is not None else Response(200)

    async def create(self, body: bytes, content_type: str | None) -> Response:
        if content_type != JSON_CONTENT_TYPE:
            unsupported = unsupported_media_type(content_type)
            if unsupported is not None:
                return unsupported
        fields = _plain_request(body)
        if fields is None:
            if not body.strip():
                return framework_error(422, CODE_REQUIRED, "silence in body is required")
            try:
                document, times = _decode_silence_body(body)
                _validate_schema(document)
            except FrameworkError as error:
                return error.response
            fields = _fields_of(_request_from_document(document, times))
        silence_id, parts, starts_at, ends_at, created_by, comment = fields
        if not starts_at < ends_at:
            return handler_error(400, "Failed to create silence: start time must be before end time")
        now = self._clock()
        if ends_at < now:
            return handler_error(400, "Failed to create silence: end time can't be in the past")
        try:
            if silence_id:  # an update
                silence_id = self.silences.set(_ordinary_request(fields), now)
            else:
                silence_id = self.silences.create(parts, starts_at, ends_at, created_by, comment, now)
        except SilenceNotFound as error:
            return handler_error(404, str(error))
        except SilenceInvalid as error:
            return handler_error(400, str(error))
        failure = await self._make_durable()
        return failure if failure is not None else _created_response(silence_id)

    async def _make_durable(self) -> Response | None:
        try:
            await self._commit()
        except OSError as error:
            logger.error("could not make a silence change durable: %s", error)
            return handler_error(500, f"failed to persist silence: {error}")
        return None


def _invalid_path_id(silence_id: str) -> Response | None:
    if _UUID_SYNTAX.match(silence_id):
        return None
    return framework_error(
        422, CODE_INVALID_TYPE, f"silenceID in path must be of type uuid: {go_quote(silence_id)}"
    )


__all__ = [
    "GoJsonSyntaxError",
    "SilencesAPI",
    "decode_go_json",
    "gettable_silence",
    "go_json_value_end",
    "parse_api_datetime",
    "silence_has_matchers",
]
