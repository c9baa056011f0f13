"""Table tests for the Lifeguard formulas, awareness and the broadcast queue. Expected
values were printed by memberlist's own functions (Go, Debian's memberlist source)."""

from __future__ import annotations

import pytest

from cluster.core import codec
from cluster.core.awareness import Awareness, scale_timeout_ms
from cluster.core.broadcasts import BroadcastQueue, retransmit_limit, transmit_limit
from cluster.core.config import alertmanager_defaults, with_peer_count
from cluster.core.node import push_pull_scale_ms
from cluster.core.probe import awareness_delta_after_failure
from cluster.core.suspicion import (
    Suspicion,
    expected_confirmations,
    remaining_suspicion_ms,
    suspicion_timeout_ms,
)


@pytest.mark.parametrize(
    ("cluster_size", "expected_ms"),
    [(0, 4000), (1, 4000), (3, 4000), (10, 4000), (11, 4164), (100, 8000), (1000, 12000)],
)
def test_suspicion_timeout_scales_with_log10_of_cluster_size(cluster_size: int, expected_ms: int) -> None:
    assert suspicion_timeout_ms(4, cluster_size, 1000) == expected_ms


@pytest.mark.parametrize(
    ("confirmations", "k", "expected_ms"),
    [(1, 2, 10881), (2, 2, 3500), (1, 3, 13500), (2, 3, 7650), (3, 3, 3500)],
)
def test_remaining_suspicion_shrinks_with_confirmations(confirmations: int, k: int, expected_ms: int) -> None:
    # min 4 s, max 24 s, 500 ms already elapsed
    assert remaining_suspicion_ms(confirmations, k, 500, 4000, 24000) == expected_ms


@pytest.mark.parametrize(
    ("cluster_size", "expected"), [(0, 0), (1, 4), (3, 4), (9, 4), (10, 8), (99, 8), (100, 12)]
)
def test_retransmit_limit(cluster_size: int, expected: int) -> None:
    assert retransmit_limit(4, cluster_size) == expected


@pytest.mark.parametrize(
    ("cluster_size", "expected_ms"),
    [(3, 60000), (32, 60000), (33, 120000), (64, 120000), (65, 180000), (128, 180000)],
)
def test_push_pull_interval_scaling(cluster_size: int, expected_ms: int) -> None:
    assert push_pull_scale_ms(60000, cluster_size) == expected_ms


def test_expected_confirmations_is_zero_in_tiny_clusters() -> None:
    assert expected_confirmations(4, 3) == 0
    assert expected_confirmations(4, 4) == 2
    assert expected_confirmations(4, 50) == 2


def test_suspicion_deadline_moves_with_independent_confirmations_only() -> None:
    suspicion = Suspicion.start("a", k=2, min_ms=4000, max_ms=24000, now_ms=1000)
    assert suspicion.deadline_ms == 25000
    assert not suspicion.confirm("a", 1500)  # the accuser itself is not independent
    assert suspicion.confirm("b", 1500)
    # Go: 10881 ms remain 500 ms after the start, so the whole timeout is now 11381 ms.
    assert suspicion.deadline_ms == 1000 + 11381
    assert not suspicion.confirm("b", 1600)
    assert suspicion.confirm("c", 2000)
    assert suspicion.deadline_ms == 1000 + 4000
    assert not suspicion.confirm("d", 2100)  # k reached


def test_suspicion_without_expected_confirmations_uses_minimum() -> None:
    assert Suspicion.start("a", k=0, min_ms=4000, max_ms=24000, now_ms=0).deadline_ms == 4000


def test_awareness_is_clamped_and_scales_timeouts() -> None:
    awareness = Awareness(max_multiplier=8)
    awareness.apply_delta(-1)
    assert awareness.score == 0
    awareness.apply_delta(100)
    assert awareness.score == 7
    assert awareness.scale_timeout_ms(1000) == 8000
    assert scale_timeout_ms(500, 2) == 1500


