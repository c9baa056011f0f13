"""`tocsin_storage_write_failures_total` and the silences/nflog snapshot and GC metrics, fed by
`daemon.storage` through the `StorageObserver` that `daemon.metrics.StateMetrics` implements."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import trio

from daemon import storage
from daemon.metrics import Metrics
from daemon.storage import DurableLog, run_maintenance

MAINTENANCE_INTERVAL_SECONDS = 900.0


def sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    assert value is not None, f"{name}{labels or ''} is not exposed"
    return value


def failures(metrics: Metrics, state: str) -> float:
    return sample(metrics, "tocsin_storage_write_failures_total", {"state": state})


def test_write_failures_exist_at_zero_for_both_states() -> None:
    metrics = Metrics()
    assert failures(metrics, "silences") == 0
    assert failures(metrics, "nflog") == 0
    text = metrics.exposition().decode()
    assert "# TYPE tocsin_storage_write_failures_total counter" in text
    assert "_created" not in text  # Alertmanager exposes no created-timestamp series


async def test_failed_fsync_is_counted_and_the_record_stays_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = Metrics()
    log = DurableLog(tmp_path, "silences", metrics.silences_state)
    log.load()

    real_fdatasync = os.fdatasync

    def disk_full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, "fdatasync", disk_full)
    log.append(b"silence-1")
    with pytest.raises(OSError, match="No space left"):
        await log.commit()
    assert failures(metrics, "silences") == 1
    assert failures(metrics, "nflog") == 0

    # The disk recovers: the retried commit succeeds and counts nothing more.
    monkeypatch.setattr(storage.os, "fdatasync", real_fdatasync)
    await log.commit()
    assert failures(metrics, "silences") == 1
    log.close()
    reopened = DurableLog(tmp_path, "silences")
    # The first write reached the file before its fsync failed, so the record may be there
    # twice; records replay idempotently.
    assert set(reopened.load()) == {b"silence-1"}
    reopened.close()


async def test_failed_compaction_is_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = Metrics()
    log = DurableLog(tmp_path, "nflog", metrics.nflog_state)
    log.load()

    def read_only(path: Path, content: bytes) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(storage, "_write_atomically", read_only)
    with pytest.raises(OSError, match="Read-only"):
        await log.compact(lambda: [b"entry"])
    assert failures(metrics, "nflog") == 1
    assert sample(metrics, "alertmanager_nflog_snapshot_duration_seconds_count") == 0
    log.close()


async def test_a_failing_maintenance_snapshot_is_counted_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = Metrics()
    log = DurableLog(tmp_path, "silences", metrics.silences_state)
    log.load()

    def read_only(path: Path, content: bytes) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(storage, "_write_atomically", read_only)
    async with trio.open_nursery() as nursery:
        await nursery.start(run_maintenance, log, lambda: None, lambda: [b"x"], MAINTENANCE_INTERVAL_SECONDS)
        nursery.cancel_scope.cancel()  # shutdown: one last GC and snapshot, which fails
    assert failures(metrics, "silences") == 1
    assert sample(metrics, "alertmanager_silences_gc_duration_seconds_count") == 1
    log.close()


async def test_snapshot_size_and_durations_are_observed(tmp_path: Path) -> None:
    metrics = Metrics()
    log = DurableLog(tmp_path, "silences", metrics.silences_state)
    log.load()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            run_maintenance, log, lambda: None, lambda: [b"a" * 100, b"b"], MAINTENANCE_INTERVAL_SECONDS
        )
        nursery.cancel_scope.cancel()  # shutdown: one last GC and snapshot
    assert sample(metrics, "alertmanager_silences_snapshot_duration_seconds_count") == 1
    assert sample(metrics, "alertmanager_silences_gc_duration_seconds_count") == 1
    size = (tmp_path / "silences.snapshot").stat().st_size
    # header (8 bytes) plus two records with an 8-byte prefix each
    assert size == 8 + (8 + 100) + (8 + 1)
    assert sample(metrics, "alertmanager_silences_snapshot_size_bytes") == size
    assert sample(metrics, "alertmanager_nflog_snapshot_size_bytes") == 0
    assert failures(metrics, "silences") == 0
    log.close()

