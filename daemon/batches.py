"""Batched snapshot records: many silences or nflog entries in one storage record.

Start-up reads every snapshot record, so their decoding is start-up time. A record per
entry costs a framed read, a CRC and a Python-level decode for each of 100,000 entries;
a batch is one CRC and one call into msgpack's C decoder for a thousand of them, which hands
back tuples (hashable, so nflog keys and silence matchers come out of it ready to use).

    batch := BATCH_TAG msgpack-array-of-rows

`BATCH_TAG` (a zero byte) cannot begin a single-entry record of either state: a silence
record is a msgpack array (0x9X) and an nflog record a varint-length-delimited MeshEntry,
whose zero length would be an empty (invalid) entry. So the loaders tell them apart by the
first byte, and logs and snapshots written before batches existed still load.

Rows (times in microseconds since the Unix epoch, UTC):
- silence: `(id, ((name, type code, value), ...), starts_at, ends_at, updated_at, created_by,
  comment, expires_at)`, the fields of `daemon.silences.encode_silence` in its order;
- nflog: `((group_key, receiver_name, integration, index), timestamp, expires_at,
  (firing hashes...), (resolved hashes...))`, see `daemon.nflog`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgpack

from daemon.matchers import MatcherError
from daemon.silences import (
    MATCH_TYPE_CODES,
    MATCH_TYPES_BY_CODE,
    Silence,
    SilenceMatcher,
    Silences,
    decode_silence,
    exact_from_micros,
)
from daemon.storage import MAX_RECORD_BYTES

BATCH_TAG: Final = b"\x00"
# Entries per batch record: large enough that per-record costs (framing, CRC, one decoder
# call) vanish, small enough that a damaged record loses little beyond itself (a silence row
# is a few hundred bytes, so a batch is some hundreds of KiB).
BATCH_ENTRIES: Final = 1024
# A batch of unusually large entries (silences of a megabyte each are accepted) is split
# until it fits this, well below what storage accepts as one record.
BATCH_MAX_BYTES: Final = MAX_RECORD_BYTES // 4

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_MICROS_PER_SECOND: Final = 1_000_000
# Below 2**32 seconds (year 2106) a float holds a timestamp to within half its step, under
# half a microsecond, so `datetime.fromtimestamp(micros / 1e6)` (the fastest conversion,
# about half the cost of epoch + timedelta) rounds to the exact microsecond; beyond, or
# before 1970, the exact integer path is taken.
_FAST_MICROS_LIMIT: Final = 2**32 * _MICROS_PER_SECOND


class BatchError(ValueError):
    """A batch record that does not decode to rows of the expected shape."""


def to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC datetime `micros` after the epoch; far-future values saturate at the latest
    datetime Python holds (as `daemon.silences` reads them). Raises OverflowError for times
    before year 1."""
    if 0 <= micros < _FAST_MICROS_LIMIT:
        return datetime.fromtimestamp(micros / _MICROS_PER_SECOND, UTC)
    return exact_from_micros(micros)


def is_batch(record: bytes) -> bool:
    return record[:1] == BATCH_TAG


def encode_batches(rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """Records of up to BATCH_ENTRIES rows and BATCH_MAX_BYTES each (none for no rows; a
    single row larger than that is a record of its own)."""
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, BATCH_ENTRIES)):
        yield from _fitting_batches(chunk)


def _fitting_batches(chunk: list[tuple[Any, ...]]) -> Iterator[bytes]:
    record = BATCH_TAG + msgpack.packb(chunk, use_bin_type=True)
    if len(record) <= BATCH_MAX_BYTES or len(chunk) == 1:
        yield record
        return
    half = len(chunk) // 2
    yield from _fitting_batches(chunk[:half])
    yield from _fitting_batches(chunk[half:])


def decode_batch(record: bytes) -> tuple[Any, ...]:
    """The rows of a batch record, arrays as tuples. Raises BatchError."""
    try:
        rows = msgpack.unpackb(memoryview(record)[len(BATCH_TAG) :], raw=False, use_list=False)
    except (ValueError, msgpack.UnpackException) as error:
        raise BatchError(f"malformed batch record: {error}") from error
    if not isinstance(rows, tuple):
        raise BatchError(f"malformed batch record: {type(rows).__name__} instead of an array")
    return rows


# ---------------------------------------------------------------------------------- silences


