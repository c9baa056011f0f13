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
  so `daemon.storage.DurableLog`'s log persists them (`append` the bytes `on_local_write`
  gets). Snapshots are batches (`snapshot_records()`, `daemon.batches`), which start-up
  reads in bulk and keeps packed until an entry is asked for (`load_records(records, now)`,
  idempotent and last-writer-wins like `merge`; or `defer_records`, which does that on first
  use). `maintain()` runs GC and compaction every
  maintenance interval.

Key: (group key, receiver name, integration type, index), i.e. Alertmanager's
`<groupKey>:<receiver>/<integration>/<idx>`.

The bytes are Alertmanager's `nflogpb.MeshEntry`, encoded and decoded by `daemon.wire` (the
same codec as the silences'); this module only maps them to `NotificationLogEntry`. Python
datetimes hold microseconds, so nanoseconds from a Go peer are truncated on decode.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime

import trio

from cluster.replication import encode_delimited as encode_delimited_records
from cluster.replication import split_delimited
from daemon import batches, wire
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
# An entry as a snapshot batch holds it (see daemon.batches): (key, timestamp µs, expires_at µs,
# firing hashes, resolved hashes). Entries loaded from a snapshot stay in this form until
# something asks for them: most are never queried before they expire or the next restart,
# and building 100,000 NotificationLogEntry objects with their datetimes and frozensets
# would cost most of a second of start-up.
PackedEntry = tuple[NflogKey, int, int, tuple[int, ...], tuple[int, ...]]


def _pack(entry: NotificationLogEntry) -> PackedEntry:
    return (
        entry_key(entry),
        batches.to_micros(entry.timestamp),
        batches.to_micros(entry.expires_at),
        tuple(sorted(entry.firing_alerts)),
        tuple(sorted(entry.resolved_alerts)),
    )


def _unpack(packed: PackedEntry) -> NotificationLogEntry:
    """Raises ValueError, TypeError or OverflowError for a row of the wrong shape."""
    (group_key, receiver_name, integration, index), timestamp, expires_at, firing, resolved = packed
    if not (type(group_key) is type(receiver_name) is type(integration) is str and type(index) is int):
        raise ValueError(f"malformed nflog key {packed[0]!r}")
    return NotificationLogEntry(
        group_key=group_key,
        receiver_name=receiver_name,
        integration=integration,
        index=index,
        firing_alerts=frozenset(firing),
        resolved_alerts=frozenset(resolved),
        timestamp=batches.from_micros(timestamp),
        expires_at=batches.from_micros(expires_at),
    )


