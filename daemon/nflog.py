"""The notification log: which alerts each integration was last told about, and when.

Satisfies `notify.context.NotificationLog` for the pipeline's dedup and SetNotifies stages,
and offers the hooks persistence and gossip need:

- `snapshot()` / `load()`: the whole log as Alertmanager's snapshot format (a stream of
  varint-length-delimited `nflogpb.MeshEntry` protobuf messages), so a snapshot file and a
  push/pull `nfl` part are byte-compatible with Alertmanager's.
- `merge(data, now)`: entries from a peer (the same delimited stream). Expired entries are
  ignored; an entry replaces ours when we have none or ours has an older timestamp
  (last-writer-wins). Returns the entries that changed our state, encoded, so the caller can
  re-broadcast them.
- `on_local_write`: a callback handed every locally written entry, encoded (the broadcast).
- `gc(now)`: drops entries whose expiry is at or before now.
- `records()`: one delimited MeshEntry per entry. Records and broadcasts are the same bytes,
  so `daemon.storage.DurableLog` can persist them (`append` the bytes `on_local_write` gets,
  `compact(log.records)`) and startup replays them with `merge(record, now)`, which is
  idempotent. `maintain()` runs GC and compaction every maintenance interval.

Key: (group key, receiver name, integration type, index), i.e. Alertmanager's
`<groupKey>:<receiver>/<integration>/<idx>`.

Wire format (nflog.proto, proto3; fields written in number order, defaults omitted, except
the two non-nullable timestamps which are always written):
    MeshEntry { 1: Entry entry; 2: Timestamp expires_at }
    Entry     { 1: bytes group_key; 2: Receiver receiver; 3: bytes group_hash (deprecated);
                4: bool resolved (deprecated); 5: Timestamp timestamp;
                6: repeated uint64 firing_alerts (packed); 7: repeated uint64 resolved_alerts }
    Receiver  { 1: string group_name; 2: string integration; 3: uint32 idx }
    Timestamp { 1: int64 seconds; 2: int32 nanos }
Python datetimes hold microseconds, so nanoseconds from a Go peer are truncated on decode.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta

import trio

from notify.context import NotificationLogEntry

logger = logging.getLogger("daemon.nflog")

NflogKey = tuple[str, str, str, int]

# Protobuf wire types.
WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_LENGTH_DELIMITED = 2
WIRE_FIXED32 = 5
VARINT_MAX_BYTES = 10
UINT64_MASK = (1 << 64) - 1
# A single MeshEntry is a group key plus a few hashes; anything near this is garbage or an
# attack, not an entry (Alertmanager's own messages stay far below a gossip packet).
MAX_ENTRY_BYTES = 16 * 1024 * 1024

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NflogDecodeError(ValueError):
    pass


def entry_key(entry: NotificationLogEntry) -> NflogKey:
    return (entry.group_key, entry.receiver_name, entry.integration, entry.index)


# -- protobuf encoding ---------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    value &= UINT64_MASK  # negative int64 values take ten bytes, as in Go
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _tag(field, WIRE_LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _timestamp(moment: datetime) -> bytes:
    delta = moment - EPOCH
    seconds = delta.days * 86400 + delta.seconds
    nanos = delta.microseconds * 1000
    out = b""
    if seconds:
        out += _tag(1, WIRE_VARINT) + _varint(seconds)
    if nanos:
        out += _tag(2, WIRE_VARINT) + _varint(nanos)
    return out


def _packed_uint64(field: int, values: frozenset[int]) -> bytes:
    if not values:
        return b""
    # Sorted so equal states encode to equal bytes.
    return _bytes_field(field, b"".join(_varint(value) for value in sorted(values)))


def encode_mesh_entry(entry: NotificationLogEntry) -> bytes:
    """One MeshEntry message (not length-delimited)."""
    receiver = b""
    if entry.receiver_name:
        receiver += _bytes_field(1, entry.receiver_name.encode())
    if entry.integration:
        receiver += _bytes_field(2, entry.integration.encode())
    if entry.index:
        receiver += _tag(3, WIRE_VARINT) + _varint(entry.index)
    body = b""
    if entry.group_key:
        body += _bytes_field(1, entry.group_key.encode())
    body += _bytes_field(2, receiver)
    body += _bytes_field(5, _timestamp(entry.timestamp))
    body += _packed_uint64(6, entry.firing_alerts)
    body += _packed_uint64(7, entry.resolved_alerts)
    return _bytes_field(1, body) + _bytes_field(2, _timestamp(entry.expires_at))


def encode_delimited(entry: NotificationLogEntry) -> bytes:
    """A MeshEntry prefixed with its varint length (a broadcast, or one snapshot record)."""
    message = encode_mesh_entry(entry)
    return _varint(len(message)) + message


# -- protobuf decoding ---------------------------------------------------------------------------
def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    result = 0
    for shift_index in range(VARINT_MAX_BYTES):
        if position >= len(data):
            raise NflogDecodeError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << (7 * shift_index)
        if not byte & 0x80:
            return result & UINT64_MASK, position
    raise NflogDecodeError("varint too long")


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field of one message."""
    position = 0
    while position < len(data):
        key, position = _read_varint(data, position)
        field, wire_type = key >> 3, key & 0x7
        value: int | bytes
        if wire_type == WIRE_VARINT:
            value, position = _read_varint(data, position)
        elif wire_type == WIRE_LENGTH_DELIMITED:
            length, position = _read_varint(data, position)
            if position + length > len(data):
                raise NflogDecodeError("truncated field")
            value = data[position : position + length]
            position += length
        elif wire_type == WIRE_FIXED64:
            value = int.from_bytes(data[position : position + 8], "little")
            position += 8
        elif wire_type == WIRE_FIXED32:
            value = int.from_bytes(data[position : position + 4], "little")
            position += 4
        else:
            raise NflogDecodeError(f"unsupported wire type {wire_type}")
        if position > len(data):
            raise NflogDecodeError("truncated field")
        yield field, wire_type, value