def silence_row(silence: Silence, expires_at: datetime) -> tuple[Any, ...]:
    return (
        silence.id,
        tuple((m.name, MATCH_TYPE_CODES[m.type], m.value) for m in silence.matchers),
        to_micros(silence.starts_at),
        to_micros(silence.ends_at),
        to_micros(silence.updated_at),
        silence.created_by,
        silence.comment,
        to_micros(expires_at),
    )


def silence_snapshot_records(silences: Silences) -> Iterator[bytes]:
    """Every silence as of now, in batch records for a storage snapshot. The entries are
    captured at once and are immutable, so the encoding may run in a worker thread."""
    entries = silences.snapshot()
    return encode_batches(silence_row(silence, expires_at) for silence, expires_at in entries)


class _SilenceBuilder:
    """Silences from batch rows, counting the malformed ones.

    One SilenceMatcher serves every silence with the same (name, type code, value): silences
    loaded together share matchers (the same alertname in many silences), and a matcher is
    immutable, with its regex compiled once on first use, so sharing it saves construction
    and RE2 compilations. This loop runs once per silence on disk, so it is written flat."""

    def __init__(self) -> None:
        self._matchers: dict[tuple[Any, ...], SilenceMatcher] = {}
        self.malformed = 0

    def _new_matcher(self, raw: tuple[Any, ...]) -> SilenceMatcher:
        name, code, value = raw
        if type(name) is not str or type(value) is not str:
            raise BatchError(f"malformed matcher {raw!r}")
        matcher = SilenceMatcher(name, MATCH_TYPES_BY_CODE[code], value)
        self._matchers[raw] = matcher
        return matcher

    def silences(self, rows: Iterable[Any], now_micros: int) -> Iterator[tuple[Silence, datetime]]:
        """(silence, expires_at) of each well-formed row that has not expired by `now_micros`
        (merging would refuse those anyway)."""
        known = self._matchers
        new_matcher = self._new_matcher
        from_timestamp = datetime.fromtimestamp
        for row in rows:
            try:
                silence_id, raw_matchers, starts, ends, updated, created_by, comment, expires = row
                if expires < now_micros:
                    continue
                if type(silence_id) is not str or type(created_by) is not str or type(comment) is not str:
                    raise BatchError("malformed silence row: a text field is not a string")
                matchers = tuple([known.get(raw) or new_matcher(raw) for raw in raw_matchers])
                if 0 <= starts <= ends <= expires < _FAST_MICROS_LIMIT and 0 <= updated < _FAST_MICROS_LIMIT:
                    # from_micros's fast path, inlined: every time in its range.
                    starts_at = from_timestamp(starts / _MICROS_PER_SECOND, UTC)
                    ends_at = from_timestamp(ends / _MICROS_PER_SECOND, UTC)
                    expires_at = from_timestamp(expires / _MICROS_PER_SECOND, UTC)
                    # A silence created to start now has updated_at == starts_at.
                    updated_at = (
                        starts_at if updated == starts else from_timestamp(updated / _MICROS_PER_SECOND, UTC)
                    )
                else:
                    starts_at, ends_at, updated_at, expires_at = map(
                        from_micros, (starts, ends, updated, expires)
                    )
                silence = Silence(silence_id, matchers, starts_at, ends_at, updated_at, created_by, comment)
            except (BatchError, ValueError, TypeError, KeyError, OverflowError, MatcherError):
                self.malformed += 1
                continue
            yield silence, expires_at


def load_silence_records(silences: Silences, records: Iterable[bytes], now: datetime) -> int:
    """Merge storage records (batches, or single records as `daemon.silences` writes them to
    the log) into `silences`, in order, with `Silences.load` (which files them in the muting
    index on first use); returns how many entries were malformed (skipped). Replaying is
    idempotent: merging is last-writer-wins."""
    builder = _SilenceBuilder()
    malformed_records = 0

    def entries() -> Iterator[tuple[Silence, datetime]]:
        nonlocal malformed_records
        now_micros = to_micros(now)
        for record in records:
            if not is_batch(record):
                try:
                    yield decode_silence(record)
                except ValueError:
                    malformed_records += 1
                continue
            try:
                rows = decode_batch(record)
            except BatchError:
                malformed_records += 1
                continue
            yield from builder.silences(rows, now_micros)

    silences.load(entries(), now)
    return malformed_records + builder.malformed


__all__ = [
    "BATCH_ENTRIES",
    "BATCH_MAX_BYTES",
    "BATCH_TAG",
    "BatchError",
    "decode_batch",
    "encode_batches",
    "from_micros",
    "is_batch",
    "load_silence_records",
    "silence_row",
    "silence_snapshot_records",
    "to_micros",
]
