"""A deterministic packet simulator driving real `cluster.core.Node`s on a virtual clock.

One event heap orders everything: node timers (each node's `next_deadline()`), datagrams,
stream requests and replies, and scenario actions. Virtual time is integer milliseconds and
is each node's monotonic clock; each node also has a *wall* clock (virtual time plus a skew
that scenarios can set and jump) which stamps its replicated writes. Every random draw comes
from generators split off one seed, so a seed reproduces a run exactly.

Datagrams suffer the `LinkFaults`; streams (TCP push/pull, TCP pings, reliable user
messages) are reliable but delayed, and vanish when the path is cut, so the core's own
deadline fails them, as a TCP connect into a partition would time out. A stream to a
crashed process on a live host is refused after one round trip.

The simulator also plays the part of Alertmanager's shell around memberlist: it joins the
configured peers at start and re-joins failed peers every reconnect interval, which is what
lets the two sides of a healed partition find each other again.

What happened is recorded in a `Trace` for the checkers, which live elsewhere and only read.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import random
from collections.abc import Callable
from typing import Final

from cluster.core import (
    Address,
    CoreConfig,
    EventKind,
    MemberEvent,
    Node,
    PacketOut,
    PushPullCompleted,
    StreamOut,
)
from cluster.core.config import tocsin_defaults
from simulations.faults import LinkFaults, Topology
from simulations.replicated import ReplicaState, Version

# Alertmanager's --cluster.reconnect-interval default: failed peers are re-joined this often.
RECONNECT_INTERVAL_MS: Final = 10_000
# The wall clocks start at a fixed, realistic epoch (2024-01-01T00:00:00Z) so runs repeat.
WALL_EPOCH_MS: Final = 1_704_067_200_000
# Nodes given in --cluster.peer by every node: a typical deployment lists a few seeds.
DEFAULT_SEED_PEERS: Final = 3
# Nodes start within this window (a rollout), not all in the same millisecond.
DEFAULT_START_SPREAD_MS: Final = 2_000
GOSSIP_PORT: Final = 9094

_TICK, _PACKET, _STREAM, _REPLY, _ACTION = range(5)


def node_address(index: int) -> Address:
    number = index + 1
    return Address(f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}", GOSSIP_PORT)


def node_name(index: int, generation: int = 0) -> str:
    return f"node-{index:04d}" if generation == 0 else f"node-{index:04d}-r{generation}"


@dataclasses.dataclass(slots=True)
class SimConfig:
    nodes: int
    seed: int
    core: CoreConfig = dataclasses.field(default_factory=tocsin_defaults)
    seed_peers: int = DEFAULT_SEED_PEERS
    start_spread_ms: int = DEFAULT_START_SPREAD_MS
    reconnect_interval_ms: int = RECONNECT_INTERVAL_MS
    # Start as a cluster that has run for a while (everybody knows everybody, gossip queues
    # drained) instead of replaying the join storm, which costs O(N^2) decodes.
    warm_start: bool = False


@dataclasses.dataclass(slots=True)
class Trace:
    """Everything the checkers may look at, appended in virtual-time order."""

    # (time, observer index, kind, member name, member incarnation)
    member_events: list[tuple[int, int, EventKind, str, int]] = dataclasses.field(default_factory=list)
    # (time, observer index, suspected member name)
    suspicions: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)
    # (member name, incarnation) -> when the first node suspected it: one entry per episode
    accusations: dict[tuple[str, int], int] = dataclasses.field(default_factory=dict)
    # (time, node index, channel, key, version) each time a node first holds a version
    applied: list[tuple[int, int, str, str, Version]] = dataclasses.field(default_factory=list)
    # (time, node index, channel, key, version) for each local write
    writes: list[tuple[int, int, str, str, Version]] = dataclasses.field(default_factory=list)
    # (time, node index, name) for crashes, restarts and graceful leaves
    crashes: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)
    restarts: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)
    # time-ordered notes of what the scenario did, for failure reports
    notes: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    # name -> [created, crashed or None]: when each process (one name) was running
    lifetimes: dict[str, list[int | None]] = dataclasses.field(default_factory=dict)
    # (start, end, nodes): windows in which a scenario impaired nodes beyond uniform loss
    # and delay (partitions, isolation, flapping, slowness); false-death checks skip them
    impaired: list[tuple[int, int, frozenset[int]]] = dataclasses.field(default_factory=list)
    # bytes and datagrams handed to the network, per node (streams count request + reply)
    bytes_sent: list[int] = dataclasses.field(default_factory=list)
    packets_sent: list[int] = dataclasses.field(default_factory=list)
    # of bytes_sent, what went over streams (push/pull, TCP pings, reliable user messages)
    stream_bytes_sent: list[int] = dataclasses.field(default_factory=list)


class Simulator:
    def __init__(self, config: SimConfig, faults: LinkFaults | None = None) -> None:
        self.config = config
        self.faults = faults or LinkFaults()
        self.topology = Topology()
        master = random.Random(config.seed)
        self.net_rng = random.Random(master.getrandbits(64))
        self.workload_rng = random.Random(master.getrandbits(64))
        self._node_seed_rng = random.Random(master.getrandbits(64))
        self.now = 0
        self.trace = Trace(
            bytes_sent=[0] * config.nodes,
            packets_sent=[0] * config.nodes,
            stream_bytes_sent=[0] * config.nodes,
        )
        self.nodes: list[Node] = []
        self.replicas: list[ReplicaState] = []
        self.generation = [0] * config.nodes
        self.wall_offset_ms = [0] * config.nodes
        self.started = [False] * config.nodes
        self._index_of: dict[Address, int] = {}
        self.name_index: dict[str, int] = {}
        self._heap: list[tuple[int, int, int, object, object, object]] = []
        self._order = 0
        self._scheduled_tick = [-1] * config.nodes
        self._suspected: list[frozenset[str]] = [frozenset()] * config.nodes
        # Alertmanager's failed-peer list per node, keyed by address (as its peer table is),
        # with the last name seen there; re-joined every reconnect interval.
        self._failed_peers: list[dict[Address, str]] = [{} for _ in range(config.nodes)]
        for index in range(config.nodes):
            self._index_of[node_address(index)] = index
            self._make_node(index)
        if config.warm_start:
            self._warm_start()
            return
        for index in range(config.nodes):
            start = self.net_rng.randrange(config.start_spread_ms) if config.start_spread_ms > 0 else 0
            self.at(start, functools.partial(self.start, index))

    def _warm_start(self) -> None:
        everyone = tuple(state for node in self.nodes for state in node.membership.push_states())
        for index, node in enumerate(self.nodes):
            node.membership.merge(everyone, self.now)
            # The one reach into the core's internals: a cluster that has run for a while
            # has long finished gossiping the news of everybody's arrival.
            node._member_broadcasts.reset()
            node.take_events()
            self.started[index] = True
            self._after(index)
            generation = self.generation[index]
            self.at(self.config.reconnect_interval_ms, functools.partial(self._reconnect, index, generation))

    # --- the nodes -------------------------------------------------------------------------

    def _make_node(self, index: int) -> None:
        name = node_name(index, self.generation[index])
        replica = ReplicaState(name, functools.partial(self.wall_ms, index), self._applied_by(index))
        node = Node(
            self.config.core,
            name,
            node_address(index),
            random.Random(self._node_seed_rng.getrandbits(64)),
            replica,
            now_ms=self.now,
        )
        replica.node = node
        self.trace.lifetimes[name] = [self.now, None]
        self.name_index[name] = index
        if index < len(self.nodes):
            self.nodes[index], self.replicas[index] = node, replica
        else:
            self.nodes.append(node)
            self.replicas.append(replica)
        self._suspected[index] = frozenset()
        self._failed_peers[index] = {}
        self._scheduled_tick[index] = -1

    def _applied_by(self, index: int) -> Callable[[str, str, Version], None]:
        def applied(channel: str, key: str, version: Version) -> None:
            self.trace.applied.append((self.now, index, channel, key, version))

        return applied

    def start(self, index: int) -> None:
        """The process starts: join the configured peers, then re-join failed ones forever.
        Like Alertmanager, the configured peers count as failed until they show up."""
        self.started[index] = True
        seeds = [node_address(s) for s in range(min(self.config.seed_peers, self.config.nodes)) if s != index]
        self._failed_peers[index] = {address: "" for address in seeds}
        if seeds:
            self.nodes[index].join(seeds, self.now)
        self._after(index)
        generation = self.generation[index]
        self.at(self.now + self.config.reconnect_interval_ms, lambda: self._reconnect(index, generation))

    def _reconnect(self, index: int, generation: int) -> None:
        if generation != self.generation[index] or index in self.topology.crashed:
            return
        failed = self._failed_peers[index]
        if failed:
            self.nodes[index].join(sorted(failed), self.now)
            self._after(index)
        self.at(self.now + self.config.reconnect_interval_ms, lambda: self._reconnect(index, generation))

    def wall_ms(self, index: int) -> int:
        return WALL_EPOCH_MS + self.now + self.wall_offset_ms[index]

    def is_up(self, index: int) -> bool:
        return self.started[index] and index not in self.topology.crashed

    def up_nodes(self) -> list[int]:
        return [i for i in range(self.config.nodes) if self.is_up(i)]

    def name_of(self, index: int) -> str:
        return self.nodes[index].name

    # --- scenario commands -------------------------------------------------------------------

    def at(self, when_ms: int, action: Callable[[], object]) -> None:
        self._push(max(when_ms, self.now), _ACTION, action, None, None)

    def note(self, text: str) -> None:
        self.trace.notes.append((self.now, text))

    def crash(self, index: int) -> None:
        self.topology.crashed.add(index)
        self.trace.lifetimes[self.name_of(index)][1] = self.now
        self.trace.crashes.append((self.now, index, self.name_of(index)))
        self.note(f"crash {self.name_of(index)}")

    def restart(self, index: int, new_name: bool = True) -> None:
        """Start a crashed node again with empty state. Alertmanager picks a new random
        name on every start, hence `new_name`."""
        self.topology.crashed.discard(index)
        if new_name:
            self.generation[index] += 1
        self._make_node(index)
        self.trace.restarts.append((self.now, index, self.name_of(index)))
        self.note(f"restart {self.name_of(index)}")
        self.start(index)

    def impair(self, nodes: set[int] | frozenset[int], start_ms: int, end_ms: int) -> None:
        """Declare that a scenario hurts `nodes` between the two times (for the checkers)."""
        self.trace.impaired.append((start_ms, end_ms, frozenset(nodes)))

    def leave(self, index: int) -> None:
        self.nodes[index].leave(self.now)
        self._after(index)

    def write(self, index: int, channel: str, key: str) -> Version:
        version = self.replicas[index].write(channel, key)
        self.trace.writes.append((self.now, index, channel, key, version))
        self._after(index)
        return version

    # --- the event loop ----------------------------------------------------------------------

    def _push(self, when: int, kind: int, a: object, b: object, c: object) -> None:
        self._order += 1
        heapq.heappush(self._heap, (when, self._order, kind, a, b, c))

    def run_until(self, end_ms: int) -> None:
        heap = self._heap
        while heap and heap[0][0] <= end_ms:
            when, _, kind, a, b, c = heapq.heappop(heap)
            self.now = when
            if kind == _TICK:
                index = a
                assert isinstance(index, int)
                if self._scheduled_tick[index] != when or not self.is_up(index):
                    continue  # superseded by a later reschedule, or the node is down
                self._scheduled_tick[index] = -1
                self.nodes[index].tick(when)
                self._after(index)
            elif kind == _PACKET:
                self._deliver_packet(a, b, c)
            elif kind == _STREAM:
                self._deliver_stream(a, b, c)
            elif kind == _REPLY:
                self._deliver_reply(a, b, c)
            else:
                assert callable(a)
                a()
        self.now = max(self.now, end_ms)

    def _deliver_packet(self, src: object, dst: object, data: object) -> None:
        assert isinstance(src, int) and isinstance(dst, int) and isinstance(data, bytes)
        if not self.is_up(dst) or not self.topology.can_reach(src, dst, self.now):
            return
        problems = self.nodes[dst].receive_packet(node_address(src), data, self.now)
        if problems:
            raise AssertionError(f"{self.name_of(dst)} could not decode a packet: {problems}")
        self._after(dst)

    def _deliver_stream(self, src: object, dst: object, out: object) -> None:
        assert isinstance(src, int) and isinstance(out, StreamOut)
        if dst is None or (isinstance(dst, int) and not self.is_up(dst)):
            crashed_process_on_live_host = dst is not None
            if crashed_process_on_live_host and self.topology.can_reach(src, dst, self.now):  # type: ignore[arg-type]
                self._push(self.now + self._delay(src, src), _REPLY, src, out.request_id, None)
            return
        assert isinstance(dst, int)
        if not self.topology.can_reach(src, dst, self.now):
            return
        reply = self.nodes[dst].receive_stream(node_address(src), out.data, self.now)
        self._after(dst)
        if out.expects_reply and reply is not None:
            self._count(dst, reply)
            self.trace.stream_bytes_sent[dst] += len(reply)
            self._push(self.now + self._delay(dst, src), _REPLY, src, out.request_id, (dst, reply))

    def _deliver_reply(self, requester: object, request_id: object, payload: object) -> None:
        assert isinstance(requester, int) and isinstance(request_id, int)
        if not self.is_up(requester):
            return
        node = self.nodes[requester]
        if payload is None:
            node.stream_failed(request_id, self.now, "connection refused")
        else:
            assert isinstance(payload, tuple)
            responder, reply = payload
            if not self.topology.can_reach(responder, requester, self.now):
                return  # the connection died; the core's deadline fails the stream
            node.receive_stream_reply(request_id, reply, self.now)
        self._after(requester)

    def _delay(self, src: int, dst: int) -> int:
        delay = self.faults.delay.draw(self.net_rng)
        slow = self.topology.slow
        if slow:
            for node in (src, dst):
                extra = slow.get(node)
                if extra:
                    delay += self.net_rng.randrange(extra + 1)
        return delay

    def _count(self, index: int, data: bytes) -> None:
        self.trace.bytes_sent[index] += len(data)
        self.trace.packets_sent[index] += 1

    def _after(self, index: int) -> None:
        """Flush what node `index` wants to send and report, and re-arm its timer."""
        node = self.nodes[index]
        faults = self.faults
        rng = self.net_rng
        for out in node.take_outgoing():
            self._count(index, out.data)
            dst = self._index_of.get(out.dest)
            if isinstance(out, PacketOut):
                if dst is None or (faults.loss and rng.random() < faults.loss):
                    continue
                copies = 2 if faults.duplicate and rng.random() < faults.duplicate else 1
                for _ in range(copies):
                    delay = self._delay(index, dst)
                    if faults.reorder and rng.random() < faults.reorder:
                        delay += rng.randrange(1, faults.reorder_hold_ms + 1)
                    self._push(self.now + delay, _PACKET, index, dst, out.data)
            else:
                self.trace.stream_bytes_sent[index] += len(out.data)
                delay = self._delay(index, dst if dst is not None else index)
                self._push(self.now + delay, _STREAM, index, dst, out)
        events = node.take_events()
        if events:
            self._record_events(index, events)
        suspicions = node.membership.suspicions
        if suspicions or self._suspected[index]:
            current = frozenset(suspicions)
            for name in sorted(current - self._suspected[index]):
                self.trace.suspicions.append((self.now, index, name))
                incarnation = node.membership.by_name[name].incarnation
                self.trace.accusations.setdefault((name, incarnation), self.now)
            self._suspected[index] = current
        deadline = max(node.next_deadline(), self.now)
        scheduled = self._scheduled_tick[index]
        if scheduled == -1 or deadline < scheduled:
            self._scheduled_tick[index] = deadline
            self._push(deadline, _TICK, index, None, None)

    def _record_events(self, index: int, events: list[MemberEvent | PushPullCompleted]) -> None:
        failed = self._failed_peers[index]
        for event in events:
            if not isinstance(event, MemberEvent):
                continue
            member = event.member
            self.trace.member_events.append((self.now, index, event.kind, member.name, member.incarnation))
            if member.name == self.nodes[index].name:
                continue
            if event.kind in (EventKind.DEAD, EventKind.LEFT):
                failed[member.address] = member.name
            elif event.kind == EventKind.JOINED:
                failed.pop(member.address, None)
