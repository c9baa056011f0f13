"""Alertmanager's cluster counters: kept as plain integers by `cluster.replication` and
`cluster.peer`, exposed by `daemon.metrics` under Alertmanager's names at scrape time."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
import trio.testing

from cluster import replication
from cluster.core import Address
from cluster.core.broadcasts import BroadcastQueue
from cluster.core.node import PushPullCompleted
from cluster.peer import _RECONNECT, _REFRESH, Peer, PeerCounters, PeerSettings
from cluster.replication import Part, Replicator
from cluster.testing import MemoryNetwork
from daemon.metrics import Metrics, register_cluster_metrics
from tests.cluster.test_tls import TIMEOUT_S as TLS_TIMEOUT_S
from tests.cluster.test_tls import free_port, tls_peer
from tests.cluster.test_tls import tls_config_file as shared_tls_config_file
from tests.cluster.test_tls import until as tls_until
from tests.unit.cluster_shell.test_peer_memory import addresses, start, until
from tests.unit.cluster_shell.test_replication import LwwRegister, record

NOW = datetime(2024, 1, 1, tzinfo=UTC)
GOSSIP_LIMIT_BYTES = 1400
GOSSIP_OVERHEAD_BYTES = 3


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


def make() -> tuple[Replicator, LwwRegister]:
    replicator = Replicator(lambda: NOW, cluster_size=lambda: 3)
    silences = LwwRegister()
    replicator.add_channel("sil", silences)
    replicator.add_channel("nfl", LwwRegister())
    return replicator, silences


def test_messages_are_counted_by_type_and_size() -> None:
    replicator, silences = make()
    silences.values["a"] = 1
    state = replicator.local_state()
    assert replicator.messages.sent == {"full_state": 1, "update": 0}
    assert replicator.messages.sent_bytes == {"full_state": len(state), "update": 0}

    remote = replication.encode_full_state([Part("sil", record("b", 1))])
    replicator.merge_remote_state(remote)
    update = replication.encode_part(Part("nfl", record("g", 2)))
    replicator.notify_user_msg(update)
    replicator.notify_user_msg(b"\xff\xff")  # garbage still arrived: counted as received
    assert replicator.messages.received == {"full_state": 1, "update": 2}
    assert replicator.messages.received_bytes == {"full_state": len(remote), "update": len(update) + 2}

    # Both merges changed state and were gossiped on, once per message handed out.
    sent = replicator.get_broadcasts(GOSSIP_OVERHEAD_BYTES, GOSSIP_LIMIT_BYTES)
    assert len(sent) == 2
    assert replicator.messages.sent["update"] == 2
    assert replicator.messages.sent_bytes["update"] == sum(map(len, sent))
    assert replicator.channels["sil"].counters.propagated == 1
    assert replicator.channels["nfl"].counters.propagated == 1
    replicator.notify_user_msg(update)  # old news: not propagated again
    assert replicator.channels["nfl"].counters.propagated == 1


def test_broadcasts_beyond_the_queue_bound_are_counted_as_pruned() -> None:
    replicator, _ = make()
    bound = BroadcastQueue(1).max_queued
    for version in range(bound + 5):
        replicator.channels["sil"].broadcast(record("k", version))
    assert replicator.queued_broadcasts == bound
    assert replicator.messages.pruned == 5


async def test_peer_counters_reach_the_exposition(autojump_clock: trio.testing.MockClock) -> None:
    network = MemoryNetwork(seed=5)
    async with trio.open_nursery() as nursery:
        replicas = [await start(nursery, network, i, addresses(2)) for i in range(2)]
        await until(lambda: all(len(r.peer.members()) == 2 for r in replicas), 3.0)
        first = replicas[0]
        metrics = Metrics()
        register_cluster_metrics(metrics, first.peer, first.replicator)

        def value(name: str, labels: dict[str, str] | None = None) -> float | None:
            return metrics.registry.get_sample_value(name, labels or {})

        # Probes run every second; each acked one is a ping sample for its target.
        await until(lambda: (value("alertmanager_cluster_pings_seconds_count", {"peer": "peer-1"}) or 0) >= 1, 5.0)
        assert value("alertmanager_cluster_pings_seconds_bucket", {"peer": "peer-1", "le": "0.5"}) >= 1
        assert value("alertmanager_cluster_pings_seconds_count", {"peer": "peer-0"}) is None  # never probes itself
        # Alive messages reach us by gossip and in every push/pull.
        assert value("alertmanager_cluster_alive_messages_total", {"peer": "peer-1"}) >= 1
        # memberlist's delegate counts every member that joins, ourselves included.
        assert value("alertmanager_cluster_peers_joined_total") == 2
        assert value("alertmanager_cluster_peers_left_total") == 0
        assert value("alertmanager_cluster_messages_received_total", {"msg_type": "full_state"}) >= 1
        assert value("alertmanager_cluster_messages_sent_total", {"msg_type": "full_state"}) >= 1

        first.add(b"silence-1")
        await until(lambda: b"silence-1" in replicas[1].state.items, 2.0)
        assert value("alertmanager_cluster_messages_sent_total", {"msg_type": "update"}) >= 1
        assert replicas[1].replicator.messages.received["update"] >= 1

        # The other side goes away without a word; reconnection attempts fail while it is cut off.
        network.partition(["10.0.0.1"], ["10.0.0.2"])
        await until(lambda: len(first.peer.members()) == 1, 60.0)
        assert value("alertmanager_cluster_peers_left_total") == 1
        await until(lambda: first.peer.counters.reconnections_failed >= 1, 30.0)
        assert value("alertmanager_cluster_reconnections_failed_total") == first.peer.counters.reconnections_failed
        network.heal()
        await until(lambda: len(first.peer.members()) == 2, 30.0)
        # Back by a reconnect, a refresh, or the other side's refutation, whichever comes first
        # (trio's scheduling order decides, so the test does not pick one).
        counters = first.peer.counters
        assert value("alertmanager_cluster_reconnections_total") == counters.reconnections
        assert value("alertmanager_cluster_refresh_join_total") == counters.refresh_joins
        assert value("alertmanager_cluster_refresh_join_failed_total") == counters.refresh_joins_failed
        assert value("alertmanager_cluster_peers_joined_total") == 3
        nursery.cancel_scope.cancel()


async def test_join_outcomes_land_in_the_counter_of_their_reason() -> None:
    peer = Peer(PeerSettings(listen_address="10.0.0.1:9094"), MemoryNetwork().transport("10.0.0.1", 9094))
    gone, listed, unasked = Address("10.0.0.2", 9094), Address("10.0.0.3", 9094), Address("10.0.0.4", 9094)
    outcomes = [(gone, _RECONNECT, True), (gone, _RECONNECT, False), (listed, _REFRESH, False), (listed, _REFRESH, True)]
    for address, reason, ok in outcomes:
        peer._join_reasons[address] = reason
        peer._handle_event(PushPullCompleted(address, join=True, ok=ok))
    peer._handle_event(PushPullCompleted(unasked, join=True, ok=True))  # the initial join: neither
    assert peer.counters == PeerCounters(
        reconnections=1, reconnections_failed=1, refresh_joins=1, refresh_joins_failed=1
    )


def test_propagated_gossip_is_reported_per_state() -> None:
    replicator, _ = make()
    metrics = Metrics()

    class IdlePeer:
        name = "idle"
        counters = PeerCounters()
        transport = None  # not TLS: no alertmanager_tls_transport_* families

        def cluster_size(self) -> int:
            return 1

        def failed_peers(self) -> list[object]:
            return []

        def position(self) -> int:
            return 0

        @property
        def node(self) -> object:
            raise RuntimeError("not running")

    register_cluster_metrics(metrics, IdlePeer(), replicator)
    replicator.notify_user_msg(replication.encode_part(Part("sil", record("a", 1))))
    replicator.notify_user_msg(replication.encode_part(Part("sil", record("a", 2))))
    replicator.notify_user_msg(replication.encode_part(Part("nfl", record("g", 1))))
    assert metrics.registry.get_sample_value("alertmanager_silences_gossip_messages_propagated_total") == 2
    assert metrics.registry.get_sample_value("alertmanager_nflog_gossip_messages_propagated_total") == 1


async def test_oversized_sends_are_timed_and_failures_counted_per_key(
    autojump_clock: trio.testing.MockClock,
) -> None:
    network = MemoryNetwork(seed=6)
    async with trio.open_nursery() as nursery:
        replicas = [await start(nursery, network, i, addresses(2)) for i in range(2)]
        await until(lambda: all(len(r.peer.members()) == 2 for r in replicas), 3.0)
        first = replicas[0]
        metrics = Metrics()
        register_cluster_metrics(metrics, first.peer, first.replicator)

        def value(name: str, key: str) -> float | None:
            return metrics.registry.get_sample_value(name, {"key": key})

        duration_count = "alertmanager_oversize_gossip_message_duration_seconds_count"
        failures = "alertmanager_oversized_gossip_message_failure_total"
        assert value(duration_count, "sil") == 0
        assert value(failures, "sil") == 0  # pre-created for every channel

        big = b"x" * (replication.OVERSIZED_PART_BYTES + 1)
        first.add(big)
        await until(lambda: big in replicas[1].state.items, 2.0)
        await until(lambda: value(duration_count, "sil") == 1, 1.0)
        assert value(failures, "sil") == 0

        # Cut off but not yet declared dead: the direct send to it fails.
        network.partition(["10.0.0.1"], ["10.0.0.2"])
        first.add(big + b"y")
        await until(lambda: value(duration_count, "sil") == 2, 30.0)
        assert value(failures, "sil") == 1
        nursery.cancel_scope.cancel()


RULES_FILE = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "tocsin.rules.yml"


def test_every_metric_the_deploy_rules_use_is_exposed() -> None:
    """The alerting rules shipped in deploy/prometheus alert on series tocsin really has."""
    replicator, _ = make()
    metrics = Metrics()

    class IdlePeer:
        name = "idle"
        counters = PeerCounters()
        transport = None  # not TLS: no alertmanager_tls_transport_* families

        def cluster_size(self) -> int:
            return 1

        def failed_peers(self) -> list[object]:
            return []

        def position(self) -> int:
            return 0

        @property
        def node(self) -> object:
            raise RuntimeError("not running")

    register_cluster_metrics(metrics, IdlePeer(), replicator)
    exposed = {
        line.split("{")[0].split(" ")[0]
        for line in metrics.exposition().decode().splitlines()
        if line and not line.startswith("#")
    }
    used = set(re.findall(r"\b(?:alertmanager|tocsin)_[a-z_]+", RULES_FILE.read_text()))
    assert "tocsin_storage_write_failures_total" in used
    assert sorted(used - exposed) == []


tls_config_file = shared_tls_config_file  # the fixture, under the name tests request


async def test_tls_transport_counts_bytes_connections_and_failures(tls_config_file: Path) -> None:
    port_a = free_port()
    a, _ = tls_peer(tls_config_file, "a", port_a, [])
    b, _ = tls_peer(tls_config_file, "b", 0, [f"127.0.0.1:{port_a}"])
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await nursery.start(b.run)
        await tls_until(lambda: len(a.members()) == 2 and len(b.members()) == 2, TLS_TIMEOUT_S)
        # b joined a by a push/pull stream, then both probe each other with packets.
        await tls_until(lambda: a.transport.tls_counters.packet_bytes_received > 0, TLS_TIMEOUT_S)
        a_counts, b_counts = a.transport.tls_counters, b.transport.tls_counters
        assert b_counts.streams_sent >= 1 and a_counts.streams_received >= 1
        assert b_counts.packet_bytes_sent > 0
        metrics = Metrics()
        register_cluster_metrics(metrics, a, a.replicator)
        exposed = metrics.registry.get_sample_value
        assert exposed("alertmanager_tls_transport_packet_bytes_received_total") == a_counts.packet_bytes_received
        assert exposed("alertmanager_tls_transport_stream_connections_received_total") == a_counts.streams_received
        assert b_counts.write_errors == {}
        assert "alertmanager_tls_transport_write_errors" not in metrics.exposition().decode()

        # Nobody listens on a fresh port: the dial fails and counts against its connection type.
        nowhere = Address("127.0.0.1", free_port())
        with pytest.raises(OSError):
            await b.transport.send_packet(nowhere, b"ping")
        with pytest.raises(OSError):
            await b.transport.connect(nowhere)
        assert b_counts.write_errors == {"packet": 1, "stream": 1}
        b_metrics = Metrics()
        register_cluster_metrics(b_metrics, b, b.replicator)
        written = b_metrics.registry.get_sample_value
        assert written("alertmanager_tls_transport_write_errors_total", {"connection_type": "stream"}) == 1
        nursery.cancel_scope.cancel()