def _as_bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise NflogDecodeError("expected a length-delimited field")
    return value


def _as_int(value: int | bytes) -> int:
    if isinstance(value, bytes):
        raise NflogDecodeError("expected a varint field")
    return value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _decode_timestamp(data: bytes) -> datetime:
    seconds = nanos = 0
    for field, _, value in _fields(data):
        if field == 1:
            seconds = _signed64(_as_int(value))
        elif field == 2:
            nanos = _signed64(_as_int(value))
    return EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


def _decode_uint64s(wire_type: int, value: int | bytes) -> list[int]:
    if wire_type == WIRE_VARINT:
        return [_as_int(value)]
    packed = _as_bytes(value)
    values, position = [], 0
    while position < len(packed):
        number, position = _read_varint(packed, position)
        values.append(number)
    return values


def decode_mesh_entry(data: bytes) -> NotificationLogEntry:
    entry_bytes: bytes | None = None
    expires_at = EPOCH
    for field, _, value in _fields(data):
        if field == 1:
            entry_bytes = _as_bytes(value)
        elif field == 2:
            expires_at = _decode_timestamp(_as_bytes(value))
    if entry_bytes is None:
        raise NflogDecodeError("mesh entry without entry")
    group_key = ""
    receiver: bytes | None = None
    timestamp = EPOCH
    firing: list[int] = []
    resolved: list[int] = []
    for field, wire_type, value in _fields(entry_bytes):
        if field == 1:
            group_key = _as_bytes(value).decode("utf-8", errors="replace")
        elif field == 2:
            receiver = _as_bytes(value)
        elif field == 5:
            timestamp = _decode_timestamp(_as_bytes(value))
        elif field == 6:
            firing.extend(_decode_uint64s(wire_type, value))
        elif field == 7:
            resolved.extend(_decode_uint64s(wire_type, value))
    if receiver is None:
        # Alertmanager refuses such a state as ErrInvalidState.
        raise NflogDecodeError("invalid state: entry without receiver")
    receiver_name = integration = ""
    index = 0
    for field, _, value in _fields(receiver):
        if field == 1:
            receiver_name = _as_bytes(value).decode("utf-8", errors="replace")
        elif field == 2:
            integration = _as_bytes(value).decode("utf-8", errors="replace")
        elif field == 3:
            index = _as_int(value) & 0xFFFFFFFF
    return NotificationLogEntry(
        group_key=group_key,
        receiver_name=receiver_name,
        integration=integration,
        index=index,
        firing_alerts=frozenset(firing),
        resolved_alerts=frozenset(resolved),
        timestamp=timestamp,
        expires_at=expires_at,
    )


