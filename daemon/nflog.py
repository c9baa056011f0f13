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

The bytes are Alertmanager's `nflogpb.MeshEntry`, encoded and decoded by `daemon.wire` (the
same codec as the silences'); this module only maps them to `NotificationLogEntry`. Python
datetimes hold microseconds, so nanoseconds from a Go peer are truncated on decode.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

import trio

from cluster.replication import encode_delimited as encode_delimited_records
from cluster.replication import split_delimited
from daemon import wire
from notify.context import NotificationLogEntry

logger = logging.getLogger("daemon.nflog")

NflogKey = tuple[str, str, str, int]

# Malformed bytes from a peer or a snapshot (a ValueError, as daemon.wire raises it).
NflogDecodeError = wire.WireError


def entry_key(entry: NotificationLogEntry) -> NflogKey:
    return (entry.group_key, entry.receiver_name, entry.integration, entry.index)


# -- conversion to and from Alertmanager's MeshEntry (the bytes are daemon.wire's) ---------------
def _to_wire(entry: NotificationLogEntry) -> wire.MeshEntry:
    return wire.MeshEntry(
        wire.WireEntry(
            group_key=entry.group_key.encode(),
            # Always present: Alertmanager refuses an entry without a receiver.
            receiver=wire.WireReceiver(entry.receiver_name, entry.integration, entry.index),
            timestamp=entry.timestamp,
            # Sorted so equal states encode to equal bytes.
            firing_alerts=tuple(sorted(entry.firing_alerts)),
            resolved_alerts=tuple(sorted(entry.resolved_alerts)),
        ),
        expires_at=entry.expires_at,
    )


def _from_wire(message: wire.MeshEntry) -> NotificationLogEntry:
    entry = message.entry
    if entry.receiver is None:
        # Alertmanager refuses such a state as ErrInvalidState.
        raise NflogDecodeError("invalid state: entry without receiver")
    return NotificationLogEntry(
        group_key=entry.group_key.decode("utf-8", errors="replace"),
        receiver_name=entry.receiver.group_name,
        integration=entry.receiver.integration,
        index=entry.receiver.idx,
        firing_alerts=frozenset(entry.firing_alerts),
        resolved_alerts=frozenset(entry.resolved_alerts),
        timestamp=entry.timestamp,
        expires_at=message.expires_at,
    )


def encode_mesh_entry(entry: NotificationLogEntry) -> bytes:
    """One MeshEntry message (not length-delimited)."""
    return wire.encode_mesh_entry(_to_wire(entry))


def encode_delimited(entry: NotificationLogEntry) -> bytes:
    """A MeshEntry prefixed with its varint length (a broadcast, or one snapshot record)."""
    return wire.encode_entries([_to_wire(entry)])


def decode_mesh_entry(data: bytes) -> NotificationLogEntry:
    """Raises NflogDecodeError."""
    return _from_wire(wire.decode_mesh_entry(data))


def decode_delimited_stream(data: bytes) -> list[tuple[NotificationLogEntry, bytes]]:
    """Every (entry, its delimited bytes) in a stream; raises NflogDecodeError on a malformed
    stream. The bytes keep fields we do not model (a Go peer's deprecated ones), so what we
    re-broadcast or persist is what the peer sent."""
    return [
        (decode_mesh_entry(record), encode_delimited_records([record])) for record in split_delimited(data)
    ]


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
