"""The notification log: LWW semantics, GC, and Alertmanager's snapshot/gossip encoding.

`ALERTMANAGER_SNAPSHOT` is the `nflog` file the real Alertmanager 0.25 wrote on shutdown after
notifying receiver `team-x` (two webhook configs) about group `{}:{alertname="Disk"}` with one
firing alert (instance=h1) and one resolved alert (instance=h2), repeat_interval 3h. The
reverse direction was checked too: a snapshot written by `NotificationLog.snapshot()` was
loaded by the real Alertmanager, which then skipped the integration whose entry already held
the firing alert and notified the other one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from daemon.nflog import (
    NflogDecodeError,
    NotificationLog,
    decode_delimited_stream,
    encode_delimited,
)
from daemon.nflog import (
    maintain as nflog_maintain,
)
from notify.context import NotificationLogEntry
from notify.model import alert_hash

ALERTMANAGER_SNAPSHOT = (
    b'_\nP\n\x15{}:{alertname="Disk"}\x12\x13\n\x06team-x\x12\x07webhook\x18\x01*\x0b\x08\xc1\x9c\x9c\xd8'
    b"\x06\x10\xe3\xce\x8cY2\n\xed\xda\x9f\xc8\xbe\x94\xf3\xda\xf8\x01:\t\x92\xd4\xc6\x97\xce\xc8\xf6\xe4\x05"
    b"\x12\x0b\x08\xa1\xc5\x9d\xd8\x06\x10\xe3\xce\x8cY"
    b']\nN\n\x15{}:{alertname="Disk"}\x12\x11\n\x06team-x\x12\x07webhook*\x0b\x08\xc1\x9c\x9c\xd8\x06'
    b"\x10\xe0\xab\xfbY2\n\xed\xda\x9f\xc8\xbe\x94\xf3\xda\xf8\x01:\t\x92\xd4\xc6\x97\xce\xc8\xf6\xe4\x05\x12"
    b"\x0b\x08\xa1\xc5\x9d\xd8\x06\x10\xe0\xab\xfbY"
)
# Go's nanoseconds (186853347 and 188667360) as varints, and the same instants truncated to
# the microseconds a Python datetime holds.
GO_NANOS = (b"\x10\xe3\xce\x8cY", b"\x10\xe0\xab\xfbY")
MICRO_NANOS = (b"\x10\x88\xcd\x8cY", b"\x10\xf8\xa8\xfbY")

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GROUP = '{}:{alertname="Disk"}'


def _entry(
    index: int = 0,
    firing: frozenset[int] = frozenset({1}),
    resolved: frozenset[int] = frozenset(),
    at: datetime = T0,
    expires_after: timedelta = timedelta(hours=1),
    group_key: str = GROUP,
) -> NotificationLogEntry:
    return NotificationLogEntry(group_key, "team-x", "webhook", index, firing, resolved, at, at + expires_after)


def test_decodes_alertmanager_snapshot() -> None:
    decoded = [entry for entry, _ in decode_delimited_stream(ALERTMANAGER_SNAPSHOT)]
    assert [(e.group_key, e.receiver_name, e.integration, e.index) for e in decoded] == [
        (GROUP, "team-x", "webhook", 1),
        (GROUP, "team-x", "webhook", 0),
    ]
    firing = alert_hash({"alertname": "Disk", "instance": "h1"})
    resolved = alert_hash({"alertname": "Disk", "instance": "h2"})
    for entry in decoded:
        assert entry.firing_alerts == {firing}
        assert entry.resolved_alerts == {resolved}
        assert entry.expires_at - entry.timestamp == timedelta(hours=6)
    assert decoded[0].timestamp == datetime(2026, 11, 25, 16, 35, 13, 186853, tzinfo=UTC)


def test_encodes_like_alertmanager_up_to_nanoseconds() -> None:
    expected = ALERTMANAGER_SNAPSHOT
    for go, micro in zip(GO_NANOS, MICRO_NANOS, strict=True):
        expected = expected.replace(go, micro)
    log = NotificationLog()
    log.load(ALERTMANAGER_SNAPSHOT)
    assert log.snapshot() == expected


def test_query_and_log() -> None:
    log = NotificationLog()
    assert log.query(GROUP, "team-x", "webhook", 0) is None
    entry = _entry()
    log.log(entry)
    assert log.query(GROUP, "team-x", "webhook", 0) == entry
    assert log.query(GROUP, "team-x", "webhook", 1) is None
    assert log.query(GROUP, "team-y", "webhook", 0) is None
    assert log.counters.queries_total == 4


def test_local_write_keeps_a_newer_entry_and_broadcasts_what_it_writes() -> None:
    written: list[bytes] = []
    log = NotificationLog(on_local_write=written.append)
    newer = _entry(at=T0 + timedelta(seconds=10))
    log.log(newer)
    log.log(_entry(at=T0))
    assert log.query(GROUP, "team-x", "webhook", 0) == newer
    assert written == [encode_delimited(newer)]


def test_gc_removes_entries_expiring_at_or_before_now() -> None:
    log = NotificationLog()
    log.log(_entry(index=0, expires_after=timedelta(minutes=1)))
    log.log(_entry(index=1, expires_after=timedelta(minutes=2)))
    assert log.gc(T0 + timedelta(seconds=59)) == 0
    assert log.gc(T0 + timedelta(minutes=1)) == 1
    assert [entry.index for entry in log.entries()] == [1]


def test_merge_is_last_writer_wins_and_skips_expired() -> None:
    log = NotificationLog()
    log.log(_entry(index=0, at=T0))
    newer = _entry(index=0, firing=frozenset({2}), at=T0 + timedelta(seconds=5))
    older = _entry(index=1, at=T0 - timedelta(hours=2))  # expired an hour ago
    changed = log.merge(encode_delimited(newer) + encode_delimited(older), T0)
    assert changed == [encode_delimited(newer)]
    assert log.query(GROUP, "team-x", "webhook", 0) == newer
    assert log.query(GROUP, "team-x", "webhook", 1) is None
    # The same data again changes nothing.
    assert log.merge(encode_delimited(newer), T0) == []
    assert log.counters.gossip_messages_propagated_total == 1


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x05\n\x03",  # length beyond the data
        b"\x02\n\x00",  # an entry without a receiver
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # a varint that never ends
    ],
)
def test_malformed_streams_are_refused(garbage: bytes) -> None:
    log = NotificationLog()
    with pytest.raises(NflogDecodeError):
        log.merge(garbage, T0)


hashes = st.frozensets(st.integers(min_value=0, max_value=2**64 - 1), max_size=4)
entries = st.builds(
    _entry,
    index=st.integers(min_value=0, max_value=2),
    firing=hashes,
    resolved=hashes,
    at=st.integers(min_value=0, max_value=10**6).map(lambda micros: T0 + timedelta(microseconds=micros)),
    group_key=st.sampled_from(["", GROUP, '{}:{a="ü"}']),
)


@given(entries)
def test_encoding_round_trips(entry: NotificationLogEntry) -> None:
    ((decoded, raw),) = decode_delimited_stream(encode_delimited(entry))
    assert decoded == entry
    assert raw == encode_delimited(entry)


@given(st.lists(entries, max_size=6), st.randoms(use_true_random=False))
def test_merge_order_does_not_matter(batch: list[NotificationLogEntry], rng: random.Random) -> None:
    # Distinct timestamps per key: with equal timestamps LWW keeps whichever came first.
    unique = {(e.index, e.group_key, e.timestamp): e for e in batch}
    shuffled = list(unique.values())
    rng.shuffle(shuffled)

    def state(order: list[NotificationLogEntry]) -> dict[tuple[str, int], NotificationLogEntry]:
        log = NotificationLog()
        for entry in order:
            log.merge(encode_delimited(entry), T0)
        return {(e.group_key, e.index): e for e in log.entries()}

    one, other = state(list(unique.values())), state(shuffled)
    assert {key: entry.timestamp for key, entry in one.items()} == {
        key: entry.timestamp for key, entry in other.items()
    }


def test_records_replay_into_an_empty_log() -> None:
    log = NotificationLog()
    log.log(_entry(index=0))
    log.log(_entry(index=1, firing=frozenset({5})))
    restored = NotificationLog()
    for record in log.records() + log.records():  # replaying twice changes nothing
        restored.merge(record, T0)
    assert sorted(restored.entries(), key=lambda e: e.index) == sorted(log.entries(), key=lambda e: e.index)


async def test_maintain_collects_garbage_then_compacts(autojump_clock: trio.testing.MockClock) -> None:
    log = NotificationLog()
    log.log(_entry(index=0, expires_after=timedelta(minutes=10)))
    log.log(_entry(index=1, expires_after=timedelta(minutes=40)))
    compacted: list[list[bytes]] = []

    async def compact(records: Callable[[], Iterable[bytes]]) -> None:
        compacted.append(list(records()))

    with trio.move_on_after(31 * 60):
        await nflog_maintain(
            log,
            interval_seconds=15 * 60,
            clock=lambda: T0 + timedelta(seconds=trio.current_time()),
            compact=compact,
        )
    assert [len(records) for records in compacted] == [1, 1]
    assert [entry.index for entry in log.entries()] == [1]


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


def test_receiver_names_that_are_not_utf8_are_replaced_not_refused() -> None:
    # Alertmanager's generated nflogpb code keeps such bytes; refusing would drop the whole
    # stream the entry came in, so the name is decoded with U+FFFD instead.
    record = encode_delimited(_entry()).replace(b"team-x", b"team\xff\xfe")
    ((decoded, raw),) = decode_delimited_stream(record)
    assert decoded.receiver_name == "team\ufffd\ufffd"
    assert raw == record