def decode_delimited_stream(data: bytes) -> list[tuple[NotificationLogEntry, bytes]]:
    """Every (entry, its delimited bytes) in a stream; raises on a malformed stream."""
    result = []
    position = 0
    while position < len(data):
        start = position
        length, position = _read_varint(data, position)
        if length > MAX_ENTRY_BYTES or position + length > len(data):
            raise NflogDecodeError("truncated or oversized entry")
        result.append((decode_mesh_entry(data[position : position + length]), data[start : position + length]))
        position += length
    return result


# -- the log --------------------------------------------------------------------------------------
@dataclasses.dataclass
class NflogCounters:
    """Read by `daemon.metrics` (alertmanager_nflog_* names)."""

    queries_total: int = 0
    query_errors_total: int = 0
    gossip_messages_propagated_total: int = 0


class NotificationLog:
    def __init__(
        self,
        *,
        on_local_write: Callable[[bytes], None] | None = None,
    ) -> None:
        self._entries: dict[NflogKey, NotificationLogEntry] = {}
        self.on_local_write = on_local_write
        self.counters = NflogCounters()

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[NotificationLogEntry]:
        return list(self._entries.values())

    def query(self, group_key: str, receiver_name: str, integration: str, index: int) -> NotificationLogEntry | None:
        self.counters.queries_total += 1
        return self._entries.get((group_key, receiver_name, integration, index))

    def log(self, entry: NotificationLogEntry) -> None:
        key = entry_key(entry)
        previous = self._entries.get(key)
        if previous is not None and previous.timestamp > entry.timestamp:
            # A peer wrote a newer entry (races or clock drift between replicas): keep it.
            return
        self._entries[key] = entry
        if self.on_local_write is not None:
            self.on_local_write(encode_delimited(entry))

    def gc(self, now: datetime) -> int:
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)

    def records(self) -> list[bytes]:
        return [encode_delimited(entry) for entry in self._entries.values()]

    def snapshot(self) -> bytes:
        return b"".join(self.records())

    def load(self, data: bytes) -> None:
        """Replace the state with a snapshot (startup). Raises NflogDecodeError."""
        entries = decode_delimited_stream(data)
        self._entries = {entry_key(entry): entry for entry, _ in entries}

    def merge(self, data: bytes, now: datetime) -> list[bytes]:
        """Merge a peer's entries; returns the delimited records that changed our state."""
        changed = []
        for entry, raw in decode_delimited_stream(data):
            if entry.expires_at < now:
                continue
            key = entry_key(entry)
            previous = self._entries.get(key)
            if previous is None or previous.timestamp < entry.timestamp:
                self._entries[key] = entry
                changed.append(raw)
        self.counters.gossip_messages_propagated_total += len(changed)
        return changed


async def maintain(
    log: NotificationLog,
    *,
    interval_seconds: float,
    clock: Callable[[], datetime],
    compact: Callable[[Callable[[], Iterable[bytes]]], Awaitable[None]] | None = None,
) -> None:
    """Every `interval_seconds` (--data.maintenance-interval): GC, then compact to disk."""
    while True:
        await trio.sleep(interval_seconds)
        removed = log.gc(clock())
        if removed:
            logger.debug("nflog GC removed %d entries", removed)
        if compact is not None:
            await compact(log.records)


__all__ = [
    "NflogCounters",
    "NflogDecodeError",
    "NotificationLog",
    "decode_delimited_stream",
    "decode_mesh_entry",
    "encode_delimited",
    "encode_mesh_entry",
    "entry_key",
    "maintain",
]
