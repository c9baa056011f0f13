"""Idle cost: gossip rounds with nothing to send are skipped (and their deadlines slept
through); packets too small to compress are not run through LZW.

memberlist runs a gossip round every gossip interval and sends nothing when no broadcast is
queued; the core skips such rounds (no wake-up for the shell) when its delegate can say that
it has nothing queued, and keeps the rounds on memberlist's fixed grid otherwise.
"""

from __future__ import annotations

import dataclasses
import random

import hypothesis
import hypothesis.strategies as st
import pytest

from cluster.core import codec
from cluster.core.config import CoreConfig
from cluster.core.members import Address
from cluster.core.messages import Ack, Alive, Ping
from cluster.core.node import Node, PacketOut, StreamOut, compressed_size_lower_bound
from tests.unit.cluster.delegates import QueueDelegate

GOSSIP_MS = 200
# Long enough for the membership news of a two-node cluster to run out its transmits.
SETTLE_MS = 5_000
PROBE_MS = 1_000
PUSH_PULL_MS = 60_000


def config() -> CoreConfig:
    return dataclasses.replace(
        CoreConfig(),
        gossip_interval_ms=GOSSIP_MS,
        probe_interval_ms=PROBE_MS,
        push_pull_interval_ms=PUSH_PULL_MS,
    )


class OpaqueDelegate(QueueDelegate):
    """memberlist's plain delegate: no way to ask whether broadcasts wait."""

    has_broadcasts = None  # type: ignore[assignment]


PEER = Address("10.0.0.2", 7946)


def answer_pings(node: Node, now: int) -> list[PacketOut]:
    """Ack every ping the node sent (a healthy peer); returns the other packets it sent."""
    others = []
    for out in node.take_outgoing():
        if not isinstance(out, PacketOut):
            continue
        messages = codec.decode_packet(out.data).messages
        pings = [m for m in messages if isinstance(m, Ping)]
        for ping in pings:
            node.receive_packet(PEER, codec.encode_message(Ack(ping.seq_no, b"")), now)
        if len(pings) < len(messages):
            others.append(out)
    return others


def run_shell(node: Node, until_ms: int, start_ms: int = 0) -> tuple[int, list[PacketOut]]:
    """Drive the node as the trio shell does (sleep to `next_deadline`, tick, flush) with a
    peer that acks; returns the number of wake-ups and the non-ping packets sent."""
    now, wakeups, sent = start_ms, 0, []
    while True:
        now = max(now, node.next_deadline())
        if now > until_ms:
            return wakeups, sent
        node.tick(now)
        wakeups += 1
        sent += answer_pings(node, now)


def node_with_peer(delegate: object | None) -> tuple[Node, int]:
    """A node that knows one alive peer, all membership news already gossiped; returns it
    with the time of its first gossip round (the grid's origin)."""
    node = Node(config(), "a", Address("10.0.0.1", 7946), random.Random(1), delegate, 0)  # type: ignore[arg-type]
    first_round = node._next_gossip_ms
    node.receive_packet(PEER, codec.encode_message(Alive(1, "b", bytes([10, 0, 0, 2]), 7946, b"", Node.vsn())), 0)
    # The news of b (and of us) runs out its transmits within a few rounds.
    run_shell(node, SETTLE_MS)
    return node, first_round


def test_idle_node_wakes_only_for_probes() -> None:
    node, _ = node_with_peer(QueueDelegate())
    assert not node.has_broadcasts()
    wakeups, sent = run_shell(node, SETTLE_MS + 10 * PROBE_MS, SETTLE_MS)
    assert sent == []
    # One wake-up per probe; gossip rounds (5 a second) are slept through.
    assert 9 <= wakeups <= 11


def test_idle_pings_and_acks_do_not_ask_an_empty_delegate_for_piggyback_gossip() -> None:
    delegate = QueueDelegate()
    node, _ = node_with_peer(delegate)
    asked_before = delegate.asked
    for seq_no in range(5):
        ping = codec.encode_message(Ping(seq_no, "a", bytes([10, 0, 0, 2]), 7946, "b"))
        node.receive_packet(PEER, ping, SETTLE_MS + seq_no)
    assert len(node.take_outgoing()) == 5  # five acks
    assert delegate.asked == asked_before
    delegate.queued.append(b"news")
    node.receive_packet(PEER, codec.encode_message(Ping(9, "a", bytes([10, 0, 0, 2]), 7946, "b")), SETTLE_MS + 9)
    (ack,) = node.take_outgoing()
    assert isinstance(ack, PacketOut) and b"news" in ack.data
    assert node.member_count() == len(node.members()) == 2


