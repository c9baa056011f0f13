"""Eager user gossip (`CoreConfig.eager_gossip_spacing_ms`, on in tocsin's defaults): a queued
silence or nflog entry goes out in a gossip round of its own at once instead of waiting up to a
gossip interval, extra rounds stay `spacing` apart, and every message is still sent exactly as
many times as memberlist's transmit limit says."""

from __future__ import annotations

import random

import pytest

from cluster.core import codec
from cluster.core.broadcasts import transmit_limit
from cluster.core.config import (
    TOCSIN_EAGER_GOSSIP_SPACING_MS,
    CoreConfig,
    alertmanager_defaults,
    tocsin_defaults,
)
from cluster.core.members import Address
from cluster.core.messages import Alive
from cluster.core.node import Node, PacketOut
from tests.unit.cluster.delegates import QueueDelegate
from tests.unit.cluster.test_idle_gossip import PEER, SETTLE_MS, answer_pings, run_shell

SPACING_MS = TOCSIN_EAGER_GOSSIP_SPACING_MS
# Far enough from the next regular round that an eager round cannot be mistaken for it.
BEFORE_ROUND_MS = 120


def settled_node(config: CoreConfig, delegate: QueueDelegate | None = None) -> Node:
    """A node with one alive peer whose membership news has run out."""
    node = Node(config, "a", Address("10.0.0.1", 7946), random.Random(1), delegate, 0)
    node.receive_packet(
        PEER, codec.encode_message(Alive(1, "b", bytes([10, 0, 0, 2]), 7946, b"", Node.vsn())), 0
    )
    run_shell(node, SETTLE_MS)
    assert not node.has_broadcasts()
    return node


def carrying(packets: list[PacketOut], payload: bytes) -> list[PacketOut]:
    return [packet for packet in packets if payload in packet.data]


def step(node: Node, now: int) -> list[PacketOut]:
    """One wake-up of the shell at `now` (no earlier than the node asked); the packets sent."""
    node.tick(now)
    return answer_pings(node, now)


def quiet_moment(node: Node) -> int:
    """A time BEFORE_ROUND_MS before the next regular gossip round, with no probe in between."""
    now = node._next_gossip_ms - BEFORE_ROUND_MS
    while min(node._next_probe_ms, node._next_push_pull_ms) <= node._next_gossip_ms:
        run_shell(node, node._next_gossip_ms + 1, now)
        now = node._next_gossip_ms - BEFORE_ROUND_MS
    return now


def test_a_user_broadcast_goes_out_at_once() -> None:
    node = settled_node(tocsin_defaults())
    now = quiet_moment(node)
    node.broadcast_user(b"silence-1")
    assert node.next_deadline() <= now
    assert len(carrying(step(node, now), b"silence-1")) == 1


def test_without_eager_gossip_it_waits_for_the_round() -> None:
    node = settled_node(alertmanager_defaults())
    now = quiet_moment(node)
    node.broadcast_user(b"silence-1")
    assert node.next_deadline() == node._next_gossip_ms
    round_at = node._next_gossip_ms
    assert carrying(step(node, now), b"silence-1") == []
    assert len(carrying(step(node, round_at), b"silence-1")) == 1


def test_a_broadcast_queued_by_the_delegate_is_announced_by_the_shell() -> None:
    delegate = QueueDelegate()
    node = settled_node(tocsin_defaults(), delegate)
    now = quiet_moment(node)
    delegate.queued.append(b"nflog-entry")
    assert node.next_deadline() == node._next_gossip_ms  # the node cannot know yet
    node.user_broadcast_queued()  # what cluster.peer does when the Replicator queues
    assert node.next_deadline() <= now
    assert len(carrying(step(node, now), b"nflog-entry")) == 1


def test_eager_rounds_are_spaced() -> None:
    node = settled_node(tocsin_defaults())
    now = quiet_moment(node)
    node.broadcast_user(b"first")
    step(node, now)
    node.broadcast_user(b"second")
    assert node.next_deadline() == now + SPACING_MS
    assert carrying(step(node, now + SPACING_MS - 1), b"second") == []
    assert len(carrying(step(node, now + SPACING_MS), b"second")) == 1


@pytest.mark.parametrize(
    "config", [alertmanager_defaults(), tocsin_defaults()], ids=["alertmanager", "tocsin"]
)
def test_the_number_of_copies_is_the_transmit_limit(config: CoreConfig) -> None:
    """Sooner, not more: a 3-member node sends a message as often with eager rounds as without."""
    node = Node(config, "a", Address("10.0.0.1", 7946), random.Random(7), None, 0)
    for index, peer in enumerate((PEER, Address("10.0.0.3", 7946)), start=2):
        node.receive_packet(
            peer,
            codec.encode_message(Alive(1, f"m{index}", bytes([10, 0, 0, index]), 7946, b"", Node.vsn())),
            0,
        )
    run_shell(node, SETTLE_MS)
    node.broadcast_user(b"silence-1")
    _, sent = run_shell(node, SETTLE_MS * 2, SETTLE_MS)
    copies = len(carrying(sent, b"silence-1"))
    assert copies == transmit_limit(config.user_retransmit_mult, config.user_min_transmits, 3)