def snapshot_batches(entries: Iterable[NotificationLogEntry]) -> Iterator[bytes]:
    """`entries` as batch records of a storage snapshot (what `NotificationLog.snapshot_records`
    writes)."""
    return batches.encode_batches(_pack(entry) for entry in entries)


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
        # Loaded from a snapshot and not asked for since; never a key of _entries too.
        self._packed: dict[NflogKey, PackedEntry] = {}
        # Storage records handed to `defer_records`, merged on first use.
        self._deferred: tuple[list[bytes], datetime] | None = None
        self.on_local_write = on_local_write
        self.counters = NflogCounters()

    def __len__(self) -> int:
        self._load_deferred()
        return len(self._entries) + len(self._packed)

    def _load_deferred(self) -> None:
        if self._deferred is None:
            return
        records, now = self._deferred
        self._deferred = None
        malformed = self.load_records(records, now)
        if malformed:
            logger.error("Skipped malformed notification log records", extra={"count": malformed})

    def _get(self, key: NflogKey) -> NotificationLogEntry | None:
        entry = self._entries.get(key)
        if entry is None and self._packed:
            packed = self._packed.pop(key, None)
            if packed is not None:
                try:
                    entry = _unpack(packed)
                except (ValueError, TypeError, OverflowError) as error:
                    logger.error("Dropped a malformed notification log entry", extra={"err": str(error)})
                    return None
                self._entries[key] = entry
        return entry

    def _unpack_all(self) -> None:
        for key in list(self._packed):
            self._get(key)

    def entries(self) -> list[NotificationLogEntry]:
        self._load_deferred()
        self._unpack_all()
        return list(self._entries.values())

    def query(self, group_key: str, receiver_name: str, integration: str, index: int) -> NotificationLogEntry | None:
        self.counters.queries_total += 1
        if self._deferred is not None:
            self._load_deferred()
        return self._get((group_key, receiver_name, integration, index))

    def log(self, entry: NotificationLogEntry) -> None:
        self._load_deferred()
        key = entry_key(entry)
        previous = self._get(key)
        if previous is not None and previous.timestamp > entry.timestamp:
            # A peer wrote a newer entry (races or clock drift between replicas): keep it.
            return
        self._entries[key] = entry
        if self.on_local_write is not None:
            self.on_local_write(encode_delimited(entry))

    def gc(self, now: datetime) -> int:
        self._load_deferred()
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired:
            del self._entries[key]
        now_micros = batches.to_micros(now)
        expired_packed = [key for key, packed in self._packed.items() if packed[2] <= now_micros]
        for key in expired_packed:
            del self._packed[key]
        return len(expired) + len(expired_packed)

    def records(self) -> list[bytes]:
        self._load_deferred()
        self._unpack_all()
        return [encode_delimited(entry) for entry in self._entries.values()]

    def snapshot_records(self) -> Iterator[bytes]:
        """The whole log as batch records for a storage snapshot (`DurableLog.compact`). The
        state is captured now (entries are immutable), so the encoding may run in a worker
        thread; entries still packed are written as they were read, without unpacking."""
        self._load_deferred()
        rows: list[PackedEntry] = list(self._packed.values())
        entries = list(self._entries.values())
        return batches.encode_batches(itertools.chain(rows, map(_pack, entries)))

    def snapshot(self) -> bytes:
        return b"".join(self.records())

    def load(self, data: bytes) -> None:
        """Replace the state with a snapshot (startup). Raises NflogDecodeError."""
        entries = decode_delimited_stream(data)
        self._entries = {entry_key(entry): entry for entry, _ in entries}
        self._packed = {}
        self._deferred = None

    def defer_records(self, records: Iterable[bytes], now: datetime) -> None:
        """`load_records(records, now)` when the log is first used (queried, written, merged,
        collected, snapshotted or measured), with an ERROR log line for malformed records.
        Start-up then does not wait for it: the first use comes with the first notification
        or maintenance, after the daemon serves its API."""
        self._load_deferred()
        self._deferred = (list(records), now)

    def load_records(self, records: Iterable[bytes], now: datetime) -> int:
        """Merge storage records in order (snapshot batches, or delimited MeshEntry records as
        the log holds them), skipping entries that expired before `now`, last-writer-wins;
        returns how many records were malformed (skipped). Batch entries stay packed."""
        self._load_deferred()
        malformed = 0
        now_micros = batches.to_micros(now)
        for record in records:
            try:
                if batches.is_batch(record):
                    self._merge_packed(batches.decode_batch(record), now_micros)
                else:
                    self.merge(record, now)
            except (ValueError, TypeError, IndexError):
                malformed += 1
        return malformed

    def _merge_packed(self, rows: tuple[PackedEntry, ...], now_micros: int) -> None:
        """Raises TypeError or IndexError for rows of the wrong shape (before changing anything)."""
        incoming = {row[0]: row for row in rows if row[2] >= now_micros}
        if not self._packed and not self._entries:
            self._packed = incoming
            return
        # Intersections of dict views cost the smaller side: a batch, not the whole log.
        for key in (incoming.keys() & self._packed.keys()) | (incoming.keys() & self._entries.keys()):
            row = incoming[key]
            previous = self._get(key)
            if previous is not None and batches.to_micros(previous.timestamp) >= row[1]:
                del incoming[key]
            else:
                self._entries.pop(key, None)
        self._packed.update(incoming)

    def merge(self, data: bytes, now: datetime) -> list[bytes]:
        """Merge a peer's entries; returns the delimited records that changed our state."""
        self._load_deferred()
        changed = []
        for entry, raw in decode_delimited_stream(data):
            if entry.expires_at < now:
                continue
            key = entry_key(entry)
            previous = self._get(key)
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
    "PackedEntry",
    "decode_delimited_stream",
    "decode_mesh_entry",
    "encode_delimited",
    "encode_mesh_entry",
    "entry_key",
    "maintain",
    "snapshot_batches",
]
