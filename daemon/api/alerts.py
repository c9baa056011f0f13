"""`/api/v2/alerts`, `/api/v2/alerts/groups`, `/api/v2/status` and `/api/v2/receivers` with
Alertmanager 0.25's exact answers.

A POST body passes the same gates as in Alertmanager, in its order (reference §2.2):
1. Go's JSON decoding into `[]PostableAlert` (400 `{"code":400,...}`): the anonymous part
   (`annotations`, `endsAt`, `startsAt`) is decoded before the embedded `Alert` part
   (`labels`, `generatorURL`), so its errors come first; a date-time that does not parse
   aborts at once, a type mismatch is remembered and reported at the end of its part. Keys
   fill fields as Go matches them (any case, the last key winning, maps merged into; see
   `daemon.api.gofields`).
2. go-openapi's schema validation (422, first failure only): `N.generatorURL` must be a
   URI, then `N.labels` is required.
3. The handler: defaults (`startsAt`, `endsAt` + timeout), counting, dropping empty label
   values, and `Alert.Validate` per alert; valid alerts are stored even when others fail,
   the failures are joined with "; " into a 400 JSON string.

Handlers are plain functions of their inputs returning `daemon.api.response.Response`; the
state that changes on a config reload is read through `runtime()` on every request.
"""

from __future__ import annotations

import dataclasses
import gc
import re
from collections.abc import Callable, Container, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from daemon.alerts import AlertStore, AlertUpdate
from daemon.api.gofields import GoFields, KeyOrderLost, decode_keeping_key_order
from daemon.api.gojson import GoJsonSyntaxError, decode_go_json, json_kind, unmarshal_type_error
from daemon.api.response import (
    CODE_INVALID_TYPE,
    CODE_REQUIRED,
    JSON_CONTENT_TYPE,
    FrameworkError,
    Response,
    body_decode_failure,
    handler_error,
    json_response,
    unsupported_media_type,
)
from daemon.api.silences import parse_api_datetime
from daemon.dispatch import AlertGroupView
from daemon.marker import ACTIVE_STATUS, STATE_ACTIVE, UNPROCESSED_STATUS, AlertStatus, Marker
from daemon.matchers import Matcher, MatcherError, MatchType, compile_anchored, go_quote, parse_matcher
from daemon.routing import Route
from notify.model import ZERO_TIME, Alert, format_api_time

API_VERSION_LABEL = "v2"

# Go's anonymous struct of PostableAlert's own fields, as encoding/json names it in errors.
_ANONYMOUS_PART = (
    'struct { Annotations models.LabelSet "json:\\"annotations,omitempty\\""; '
    'EndsAt strfmt.DateTime "json:\\"endsAt,omitempty\\""; '
    'StartsAt strfmt.DateTime "json:\\"startsAt,omitempty\\"" }'
)
_TIME_FIELDS = ("startsAt", "endsAt")
# PostableAlert's json names, both parts (no name of one part folds like a name of the
# other, so one set serves both): Go also fills them from case-insensitive keys.
_ALERT_FIELDS = GoFields(("annotations", "endsAt", "startsAt", "generatorURL", "labels"))
_ALERT_FIELD_NAMES = _ALERT_FIELDS.names

# Strict RFC 3339 with an offset: the form every client sends, parsed by the fast path.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{1,9}))?(?:Z|[+-]\d\d:\d\d)\Z")
_MAX_PYTHON_FRACTION_DIGITS = 6
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_BAD_PERCENT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")

# swag.ConvertBool: these (case-insensitive) are true, anything else false.
_TRUE_WORDS = frozenset({"true", "1", "yes", "ok", "y", "on", "selected", "checked", "t", "enabled"})

# Bounds the per-runtime routing cache (about 200 bytes an entry); past it the cache starts over.
MAX_CACHED_ROUTINGS = 500_000



# ---------------------------------------------------------------------------------------
# What the handlers read


class Counter(Protocol):
    def labels(self, *values: str) -> Any: ...


AlertFilter = Callable[[AlertUpdate, datetime], bool]
RouteFilter = Callable[[Route], bool]
GroupsFunction = Callable[
    [RouteFilter | None, AlertFilter | None], tuple[list[AlertGroupView], dict[int, list[str]]]
]


