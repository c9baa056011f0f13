"""The daemon's cluster glue (`daemon.cluster_glue`): silences and the notification log as
Alertmanager-compatible replicated states, and replicas wired through them.

Unit tests pin the conversions and merge rules; the virtual-time tests run two or three real
`Peer`s on `cluster.testing.MemoryNetwork`, each with its own `Silences` and
`NotificationLog`, as the composition root wires them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing

from cluster.peer import Peer, PeerSettings, core_config
from cluster.replication import Channel, Replicator, decode_part, split_delimited
from cluster.testing import MemoryNetwork
from daemon import wire
from daemon.cluster_glue import (
    NFLOG_BATCH_MAX_ENTRIES,
    NflogBroadcaster,
    NflogState,
    SilenceState,
    connect_states,
    silence_from_wire,
    silence_to_wire,
)
from daemon.matchers import MatchType
from daemon.nflog import NotificationLog, decode_delimited_stream, encode_delimited
from daemon.silences import MatcherSpec, Silence, SilenceMatcher, SilenceRequest, Silences
from daemon.storage import DurableLog
from notify.context import NotificationLogEntry

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def a_silence(silence_id: str = "a1", updated: datetime = NOW, comment: str = "disk") -> Silence:
    return Silence(
        id=silence_id,
        matchers=(SilenceMatcher("job", MatchType.EQUAL, "node"), SilenceMatcher("dev", MatchType.REGEX, "sd[a-c]")),
        starts_at=NOW,
        ends_at=NOW + HOUR,
        updated_at=updated,
        created_by="ops",
        comment=comment,
    )


def an_entry(group: str, at: datetime = NOW, firing: frozenset[int] = frozenset({7})) -> NotificationLogEntry:
    return NotificationLogEntry(
        group_key=f'{{}}:{{group="{group}"}}',
        receiver_name="hook",
        integration="webhook",
        index=0,
        firing_alerts=firing,
        resolved_alerts=frozenset(),
        timestamp=at,
        expires_at=at + 4 * HOUR,
    )


# --- conversions and merge rules ---------------------------------------------------------------


def test_silence_round_trips_through_alertmanagers_mesh_silence() -> None:
    silence = a_silence()
    message = silence_to_wire(silence, NOW + 2 * HOUR)
    assert message.silence.matchers == (
        wire.WireMatcher(wire.MATCHER_EQUAL, "job", "node"),
        wire.WireMatcher(wire.MATCHER_REGEXP, "dev", "sd[a-c]"),
    )
    decoded = wire.decode_silences(wire.encode_silences([message]))
    assert silence_from_wire(decoded[0]) == (silence, NOW + 2 * HOUR)


def test_a_pre_016_silence_takes_its_author_and_text_from_the_first_comment() -> None:
    legacy = wire.MeshSilence(
        wire.WireSilence(
            id="old",
            matchers=(wire.WireMatcher(wire.MATCHER_NOT_REGEXP, "env", "dev|test"),),
            starts_at=NOW,
            ends_at=NOW + HOUR,
            updated_at=NOW,
            comments=(wire.WireComment("alice", "maintenance", NOW), wire.WireComment("bob", "later", NOW)),
        ),
        NOW + HOUR,
    )
    silence, _ = silence_from_wire(legacy)
    assert (silence.created_by, silence.comment) == ("alice", "maintenance")
    assert silence.matchers == (SilenceMatcher("env", MatchType.NOT_REGEX, "dev|test"),)


def test_silence_merge_is_last_writer_wins_and_skips_what_it_cannot_use() -> None:
    silences = Silences()
    state = SilenceState(silences)
    newer = silence_to_wire(a_silence(updated=NOW + timedelta(minutes=5), comment="newer"), NOW + 5 * HOUR)
    older = silence_to_wire(a_silence(updated=NOW, comment="older"), NOW + 5 * HOUR)
    assert state.merge(wire.encode_silences([newer]), NOW) is True
    assert state.merge(wire.encode_silences([older]), NOW) is False
    assert state.merge(wire.encode_silences([newer]), NOW) is False  # idempotent
    stored = silences.get("a1")
    assert stored is not None and stored.comment == "newer"

    expired = silence_to_wire(a_silence("gone"), NOW - timedelta(seconds=1))
    bad_regex = wire.MeshSilence(
        wire.WireSilence(
            id="bad",
            matchers=(wire.WireMatcher(wire.MATCHER_REGEXP, "x", "(unclosed"),),
            starts_at=NOW,
            ends_at=NOW + HOUR,
            updated_at=NOW,
        ),
        NOW + HOUR,
    )
    unknown_type = wire.MeshSilence(
        wire.WireSilence(id="odd", matchers=(wire.WireMatcher(9, "x", "y"),), updated_at=NOW), NOW + HOUR
    )
    good = silence_to_wire(a_silence("b2"), NOW + HOUR)
    assert state.merge(wire.encode_silences([expired, bad_regex, unknown_type, good]), NOW) is True
    assert sorted(s.id for s in silences.all()) == ["a1", "b2"]
    assert state.rejected == 2
    with pytest.raises(ValueError):
        state.merge(b"\x05\x0a", NOW)  # a record cut short


def test_snapshot_is_every_silence_as_delimited_mesh_silences() -> None:
    silences = Silences()
    silences.merge(a_silence("x"), NOW + HOUR, NOW)
    silences.merge(a_silence("y"), NOW + HOUR, NOW)
    decoded = wire.decode_silences(SilenceState(silences).snapshot())
    assert sorted(message.silence.id for message in decoded) == ["x", "y"]


def test_nflog_merge_persists_what_it_took(tmp_path: Path) -> None:
    durable = DurableLog(tmp_path, "nflog")
    durable.load()
    nflog = NotificationLog()
    state = NflogState(nflog, durable)
    data = encode_delimited(an_entry("a")) + encode_delimited(an_entry("b"))
    assert state.merge(data, NOW) is True
    assert state.merge(data, NOW) is False
    trio.run(durable.commit)
    durable.close()
    reloaded = DurableLog(tmp_path, "nflog").load()
    assert sorted(decode_delimited_stream(record)[0][0].group_key for record in reloaded) == [
        '{}:{group="a"}',
        '{}:{group="b"}',
    ]


def test_local_changes_are_broadcast_and_merged_ones_are_not() -> None:
    replicator = Replicator(wall_clock=lambda: NOW)
    silences, nflog = Silences(), NotificationLog()
    connect_states(replicator, silences, nflog)
    silences.merge(a_silence("from-peer"), NOW + HOUR, NOW)
    assert replicator.queued_broadcasts == 0
    request = SilenceRequest(id="", matchers=(MatcherSpec("job", MatchType.EQUAL, "api"),), starts_at=NOW, ends_at=NOW + HOUR)
    created = silences.set(request, NOW)
    broadcasts = replicator.get_broadcasts(0, 1400)
    assert len(broadcasts) == 1
    part = decode_part(broadcasts[0])
    assert part.key == "sil"
    assert [m.silence.id for m in wire.decode_silences(part.data)] == [created]


# --- batching of notification-log broadcasts ------------------------------------------------------


class RecordingChannel(Channel):
    def __init__(self) -> None:
        self.key = "nfl"
        self.sent: list[bytes] = []

    def broadcast(self, data: bytes) -> None:
        self.sent.append(data)


async def test_nflog_writes_are_batched_for_one_window(autojump_clock: trio.testing.MockClock) -> None:
    channel = RecordingChannel()
    broadcaster = NflogBroadcaster(channel, window_seconds=0.2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(broadcaster.run)
        await trio.testing.wait_all_tasks_blocked()
        broadcaster.add(encode_delimited(an_entry("a")))
        await trio.sleep(0.1)
        broadcaster.add(encode_delimited(an_entry("b")))
        assert channel.sent == []
        await trio.sleep(0.15)
        # Two entries fit a gossip packet: one message each, as Alertmanager gossips them.
        assert [len(split_delimited(message)) for message in channel.sent] == [1, 1]
        channel.sent.clear()
        for index in range(20):  # a burst too big for gossip becomes one TCP message
            broadcaster.add(encode_delimited(an_entry(f"g{index}")))
        await trio.sleep(0.25)
        assert [len(split_delimited(message)) for message in channel.sent] == [20]
        channel.sent.clear()
        for index in range(NFLOG_BATCH_MAX_ENTRIES):  # a flood is cut into bounded batches at once
            broadcaster.add(encode_delimited(an_entry(f"f{index}")))
        assert [len(split_delimited(message)) for message in channel.sent] == [NFLOG_BATCH_MAX_ENTRIES]
        nursery.cancel_scope.cancel()


# --- replicas on an in-memory network, in virtual time ------------------------------------------------


class Replica:
    def __init__(self, network: MemoryNetwork, index: int, hosts: list[str], clock: Callable[[], datetime]) -> None:
        self.silences = Silences()
        self.nflog = NotificationLog()
        replicator = Replicator(wall_clock=clock)
        *_, self.broadcaster = connect_states(replicator, self.silences, self.nflog)
        settings = PeerSettings(
            listen_address=f"{hosts[index]}:9094",
            known_peers=tuple(f"{host}:9094" for host in hosts),
            name=f"r{index}",
            core=core_config(
                len(hosts),
                gossip_interval=timedelta(milliseconds=200),
                push_pull_interval=timedelta(seconds=5),
                tcp_timeout=timedelta(seconds=2),
                probe_timeout=timedelta(milliseconds=500),
                probe_interval=timedelta(seconds=1),
            ),
            reconnect_interval_s=1.0,
        )
        self.peer = Peer(settings, network.transport(hosts[index], 9094), replicator, rng=random.Random(index))

    async def start(self, nursery: trio.Nursery) -> None:
        await nursery.start(self.peer.run)
        nursery.start_soon(self.broadcaster.run)


def wall_clock() -> datetime:
    return NOW + timedelta(seconds=trio.current_time())


async def until(predicate: Callable[[], bool], limit_s: float) -> float:
    """Virtual seconds until `predicate` holds (fails after `limit_s`)."""
    started = trio.current_time()
    with trio.fail_after(limit_s):
        while not predicate():  # noqa: ASYNC110 - state changes in the peers' tasks
            await trio.sleep(0.01)
    return trio.current_time() - started


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


async def test_silences_and_a_burst_of_nflog_entries_reach_the_other_replicas(
    autojump_clock: trio.testing.MockClock,
) -> None:
    network = MemoryNetwork(seed=1)
    hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    replicas = [Replica(network, index, hosts, wall_clock) for index in range(3)]
    async with trio.open_nursery() as nursery:
        for replica in replicas:
            await replica.start(nursery)
        await until(lambda: all(r.peer.ready() and r.peer.cluster_size() == 3 for r in replicas), 10)
        assert [r.peer.position() for r in replicas] == [0, 1, 2]

        request = SilenceRequest(id="", matchers=(MatcherSpec("job", MatchType.EQUAL, "db"),), starts_at=NOW, ends_at=NOW + HOUR)
        created = replicas[0].silences.set(request, wall_clock())
        spread = await until(lambda: all(created in r.silences for r in replicas), 5)
        assert spread <= 0.5  # a couple of gossip rounds

        # 300 flushes finishing together, as after an outage: gossip alone would need
        # seconds; batched, they go over TCP within one gossip interval.
        for index in range(300):
            replicas[0].nflog.log(an_entry(f"g{index}", wall_clock()))
        spread = await until(lambda: all(len(r.nflog) == 300 for r in replicas), 5)
        assert spread <= 0.3
        nursery.cancel_scope.cancel()


async def test_silences_made_on_both_sides_of_a_partition_exist_everywhere_after_healing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    network = MemoryNetwork(seed=2)
    hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    replicas = [Replica(network, index, hosts, wall_clock) for index in range(3)]
    async with trio.open_nursery() as nursery:
        for replica in replicas:
            await replica.start(nursery)
        await until(lambda: all(r.peer.cluster_size() == 3 for r in replicas), 10)
        network.partition([hosts[0]], hosts[1:])

        def silence_on(replica: Replica, job: str) -> str:
            spec = MatcherSpec("job", MatchType.EQUAL, job)
            return replica.silences.set(SilenceRequest(id="", matchers=(spec,), starts_at=NOW, ends_at=NOW + 5 * HOUR), wall_clock())

        await trio.sleep(30)  # long enough for each side to declare the other dead
        assert replicas[0].peer.cluster_size() == 1
        left = silence_on(replicas[0], "alone")
        right = silence_on(replicas[2], "majority")
        await trio.sleep(5)
        assert right not in replicas[0].silences and left not in replicas[1].silences
        network.heal()
        await until(lambda: all(left in r.silences and right in r.silences for r in replicas), 60)
        await until(lambda: all(r.peer.cluster_size() == 3 for r in replicas), 60)
        nursery.cancel_scope.cancel()
