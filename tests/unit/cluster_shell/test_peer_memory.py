"""Peers on the in-memory network, in virtual time: join, settle, position, gossip of a
channel payload (small by UDP, oversized by TCP), push/pull repair, failure, leave,
encryption. Every timing bound below is virtual seconds under MockClock."""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
import trio
import trio.testing

from cluster import replication
from cluster.peer import Peer, PeerSettings
from cluster.replication import Replicator
from cluster.security import Keyring
from cluster.testing import MemoryNetwork

PORT = 9094
KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


class SetState:
    """A grow-only set of byte records: merge is union; changed when something was new."""

    def __init__(self) -> None:
        self.items: set[bytes] = set()

    def snapshot(self) -> bytes:
        return replication.encode_delimited(sorted(self.items))

    def merge(self, data: bytes, now: datetime) -> bool:
        new = set(replication.split_delimited(data)) - self.items
        self.items |= new
        return bool(new)


class Replica:
    def __init__(self, peer: Peer, state: SetState, replicator: Replicator) -> None:
        self.peer, self.state, self.replicator = peer, state, replicator

    def add(self, item: bytes) -> None:
        self.state.items.add(item)
        self.replicator.channels["sil"].broadcast(replication.encode_delimited([item]))


async def start(
    nursery: trio.Nursery,
    network: MemoryNetwork,
    index: int,
    peers: list[str],
    keyring: Keyring | None = None,
    **overrides: float,
) -> Replica:
    host = f"10.0.0.{index + 1}"
    state = SetState()
    replicator = Replicator(lambda: datetime(2024, 1, 1, tzinfo=UTC))
    replicator.add_channel("sil", state)
    settings = PeerSettings(
        listen_address=f"{host}:{PORT}",
        known_peers=tuple(peers),
        name=f"peer-{index}",
        keyring=keyring,
        **overrides,  # type: ignore[arg-type]
    )
    peer = Peer(settings, network.transport(host, PORT), replicator, rng=random.Random(index))
    await nursery.start(peer.run)
    return Replica(peer, state, replicator)


def addresses(count: int) -> list[str]:
    return [f"10.0.0.{i + 1}:{PORT}" for i in range(count)]


async def until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> float:
    """Virtual seconds until `predicate()` holds (checked every `step_s`, which bounds the
    measured time's resolution); fails after `timeout_s`."""
    start = trio.current_time()
    with trio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling state in virtual time costs nothing
            await trio.sleep(step_s)
    return trio.current_time() - start


@pytest.fixture
async def cluster3(autojump_clock: trio.testing.MockClock) -> AsyncIterator[tuple[MemoryNetwork, list[Replica]]]:
    network = MemoryNetwork(seed=1)
    async with trio.open_nursery() as nursery:
        replicas = [await start(nursery, network, i, addresses(3)) for i in range(3)]
        yield network, replicas
        nursery.cancel_scope.cancel()


async def test_three_peers_form_a_cluster_and_settle_quickly(cluster3: tuple[MemoryNetwork, list[Replica]]) -> None:
    _, replicas = cluster3
    took = await until(lambda: all(len(r.peer.members()) == 3 for r in replicas), 3.0)
    assert took < 3.0
    for replica in replicas:
        with trio.fail_after(1):
            await replica.peer.wait_ready()
        status = replica.peer.status()
        assert status["status"] == "ready"
        assert status["peers"] == [
            {"name": "peer-0", "address": "10.0.0.1:9094"},
            {"name": "peer-1", "address": "10.0.0.2:9094"},
            {"name": "peer-2", "address": "10.0.0.3:9094"},
        ]
    assert [r.peer.position() for r in replicas] == [0, 1, 2]


async def test_small_broadcast_reaches_every_peer_by_gossip(cluster3: tuple[MemoryNetwork, list[Replica]]) -> None:
    _, replicas = cluster3
    await until(lambda: all(len(r.peer.members()) == 3 for r in replicas), 3.0)
    replicas[0].add(b"silence-1")
    took = await until(lambda: all(b"silence-1" in r.state.items for r in replicas), 2.0, step_s=0.01)
    # Gossip goes out every 200 ms; one or two rounds are enough for three peers.
    assert took <= 0.5


async def test_oversized_broadcast_goes_over_tcp(cluster3: tuple[MemoryNetwork, list[Replica]]) -> None:
    network, replicas = cluster3
    await until(lambda: all(len(r.peer.members()) == 3 for r in replicas), 3.0)
    big = b"x" * 2000
    sent_before = network.packets_sent
    replicas[1].add(big)
    took = await until(lambda: all(big in r.state.items for r in replicas), 2.0, step_s=0.01)
    assert took < 0.2  # no waiting for a gossip round
    assert network.packets_sent - sent_before < 20
    assert replicas[1].replicator.channels["sil"].counters.oversized_queued == 1


