"""The replication channels: Part routing, FullState push/pull, re-broadcast and the
oversized path, with a tiny last-writer-wins state standing in for silences."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster import replication
from cluster.replication import OVERSIZED_PART_BYTES, OVERSIZED_QUEUE_SLOTS, Part, Replicator

NOW = datetime(2024, 1, 1, tzinfo=UTC)


class LwwRegister:
    """Records `key=version` pairs; a higher version wins. Malformed data raises."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.merged_at: list[datetime] = []

    def snapshot(self) -> bytes:
        return replication.encode_delimited(f"{k}={v}".encode() for k, v in sorted(self.values.items()))

    def merge(self, data: bytes, now: datetime) -> bool:
        self.merged_at.append(now)
        changed = False
        for record in replication.split_delimited(data):
            key, _, version = record.decode().partition("=")
            if not version.isdigit():
                raise ValueError(f"bad record {record!r}")
            if int(version) > self.values.get(key, -1):
                self.values[key] = int(version)
                changed = True
        return changed


def record(key: str, version: int) -> bytes:
    return replication.encode_delimited([f"{key}={version}".encode()])


def make() -> tuple[Replicator, LwwRegister, LwwRegister]:
    replicator = Replicator(lambda: NOW, cluster_size=lambda: 3)
    sil, nfl = LwwRegister(), LwwRegister()
    replicator.add_channel("sil", sil)
    replicator.add_channel("nfl", nfl)
    return replicator, sil, nfl


def test_broadcast_is_a_part_handed_out_by_get_broadcasts() -> None:
    replicator, _, _ = make()
    replicator.channels["sil"].broadcast(record("a", 1))
    messages = replicator.get_broadcasts(overhead=3, limit=1400)
    assert messages == [replication.encode_part(Part("sil", record("a", 1)))]
    # Retransmit limit for 3 members: 3 * ceil(log10(4)) = 3 sends in total.
    assert replicator.get_broadcasts(3, 1400) == messages
    assert replicator.get_broadcasts(3, 1400) == messages
    assert replicator.get_broadcasts(3, 1400) == []


def test_user_message_is_routed_by_key_and_rebroadcast_when_new() -> None:
    replicator, sil, nfl = make()
    message = replication.encode_part(Part("nfl", record("g", 2)))
    replicator.notify_user_msg(message)
    assert nfl.values == {"g": 2} and sil.values == {}
    assert nfl.merged_at == [NOW]
    assert replicator.get_broadcasts(3, 1400) == [message]
    # The same news again changes nothing and is not gossiped again.
    replicator.notify_user_msg(message)
    assert replicator.queued_broadcasts == 1


def test_unknown_keys_and_garbage_are_counted_not_raised() -> None:
    replicator, sil, nfl = make()
    replicator.notify_user_msg(replication.encode_part(Part("alerts", b"x")))
    replicator.notify_user_msg(b"\xff\xff")
    replicator.merge_remote_state(b"\x0a\x05")
    assert replicator.unknown_keys == 1
    assert replicator.decode_errors == 2
    assert sil.values == nfl.values == {}


def test_full_state_round_trip_between_two_replicators() -> None:
    left, left_sil, left_nfl = make()
    right, right_sil, right_nfl = make()
    left_sil.values = {"s1": 3}
    left_nfl.values = {"n1": 1, "n2": 5}
    right.merge_remote_state(left.local_state())
    assert right_sil.values == {"s1": 3}
    assert right_nfl.values == {"n1": 1, "n2": 5}
    parts = replication.decode_full_state(left.local_state())
    assert [p.key for p in parts] == ["sil", "nfl"]


def test_failed_part_merge_skips_the_remaining_parts_like_alertmanager() -> None:
    replicator, _, nfl = make()
    state = replication.encode_full_state(
        [Part("sil", replication.encode_delimited([b"broken"])), Part("nfl", record("n", 1))]
    )
    replicator.merge_remote_state(state)
    assert nfl.values == {}
    assert replicator.channels["sil"].counters.merge_errors == 1


def test_oversized_parts_wait_for_tcp_and_are_bounded() -> None:
    replicator, _, _ = make()
    wakeups: list[int] = []
    replicator.wakeup = lambda: wakeups.append(1)
    big = record("k" * OVERSIZED_PART_BYTES, 1)
    channel = replicator.channels["sil"]
    channel.broadcast(big)
    assert replicator.get_broadcasts(3, 65000) == []
    assert replicator.take_oversized() == [replication.encode_part(Part("sil", big))]
    assert wakeups == [1]
    for _ in range(OVERSIZED_QUEUE_SLOTS + 5):
        channel.broadcast(big)
    assert channel.counters.oversized_dropped == 5
    assert len(replicator.take_oversized()) == OVERSIZED_QUEUE_SLOTS


def test_oversized_data_merged_from_a_peer_is_not_regossiped() -> None:
    replicator, sil, _ = make()
    big = record("k" * OVERSIZED_PART_BYTES, 1)
    replicator.notify_user_msg(replication.encode_part(Part("sil", big)))
    assert sil.values
    assert replicator.queued_broadcasts == 0
    assert replicator.take_oversized() == []


def test_the_oversize_threshold_is_alertmanagers_half_packet() -> None:
    assert OVERSIZED_PART_BYTES == 700
    assert not replication.is_oversized(b"x" * 700)
    assert replication.is_oversized(b"x" * 701)


def test_a_channel_key_registers_once() -> None:
    replicator, _, _ = make()
    with pytest.raises(ValueError, match="already registered"):
        replicator.add_channel("sil", LwwRegister())


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**63, 2**64 - 1, -1])
def test_varints_round_trip(value: int) -> None:
    encoded = replication.encode_varint(value)
    decoded, end = replication.decode_varint(encoded, 0)
    assert end == len(encoded)
    assert replication.to_int64(decoded) == value if value < 0 else decoded == value


def test_overlong_varint_is_refused() -> None:
    with pytest.raises(replication.ProtobufError, match="overflow"):
        replication.decode_varint(b"\xff" * 10 + b"\x01", 0)
    with pytest.raises(replication.ProtobufError, match="overflow"):
        replication.decode_varint(b"\xff" * 9 + b"\x7f", 0)


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_replicator_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    replicator, _, _ = make()
    replicator.notify_user_msg(data)
    replicator.merge_remote_state(data)
    # Whatever was accepted, the local state still encodes and decodes.
    assert [p.key for p in replication.decode_full_state(replicator.local_state())] == ["sil", "nfl"]