@pytest.mark.parametrize(("expected", "got", "delta"), [(0, 0, 1), (3, 3, 0), (3, 1, 2), (2, 5, 0)])
def test_awareness_delta_after_failed_probe(expected: int, got: int, delta: int) -> None:
    assert awareness_delta_after_failure(expected, got) == delta


def test_alertmanager_defaults() -> None:
    config = alertmanager_defaults()
    assert (config.probe_interval_ms, config.probe_timeout_ms, config.gossip_interval_ms) == (1000, 500, 200)
    assert (config.push_pull_interval_ms, config.retransmit_mult, config.suspicion_mult) == (60000, 4, 4)
    assert (config.suspicion_max_timeout_mult, config.awareness_max_multiplier) == (6, 8)
    assert (config.indirect_checks, config.gossip_nodes, config.udp_buffer_size) == (3, 3, 1400)
    scaled = with_peer_count(config, 10)
    assert (scaled.gossip_nodes, scaled.user_retransmit_mult) == (5, 5)
    assert with_peer_count(config, 2).gossip_nodes == 3


def test_queue_prefers_least_sent_then_largest_then_newest() -> None:
    queue = BroadcastQueue(retransmit_mult=1)
    queue.queue(b"a" * 10)
    queue.queue(b"b" * 30)
    queue.queue(b"c" * 10)
    # budget for two messages of 30 + 10 with overhead 2 each
    assert queue.take(2, 44, cluster_size=100) == [b"b" * 30, b"c" * 10]
    assert queue.take(2, 44, cluster_size=100) == [b"a" * 10, b"b" * 30]


def test_queue_retires_messages_at_the_transmit_limit() -> None:
    queue = BroadcastQueue(retransmit_mult=2)  # limit 2 * ceil(log10(4)) = 2 for 3 members
    queue.queue(b"x")
    assert queue.take(0, 100, 3) == [b"x"]
    assert queue.take(0, 100, 3) == [b"x"]
    assert queue.take(0, 100, 3) == []


def test_transmit_floor_raises_the_limit_only_where_the_formula_is_lower() -> None:
    small = BroadcastQueue(retransmit_mult=5, min_transmits=10)
    small.queue(b"x")
    # 5 * ceil(log10(10)) = 5 for 9 members; the floor makes it 10.
    assert sum(len(small.take(0, 100, 9)) for _ in range(20)) == 10
    large = BroadcastQueue(retransmit_mult=5, min_transmits=10)
    large.queue(b"x")
    # 5 * ceil(log10(101)) = 15 for 100 members, above the floor.
    assert sum(len(large.take(0, 100, 100)) for _ in range(20)) == 15
    # In a cluster of 3 the floor asks for at most two copies per other member (4), below
    # the formula's 5; at 5 members it gives 8.
    assert [transmit_limit(5, 10, n) for n in (3, 5, 9, 10)] == [5, 8, 10, 10]


def test_named_broadcast_replaces_older_news_about_the_same_member() -> None:
    queue = BroadcastQueue(retransmit_mult=4)
    queue.queue(b"suspect b", name="b")
    queue.queue(b"alive c", name="c")
    queue.queue(b"alive b inc 2", name="b")
    assert sorted(queue.take(0, 1000, 3)) == [b"alive b inc 2", b"alive c"]
    assert queue.take_finished() == ["b"]


def test_queue_is_bounded() -> None:
    queue = BroadcastQueue(retransmit_mult=4, max_queued=3)
    for i in range(5):
        queue.queue(bytes([i]))
    assert len(queue) == 3


def test_budget_accounts_for_compound_overhead() -> None:
    queue = BroadcastQueue(retransmit_mult=4)
    queue.queue(b"m" * 1397)
    limit = 1400 - codec.COMPOUND_HEADER_OVERHEAD
    assert queue.take(codec.COMPOUND_OVERHEAD, limit, 3) == []
    queue.queue(b"m" * 1396)
    assert queue.take(codec.COMPOUND_OVERHEAD, limit, 3) == [b"m" * 1396]
