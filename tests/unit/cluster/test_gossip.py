"""Whole-protocol behaviour of the sans-IO core on an in-memory network and virtual clock."""

from __future__ import annotations

import pytest

from cluster.core import codec
from cluster.core.members import EventKind
from cluster.core.messages import NodeStateType, Suspect
from cluster.core.node import PushPullCompleted
from tests.unit.cluster.simnet import SimNet


def names(net: SimNet) -> set[str]:
    return {n.name for n in net.nodes}


def test_three_nodes_join_and_exchange_state() -> None:
    net = SimNet(3, seed=1)
    net.join_all_to(0)
    net.run_until(2_000)
    for index in range(3):
        assert net.alive_names(index) == names(net)
    # The join push/pull carried delegate state both ways.
    assert b"state-1" in net.delegates[0].merged
    assert b"state-0" in net.delegates[1].merged
    completed = [e for e in net.events[1] if isinstance(e, PushPullCompleted)]
    assert completed and completed[0].ok and completed[0].join
    assert sorted(net.member_events(2, EventKind.JOINED)) == sorted(names(net))


@pytest.mark.parametrize("seed", [2, 3])
def test_twenty_nodes_converge_through_gossip(seed: int) -> None:
    net = SimNet(20, seed=seed)
    net.join_all_to(0)
    # Joiners only pushed/pulled with node 0; the rest must come from gossip.
    net.run_until(10_000)
    for index in range(20):
        assert net.alive_names(index) == names(net), index


def test_silent_node_is_suspected_then_declared_dead_by_all() -> None:
    net = SimNet(6, seed=4)
    net.join_all_to(0)
    net.run_until(5_000)
    net.down.add(5)
    crashed = net.nodes[5].name
    # Bound: one probe round per node (6 s) + indirect probing + max suspicion timeout
    # (6 x 4 s = 24 s, shrinking with confirmations) + gossip spread.
    net.run_until(5_000 + 35_000)
    for index in range(5):
        assert net.view(index)[crashed] == NodeStateType.DEAD, index
        assert crashed in net.member_events(index, EventKind.DEAD)
        assert net.alive_names(index) == names(net) - {crashed}
    # Nobody else was ever declared dead.
    for index in range(5):
        assert set(net.member_events(index, EventKind.DEAD)) == {crashed}


def test_detection_is_faster_with_confirmations_than_the_maximum() -> None:
    net = SimNet(8, seed=5)
    net.join_all_to(0)
    net.run_until(5_000)
    net.down.add(7)
    crashed = net.nodes[7].name
    net.run_until(5_000 + 20_000)  # well under the unconfirmed maximum of 24 s + probing
    assert all(net.view(i)[crashed] == NodeStateType.DEAD for i in range(7))


def test_suspected_node_refutes_and_stays_alive() -> None:
    net = SimNet(4, seed=6)
    net.join_all_to(0)
    net.run_until(3_000)
    target = net.nodes[3]
    before = target.membership.local.incarnation
    # A false accusation (as a lossy path would cause) reaches node 0 and spreads.
    accusation = codec.encode_message(Suspect(before, target.name, net.nodes[1].name))
    net.nodes[0].receive_packet(net.address(1), accusation, net.now)
    assert net.view(0)[target.name] == NodeStateType.SUSPECT
    net.run_until(net.now + 30_000)
    assert target.membership.local.incarnation > before
    for index in range(4):
        assert net.view(index)[target.name] == NodeStateType.ALIVE
        assert target.name not in net.member_events(index, EventKind.DEAD)
        assert net.nodes[index].member(target.name).incarnation > before  # type: ignore[union-attr]
    assert target.health_score >= 0


def test_leave_is_propagated_and_completes() -> None:
    net = SimNet(5, seed=7)
    net.join_all_to(0)
    net.run_until(3_000)
    leaver = net.nodes[2]
    leaver.leave(net.now)
    net._flush(2)
    assert not leaver.leave_complete
    net.run_until(net.now + 2_000)
    assert leaver.leave_complete
    for index in (0, 1, 3, 4):
        assert net.view(index)[leaver.name] == NodeStateType.LEFT
        assert leaver.name in net.member_events(index, EventKind.LEFT)
        assert leaver.name not in net.alive_names(index)


def test_user_broadcast_reaches_every_node() -> None:
    net = SimNet(10, seed=8)
    net.join_all_to(0)
    net.run_until(5_000)
    net.nodes[4].broadcast_user(b"silence-1")
    net.run_until(net.now + 3_000)
    for index in range(10):
        if index != 4:
            assert b"silence-1" in net.delegates[index].received, index


def test_oversized_user_broadcast_is_refused() -> None:
    net = SimNet(1, seed=9)
    with pytest.raises(ValueError, match="packet budget"):
        net.nodes[0].broadcast_user(b"x" * 1400)


def test_partition_heals_into_one_cluster() -> None:
    net = SimNet(6, seed=10)
    net.join_all_to(0)
    net.run_until(5_000)
    for index in (3, 4, 5):
        net.partition[index] = 1
    net.run_until(net.now + 60_000)
    assert net.alive_names(0) == {net.nodes[i].name for i in (0, 1, 2)}
    assert net.alive_names(4) == {net.nodes[i].name for i in (3, 4, 5)}
    net.partition.clear()
    # The sides forgot each other (dead members are reaped), so as Alertmanager does,
    # healing relies on re-joining the configured peer.
    for index in (3, 4, 5):
        net.nodes[index].join([net.address(0)], net.now)
        net._flush(index)
    net.run_until(net.now + 30_000)
    for index in range(6):
        assert net.alive_names(index) == names(net), index


def test_same_seed_same_run() -> None:
    def run() -> list[object]:
        net = SimNet(5, seed=11, loss=0.05)
        net.join_all_to(0)
        net.run_until(10_000)
        return [sorted(net.view(i).items()) for i in range(5)] + [n.take_outgoing() for n in net.nodes]

    assert run() == run()


def test_converges_under_packet_loss() -> None:
    net = SimNet(10, seed=12, loss=0.05)
    net.join_all_to(0)
    net.run_until(20_000)
    for index in range(10):
        assert net.alive_names(index) == names(net), index
