"""The membership table: who is in the cluster, in which state, at which incarnation.

Precedence rules (memberlist's, which Go peers apply too, so we must agree with them):

* An `alive` message wins over what we know only with a strictly higher incarnation, except
  that it revives a member that *left* (even at an equal incarnation it may not, but a new
  address for a left member is accepted). About ourselves, any alive message that differs
  from our own record is refuted.
* `suspect` applies to an alive member at an equal or higher incarnation; for a member
  already suspected it counts as an independent confirmation (Lifeguard). About ourselves
  it is refuted.
* `dead` applies at an equal or higher incarnation to a member not already dead or left; if
  the member announced it itself (`node == from`) the member *left*. About ourselves it is
  refuted unless we are leaving.
* Refuting means bumping our incarnation above the accusation and gossiping `alive`.

Every change of news about a member is queued for gossip under the member's name, so newer
news replaces older news in the broadcast queue.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import random
from collections.abc import Callable, Sequence
from typing import NamedTuple

from cluster.core import codec
from cluster.core.awareness import Awareness
from cluster.core.broadcasts import BroadcastQueue
from cluster.core.config import CoreConfig
from cluster.core.messages import (
    VSN_LENGTH,
    Alive,
    Dead,
    NodeStateType,
    PushNodeState,
    Suspect,
)
from cluster.core.suspicion import Suspicion, suspicion_window

IPV4_BYTES = 4
IPV6_BYTES = 16


class Address(NamedTuple):
    host: str
    port: int


def host_from_bytes(raw: bytes) -> str:
    """A Go `net.IP` as text; IPv4-mapped IPv6 addresses print as IPv4, as Go does."""
    if len(raw) == IPV4_BYTES:
        return str(ipaddress.IPv4Address(raw))
    if len(raw) == IPV6_BYTES:
        address = ipaddress.IPv6Address(raw)
        return str(address.ipv4_mapped or address)
    return raw.hex()  # not an IP at all; keep something printable and unique


def bytes_from_host(host: str) -> bytes:
    return ipaddress.ip_address(host).packed


class EventKind(enum.Enum):
    JOINED = "joined"
    UPDATED = "updated"
    LEFT = "left"
    DEAD = "dead"


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    """A snapshot of one member, safe to hand to the application."""

    name: str
    address: Address
    meta: bytes
    incarnation: int
    state: NodeStateType
    vsn: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class MemberEvent:
    kind: EventKind
    member: Member


@dataclasses.dataclass(slots=True)
class NodeState:
    name: str
    addr: bytes
    port: int
    meta: bytes | None
    incarnation: int
    state: NodeStateType
    state_change_ms: int
    vsn: tuple[int, ...] = ()

    @property
    def dead_or_left(self) -> bool:
        return self.state in (NodeStateType.DEAD, NodeStateType.LEFT)

    @property
    def protocol_max(self) -> int:
        return self.vsn[1] if len(self.vsn) > 1 else 0

    @property
    def address(self) -> Address:
        return Address(host_from_bytes(self.addr), self.port)

    def snapshot(self) -> Member:
        return Member(self.name, self.address, self.meta or b"", self.incarnation, self.state, self.vsn)


def _same_meta(a: bytes | None, b: bytes | None) -> bool:
    return (a or b"") == (b or b"")


class Membership:
    """The node table plus suspicion timers; all news it produces goes to `broadcasts`."""

    def __init__(
        self,
        config: CoreConfig,
        local_name: str,
        local_port: int,
        rng: random.Random,
        awareness: Awareness,
        broadcasts: BroadcastQueue,
        emit: Callable[[MemberEvent], None],
    ) -> None:
        self.config = config
        self.local_name = local_name
        self.local_port = local_port
        self.rng = rng
        self.awareness = awareness
        self.broadcasts = broadcasts
        self.emit = emit
        # Probe order lives in this list (shuffled on every wrap); lookups go through the map.
        self.nodes: list[NodeState] = []
        self.by_name: dict[str, NodeState] = {}
        self.suspicions: dict[str, Suspicion] = {}
        self.incarnation = 0
        self.left = False
        # Told the node name of every alive message that passes the version checks (memberlist's
        # alive delegate; Alertmanager counts them per peer). A plain callback: no I/O here.
        self.on_alive: Callable[[str], None] | None = None

    # --- queries -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """memberlist's node-count estimate: every entry, dead ones included until reaped."""
        return len(self.nodes)

    @property
    def local(self) -> NodeState:
        return self.by_name[self.local_name]

    def members(self) -> list[Member]:
        return [n.snapshot() for n in self.nodes if not n.dead_or_left]

    def k_random(self, k: int, exclude: Callable[[NodeState], bool]) -> list[NodeState]:
        """Up to k distinct random nodes not excluded; 3n draws, as memberlist does, so a
        small table is searched exhaustively in practice."""
        chosen: list[NodeState] = []
        count = len(self.nodes)
        for _ in range(3 * count):
            if len(chosen) >= k:
                break
            node = self.nodes[self.rng.randrange(count)]
            if exclude(node) or any(node is c for c in chosen):
                continue
            chosen.append(node)
        return chosen

    def push_states(self) -> tuple[PushNodeState, ...]:
        return tuple(
            PushNodeState(n.name, n.addr, n.port, n.meta, n.incarnation, n.state, n.vsn) for n in self.nodes
        )

    # --- broadcasting ----------------------------------------------------------------------

    def _broadcast(self, name: str, message: Alive | Suspect | Dead) -> None:
        self.broadcasts.queue(codec.encode_message(message), name=name)

    def _alive_message(self, node: NodeState) -> Alive:
        return Alive(node.incarnation, node.name, node.addr, node.port, node.meta, node.vsn)

    def refute(self, me: NodeState, accused_incarnation: int) -> None:
        self.incarnation += 1
        if accused_incarnation >= self.incarnation:
            self.incarnation = accused_incarnation + 1
        me.incarnation = self.incarnation
        # Being accused is a sign that we ourselves are slow or badly connected.
        self.awareness.apply_delta(1)
        self._broadcast(me.name, self._alive_message(me))

    # --- the three kinds of news ------------------------------------------------------------

    def alive(self, message: Alive, now_ms: int, bootstrap: bool = False) -> None:
        is_local = message.node == self.local_name
        if self.left and is_local:
            return
        vsn = message.vsn
        if len(vsn) >= 3 and (vsn[0] == 0 or vsn[1] == 0 or vsn[0] > vsn[1]):
            return  # nonsensical protocol versions
        if len(vsn) < VSN_LENGTH:
            return  # Alertmanager's alive delegate drops messages without versions
        if self.on_alive is not None:
            self.on_alive(message.node)
        state = self.by_name.get(message.node)
        updates_address = False
        if state is None:
            state = NodeState(
                message.node, message.addr, message.port, message.meta, 0, NodeStateType.DEAD, now_ms, vsn
            )
            self.by_name[message.node] = state
            # A random position keeps the expected time until this node is probed low.
            offset = self.rng.randrange(len(self.nodes) + 1)
            self.nodes.append(state)
            self.nodes[offset], self.nodes[-1] = self.nodes[-1], self.nodes[offset]
        elif state.addr != message.addr or state.port != message.port:
            if state.state != NodeStateType.LEFT:
                return  # conflicting address for a live name: keep what we have
            updates_address = True

        if message.incarnation <= state.incarnation and not is_local and not updates_address:
            return
        if message.incarnation < state.incarnation and is_local:
            return
        self.suspicions.pop(message.node, None)
        old_state, old_meta = state.state, state.meta
        if is_local and not bootstrap:
            if (
                message.incarnation == state.incarnation
                and _same_meta(message.meta, state.meta)
                and message.vsn == state.vsn
            ):
                return
            self.refute(state, message.incarnation)
        else:
            self._broadcast(message.node, message)
            state.vsn = vsn
            state.incarnation = message.incarnation
            state.meta = message.meta
            state.addr = message.addr
            state.port = message.port
            if state.state != NodeStateType.ALIVE:
                state.state = NodeStateType.ALIVE
                state.state_change_ms = now_ms
        if old_state in (NodeStateType.DEAD, NodeStateType.LEFT):
            self.emit(MemberEvent(EventKind.JOINED, state.snapshot()))
        elif not _same_meta(old_meta, state.meta):
            self.emit(MemberEvent(EventKind.UPDATED, state.snapshot()))

    def suspect(self, message: Suspect, now_ms: int) -> None:
        state = self.by_name.get(message.node)
        if state is None or message.incarnation < state.incarnation:
            return
        suspicion = self.suspicions.get(message.node)
        if suspicion is not None:
            if suspicion.confirm(message.from_node, now_ms):
                self._broadcast(message.node, message)
            return
        if state.state != NodeStateType.ALIVE:
            return
        if state.name == self.local_name:
            self.refute(state, message.incarnation)
            return
        self._broadcast(message.node, message)
        state.incarnation = message.incarnation
        state.state = NodeStateType.SUSPECT
        state.state_change_ms = now_ms
        k, minimum, maximum = suspicion_window(self.config, self.size)
        self.suspicions[message.node] = Suspicion.start(message.from_node, k, minimum, maximum, now_ms)

    def dead(self, message: Dead, now_ms: int) -> None:
        state = self.by_name.get(message.node)
        if state is None or message.incarnation < state.incarnation:
            return
        self.suspicions.pop(message.node, None)
        if state.dead_or_left:
            return
        if state.name == self.local_name and not self.left:
            self.refute(state, message.incarnation)
            return
        self._broadcast(message.node, message)
        state.incarnation = message.incarnation
        left = message.node == message.from_node
        state.state = NodeStateType.LEFT if left else NodeStateType.DEAD
        state.state_change_ms = now_ms
        self.emit(MemberEvent(EventKind.LEFT if left else EventKind.DEAD, state.snapshot()))

    def merge(self, remote: Sequence[PushNodeState], now_ms: int) -> None:
        """Apply a peer's node table from push/pull. A peer's "dead" is only a suspicion to
        us: we give the member the chance to refute before believing it."""
        for node in remote:
            port = node.port or self.local_port
            if node.state == NodeStateType.ALIVE:
                self.alive(Alive(node.incarnation, node.name, node.addr, port, node.meta, node.vsn), now_ms)
            elif node.state == NodeStateType.LEFT:
                self.dead(Dead(node.incarnation, node.name, node.name), now_ms)
            elif node.state in (NodeStateType.DEAD, NodeStateType.SUSPECT):
                self.suspect(Suspect(node.incarnation, node.name, self.local_name), now_ms)

    # --- timers --------------------------------------------------------------------------

    def next_suspicion_deadline(self) -> int | None:
        return min((s.deadline_ms for s in self.suspicions.values()), default=None)

    def expire_suspicions(self, now_ms: int) -> None:
        expired = sorted(name for name, s in self.suspicions.items() if s.deadline_ms <= now_ms)
        for name in expired:
            self.suspicions.pop(name, None)
            state = self.by_name.get(name)
            if state is not None and state.state == NodeStateType.SUSPECT:
                self.dead(Dead(state.incarnation, name, self.local_name), now_ms)

    def reap_and_shuffle(self, now_ms: int) -> None:
        """Forget members dead or left for longer than the gossip-to-the-dead time, then
        shuffle the probe order (done each time the probe index wraps)."""
        keep: list[NodeState] = []
        for node in self.nodes:
            expired = now_ms - node.state_change_ms > self.config.gossip_to_the_dead_time_ms
            if node.dead_or_left and expired and node.name != self.local_name:
                del self.by_name[node.name]
                self.suspicions.pop(node.name, None)
            else:
                keep.append(node)
        self.rng.shuffle(keep)
        self.nodes = keep
