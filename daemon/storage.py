"""Durable state under `--storage.path`: a snapshot plus a preallocated log per state.

Used by the silences (`silences.*`) and the notification log (`nflog.*`). A state's records
are opaque byte strings that *replay idempotently*: each record is a complete version of one
entry and loading merges them last-writer-wins, so replaying a record twice, or replaying
log records already contained in the snapshot, changes nothing.

On-disk format
--------------
Two files per state, `<name>.snapshot` and `<name>.log`, with the same layout:

    file    := header record* zero-fill
    header  := b"TOCSIN" kind version          (8 bytes; kind b"S" snapshot or b"L" log,
                                                 version b"1", b"2" or b"3")
    record  := length:u32 big-endian  crc:u32 big-endian  payload[length]
               crc is CRC-32 (zlib.crc32) of the payload; payloads are never empty.
    zero-fill := 0x00*                         (logs of version b"3")

Version b"2" announces that records may be batches of entries (`daemon.batches`); snapshots
are written so. Version b"3" announces a preallocated log: the file is extended by written
zeros ahead of its records (`MIN_LOG_GROWTH_BYTES`, doubling up to `MAX_LOG_GROWTH_BYTES` at a
time) and records are written in place over them, so most commits' fdatasync changes no file
metadata (no size, no extent: no journal commit) and flushes only data. The records end
where only zeros remain (an empty payload would look like zero fill, so none is written). All versions load; a tocsin from before a
version moves such a file aside as unreadable instead of misreading it.

Writes and recovery
- A change is appended to the log and fsynced before the caller is acknowledged. Concurrent
  callers share one write and one fsync (group commit): `append` only buffers, `commit`
  waits until everything appended before it is on disk. The write and fsync run in the log's own
  thread so the event loop keeps serving.
- `compact` writes the full state to `<name>.snapshot.tmp`, fsyncs it, renames it over
  `<name>.snapshot`, fsyncs the directory, then starts an empty (preallocated) log the same
  way. A crash at any point leaves either the old snapshot and full log, or the new snapshot
  and a log that only repeats what the snapshot holds.
- Loading reads the snapshot, then the log. A torn final log record (short, or with a bad
  CRC, followed by nothing but zeros: a crash mid-write) is cut off quietly-but-logged. Any
  other damage (a bad header, a bad record followed by more data, data after the zero fill, a
  damaged snapshot) moves the file aside to `<file>.corrupt-<unix time>` with an ERROR log
  line, keeps the records read before the damage (written again into a fresh log at once),
  and the daemon starts.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import weakref
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import outcome
import trio

logger = logging.getLogger(__name__)

MAGIC = b"TOCSIN"
SNAPSHOT_KIND = b"S"
LOG_KIND = b"L"
# The version each kind is written with; see the module docstring.
WRITTEN_VERSIONS = {SNAPSHOT_KIND: b"2", LOG_KIND: b"3"}
READABLE_VERSIONS = frozenset({b"1", b"2", b"3"})
HEADER_SIZE = len(MAGIC) + 2
RECORD_PREFIX = struct.Struct(">II")
# A single silence or nflog entry is a few KiB at most; anything larger than this in a
# length prefix is damage, not data, and must not make us allocate gigabytes.
MAX_RECORD_BYTES = 16 * 1024 * 1024
# A log grows by written zeros, doubling from the smallest step up to the largest (about
# 6,000 silence records): each step costs one larger fdatasync, and a log that is never written
# to stays a bare header.
MIN_LOG_GROWTH_BYTES = 64 * 1024
MAX_LOG_GROWTH_BYTES = 1024 * 1024


def header(kind: bytes) -> bytes:
    """The header a file of `kind` is written with."""
    return MAGIC + kind + WRITTEN_VERSIONS[kind]


def _is_readable_header(data: bytes, kind: bytes) -> bool:
    return data[: len(MAGIC) + 1] == MAGIC + kind and data[len(MAGIC) + 1 : HEADER_SIZE] in READABLE_VERSIONS


def frame(payload: bytes) -> bytes:
    if not payload:
        raise ValueError("an empty record cannot be told from a log's zero fill")
    if len(payload) > MAX_RECORD_BYTES:
        raise ValueError(f"record of {len(payload)} bytes exceeds {MAX_RECORD_BYTES}")
    return RECORD_PREFIX.pack(len(payload), zlib.crc32(payload)) + payload


class _ReadResult:
    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.good_length = 0  # bytes up to the end of the last good record
        self.torn_tail = False  # damage only in the final record
        self.damage: str | None = None  # damage that is not a torn tail


def _read_records(data: bytes, kind: bytes) -> _ReadResult:
    result = _ReadResult()
    if len(data) < HEADER_SIZE:
        # A crash while writing the header of a brand-new log leaves a short file.
        if any((MAGIC + kind + version).startswith(data) for version in READABLE_VERSIONS):
            result.torn_tail = bool(data)
        else:
            result.damage = "bad header"
        return result
    if not _is_readable_header(data, kind):
        result.damage = f"bad header {data[:HEADER_SIZE]!r}"
        return result
    offset = HEADER_SIZE
    result.good_length = offset
    end = len(data)
    # Past this offset the file holds only zeros: a preallocated log's unused fill (other
    # files have none, or a crash left the zeros of an extension).
    content_end = len(data.rstrip(b"\0"))
    while offset < content_end:
        if end - offset < RECORD_PREFIX.size:
            result.torn_tail = True
            return result
        length, crc = RECORD_PREFIX.unpack_from(data, offset)
        start = offset + RECORD_PREFIX.size
        if length == 0:
            # No record is empty: this is zero fill, and data after it is not ours to skip.
            result.damage = f"data after the end of the records at offset {offset}"
            return result
        if length > MAX_RECORD_BYTES:
            result.damage = f"record length {length} at offset {offset}"
            return result
        if start + length > end:
            result.torn_tail = True
            return result
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            if start + length >= content_end:
                result.torn_tail = True
            else:
                result.damage = f"CRC mismatch at offset {offset}"
            return result
        result.records.append(payload)
        offset = start + length
        result.good_length = offset
    return result


def _write_fully(handle: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(handle, view, offset)
        view = view[written:]
        offset += written


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def _move_aside(path: Path, reason: str) -> Path:
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    os.replace(path, aside)
    logger.error(
        "CORRUPT STATE FILE %s (%s): moved aside to %s; the records before the damage were kept",
        path,
        reason,
        aside,
    )
    return aside


class StorageObserver(Protocol):
    """What the daemon's metrics learn from one state's storage (`daemon.metrics` implements it)."""

    def write_failed(self) -> None:
        """An append, fsync or compaction failed: the change is not (yet) durable."""

    def snapshot_written(self, seconds: float, size_bytes: int) -> None:
        """A compaction wrote a snapshot of `size_bytes` in `seconds`."""

    def garbage_collected(self, seconds: float) -> None:
        """One maintenance garbage collection took `seconds`."""


class _NoObserver:
    def write_failed(self) -> None:
        pass

    def snapshot_written(self, seconds: float, size_bytes: int) -> None:
        pass

    def garbage_collected(self, seconds: float) -> None:
        pass


_SyncJob = tuple[
    Callable[[bytes], None], bytes, trio.lowlevel.TrioToken, Callable[[outcome.Outcome[None]], object]
]


class _SyncThread:
    """One log's own thread for its writes and fsyncs, one job at a time.

    Cheaper than `trio.to_thread.run_sync` per job (~10 us of CPU less per silence at 8
    connections, ~6 %): the thread waits in `os.read` on a pipe and is woken by a one-byte
    `os.write`, both of which run without the GIL, so the woken thread can take the GIL at
    once instead of waking, finding it held, and sleeping again; and no thread-cache hand-off
    or thread renaming happens per job. The thread holds no reference to its log, so a log
    that is dropped without `close` can still be collected (and stops its thread)."""

    def __init__(self, name: str) -> None:
        self._wake_read, self._wake_write = os.pipe()
        self._jobs: deque[_SyncJob | None] = deque()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, work: Callable[[bytes], None], data: bytes) -> None:
        """`work(data)` in the thread. Not cancellable once handed over, like a
        `to_thread.run_sync` call: a write must not be reported failed while it goes on."""
        await trio.lowlevel.checkpoint_if_cancelled()
        task = trio.lowlevel.current_task()

        def deliver(result: outcome.Outcome[None]) -> None:
            trio.lowlevel.reschedule(task, result)

        self._jobs.append((work, data, trio.lowlevel.current_trio_token(), deliver))
        os.write(self._wake_write, b"\0")
        await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)

    def _serve(self) -> None:
        while True:
            os.read(self._wake_read, 1)
            job = self._jobs.popleft()
            if job is None:
                os.close(self._wake_read)
                os.close(self._wake_write)
                return
            self._run_job(*job)
            del job  # hold no reference to the log between jobs

    @staticmethod
    def _run_job(
        work: Callable[[bytes], None],
        data: bytes,
        token: trio.lowlevel.TrioToken,
        deliver: Callable[[outcome.Outcome[None]], object],
    ) -> None:
        result = outcome.capture(work, data)
        try:
            token.run_sync_soon(deliver, result)
        except trio.RunFinishedError:
            pass  # the event loop is gone, and with it whoever waited

    def stop_soon(self) -> None:
        """The thread ends after the job in hand, if any (call once)."""
        self._jobs.append(None)
        os.write(self._wake_write, b"\0")

    def join(self) -> None:
        self._thread.join()


class DurableLog:
    """Snapshot + log for one named state. One instance per state; trio tasks only."""

    def __init__(self, directory: Path | str, name: str, observer: StorageObserver | None = None) -> None:
        self.directory = Path(directory)
        self.name = name
        self.observer: StorageObserver = observer or _NoObserver()
        self.snapshot_path = self.directory / f"{name}.snapshot"
        self.log_path = self.directory / f"{name}.log"
        self._pending: list[bytes] = []
        self._appended = 0  # records appended since start
        self._durable = 0  # of those, how many are on disk
        self._lock = trio.Lock()  # one writer (commit or compact) at a time, FIFO-fair
        # A commit writing (or about to write); the others park until it is done instead of
        # queueing on the lock, so one write wakes them all at once.
        self._writing = False
        self._write_done = trio.lowlevel.ParkingLot()
        self._log_handle: int | None = None
        # Where the next record goes, and the log file's preallocated size: touched only by the
        # holder of `_lock` (in its worker thread), or before the first write.
        self._log_end = 0
        self._log_allocated = 0
        self._sync_thread: _SyncThread | None = None  # started by the first write
        self._stop_sync_thread: Callable[[], object] = lambda: None
        self.corrupt_files: list[Path] = []
        # Called after every append: a background committer sleeps until there is work.
        self.on_append: Callable[[], None] | None = None

    # -- start-up

    def load(self) -> list[bytes]:
        """Records of the snapshot, then of the log; repairs a torn tail, moves damage aside,
        and opens the log for appending. Call once, before any append."""
        self.directory.mkdir(parents=True, exist_ok=True)
        snapshot = self._load_file(self.snapshot_path, SNAPSHOT_KIND, repair_tail=False)
        log = self._load_file(self.log_path, LOG_KIND, repair_tail=True)
        if (snapshot.damage and snapshot.records) or (log.damage and log.records):
            # What was read before the damage now lives only in memory (its file is aside): a
            # fresh log gets it, in the order read, so that a second crash before the next
            # compaction cannot lose it.
            carried = (snapshot.records if snapshot.damage else []) + log.records
            content = b"".join([header(LOG_KIND), *map(frame, carried)])
            _write_atomically(self.log_path, content)
            self._open_log(len(content))
        else:
            self._open_log(log.good_length if log.damage is None else 0)
        return snapshot.records + log.records

    def _load_file(self, path: Path, kind: bytes, repair_tail: bool) -> _ReadResult:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return _ReadResult()
        result = _read_records(data, kind)
        if result.damage is None and result.torn_tail and repair_tail:
            logger.warning(
                "%s: torn final record (crash during a write) cut off after %d good records",
                path,
                len(result.records),
            )
            self._truncate(path, result.good_length)
        elif result.damage is not None or result.torn_tail:
            result.damage = result.damage or "truncated"
            self.corrupt_files.append(_move_aside(path, result.damage))
        return result

    @staticmethod
    def _truncate(path: Path, length: int) -> None:
        if length < HEADER_SIZE:
            path.unlink()
            return
        with open(path, "r+b") as handle:
            handle.truncate(length)
            handle.flush()
            os.fsync(handle.fileno())

    def _open_log(self, records_end: int) -> None:
        """Open the log for writing at `records_end` (where its records end; 0: no usable log)."""
        if records_end < HEADER_SIZE or not self.log_path.exists():
            _write_atomically(self.log_path, header(LOG_KIND))
            records_end = HEADER_SIZE
        handle = os.open(self.log_path, os.O_RDWR)
        try:
            if os.pread(handle, HEADER_SIZE, 0) != header(LOG_KIND):
                # An older version's log, now written in place with zero fill: a tocsin that
                # reads that version would take the fill for records, so it must refuse the file.
                os.pwrite(handle, header(LOG_KIND), 0)
                os.fsync(handle)
        except BaseException:
            os.close(handle)
            raise
        self._log_handle = handle
        self._log_end = records_end
        self._log_allocated = os.fstat(handle).st_size

    # -- writes

    def append(self, payload: bytes) -> None:
        """Buffer a record; it is durable once a later `commit` returns."""
        self._pending.append(frame(payload))
        self._appended += 1
        if self.on_append is not None:
            self.on_append()

    async def commit(self) -> None:
        """Wait until every record appended before this call is fsynced (group commit)."""
        target = self._appended
        while self._durable < target:
            if self._writing:
                # The write in flight may not hold our record; look again once it is done.
                await self._write_done.park()
                continue
            self._writing = True
            try:
                # Requests that arrived in the same wake-up as ours append before the write
                # starts, so they share this fsync instead of waiting for the next one.
                await trio.lowlevel.checkpoint()
                await self._write_pending()
            finally:
                self._writing = False
                # Everybody looks: those now durable return, the first other one writes.
                self._write_done.unpark_all()

    async def _write_pending(self) -> None:
        async with self._lock:  # compaction may hold it
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            batch_end = self._appended
            try:
                if self._sync_thread is None:
                    self._sync_thread = _SyncThread(f"tocsin-{self.name}-sync")
                    self._stop_sync_thread = weakref.finalize(self, self._sync_thread.stop_soon)
                await self._sync_thread.run(self._write_and_sync, b"".join(batch))
            except BaseException as error:
                self._pending[:0] = batch  # keep them for the next attempt
                if isinstance(error, OSError):
                    self.observer.write_failed()
                raise
            self._durable = batch_end

    def _write_and_sync(self, data: bytes) -> None:
        handle = self._log_handle
        if handle is None:
            raise RuntimeError("DurableLog.load() must run before writes")
        end = self._log_end + len(data)
        if end > self._log_allocated:
            # Zeros past the records as well: then the next writes land in place. The one
            # fdatasync below also records the new size.
            growth = min(MAX_LOG_GROWTH_BYTES, max(MIN_LOG_GROWTH_BYTES, self._log_allocated))
            growth = max(growth, end - self._log_allocated)
            _write_fully(handle, bytes(growth), self._log_allocated)
            self._log_allocated += growth
        _write_fully(handle, data, self._log_end)
        os.fdatasync(handle)
        self._log_end = end

    async def compact(self, snapshot: Callable[[], Iterable[bytes]]) -> None:
        """Replace snapshot and log by `snapshot()`, the records of the full current state.

        `snapshot` is called while this log holds its writer lock, so every record an earlier
        commit wrote is reflected in it, and records appended but not yet written stay pending
        and land in the new log (a harmless repeat of what the snapshot already holds). It
        must capture the state when called; the iterable it returns is consumed in a worker
        thread (so encoding can be lazy over immutable values, off the event loop)."""
        async with self._lock:
            records = snapshot()
            started = time.perf_counter()
            try:
                size_bytes = await trio.to_thread.run_sync(self._replace_files, records)
            except OSError:
                self.observer.write_failed()
                raise
            self.observer.snapshot_written(time.perf_counter() - started, size_bytes)

    def _replace_files(self, records: Iterable[bytes]) -> int:
        """Write the snapshot and start an empty log; returns the snapshot's size in bytes."""
        snapshot = b"".join([header(SNAPSHOT_KIND), *(frame(record) for record in records)])
        _write_atomically(self.snapshot_path, snapshot)
        if self._log_handle is not None:
            os.close(self._log_handle)
            self._log_handle = None
        self._open_log(0)
        return len(snapshot)

    def close(self) -> None:
        if self._sync_thread is not None:
            self._stop_sync_thread()
            self._sync_thread.join()
            self._sync_thread = None
        if self._log_handle is not None:
            os.close(self._log_handle)
            self._log_handle = None


async def run_maintenance(
    log: DurableLog,
    collect_garbage: Callable[[], object],
    snapshot: Callable[[], Iterable[bytes]],
    interval_seconds: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every `interval_seconds` (`--data.maintenance-interval`): GC the state, then compact
    its log into a snapshot; once more when cancelled (shutdown), shielded so it completes.
    Changes merged from peers are appended without a commit of their own; compaction (or the
    next local commit) makes them durable."""

    def timed_garbage_collection() -> None:
        started = time.perf_counter()
        collect_garbage()
        log.observer.garbage_collected(time.perf_counter() - started)

    task_status.started()
    try:
        while True:
            await trio.sleep(interval_seconds)
            timed_garbage_collection()
            try:
                await log.compact(snapshot)
            except OSError as error:
                logger.error("%s: maintenance snapshot failed: %s", log.name, error)
    finally:
        with trio.CancelScope(shield=True):
            timed_garbage_collection()
            try:
                await log.compact(snapshot)
            except OSError as error:
                logger.error("%s: shutdown snapshot failed: %s", log.name, error)


__all__ = ["MAX_RECORD_BYTES", "DurableLog", "StorageObserver", "frame", "header", "run_maintenance"]