def test_delegate_that_cannot_tell_gets_every_round() -> None:
    node, _ = node_with_peer(OpaqueDelegate())
    assert node.has_broadcasts()
    wakeups, sent = run_shell(node, SETTLE_MS + 10 * PROBE_MS, SETTLE_MS)
    assert sent == []  # the rounds find nothing to send, as memberlist's do
    assert wakeups >= 10 * PROBE_MS // GOSSIP_MS


def test_queued_delegate_broadcast_brings_the_next_grid_round_back() -> None:
    delegate = QueueDelegate()
    node, first_round = node_with_peer(delegate)
    now = node._next_gossip_ms + 3 * GOSSIP_MS + 17  # three idle rounds passed unseen
    node.tick(now)
    node.take_outgoing()
    delegate.queued.append(b"silence")
    assert node.has_broadcasts()
    deadline = node._next_gossip_ms
    # The next round is on the original 200 ms grid, after `now`, and the node wakes for it.
    assert 0 < deadline - now <= GOSSIP_MS
    assert (deadline - first_round) % GOSSIP_MS == 0
    assert node.next_deadline() <= deadline
    node.tick(deadline)
    sent = [out for out in node.take_outgoing() if isinstance(out, PacketOut)]
    assert any(b"silence" in out.data for out in sent)
    assert not node.has_broadcasts()


def test_membership_news_keeps_gossip_rounds_running() -> None:
    node, _ = node_with_peer(QueueDelegate())
    node.receive_packet(
        Address("10.0.0.3", 7946),
        codec.encode_message(Alive(1, "c", bytes([10, 0, 0, 3]), 7946, b"", Node.vsn())),
        node._next_gossip_ms - 1,
    )
    assert node.has_broadcasts()
    assert node.next_deadline() <= node._next_gossip_ms


def test_node_without_delegate_sleeps_through_rounds_with_empty_queues() -> None:
    node, _ = node_with_peer(None)
    assert not node.has_broadcasts()
    node.broadcast_user(b"hello")
    assert node.has_broadcasts()
    deadline = node._next_gossip_ms
    assert node.next_deadline() <= deadline
    node.tick(deadline)
    assert any(isinstance(out, PacketOut) and b"hello" in out.data for out in node.take_outgoing())


def test_push_pull_streams_are_unaffected() -> None:
    node, _ = node_with_peer(QueueDelegate())
    node.tick(node._next_push_pull_ms)
    streams = [out for out in node.take_outgoing() if isinstance(out, StreamOut)]
    assert len(streams) == 1 and streams[0].expects_reply


# --- compression skipped where it cannot shrink the packet ----------------------------------


@hypothesis.given(st.binary(max_size=400))
def test_compressed_size_lower_bound_holds(data: bytes) -> None:
    assert len(codec.compress_message(data)) >= compressed_size_lower_bound(len(data))


@pytest.mark.parametrize("size", range(0, 300))
def test_lower_bound_holds_for_the_most_compressible_input(size: int) -> None:
    # One repeated byte gives LZW its longest possible phrases (1, 2, 3, ... bytes).
    compressed = len(codec.compress_message(b"\0" * size))
    assert compressed >= compressed_size_lower_bound(size)
    # ... and the bound is tight there, up to the padding of the last byte and the code
    # widths growing past 9 bits.
    assert compressed - compressed_size_lower_bound(size) <= 2 + size // 100


def test_acks_are_sent_uncompressed_and_pings_still_try() -> None:
    node, _ = node_with_peer(None)  # nothing left to piggyback
    assert node.config.enable_compression
    ack = codec.encode_message(Ack(4_000_000_000, b""))
    assert compressed_size_lower_bound(len(ack)) >= len(ack)
    ping = codec.encode_message(Ping(7, "a", bytes([10, 0, 0, 2]), 7946, "peer-with-a-name"))
    node.receive_packet(PEER, ping, SETTLE_MS)
    (out,) = node.take_outgoing()
    assert isinstance(out, PacketOut)
    assert list(codec.decode_packet(out.data).messages) == [Ack(7, b"")]
    assert out.data[0] != codec.MessageType.COMPRESS
    # The probe's ping is big enough that LZW might shrink it, so it is still tried (and
    # sent plain because it did not shrink).
    assert compressed_size_lower_bound(len(ping)) < len(ping)
