"""Membership news and user broadcasts share a packet: a flood of membership news (a joiner
re-broadcasting the alive state of every member it learned) must not hold a silence back.

memberlist fills each packet with membership news first and gives user broadcasts what is
left; the core keeps room for one gossiped user message while any waits.
"""

from __future__ import annotations

import dataclasses
import random

from cluster.core import codec
from cluster.core.config import CoreConfig
from cluster.core.members import Address
from cluster.core.messages import Alive, UserPacket
from cluster.core.node import Node, PacketOut
from tests.unit.cluster.delegates import QueueDelegate

GOSSIP_MS = 200
MEMBERS = 120
# A silence as Alertmanager gossips it weighs about 250 bytes.
SILENCE = b"s" * 250


def flooded_node(delegate: object | None = None) -> Node:
    """A node that just learned of MEMBERS others, so their alive news fills its queue."""
    config = dataclasses.replace(CoreConfig(), gossip_interval_ms=GOSSIP_MS, enable_compression=False)
    node = Node(config, "a", Address("10.0.0.1", 7946), random.Random(7), delegate, 0)  # type: ignore[arg-type]
    for index in range(MEMBERS):
        host = bytes([10, 0, index // 250 + 1, index % 250 + 1])
        alive = Alive(1, f"member-{index:03d}", host, 7946, b"", Node.vsn())
        node.receive_packet(Address("10.9.9.9", 7946), codec.encode_message(alive), 0)
    node.take_outgoing()
    return node


def gossip_packets(node: Node) -> list[list[object]]:
    """The messages of each datagram sent in the node's next gossip round."""
    node.tick(node._next_gossip_ms)
    packets = [out for out in node.take_outgoing() if isinstance(out, PacketOut)]
    return [list(codec.decode_packet(out.data).messages) for out in packets]


def user_payloads(messages: list[object]) -> list[bytes]:
    return [m.payload for m in messages if isinstance(m, UserPacket)]


def test_user_broadcast_goes_out_in_the_first_round_despite_a_membership_flood() -> None:
    node = flooded_node()
    node.broadcast_user(SILENCE)
    packets = gossip_packets(node)
    assert len(packets) == node.config.gossip_nodes
    # Every packet of the round carries the silence and still some membership news.
    for messages in packets:
        assert user_payloads(messages) == [SILENCE]
        assert any(isinstance(m, Alive) for m in messages)


def test_membership_news_fills_the_packet_when_no_user_broadcast_waits() -> None:
    node = flooded_node()
    alone = gossip_packets(node)[0]
    node_with_silence = flooded_node()
    node_with_silence.broadcast_user(SILENCE)
    shared = gossip_packets(node_with_silence)[0]
    alive_alone = sum(isinstance(m, Alive) for m in alone)
    alive_shared = sum(isinstance(m, Alive) for m in shared)
    # Without a waiting silence nothing is reserved; with one, about half the packet is.
    assert alive_alone > alive_shared >= alive_alone // 2 - 1


def test_delegate_broadcast_also_gets_room() -> None:
    delegate = QueueDelegate()
    node = flooded_node(delegate)
    delegate.queued.append(SILENCE)
    packets = gossip_packets(node)
    assert user_payloads(packets[0]) == [SILENCE]
    assert delegate.queued == []
