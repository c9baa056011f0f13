"""Peers on real UDP and TCP sockets on 127.0.0.1 (different ports), in real time: form a
cluster of two and three, gossip a channel payload, push/pull a full state, settle, leave,
and encryption (a peer with the wrong key stays outside)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import trio

from cluster import replication
from cluster.core import CoreConfig
from cluster.peer import Peer, PeerSettings
from cluster.replication import Replicator
from cluster.security import Keyring
from cluster.transport import NetTransport

HOST = "127.0.0.1"
# Generous bounds for a loaded 2-core CI machine; typical values are far lower.
FORM_TIMEOUT_S = 10.0
GOSSIP_TIMEOUT_S = 5.0

pytestmark = pytest.mark.process


class SetState:
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

    @property
    def address(self) -> str:
        return f"{HOST}:{self.peer.bound.port}"

    def add(self, item: bytes) -> None:
        self.state.items.add(item)
        self.replicator.channels["sil"].broadcast(replication.encode_delimited([item]))


async def start(
    nursery: trio.Nursery, name: str, peers: list[str], keyring: Keyring | None = None
) -> Replica:
    state = SetState()
    replicator = Replicator(lambda: datetime.now(UTC))
    replicator.add_channel("sil", state)
    settings = PeerSettings(
        listen_address=f"{HOST}:0",
        known_peers=tuple(peers),
        name=name,
        keyring=keyring,
        # Probe faster than Alertmanager's defaults so the test does not idle.
        core=CoreConfig(probe_interval_ms=500, probe_timeout_ms=250),
        settle_timeout_s=30.0,
    )
    peer = Peer(settings, NetTransport(HOST, 0), replicator, rng=random.Random(name))
    await nursery.start(peer.run)
    return Replica(peer, state, replicator)


async def until(predicate: Callable[[], bool], timeout_s: float) -> float:
    start = trio.current_time()
    with trio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 - the state changes in other tasks, no event to wait on
            await trio.sleep(0.02)
    return trio.current_time() - start


async def test_two_peers_form_settle_and_push_pull_state() -> None:
    async with trio.open_nursery() as nursery:
        a = await start(nursery, "a", [])
        a.state.items.add(b"written-before-b-existed")
        assert a.peer.ready()  # alone: nobody to wait for
        b = await start(nursery, "b", [a.address])
        await until(lambda: len(a.peer.members()) == 2 and len(b.peer.members()) == 2, FORM_TIMEOUT_S)
        with trio.fail_after(FORM_TIMEOUT_S):
            await b.peer.wait_ready()
        assert b"written-before-b-existed" in b.state.items
        assert [a.peer.position(), b.peer.position()] == [0, 1]
        nursery.cancel_scope.cancel()


async def test_three_peers_gossip_and_leave() -> None:
    async with trio.open_nursery() as nursery:
        first = await start(nursery, "p0", [])
        others = [await start(nursery, f"p{i}", [first.address]) for i in (1, 2)]
        replicas = [first, *others]
        await until(lambda: all(len(r.peer.members()) == 3 for r in replicas), FORM_TIMEOUT_S)
        status = replicas[2].peer.status()
        assert [p["name"] for p in status["peers"]] == ["p0", "p1", "p2"]  # type: ignore[attr-defined]
        assert status["peers"][0]["address"] == first.address  # type: ignore[index]

        replicas[1].add(b"small")
        replicas[2].add(b"L" * 3000)  # oversized: sent over TCP
        await until(lambda: all({b"small", b"L" * 3000} <= r.state.items for r in replicas), GOSSIP_TIMEOUT_S)

        await replicas[0].peer.leave(timeout_s=5.0)
        await until(lambda: all(len(r.peer.members()) == 2 for r in replicas[1:]), GOSSIP_TIMEOUT_S)
        assert [r.peer.position() for r in replicas[1:]] == [0, 1]
        nursery.cancel_scope.cancel()


async def test_encrypted_peers_talk_and_a_wrong_key_stays_out() -> None:
    key = Keyring([bytes(range(16))])
    async with trio.open_nursery() as nursery:
        a = await start(nursery, "a", [], keyring=key)
        b = await start(nursery, "b", [a.address], keyring=key)
        await until(lambda: len(a.peer.members()) == 2 and len(b.peer.members()) == 2, FORM_TIMEOUT_S)
        a.add(b"encrypted gossip")
        await until(lambda: b"encrypted gossip" in b.state.items, GOSSIP_TIMEOUT_S)

        stranger = await start(nursery, "c", [a.address], keyring=Keyring([bytes(range(1, 17))]))
        plain = await start(nursery, "d", [a.address])
        await trio.sleep(2.0)
        assert [m.name for m in a.peer.members()] == ["a", "b"]
        assert [m.name for m in stranger.peer.members()] == ["c"]
        assert [m.name for m in plain.peer.members()] == ["d"]
        assert not stranger.state.items and not plain.state.items
        nursery.cancel_scope.cancel()


def free_port() -> int:
    import socket

    while True:
        with socket.socket() as tcp:
            tcp.bind((HOST, 0))
            port = int(tcp.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((HOST, port))
            except OSError:
                continue
        return port


async def test_fresh_cluster_started_together_is_ready_within_three_seconds() -> None:
    # Every replica lists all three (as a StatefulSet does) and they start at once.
    ports = [free_port() for _ in range(3)]
    everyone = [f"{HOST}:{port}" for port in ports]
    peers = []
    for index, port in enumerate(ports):
        settings = PeerSettings(
            listen_address=f"{HOST}:{port}", known_peers=tuple(everyone), name=f"r{index}", settle_timeout_s=60.0
        )
        peers.append(Peer(settings, NetTransport(HOST, port), Replicator(lambda: datetime.now(UTC))))
    async with trio.open_nursery() as nursery:
        started = trio.current_time()
        for peer in peers:
            nursery.start_soon(peer.run)
        await until(lambda: all(p.ready() and len(p.members()) == 3 for p in peers if p._node is not None)
                    and all(p._node is not None for p in peers), 3.0)
        assert trio.current_time() - started < 3.0
        assert sorted(p.position() for p in peers) == [0, 1, 2]
        nursery.cancel_scope.cancel()
