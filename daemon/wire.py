"""Alertmanager 0.25's protobuf messages for silences and the notification log, byte for byte.

These are the payloads of the "sil" and "nfl" gossip channels and the records of
Alertmanager's snapshot files (`<storage>/silences`, `<storage>/nflog`: a stream of
varint-length-delimited messages), so a Go peer, its snapshots and ours are interchangeable.

    silencepb.MeshSilence { 1: Silence silence, 2: Timestamp expires_at }
    silencepb.Silence     { 1: id, 2: repeated Matcher, 3: starts_at, 4: ends_at,
                            5: updated_at, 7: repeated Comment (deprecated),
                            8: created_by, 9: comment }
    silencepb.Matcher     { 1: Type (EQUAL 0, REGEXP 1, NOT_EQUAL 2, NOT_REGEXP 3),
                            2: name, 3: pattern }
    silencepb.Comment     { 1: author, 2: comment, 3: Timestamp timestamp }
    nflogpb.MeshEntry     { 1: Entry entry, 2: Timestamp expires_at }
    nflogpb.Entry         { 1: bytes group_key, 2: Receiver receiver, 3: bytes group_hash
                            (deprecated), 4: bool resolved (deprecated), 5: timestamp,
                            6: packed uint64 firing_alerts, 7: packed uint64 resolved_alerts }
    nflogpb.Receiver      { 1: group_name, 2: integration, 3: uint32 idx }
    google.protobuf.Timestamp { 1: int64 seconds, 2: int32 nanos }

Encoding follows gogoproto as Alertmanager generates it: fields in number order, proto3
zero values left out, except that the `(gogoproto.nullable) = false` timestamps are always
written (Go's zero time is 0001-01-01, i.e. seconds = -62135596800). Times are Python
datetimes in UTC, so nanoseconds below a microsecond are truncated on decode.

Decoding is lenient where Go's is (unknown fields skipped, repeated integers packed or not)
and raises `WireError` (a ValueError) for anything malformed; nothing else escapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

from cluster.replication import (
    WIRE_VARINT,
    ProtobufError,
    decode_varint,
    encode_bytes_field,
    encode_delimited,
    encode_varint,
    encode_varint_field,
    expect_bytes,
    expect_int,
    expect_string,
    iter_fields,
    split_delimited,
    to_int32,
    to_int64,
)

WireError = ProtobufError

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
GO_ZERO_TIME: Final = datetime(1, 1, 1, tzinfo=UTC)
NANOS_PER_SECOND: Final = 1_000_000_000
NANOS_PER_MICROSECOND: Final = 1000
MAX_UINT32: Final = 0xFFFFFFFF

_Payload = TypeVar("_Payload")

# silencepb.Matcher.Type
MATCHER_EQUAL: Final = 0
MATCHER_REGEXP: Final = 1
MATCHER_NOT_EQUAL: Final = 2
MATCHER_NOT_REGEXP: Final = 3


# --- Timestamp --------------------------------------------------------------------------------


def encode_timestamp(moment: datetime) -> bytes:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    delta = moment - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    nanos = delta.microseconds * NANOS_PER_MICROSECOND
    out = b""
    if seconds:
        out += encode_varint_field(1, seconds)
    if nanos:
        out += encode_varint_field(2, nanos)
    return out


def decode_timestamp(data: bytes) -> datetime:
    seconds = nanos = 0
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            seconds = to_int64(expect_int(field, wire_type, value))
        elif field == 2:
            nanos = to_int32(expect_int(field, wire_type, value))
    if not 0 <= nanos < NANOS_PER_SECOND:
        raise WireError(f"timestamp nanos out of range: {nanos}")
    try:
        return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // NANOS_PER_MICROSECOND)
    except OverflowError as error:
        raise WireError(f"timestamp out of range: {seconds}s") from error


def _timestamp_field(field: int, moment: datetime) -> bytes:
    # Non-nullable stdtime fields are always present, even when the message is empty.
    return encode_bytes_field(field, encode_timestamp(moment))


def _string_field(field: int, text: str) -> bytes:
    return encode_bytes_field(field, text.encode()) if text else b""


# --- silences ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class WireMatcher:
    type: int
    name: str
    pattern: str


@dataclasses.dataclass(frozen=True, slots=True)
class WireComment:
    """The pre-0.16 comment list; decoded so old records can be upgraded."""

    author: str
    comment: str
    timestamp: datetime = GO_ZERO_TIME


@dataclasses.dataclass(frozen=True, slots=True)
class WireSilence:
    id: str
    matchers: tuple[WireMatcher, ...] = ()
    starts_at: datetime = GO_ZERO_TIME
    ends_at: datetime = GO_ZERO_TIME
    updated_at: datetime = GO_ZERO_TIME
    comments: tuple[WireComment, ...] = ()
    created_by: str = ""
    comment: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class MeshSilence:
    silence: WireSilence
    expires_at: datetime = GO_ZERO_TIME


def _encode_matcher(matcher: WireMatcher) -> bytes:
    out = encode_varint_field(1, matcher.type) if matcher.type else b""
    return out + _string_field(2, matcher.name) + _string_field(3, matcher.pattern)


def _decode_matcher(data: bytes) -> WireMatcher:
    kind, name, pattern = 0, "", ""
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            kind = to_int32(expect_int(field, wire_type, value))
        elif field == 2:
            name = expect_string(field, wire_type, value)
        elif field == 3:
            pattern = expect_string(field, wire_type, value)
    return WireMatcher(kind, name, pattern)


def _encode_comment(comment: WireComment) -> bytes:
    return (
        _string_field(1, comment.author)
        + _string_field(2, comment.comment)
        + _timestamp_field(3, comment.timestamp)
    )


def _decode_comment(data: bytes) -> WireComment:
    author, text, timestamp = "", "", GO_ZERO_TIME
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            author = expect_string(field, wire_type, value)
        elif field == 2:
            text = expect_string(field, wire_type, value)
        elif field == 3:
            timestamp = decode_timestamp(expect_bytes(field, wire_type, value))
    return WireComment(author, text, timestamp)


def _encode_silence(silence: WireSilence) -> bytes:
    parts = [_string_field(1, silence.id)]
    parts.extend(encode_bytes_field(2, _encode_matcher(m)) for m in silence.matchers)
    parts.append(_timestamp_field(3, silence.starts_at))
    parts.append(_timestamp_field(4, silence.ends_at))
    parts.append(_timestamp_field(5, silence.updated_at))
    parts.extend(encode_bytes_field(7, _encode_comment(c)) for c in silence.comments)
    parts.append(_string_field(8, silence.created_by))
    parts.append(_string_field(9, silence.comment))
    return b"".join(parts)


def _decode_silence(data: bytes) -> WireSilence:
    values: dict[str, object] = {}
    matchers: list[WireMatcher] = []
    comments: list[WireComment] = []
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            values["id"] = expect_string(field, wire_type, value)
        elif field == 2:
            matchers.append(_decode_matcher(expect_bytes(field, wire_type, value)))
        elif field in (3, 4, 5):
            name = {3: "starts_at", 4: "ends_at", 5: "updated_at"}[field]
            values[name] = decode_timestamp(expect_bytes(field, wire_type, value))
        elif field == 7:
            comments.append(_decode_comment(expect_bytes(field, wire_type, value)))
        elif field == 8:
            values["created_by"] = expect_string(field, wire_type, value)
        elif field == 9:
            values["comment"] = expect_string(field, wire_type, value)
    return WireSilence(
        id=str(values.get("id", "")),
        matchers=tuple(matchers),
        starts_at=_as_datetime(values.get("starts_at", GO_ZERO_TIME)),
        ends_at=_as_datetime(values.get("ends_at", GO_ZERO_TIME)),
        updated_at=_as_datetime(values.get("updated_at", GO_ZERO_TIME)),
        comments=tuple(comments),
        created_by=str(values.get("created_by", "")),
        comment=str(values.get("comment", "")),
    )


def _as_datetime(value: object) -> datetime:
    assert isinstance(value, datetime)
    return value


def _encode_mesh(payload: bytes, expires_at: datetime) -> bytes:
    """The envelope MeshSilence and MeshEntry share: { 1: payload, 2: expires_at }."""
    return encode_bytes_field(1, payload) + _timestamp_field(2, expires_at)


def _decode_mesh(
    data: bytes, decode_payload: Callable[[bytes], _Payload], missing: str
) -> tuple[_Payload, datetime]:
    """(payload, expires_at) of a MeshSilence or MeshEntry envelope. Raises WireError with
    `missing` when the payload is absent (Alertmanager refuses such a state)."""
    payload: _Payload | None = None
    expires_at = GO_ZERO_TIME
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            payload = decode_payload(expect_bytes(field, wire_type, value))
        elif field == 2:
            expires_at = decode_timestamp(expect_bytes(field, wire_type, value))
    if payload is None:
        raise WireError(missing)
    return payload, expires_at


def encode_mesh_silence(message: MeshSilence) -> bytes:
    return _encode_mesh(_encode_silence(message.silence), message.expires_at)


def decode_mesh_silence(data: bytes) -> MeshSilence:
    """Raises WireError; a MeshSilence without a silence is invalid (as in Alertmanager)."""
    return MeshSilence(*_decode_mesh(data, _decode_silence, "invalid state: mesh silence without a silence"))


# --- notification log -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class WireReceiver:
    group_name: str
    integration: str
    idx: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class WireEntry:
    group_key: bytes
    receiver: WireReceiver | None
    timestamp: datetime = GO_ZERO_TIME
    firing_alerts: tuple[int, ...] = ()
    resolved_alerts: tuple[int, ...] = ()
    group_hash: bytes = b""  # deprecated, kept so a Go peer's record round-trips
    resolved: bool = False  # deprecated, likewise


@dataclasses.dataclass(frozen=True, slots=True)
class MeshEntry:
    entry: WireEntry
    expires_at: datetime = GO_ZERO_TIME


def _encode_receiver(receiver: WireReceiver) -> bytes:
    out = _string_field(1, receiver.group_name) + _string_field(2, receiver.integration)
    return out + (encode_varint_field(3, receiver.idx) if receiver.idx else b"")


def _decode_receiver(data: bytes) -> WireReceiver:
    group_name, integration, idx = "", "", 0
    for field, wire_type, value in iter_fields(data):
        # Alertmanager's generated nflogpb code does not check UTF-8 here; a name that is not
        # UTF-8 can match no configured receiver, so it is replaced rather than failing the
        # whole stream it came in.
        if field == 1:
            group_name = expect_bytes(field, wire_type, value).decode("utf-8", errors="replace")
        elif field == 2:
            integration = expect_bytes(field, wire_type, value).decode("utf-8", errors="replace")
        elif field == 3:
            # uint32: Go keeps the low 32 bits of a wider varint.
            idx = expect_int(field, wire_type, value) & MAX_UINT32
    return WireReceiver(group_name, integration, idx)


def _packed_uint64s(field: int, values: tuple[int, ...]) -> bytes:
    if not values:
        return b""
    return encode_bytes_field(field, b"".join(encode_varint(v) for v in values))


def _decode_uint64s(field: int, wire_type: int, value: int | bytes) -> list[int]:
    if wire_type == WIRE_VARINT:
        return [expect_int(field, wire_type, value)]
    packed = expect_bytes(field, wire_type, value)
    out = []
    pos = 0
    while pos < len(packed):
        number, pos = decode_varint(packed, pos)
        out.append(number)
    return out


def _encode_entry(entry: WireEntry) -> bytes:
    parts = [encode_bytes_field(1, entry.group_key) if entry.group_key else b""]
    if entry.receiver is not None:
        parts.append(encode_bytes_field(2, _encode_receiver(entry.receiver)))
    if entry.group_hash:
        parts.append(encode_bytes_field(3, entry.group_hash))
    if entry.resolved:
        parts.append(encode_varint_field(4, 1))
    parts.append(_timestamp_field(5, entry.timestamp))
    parts.append(_packed_uint64s(6, entry.firing_alerts))
    parts.append(_packed_uint64s(7, entry.resolved_alerts))
    return b"".join(parts)


def _decode_entry(data: bytes) -> WireEntry:
    group_key, group_hash, resolved = b"", b"", False
    receiver: WireReceiver | None = None
    timestamp = GO_ZERO_TIME
    firing: list[int] = []
    resolved_alerts: list[int] = []
    for field, wire_type, value in iter_fields(data):
        if field == 1:
            group_key = expect_bytes(field, wire_type, value)
        elif field == 2:
            receiver = _decode_receiver(expect_bytes(field, wire_type, value))
        elif field == 3:
            group_hash = expect_bytes(field, wire_type, value)
        elif field == 4:
            resolved = expect_int(field, wire_type, value) != 0
        elif field == 5:
            timestamp = decode_timestamp(expect_bytes(field, wire_type, value))
        elif field == 6:
            firing.extend(_decode_uint64s(field, wire_type, value))
        elif field == 7:
            resolved_alerts.extend(_decode_uint64s(field, wire_type, value))
    return WireEntry(group_key, receiver, timestamp, tuple(firing), tuple(resolved_alerts), group_hash, resolved)


def encode_mesh_entry(message: MeshEntry) -> bytes:
    return _encode_mesh(_encode_entry(message.entry), message.expires_at)


def decode_mesh_entry(data: bytes) -> MeshEntry:
    """Raises WireError; a MeshEntry without an entry is invalid (as in Alertmanager)."""
    return MeshEntry(*_decode_mesh(data, _decode_entry, "invalid state: mesh entry without an entry"))


# --- delimited streams (broadcasts, push/pull parts, snapshot files) ----------------------------


def encode_silences(messages: Iterable[MeshSilence]) -> bytes:
    return encode_delimited(encode_mesh_silence(m) for m in messages)


def decode_silences(data: bytes) -> list[MeshSilence]:
    return [decode_mesh_silence(record) for record in split_delimited(data)]


def encode_entries(messages: Iterable[MeshEntry]) -> bytes:
    return encode_delimited(encode_mesh_entry(m) for m in messages)


def decode_entries(data: bytes) -> list[MeshEntry]:
    return [decode_mesh_entry(record) for record in split_delimited(data)]


__all__ = [
    "GO_ZERO_TIME",
    "MATCHER_EQUAL",
    "MATCHER_NOT_EQUAL",
    "MATCHER_NOT_REGEXP",
    "MATCHER_REGEXP",
    "MeshEntry",
    "MeshSilence",
    "WireComment",
    "WireEntry",
    "WireError",
    "WireMatcher",
    "WireReceiver",
    "WireSilence",
    "decode_entries",
    "decode_mesh_entry",
    "decode_mesh_silence",
    "decode_silences",
    "decode_timestamp",
    "encode_entries",
    "encode_mesh_entry",
    "encode_mesh_silence",
    "encode_silences",
    "encode_timestamp",
]
