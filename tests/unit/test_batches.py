"""Batched snapshot records (daemon.batches): the silences' and nflog's snapshots as the
daemon writes and reloads them through the durable log, old single-record files, and damage."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon import batches
from daemon.batches import (
    BATCH_ENTRIES,
    BATCH_MAX_BYTES,
    BATCH_TAG,
    decode_batch,
    encode_batches,
    from_micros,
    load_silence_records,
    silence_snapshot_records,
    to_micros,
)
from daemon.matchers import MatchType
from daemon.nflog import NotificationLog, encode_delimited
from daemon.silences import LATEST_EXPIRY, MatcherSpec, SilenceRequest, Silences, encode_silence
from daemon.storage import HEADER_SIZE, DurableLog, frame
from notify.context import NotificationLogEntry

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def exact_from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


# ------------------------------------------------------------------------ time conversion


@given(st.integers(min_value=0, max_value=2**32 * 1_000_000 + 10**9))
def test_fast_time_conversion_is_exact(micros: int) -> None:
    assert from_micros(micros) == exact_from_micros(micros)
    assert to_micros(from_micros(micros)) == micros


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, tzinfo=UTC),  # Go's zero time, as a peer's silence may carry it
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2106, 2, 7, 6, 28, 16, 1, tzinfo=UTC),  # just past the float path's limit
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ],
)
def test_times_outside_the_fast_range_round_trip(moment: datetime) -> None:
    assert from_micros(to_micros(moment)) == moment


def test_fast_time_conversion_is_exact_just_below_its_limit() -> None:
    # Where a float's step is largest (just under half a microsecond from the true value).
    limit = 2**32 * 1_000_000
    for micros in range(limit - 100_000, limit):
        assert from_micros(micros) == exact_from_micros(micros)


def test_times_past_the_latest_datetime_saturate() -> None:
    assert from_micros(to_micros(LATEST_EXPIRY) + 10**12) == LATEST_EXPIRY


# ------------------------------------------------------------------------ framing of batches


def test_batches_hold_at_most_batch_entries_rows() -> None:
    rows = [(index, "x") for index in range(BATCH_ENTRIES * 2 + 1)]
    records = list(encode_batches(rows))
    assert [len(decode_batch(record)) for record in records] == [BATCH_ENTRIES, BATCH_ENTRIES, 1]
    assert all(record[:1] == BATCH_TAG for record in records)
    assert [row for record in records for row in decode_batch(record)] == rows
    assert list(encode_batches([])) == []


def test_batches_of_large_rows_are_split_to_fit() -> None:
    large = "x" * (BATCH_MAX_BYTES // 10)
    rows = [(index, large) for index in range(25)]
    records = list(encode_batches(rows))
    assert len(records) > 1
    assert all(len(record) <= BATCH_MAX_BYTES for record in records)
    assert [row for record in records for row in decode_batch(record)] == rows
    # A row too large for any batch still gets a record of its own.
    huge = [(0, "y" * (BATCH_MAX_BYTES + 1))]
    assert [decode_batch(record) for record in encode_batches(huge)] == [tuple(huge)]


def test_single_entry_records_are_never_mistaken_for_batches() -> None:
    silences = Silences()
    silence_id = silences.set(a_request(), T0)
    silence = silences.get(silence_id)
    assert silence is not None
    assert not batches.is_batch(encode_silence(silence, T0))
    assert not batches.is_batch(encode_delimited(an_entry("g", T0)))


# ------------------------------------------------------------------------ silences


def a_request(serial: int = 0, *, regex: bool = False) -> SilenceRequest:
    instance = (
        MatcherSpec("instance", MatchType.REGEX, f"host-{serial}:.*")
        if regex
        else (MatcherSpec("instance", MatchType.EQUAL, f"host-{serial}:9100"))
    )
    return SilenceRequest(
        id="",
        matchers=(MatcherSpec("alertname", MatchType.EQUAL, "Disk"), instance),
        starts_at=T0,
        ends_at=T0 + timedelta(hours=serial + 1),
        created_by="me",
        comment=f"silence {serial} ü",
    )


def some_silences(count: int) -> Silences:
    silences = Silences()
    for serial in range(count):
        silences.set(a_request(serial, regex=serial % 2 == 1), T0 + timedelta(microseconds=serial))
    return silences


def state_of(silences: Silences) -> dict[str, tuple[object, ...]]:
    return {silence.id: (silence, silences.expires_at(silence.id)) for silence in silences.all()}


async def test_silences_snapshot_reloads_identically(tmp_path: Path) -> None:
    original = some_silences(BATCH_ENTRIES + 3)
    log = DurableLog(tmp_path, "silences")
    log.load()
    await log.compact(lambda: silence_snapshot_records(original))
    log.close()
    data = (tmp_path / "silences.snapshot").read_bytes()
    assert data[:HEADER_SIZE] == b"TOCSINS2"
    reloaded = Silences()
    records = DurableLog(tmp_path, "silences").load()
    assert len(records) == 2  # two batches, not one record per silence
    assert load_silence_records(reloaded, records, T0) == 0
    assert state_of(reloaded) == state_of(original)
    # Muting works on the reloaded state: the index was built, and the regex compiles on use.
    regex_silence = next(s for s in reloaded.all() if s.comment.startswith("silence 1 "))
    later = T0 + timedelta(seconds=1)
    assert reloaded.matching({"alertname": "Disk", "instance": "host-1:1"}, later)[0] == [regex_silence.id]


def test_silences_with_times_outside_the_fast_range_reload_identically() -> None:
    original = Silences()
    far = dataclasses.replace(a_request(), ends_at=datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC))
    original.set(far, T0)  # expires saturates at the latest datetime
    later = dataclasses.replace(
        a_request(1), starts_at=T0 + timedelta(days=1), ends_at=T0 + timedelta(days=2)
    )
    original.set(later, T0)  # updated_at differs from starts_at
    reloaded = Silences()
    assert load_silence_records(reloaded, silence_snapshot_records(original), T0) == 0
    assert state_of(reloaded) == state_of(original)
    assert {reloaded.expires_at(s.id) for s in reloaded.all()} >= {LATEST_EXPIRY}


def test_loaded_silences_share_equal_matchers() -> None:
    reloaded = Silences()
    load_silence_records(reloaded, silence_snapshot_records(some_silences(4)), T0)
    alertname_matchers = {id(silence.matchers[0]) for silence in reloaded.all()}
    assert len(alertname_matchers) == 1


def test_log_records_after_a_batch_win_by_update_time() -> None:
    original = some_silences(3)
    snapshot = list(silence_snapshot_records(original))
    victim = original.all()[0]
    original.expire(victim.id, T0 + timedelta(minutes=1))
    expired = original.get(victim.id)
    assert expired is not None
    later_log_record = encode_silence(expired, original.expires_at(victim.id) or T0)
    reloaded = Silences()
    # Replaying the snapshot again after the log record changes nothing (idempotent, LWW).
    assert load_silence_records(reloaded, [*snapshot, later_log_record, *snapshot], T0) == 0
    assert state_of(reloaded) == state_of(original)


def test_old_snapshots_of_single_records_still_load(tmp_path: Path) -> None:
    original = some_silences(5)
    legacy = b"TOCSINS1" + b"".join(
        frame(encode_silence(silence, expires_at)) for silence, expires_at in original.snapshot()
    )
    (tmp_path / "silences.snapshot").write_bytes(legacy)
    reloaded = Silences()
    assert load_silence_records(reloaded, DurableLog(tmp_path, "silences").load(), T0) == 0
    assert state_of(reloaded) == state_of(original)


def test_silences_that_expired_before_now_are_skipped() -> None:
    original = some_silences(3)  # ends after 1, 2 and 3 hours; retention 120 hours
    reloaded = Silences()
    now = T0 + timedelta(hours=122, minutes=30)
    assert load_silence_records(reloaded, silence_snapshot_records(original), now) == 0
    assert len(reloaded) == 1


def test_malformed_rows_and_batches_are_counted_and_the_rest_loads() -> None:
    good = list(silence_snapshot_records(some_silences(2)))
    rows = list(decode_batch(good[0]))
    bad_rows = [
        ("id-1", (("alertname", 9, "x"),), *rows[0][2:]),  # unknown matcher type
        (7, *rows[0][1:]),  # an ID that is not text
        ("id-3",),  # too short
    ]
    mixed = BATCH_TAG + msgpack.packb([*bad_rows, rows[1]])
    reloaded = Silences()
    assert load_silence_records(reloaded, [mixed, BATCH_TAG + b"\xc1", b"\x93garbage"], T0) == 5
    assert [silence.id for silence in reloaded.all()] == [rows[1][0]]


# ------------------------------------------------------------------------ notification log


def an_entry(
    group_key: str, at: datetime, index: int = 0, firing: frozenset[int] = frozenset({1})
) -> NotificationLogEntry:
    return NotificationLogEntry(
        group_key, "team-x", "webhook", index, firing, frozenset({2**64 - 1}), at, at + timedelta(hours=1)
    )


async def test_nflog_snapshot_and_log_reload_last_writer_wins(tmp_path: Path) -> None:
    log = NotificationLog()
    for serial in range(BATCH_ENTRIES + 5):
        log.log(an_entry(f"g{serial}", T0 + timedelta(microseconds=serial)))
    durable = DurableLog(tmp_path, "nflog")
    durable.load()
    await durable.compact(log.snapshot_records)
    log.on_local_write = durable.append
    newer = an_entry("g0", T0 + timedelta(seconds=5), firing=frozenset({7}))
    log.log(newer)
    await durable.commit()
    durable.close()

    reloaded = NotificationLog()
    records = DurableLog(tmp_path, "nflog").load()
    assert [batches.is_batch(record) for record in records] == [True, True, False]
    assert reloaded.load_records(records, T0) == 0
    assert len(reloaded) == BATCH_ENTRIES + 5
    assert reloaded.query("g0", "team-x", "webhook", 0) == newer
    assert reloaded.query("g9", "team-x", "webhook", 0) == an_entry("g9", T0 + timedelta(microseconds=9))
    assert sorted(reloaded.entries(), key=lambda e: e.group_key) == sorted(
        log.entries(), key=lambda e: e.group_key
    )


def test_old_nflog_snapshots_of_delimited_mesh_entries_still_load(tmp_path: Path) -> None:
    entries = [an_entry("a", T0), an_entry("b", T0, index=1)]
    legacy = b"TOCSINS1" + b"".join(frame(encode_delimited(entry)) for entry in entries)
    (tmp_path / "nflog.snapshot").write_bytes(legacy)
    reloaded = NotificationLog()
    reloaded.defer_records(DurableLog(tmp_path, "nflog").load(), T0)
    assert sorted(reloaded.entries(), key=lambda e: e.group_key) == entries


def test_an_older_batch_does_not_replace_a_newer_entry() -> None:
    older = an_entry("g", T0)
    newer = an_entry("g", T0 + timedelta(seconds=1), firing=frozenset({3}))
    for order in ([older, newer], [newer, older]):
        reloaded = NotificationLog()
        records = [next(log_of(entry).snapshot_records()) for entry in order]
        assert reloaded.load_records(records, T0) == 0
        assert reloaded.query("g", "team-x", "webhook", 0) == newer
        # And against an entry already unpacked or logged locally.
        reloaded.load_records([records[0]], T0)
        assert reloaded.query("g", "team-x", "webhook", 0) == newer


def log_of(*entries: NotificationLogEntry) -> NotificationLog:
    log = NotificationLog()
    for entry in entries:
        log.log(entry)
    return log


def test_packed_entries_expire_and_are_collected_unread() -> None:
    log = log_of(an_entry("early", T0), an_entry("late", T0 + timedelta(minutes=30)))
    records = list(log.snapshot_records())
    reloaded = NotificationLog()
    # Loaded at T0 + 1h: "early" expires exactly now and is kept, as merge keeps it.
    reloaded.load_records(records, T0 + timedelta(hours=1))
    assert len(reloaded) == 2
    assert reloaded.gc(T0 + timedelta(hours=1)) == 1
    assert [entry.group_key for entry in reloaded.entries()] == ["late"]
    skipped = NotificationLog()
    skipped.load_records(records, T0 + timedelta(hours=1, microseconds=1))
    assert len(skipped) == 1


def test_packed_entries_are_snapshotted_and_gossiped_without_change() -> None:
    log = log_of(an_entry("a", T0), an_entry("b", T0, index=2))
    reloaded = NotificationLog()
    reloaded.load_records(log.snapshot_records(), T0)
    assert [decode_batch(r) for r in reloaded.snapshot_records()] == [
        decode_batch(r) for r in log.snapshot_records()
    ]
    assert sorted(reloaded.records()) == sorted(log.records())


def test_malformed_nflog_batches_are_counted() -> None:
    log = NotificationLog()
    bad_shape = BATCH_TAG + msgpack.packb([[{"a": 1}, 0, to_micros(T0) + 1, [], []]])
    assert log.load_records([BATCH_TAG + b"\xc1", bad_shape, b"\x05\n\x03"], T0) == 3
    assert len(log) == 0
    wrong_types = BATCH_TAG + msgpack.packb([[[1, 2, 3, 4], 0, to_micros(T0) + 1, [], []]])
    assert log.load_records([wrong_types], T0) == 0  # noticed only when the entry is read
    assert log.query(1, 2, 3, 4) is None  # type: ignore[arg-type]
    assert len(log) == 0


def test_deferred_records_load_on_first_use_in_order(caplog: pytest.LogCaptureFixture) -> None:
    older = an_entry("g", T0)
    newer = an_entry("g", T0 + timedelta(seconds=1), firing=frozenset({3}))
    records = [*log_of(older).snapshot_records(), b"\x05\n\x03", encode_delimited(newer)]
    for first_use in (
        lambda log: log.query("g", "team-x", "webhook", 0),
        len,
        lambda log: log.gc(T0),
        lambda log: list(log.snapshot_records()),
        lambda log: log.merge(encode_delimited(older), T0),
        lambda log: log.log(older),
    ):
        log = NotificationLog()
        log.defer_records(records, T0)
        assert log._deferred is not None  # nothing decoded yet
        caplog.clear()
        first_use(log)
        assert log._deferred is None
        assert "Skipped malformed notification log records" in caplog.text
        assert log.query("g", "team-x", "webhook", 0) == newer
        assert len(log) == 1