@dataclasses.dataclass(frozen=True)
class AlertsRuntime:
    """What a config reload replaces, swapped as one reference."""

    route: Route
    resolve_timeout: timedelta
    receiver_names: tuple[str, ...]
    original_config: str
    # Re-runs the inhibitor and silencer for an alert (they record the result in the marker);
    # called with (fingerprint, labels, now).
    set_alert_status: Callable[[int, Mapping[str, str], datetime], None]
    groups: GroupsFunction
    # The stored alerts that something may mute now (a silence matches them, whatever its
    # state); asked once per GET. Every other alert evaluates to ACTIVE_STATUS, so a GET
    # writes that without running `set_alert_status`. None (here or as the answer): any
    # alert may be muted (inhibition rules exist, say), so evaluate each one.
    maybe_muted: Callable[[], Container[int] | None] | None = None
    # Receivers by alert fingerprint: routing is a pure function of the labels, so a
    # runtime (one config) computes it once per alert.
    receivers_cache: dict[int, list[str]] = dataclasses.field(default_factory=dict, compare=False)
    # A tree that is only a root without matchers routes every alert to its receiver: one
    # shared list, no per-alert routing or cache entry.
    _everyone: list[str] | None = dataclasses.field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.route.routes and not self.route.matchers:
            object.__setattr__(self, "_everyone", [self.route.opts.receiver])

    @property
    def routes_everything(self) -> bool:
        """Whether every alert goes to the root's receiver alone (`receivers_of` ignores
        its arguments and answers one shared list)."""
        return self._everyone is not None

    def receivers_of(self, fingerprint: int, labels: Mapping[str, str]) -> list[str]:
        if self._everyone is not None:
            return self._everyone
        cache = self.receivers_cache
        found = cache.get(fingerprint)
        if found is None:
            if len(cache) >= MAX_CACHED_ROUTINGS:
                cache.clear()
            found = [node.opts.receiver for node in self.route.match(labels)]
            cache[fingerprint] = found
        return found


@dataclasses.dataclass(frozen=True)
class ClusterStatus:
    status: str = "disabled"
    name: str | None = None
    peers: tuple[tuple[str, str], ...] = ()  # (name, address)

    def to_api(self) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        if self.name is not None:
            shown["name"] = self.name
        shown["peers"] = [{"address": address, "name": name} for name, address in sorted(self.peers)]
        shown["status"] = self.status
        return shown


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _decode_failure(message: str) -> FrameworkError:
    return body_decode_failure("alerts", message)


def parse_time(text: str) -> datetime:
    """strfmt.DateTime: a fast path for plain RFC 3339, go-openapi's layouts otherwise."""
    found = _RFC3339.match(text)
    if found is not None:
        fraction = found.group(1)
        candidate = text
        if fraction is not None and len(fraction) > _MAX_PYTHON_FRACTION_DIGITS:
            start = found.start(1)
            candidate = text[: start + _MAX_PYTHON_FRACTION_DIGITS] + text[start + len(fraction) :]
        try:
            return datetime.fromisoformat(candidate)
        except (ValueError, OverflowError):
            pass
    return parse_api_datetime(text)