async def test_push_pull_repairs_what_gossip_missed(autojump_clock: trio.testing.MockClock) -> None:
    network = MemoryNetwork(seed=2)
    async with trio.open_nursery() as nursery:
        a = await start(nursery, network, 0, addresses(2))
        # Written before the other replica exists: only push/pull can deliver it.
        a.state.items.add(b"old-entry")
        b = await start(nursery, network, 1, addresses(2))
        await until(lambda: b"old-entry" in b.state.items, 2.0)
        assert b.peer.ready()
        nursery.cancel_scope.cancel()


async def test_failed_peer_is_detected_and_position_moves_up(autojump_clock: trio.testing.MockClock) -> None:
    network = MemoryNetwork(seed=3)
    async with trio.open_nursery() as nursery:
        replicas = [await start(nursery, network, i, addresses(3)) for i in range(3)]
        await until(lambda: all(len(r.peer.members()) == 3 for r in replicas), 3.0)
        network.partition(["10.0.0.1"], ["10.0.0.2", "10.0.0.3"])
        # Probe 1 s, suspicion 4 * log10(3) -> at least 4 s, up to 6x without confirmations.
        took = await until(lambda: [m.name for m in replicas[1].peer.members()] == ["peer-1", "peer-2"], 40.0)
        assert 2.0 < took < 40.0
        assert replicas[1].peer.position() == 0
        assert replicas[2].peer.position() == 1
        assert ("10.0.0.1", PORT) in replicas[1].peer.failed_peers()
        network.heal()
        # Reconnect every 10 s brings it back.
        await until(lambda: all(len(r.peer.members()) == 3 for r in replicas), 30.0)
        nursery.cancel_scope.cancel()


async def test_graceful_leave_is_seen_by_others(cluster3: tuple[MemoryNetwork, list[Replica]]) -> None:
    _, replicas = cluster3
    await until(lambda: all(len(r.peer.members()) == 3 for r in replicas), 3.0)
    start_s = trio.current_time()
    await replicas[2].peer.leave()
    assert trio.current_time() - start_s < 10.0
    await until(lambda: len(replicas[0].peer.members()) == 2 and len(replicas[1].peer.members()) == 2, 2.0)


async def test_alone_peer_is_ready_at_once(autojump_clock: trio.testing.MockClock) -> None:
    network = MemoryNetwork()
    async with trio.open_nursery() as nursery:
        alone = await start(nursery, network, 0, [])
        assert alone.peer.ready()
        assert alone.peer.position() == 0
        nursery.cancel_scope.cancel()


async def test_unreachable_peers_settle_at_the_settle_timeout(autojump_clock: trio.testing.MockClock) -> None:
    network = MemoryNetwork()
    async with trio.open_nursery() as nursery:
        lonely = await start(nursery, network, 0, addresses(3), settle_timeout_s=5.0)
        took = await until(lonely.peer.ready, 10.0)
        assert 4.9 <= took <= 5.1
        nursery.cancel_scope.cancel()


async def test_encrypted_cluster_gossips_and_a_wrong_key_cannot_join(
    autojump_clock: trio.testing.MockClock,
) -> None:
    network = MemoryNetwork(seed=4)
    good = Keyring([KEY_A])
    async with trio.open_nursery() as nursery:
        a = await start(nursery, network, 0, addresses(3), keyring=good)
        b = await start(nursery, network, 1, addresses(3), keyring=Keyring([KEY_A, KEY_B[:16]]))
        intruder = await start(nursery, network, 2, addresses(3), keyring=Keyring([KEY_B]))
        await until(lambda: len(a.peer.members()) == 2 and len(b.peer.members()) == 2, 3.0)
        a.add(b"secret")
        await until(lambda: b"secret" in b.state.items, 2.0)
        await trio.sleep(5)
        assert [m.name for m in intruder.peer.members()] == ["peer-2"]
        assert b"secret" not in intruder.state.items
        assert intruder.peer.stream_errors > 0
        nursery.cancel_scope.cancel()


def test_keyring_file_round_trip(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "keys"
    path.write_text("# primary first\n" + base64.b64encode(KEY_A).decode() + "\n\n" + base64.b64encode(KEY_B[:16]).decode() + "\n")
    keyring = Keyring.from_file(path)
    # The first key encrypts; every key decrypts (rotation).
    assert Keyring([KEY_A]).decrypt_packet(keyring.encrypt_packet(b"hi")) == b"hi"
    assert keyring.decrypt_stream(Keyring([KEY_B[:16]]).encrypt_stream(b"yo")) == b"yo"
