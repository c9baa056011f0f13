"""An in-memory network of sans-IO gossip nodes on a virtual integer clock (no trio).

Packets take 1-5 ms; a "down" node neither sends nor receives anything (a crashed or
partitioned host). Streams are delivered as a request and, when expected, a reply.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cluster.core.config import CoreConfig
from cluster.core.members import Address, EventKind, MemberEvent
from cluster.core.messages import NodeStateType
from cluster.core.node import Event, Node, PacketOut, StreamOut

MIN_LATENCY_MS = 1
MAX_LATENCY_MS = 5


@dataclass
class RecordingDelegate:
    state: bytes = b""
    received: list[bytes] = field(default_factory=list)
    merged: list[bytes] = field(default_factory=list)
    # Alertmanager's channels re-broadcast every new message they merge (epidemic
    # fan-out); memberlist itself sends a user broadcast only from its origin.
    node: Node | None = None

    def local_state(self) -> bytes:
        return self.state

    def merge_remote_state(self, data: bytes) -> None:
        self.merged.append(data)

    def notify_user_msg(self, data: bytes) -> None:
        if data not in self.received and self.node is not None:
            self.node.broadcast_user(data)
        self.received.append(data)

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        return []


class SimNet:
    def __init__(self, size: int, seed: int, config: CoreConfig | None = None, loss: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.config = config or CoreConfig()
        self.loss = loss
        self.now = 0
        self.nodes: list[Node] = []
        self.delegates: list[RecordingDelegate] = []
        self.events: list[list[Event]] = []
        self.down: set[int] = set()
        self.partition: dict[int, int] = {}  # node index -> side; different sides cannot talk
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._order = 0
        for index in range(size):
            self.add_node(index)

    def add_node(self, index: int) -> Node:
        delegate = RecordingDelegate(state=f"state-{index}".encode())
        node = Node(
            self.config,
            f"node-{index:03d}",
            self.address(index),
            random.Random(self.rng.getrandbits(64)),
            delegate,
            now_ms=self.now,
        )
        delegate.node = node
        self.nodes.append(node)
        self.delegates.append(delegate)
        self.events.append([])
        self._flush(index)
        return node

    @staticmethod
    def address(index: int) -> Address:
        return Address(f"10.0.{index // 250}.{index % 250 + 1}", 9094)

    def index_of(self, address: Address) -> int | None:
        for index in range(len(self.nodes)):
            if self.address(index) == address:
                return index
        return None

    def _can_talk(self, a: int, b: int) -> bool:
        if a in self.down or b in self.down:
            return False
        return self.partition.get(a, 0) == self.partition.get(b, 0)

    def _schedule(self, delay: int, action: Callable[[], None]) -> None:
        self._order += 1
        heapq.heappush(self._queue, (self.now + delay, self._order, action))

    def _latency(self) -> int:
        return self.rng.randint(MIN_LATENCY_MS, MAX_LATENCY_MS)

    def _flush(self, index: int) -> None:
        node = self.nodes[index]
        for out in node.take_outgoing():
            if index in self.down:
                continue
            dest = self.index_of(out.dest)
            if isinstance(out, PacketOut):
                if dest is None or self.rng.random() < self.loss:
                    continue
                self._schedule(self._latency(), self._deliver_packet(index, dest, out.data))
            elif isinstance(out, StreamOut):
                self._schedule(self._latency(), self._deliver_stream(index, dest, out))
        self.events[index].extend(node.take_events())

    def _deliver_packet(self, src: int, dest: int, data: bytes) -> Callable[[], None]:
        def deliver() -> None:
            if self._can_talk(src, dest):
                problems = self.nodes[dest].receive_packet(self.address(src), data, self.now)
                assert problems == [], problems
                self._flush(dest)

        return deliver

    def _deliver_stream(self, src: int, dest: int | None, out: StreamOut) -> Callable[[], None]:
        def deliver() -> None:
            if dest is None or not self._can_talk(src, dest):
                self.nodes[src].stream_failed(out.request_id, self.now, "connection refused")
                self._flush(src)
                return
            reply = self.nodes[dest].receive_stream(self.address(src), out.data, self.now)
            self._flush(dest)
            if out.expects_reply:

                def answer() -> None:
                    if reply is None or not self._can_talk(src, dest):
                        self.nodes[src].stream_failed(out.request_id, self.now, "no reply")
                    else:
                        self.nodes[src].receive_stream_reply(out.request_id, reply, self.now)
                    self._flush(src)

                self._schedule(self._latency(), answer)

        return deliver

    def run_until(self, end_ms: int) -> None:
        while True:
            next_tick = min((n.next_deadline(), i) for i, n in enumerate(self.nodes) if i not in self.down)
            next_packet = self._queue[0][0] if self._queue else end_ms + 1
            when = min(next_tick[0], next_packet)
            if when > end_ms:
                self.now = end_ms
                return
            self.now = max(self.now, when)
            if next_packet <= next_tick[0]:
                _, _, action = heapq.heappop(self._queue)
                action()
            else:
                index = next_tick[1]
                self.nodes[index].tick(self.now)
                self._flush(index)

    def join_all_to(self, seed_index: int = 0) -> None:
        for index, node in enumerate(self.nodes):
            if index != seed_index:
                node.join([self.address(seed_index)], self.now)
                self._flush(index)

    # --- views -------------------------------------------------------------------------

    def view(self, index: int) -> dict[str, NodeStateType]:
        """What node `index` believes about everybody it knows."""
        return {n.name: n.state for n in self.nodes[index].membership.nodes}

    def alive_names(self, index: int) -> set[str]:
        return {m.name for m in self.nodes[index].members() if m.state == NodeStateType.ALIVE}

    def member_events(self, index: int, kind: EventKind) -> list[str]:
        return [e.member.name for e in self.events[index] if isinstance(e, MemberEvent) and e.kind == kind]