def _decode_label_map(
    value: Any, field: str, go_map_type: str, decoded: dict[str, str] | None = None
) -> tuple[dict[str, str] | None, str | None]:
    """(labels, first type mismatch) as Go decodes a map[string]string-like field that holds
    `decoded` so far: an object adds to the map (a field named twice merges), null empties
    it, anything else is a type mismatch that leaves it as it was."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        return decoded, unmarshal_type_error(value, field, go_map_type)
    mismatch: str | None = None
    labels: dict[str, str] = {} if decoded is None else decoded
    for name, label_value in value.items():
        if isinstance(label_value, str):
            labels[name] = label_value
        elif label_value is None:
            labels[name] = ""
        elif mismatch is None:
            mismatch = unmarshal_type_error(label_value, field, "string")
    return labels, mismatch


@dataclasses.dataclass(slots=True)
class _Postable:
    labels: dict[str, str] | None
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    generator_url: str


def _decode_element(element: Any, parsed_times: dict[str, datetime]) -> _Postable:
    """One element of the body; `parsed_times` memoises time texts across the request's
    elements (a rule evaluation stamps its alerts alike): fewer parses at ingest, and
    alerts sharing one datetime object share its cached hash when the API formats it."""
    if element is None:
        # Alertmanager dereferences the null and drops the connection; we answer instead.
        return _Postable(None, {}, ZERO_TIME, ZERO_TIME, "")
    if not isinstance(element, dict):
        raise _decode_failure(f"json: cannot unmarshal {json_kind(element)} into Go value of type {_ANONYMOUS_PART}")
    # The keys as the fields they fill (see daemon.api.gofields); the condition inlines the
    # fast path of `_ALERT_FIELDS.items` (every key a field name) for the ingest path's sake.
    fields = (
        element.items()
        if _ALERT_FIELD_NAMES.issuperset(element) and type(element) is dict
        else _ALERT_FIELDS.items(element)
    )
    # Part one: the anonymous struct (annotations, endsAt, startsAt), in document order.
    mismatch: str | None = None
    annotations: dict[str, str] | None = None
    times = {"startsAt": ZERO_TIME, "endsAt": ZERO_TIME}
    for key, value in fields:
        if key == "annotations":
            annotations, problem = _decode_label_map(value, ".annotations", "models.LabelSet", annotations)
            mismatch = mismatch or problem
        elif key in _TIME_FIELDS and value is not None:
            if not isinstance(value, str):
                raise _decode_failure(unmarshal_type_error(value, f".{key}", "string"))
            parsed = parsed_times.get(value)
            if parsed is None:
                try:
                    parsed = parsed_times[value] = parse_time(value)
                except ValueError as error:
                    raise _decode_failure(str(error)) from None
            times[key] = parsed
    if mismatch is not None:
        raise _decode_failure(mismatch)
    # Part two: the embedded Alert (labels, generatorURL).
    labels: dict[str, str] | None = None
    generator_url = ""
    for key, value in fields:
        if key == "labels":
            labels, problem = _decode_label_map(value, "Alert.labels", "models.LabelSet", labels)
            mismatch = mismatch or problem
        elif key == "generatorURL" and value is not None:
            if isinstance(value, str):
                generator_url = value
            else:
                mismatch = mismatch or unmarshal_type_error(value, "Alert.generatorURL", "string")
    if mismatch is not None:
        raise _decode_failure(mismatch)
    return _Postable(labels, annotations or {}, times["startsAt"], times["endsAt"], generator_url)


def is_request_uri(text: str) -> bool:
    """go-openapi's `uri` format (Go's url.ParseRequestURI succeeds)."""
    if _CONTROL_CHARACTERS.search(text) or _BAD_PERCENT_ESCAPE.search(text) or " " in text:
        return False
    if _URI_SCHEME.match(text):
        return True
    return text.startswith("/")


def decode_postable_alerts(body: bytes) -> list[_Postable]:
    """Gates 1 and 2; raises FrameworkError carrying the framework's response."""
    if not body.strip():
        raise FrameworkError(422, CODE_REQUIRED, "alerts in body is required")
    try:
        document = decode_go_json(body)
    except GoJsonSyntaxError as error:
        raise _decode_failure(str(error)) from None
    if document is None:
        return []
    if not isinstance(document, list):
        raise _decode_failure(f"json: cannot unmarshal {json_kind(document)} into Go value of type models.PostableAlerts")
    parsed_times: dict[str, datetime] = {}
    try:
        postables = [_decode_element(element, parsed_times) for element in document]
    except KeyOrderLost:
        # Keys naming one field twice: their order decides, and the plain decoding may have
        # lost it (see daemon.api.gofields). The document is the same, so is its shape.
        document = decode_keeping_key_order(body)
        postables = [_decode_element(element, parsed_times) for element in document]
    for index, postable in enumerate(postables):
        if postable.generator_url and not is_request_uri(postable.generator_url):
            raise FrameworkError(
                422,
                CODE_INVALID_TYPE,
                f"{index}.generatorURL in body must be of type uri: {go_quote(postable.generator_url)}",
            )
        if postable.labels is None:
            raise FrameworkError(422, CODE_REQUIRED, f"{index}.labels in body is required")
    return postables


def _validation_error(alert: Alert) -> str | None:
    """types.Alert.Validate (prometheus model.Alert.Validate) with its messages and order."""
    if not is_zero_end(alert.ends_at) and alert.ends_at < alert.starts_at:
        return "start time must be before end time"
    for name in alert.labels:
        if not _LABEL_NAME.match(name):
            return f"invalid label set: invalid name {go_quote(name)}"
    if not alert.labels:
        return "at least one label pair required"
    for name in alert.annotations:
        if not _LABEL_NAME.match(name):
            return f"invalid annotations: invalid name {go_quote(name)}"
    return None


def is_zero_end(moment: datetime) -> bool:
    return moment == ZERO_TIME


def convert_bool(text: str) -> bool:
    return text.lower() in _TRUE_WORDS


def _bool_param(query: Mapping[str, list[str]], name: str) -> bool:
    values = query.get(name)
    if not values or values[-1] == "":
        return True
    return convert_bool(values[-1])


def matches_filter_labels(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Alertmanager's filter semantics: an absent label matches an empty `=`/`=~` value, and a
    present one is not excluded by an empty `!=`/`!~` value."""
    for matcher in matchers:
        present = matcher.name in labels
        if matcher.type in (MatchType.NOT_EQUAL, MatchType.NOT_REGEX):
            if matcher.value == "" and present:
                continue
        elif matcher.value == "" and not present:
            continue
        if not matcher.matches(labels.get(matcher.name, "")):
            return False
    return True


def gettable_alert(
    fingerprint: int, alert: Alert, receivers: Sequence[str], status: dict[str, Any]
) -> dict[str, Any]:
    """gettableAlert in go-swagger's field order."""
    shown: dict[str, Any] = {
        "annotations": alert.annotations,
        "endsAt": format_api_time(alert.ends_at),
        "fingerprint": f"{fingerprint:016x}",
        "receivers": [{"name": name} for name in receivers],
        "startsAt": format_api_time(alert.starts_at),
        "status": status,
        "updatedAt": format_api_time(alert.updated_at),
    }
    if alert.generator_url:
        shown["generatorURL"] = alert.generator_url
    shown["labels"] = alert.labels
    return shown


# Receiver lists as JSON, by their names; bounded (one entry per distinct list of receivers
# an alert routes to, so a config would need this many routes to overflow it).
MAX_CACHED_RECEIVER_LISTS = 4096
_receivers_json: dict[tuple[str, ...], bytes] = {}


def _receivers_bytes(receivers: Sequence[str]) -> bytes:
    key = tuple(receivers)
    encoded = _receivers_json.get(key)
    if encoded is None:
        if len(_receivers_json) >= MAX_CACHED_RECEIVER_LISTS:
            _receivers_json.clear()
        encoded = _receivers_json[key] = orjson.dumps([{"name": name} for name in receivers])
    return encoded


# The three API times of alerts, by (start, end, update) in UTC: the alerts of one POST
# share them (see _decode_element), so a GET formats each triple once. Bounded like
# notify.model's memo of single times: past the bound it starts over.
MAX_CACHED_TIME_TRIPLES = 8192
_time_triples: dict[tuple[datetime, datetime, datetime], tuple[bytes, bytes, bytes]] = {}


def _api_times(starts_at: datetime, ends_at: datetime, updated_at: datetime) -> tuple[bytes, bytes, bytes]:
    # Equal instants in other zones print differently: only all-UTC triples are memoised.
    if starts_at.tzinfo is not UTC or ends_at.tzinfo is not UTC or updated_at.tzinfo is not UTC:
        return (
            format_api_time(starts_at).encode(),
            format_api_time(ends_at).encode(),
            format_api_time(updated_at).encode(),
        )
    key = (starts_at, ends_at, updated_at)
    texts = _time_triples.get(key)
    if texts is None:
        if len(_time_triples) >= MAX_CACHED_TIME_TRIPLES:
            _time_triples.clear()
        texts = _time_triples[key] = (
            format_api_time(starts_at).encode(),
            format_api_time(ends_at).encode(),
            format_api_time(updated_at).encode(),
        )
    return texts


def alert_parts(fingerprint: int, alert: Alert, receivers: Sequence[str]) -> tuple[bytes, bytes]:
    """The alert's gettableAlert as JSON around its `status` value: (everything up to
    `"status":`, everything after the value followed by a comma), cached on the Alert.

    The store replaces the Alert object on every update (and copies start without the
    cache), so the parts only depend on it and on the receivers, which are checked by
    identity first (the API's routing cache hands out the same list while a config lives).
    The status is spliced in from the marker's AlertStatus, which many alerts share.
    Bytes, unlike dicts, cost the garbage collector nothing to keep, and the cache goes away
    with the alert. Every text here is JSON-safe except the client's strings, which orjson
    encodes; `%` formatting of bytes is the cheapest assembly CPython offers."""
    cached = alert.api_rendering
    if cached is not None and (cached[0] is receivers or cached[0] == receivers):
        return cached[1], cached[2]
    starts, ends, updated = _api_times(alert.starts_at, alert.ends_at, alert.updated_at)
    annotations = alert.annotations
    generator_url = alert.generator_url
    prefix = b'{"annotations":%b,"endsAt":"%b","fingerprint":"%016x","receivers":%b,"startsAt":"%b","status":' % (
        orjson.dumps(annotations) if annotations else b"{}",
        ends,
        fingerprint,
        _receivers_bytes(receivers),
        starts,
    )
    suffix = b',"updatedAt":"%b"%b,"labels":%b},' % (
        updated,
        b',"generatorURL":' + orjson.dumps(generator_url) if generator_url else b"",
        orjson.dumps(alert.labels),
    )
    alert.api_rendering = (receivers, prefix, suffix)
    return prefix, suffix


def render_alert(fingerprint: int, alert: Alert, receivers: Sequence[str], status: AlertStatus) -> bytes:
    """The alert's gettableAlert as JSON bytes (from the cached parts)."""
    prefix, suffix = alert_parts(fingerprint, alert, receivers)
    return prefix + status.json() + suffix[:-1]


def _json_array(pieces: list[bytes]) -> bytes:
    """The JSON array of the elements in `pieces`: each element's parts in order, the last
    part of each ending in a comma (see `alert_parts`)."""
    if not pieces:
        return b"[]"
    pieces[-1] = pieces[-1][:-1]
    pieces.append(b"]")
    pieces.insert(0, b"[")  # cheaper than copying the joined body once more
    return b"".join(pieces)


@dataclasses.dataclass(frozen=True, slots=True)
class _Selection:
    """The `filter`, `active`, `silenced` and `inhibited` parameters of a GET."""

    matchers: list[Matcher]
    active: bool
    silenced: bool
    inhibited: bool

    @property
    def admits_everything(self) -> bool:
        return not self.matchers and self.active and self.silenced and self.inhibited

    def admits(self, status: AlertStatus, labels: Mapping[str, str]) -> bool:
        if not self.active and status.state == STATE_ACTIVE:
            return False
        if not self.silenced and status.silenced_by:
            return False
        if not self.inhibited and status.inhibited_by:
            return False
        return matches_filter_labels(self.matchers, labels)


class AlertsAPI:
    def __init__(
        self,
        store: AlertStore,
        marker: Marker,
        runtime: Callable[[], AlertsRuntime],
        *,
        received_total: Counter | None = None,
        invalid_total: Counter | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._marker = marker
        self._runtime = runtime
        self._clock = clock
        self._firing = received_total.labels(API_VERSION_LABEL, "firing") if received_total else None
        self._resolved = received_total.labels(API_VERSION_LABEL, "resolved") if received_total else None
        self._invalid = invalid_total.labels(API_VERSION_LABEL) if invalid_total else None

    # ------------------------------------------------------------------ POST /alerts

    async def post(self, body: bytes, content_type: str | None) -> Response:
        unsupported = unsupported_media_type(content_type)
        if unsupported is not None:
            return unsupported
        try:
            postables = decode_postable_alerts(body)
        except FrameworkError as error:
            return error.response
        now = self._clock()
        # One object for every defaulted end (see _decode_element on shared datetimes).
        default_ends_at = now + self._runtime().resolve_timeout
        valid: list[Alert] = []
        errors: list[str] = []
        firing = resolved = 0
        for postable in postables:
            starts_at, ends_at, timeout = postable.starts_at, postable.ends_at, False
            if starts_at == ZERO_TIME:
                starts_at = now if ends_at == ZERO_TIME else ends_at
            if ends_at == ZERO_TIME:
                timeout = True
                ends_at = default_ends_at
            if ends_at > now:
                firing += 1
            else:
                resolved += 1
            labels = {name: value for name, value in (postable.labels or {}).items() if value != ""}
            alert = Alert(
                labels=labels,
                annotations=postable.annotations,
                starts_at=starts_at,
                ends_at=ends_at,
                updated_at=now,
                generator_url=postable.generator_url,
                timeout=timeout,
            )
            problem = _validation_error(alert)
            if problem is None:
                valid.append(alert)
            else:
                errors.append(problem)
        self._count(firing, resolved, len(errors))
        if valid:
            await self._store.put(valid, now)
        if errors:
            return handler_error(400, "; ".join(errors))
        return Response(200)

    def _count(self, firing: int, resolved: int, invalid: int) -> None:
        if self._firing is not None and firing:
            self._firing.inc(firing)
        if self._resolved is not None and resolved:
            self._resolved.inc(resolved)
        if self._invalid is not None and invalid:
            self._invalid.inc(invalid)

    # ------------------------------------------------------------------ GET /alerts

    def _filters(self, query: Mapping[str, list[str]]) -> tuple[_Selection, Any] | Response:
        matchers: list[Matcher] = []
        for text in query.get("filter", []):
            try:
                matchers.append(parse_matcher(text))
            except MatcherError as error:
                return handler_error(400, str(error))
        receiver_regex = None
        receiver_values = query.get("receiver")
        if receiver_values and receiver_values[-1] != "":
            try:
                receiver_regex = compile_anchored(receiver_values[-1])
            except MatcherError as error:
                return handler_error(400, f"failed to parse receiver param: {error}")
        selection = _Selection(
            matchers,
            _bool_param(query, "active"),
            _bool_param(query, "silenced"),
            _bool_param(query, "inhibited"),
        )
        return selection, receiver_regex

    def _alert_filter(self, runtime: AlertsRuntime, selection: _Selection) -> AlertFilter:
        marker = self._marker
        status_of = marker.status
        set_alert_status = runtime.set_alert_status
        admits = None if selection.admits_everything else selection.admits
        maybe_muted = runtime.maybe_muted() if runtime.maybe_muted is not None else None
        store = self._store

        def keep(update: AlertUpdate, now: datetime) -> bool:
            fingerprint, alert = update
            ends_at = alert.ends_at
            if ends_at < now and ends_at != ZERO_TIME:
                return False
            # As in `get`; `maybe_muted` only speaks for stored alerts, and a group may still
            # hold one the store has dropped.
            if maybe_muted is None or fingerprint in maybe_muted or fingerprint not in store:
                set_alert_status(fingerprint, alert.labels, now)
            elif status_of(fingerprint) is not ACTIVE_STATUS:
                marker.set_silences(fingerprint, (), ())
            return admits is None or admits(status_of(fingerprint), alert.labels)

        return keep

    def get(self, query: Mapping[str, list[str]]) -> Response:
        parsed = self._filters(query)
        if isinstance(parsed, Response):
            return parsed
        # The listing allocates a few objects per alert and frees none until it answers,
        # and none of them can form a cycle: a cyclic collection during it would only walk
        # the whole heap (every stored alert) to find nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._list(*parsed)
        finally:
            if collecting:
                gc.enable()

    def _list(self, selection: _Selection, receiver_regex: Any) -> Response:
        runtime = self._runtime()
        everyone = runtime.receivers_of(0, {}) if runtime.routes_everything else None
        receivers_of = runtime.receivers_of
        routed = runtime.receivers_cache.get
        set_alert_status = runtime.set_alert_status
        maybe_muted = runtime.maybe_muted() if runtime.maybe_muted is not None else None
        marker = self._marker
        recorded = marker.statuses().get
        # Alerts nothing can mute whose status is not ACTIVE_STATUS yet (unprocessed, or
        # left over from a silence that ended): recorded in one call after the loop.
        unmuted: list[int] = []
        admits = None if selection.admits_everything else selection.admits
        now = self._clock()
        pieces: list[bytes] = []
        append = pieces.append
        # One pass, everything inlined: this loop runs once per stored alert per GET, and
        # for most alerts it is a few lookups and three appends.
        # Alertmanager sorts by the fingerprint's 16-digit hex string: the same order as the
        # int, which is the order the store keeps.
        alerts, order = self._store.sorted_view()
        for fingerprint in order:
            alert = alerts[fingerprint]
            receivers = everyone or routed(fingerprint) or receivers_of(fingerprint, alert.labels)
            if receiver_regex is not None and not any(receiver_regex.search(name) for name in receivers):
                continue
            ends_at = alert.ends_at
            if ends_at < now and ends_at != ZERO_TIME:
                continue
            # Alertmanager evaluates every listed alert into the marker; for an alert nothing
            # can mute, that evaluation is known to give ACTIVE_STATUS.
            status = recorded(fingerprint)
            if maybe_muted is None or fingerprint in maybe_muted:
                set_alert_status(fingerprint, alert.labels, now)
                status = recorded(fingerprint)
            elif status is not ACTIVE_STATUS:
                unmuted.append(fingerprint)
                status = ACTIVE_STATUS
            if status is None:
                status = UNPROCESSED_STATUS  # a set_alert_status that records nothing
            if admits is not None and not admits(status, alert.labels):
                continue
            cached = alert.api_rendering
            if cached is not None and cached[0] is receivers:
                append(cached[1])
                append(status.api_json or status.json())
                append(cached[2])
            else:
                prefix, suffix = alert_parts(fingerprint, alert, receivers)
                append(prefix)
                append(status.json())
                append(suffix)
        if unmuted:
            marker.set_unmuted(unmuted)
        return Response(200, _json_array(pieces), JSON_CONTENT_TYPE)

    # ------------------------------------------------------------------ GET /alerts/groups

    def groups(self, query: Mapping[str, list[str]]) -> Response:
        parsed = self._filters(query)
        if isinstance(parsed, Response):
            return parsed
        selection, receiver_regex = parsed
        runtime = self._runtime()
        keep = self._alert_filter(runtime, selection)

        def route_filter(route: Route) -> bool:
            return receiver_regex is None or receiver_regex.search(route.opts.receiver) is not None

        views, receivers_by_fingerprint = runtime.groups(route_filter, keep)
        status_of = self._marker.status
        no_receivers: list[str] = []
        parts: list[bytes] = []
        for view in views:
            pieces: list[bytes] = []
            for fingerprint, alert in view.alerts:
                receivers = receivers_by_fingerprint.get(fingerprint, no_receivers)
                prefix, suffix = alert_parts(fingerprint, alert, receivers)
                pieces += (prefix, status_of(fingerprint).json(), suffix)
            # gettableAlertGroup's field order: alerts, labels, receiver.
            parts.append(
                b'{"alerts":'
                + _json_array(pieces)
                + b',"labels":'
                + orjson.dumps(dict(view.labels))
                + b',"receiver":'
                + orjson.dumps({"name": view.receiver})
                + b"},"
            )
        return Response(200, _json_array(parts), JSON_CONTENT_TYPE)


class GeneralAPI:
    """`/api/v2/status` and `/api/v2/receivers`."""

    def __init__(
        self,
        runtime: Callable[[], AlertsRuntime],
        version_info: Mapping[str, str],
        started_at: datetime,
        cluster_status: Callable[[], ClusterStatus] = ClusterStatus,
    ) -> None:
        self._runtime = runtime
        self._version_info = dict(version_info)
        self._uptime = format_api_time(started_at)
        self._cluster_status = cluster_status

    def status(self) -> Response:
        return json_response(
            200,
            {
                "cluster": self._cluster_status().to_api(),
                "config": {"original": self._runtime().original_config},
                "uptime": self._uptime,
                "versionInfo": self._version_info,
            },
        )

    def receivers(self) -> Response:
        return json_response(200, [{"name": name} for name in self._runtime().receiver_names])
