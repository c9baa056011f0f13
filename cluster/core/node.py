"""The sans-IO gossip node: SWIM with Lifeguard, speaking memberlist's wire protocol.

Drive it like h11: feed it what arrives (`receive_packet`, `receive_stream`,
`receive_stream_reply`, `stream_failed`) and the time (`tick`), sleep until
`next_deadline()`, and after every call flush `take_outgoing()` (datagrams to send, streams
to open) and `take_events()` (membership changes, push/pull outcomes). It never reads a
clock; `now_ms` is a monotonic integer millisecond count chosen by the caller. Randomness
comes only from the injected `random.Random`, so a seed reproduces a whole run.

Outgoing streams carry a `request_id`; the shell opens a TCP connection, writes `data`,
and if `expects_reply` reads one stream message back (framed by
`codec.stream_message_length`) and hands it to `receive_stream_reply`, or reports
`stream_failed`. A stream not reported by its `deadline_ms` counts as failed.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from typing import Final, Protocol

from cluster.core import codec
from cluster.core.awareness import Awareness
from cluster.core.broadcasts import BroadcastQueue
from cluster.core.config import CoreConfig
from cluster.core.members import (
    Address,
    Member,
    MemberEvent,
    Membership,
    NodeState,
    bytes_from_host,
    host_from_bytes,
)
from cluster.core.messages import (
    DELEGATE_VERSION_CURRENT,
    DELEGATE_VERSION_MAX,
    DELEGATE_VERSION_MIN,
    PROTOCOL_VERSION_CURRENT,
    PROTOCOL_VERSION_MAX,
    PROTOCOL_VERSION_MIN,
    PROTOCOL_VERSION_WITH_CRC,
    PROTOCOL_VERSION_WITH_NACKS,
    Ack,
    Alive,
    Compress,
    CompressionType,
    Dead,
    ErrResp,
    IndirectPing,
    Nack,
    NodeStateType,
    PacketMessage,
    Ping,
    PushPull,
    StreamMessage,
    Suspect,
    UserPacket,
    UserStream,
)
from cluster.core.probe import ProbeRound, RelayedProbe, awareness_delta_after_failure

# TCP pings exist from protocol version 3 on.
PROTOCOL_VERSION_WITH_TCP_PING: Final = 3
# Above this many members, push/pull slows down (log2 scaling) to keep traffic bounded.
PUSH_PULL_SCALE_THRESHOLD: Final = 32
# Outgoing streams we wait on at once; memberlist refuses more than 128 concurrent
# push/pulls, and a shell that lost track of streams must not grow our memory.
MAX_PENDING_STREAMS: Final = 128
SEQ_NO_MODULUS: Final = 1 << 32
# memberlist's `compress` message around an empty LZW body (type byte, msgpack map of Algo
# and Buf); a body of up to 255 bytes keeps the same one-byte length.
COMPRESS_ENVELOPE_BYTES: Final = len(codec.encode_compress(Compress(CompressionType.LZW, b"")))
# Go's LZW writer emits a clear code, one code per phrase and an end code, none narrower.
LZW_MIN_CODE_BITS: Final = 9
LZW_FRAMING_CODES: Final = 2
BITS_PER_BYTE: Final = 8
# While user broadcasts wait, membership news may fill a packet only up to the room one
# gossiped user message needs: Alertmanager gossips a Part of at most half its packet (larger
# ones go over TCP), so that half of the buffer is kept for user messages.
USER_RESERVE_DIVISOR: Final = 2


class LocalState(Protocol):
    """The replicated state riding on gossip (Alertmanager's channels), owned by the
    application. Names follow memberlist's Delegate.

    A delegate may also define `has_broadcasts() -> bool` (see `BroadcastAware`): then the
    node skips gossip rounds, and sleeps through their deadlines, while neither it nor the
    delegate has anything to gossip. Without it every round runs, as in memberlist."""

    def local_state(self) -> bytes: ...

    def merge_remote_state(self, data: bytes) -> None: ...

    def notify_user_msg(self, data: bytes) -> None: ...

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]: ...


class BroadcastAware(Protocol):
    """The optional part of `LocalState`: whether `get_broadcasts` would return anything.
    A delegate that answers it must tell the shell when it queues a broadcast, so the
    shell can wake for the next gossip round (`next_deadline` moves earlier)."""

    def has_broadcasts(self) -> bool: ...


@dataclasses.dataclass(frozen=True, slots=True)
class PacketOut:
    dest: Address
    data: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class StreamOut:
    request_id: int
    dest: Address
    data: bytes
    expects_reply: bool
    deadline_ms: int


Outgoing = PacketOut | StreamOut


@dataclasses.dataclass(frozen=True, slots=True)
class PushPullCompleted:
    """A push/pull we started finished; `ok` means state went both ways (settle uses it)."""

    peer: Address
    join: bool
    ok: bool
    error: str = ""


Event = MemberEvent | PushPullCompleted


def compressed_size_lower_bound(size: int) -> int:
    """No `compress` message holding `size` bytes is smaller than this. The i-th LZW phrase
    is at most i bytes long (each table entry extends an earlier phrase by one byte), so
    `size` bytes take at least k phrases with k(k+1)/2 >= size."""
    phrases = math.isqrt(2 * size)
    while phrases * (phrases + 1) // 2 < size:
        phrases += 1
    bits = (phrases + LZW_FRAMING_CODES) * LZW_MIN_CODE_BITS
    return COMPRESS_ENVELOPE_BYTES + -(-bits // BITS_PER_BYTE)


def push_pull_scale_ms(interval_ms: int, cluster_size: int) -> int:
    """memberlist's push/pull slow-down: x(ceil(log2 n - log2 32) + 1) beyond 32 members."""
    if cluster_size <= PUSH_PULL_SCALE_THRESHOLD:
        return interval_ms
    multiplier = math.ceil(math.log2(cluster_size) - math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1
    return multiplier * interval_ms


@dataclasses.dataclass(slots=True)
class _PendingStream:
    kind: str  # "push-pull", "tcp-ping" or "user"
    dest: Address
    deadline_ms: int
    join: bool = False
    seq_no: int = 0


def _nothing_to_gossip() -> bool:
    return False


class Node:
    def __init__(
        self,
        config: CoreConfig,
        name: str,
        addr: Address,
        rng: random.Random,
        delegate: LocalState | None = None,
        now_ms: int = 0,
    ) -> None:
        self.config = config
        self.name = name
        self.addr = addr
        self.rng = rng
        self.delegate = delegate
        # None: the delegate cannot tell, so every gossip round runs.
        self._delegate_has_broadcasts: Callable[[], bool] | None = (
            getattr(delegate, "has_broadcasts", None) if delegate is not None else _nothing_to_gossip
        )
        self._addr_bytes = bytes_from_host(addr.host)
        self._user_reserve_bytes = (
            config.udp_buffer_size // USER_RESERVE_DIVISOR + codec.COMPOUND_OVERHEAD + codec.USER_MSG_OVERHEAD
        )
        self._outgoing: list[Outgoing] = []
        self._events: list[Event] = []
        self.awareness = Awareness(config.awareness_max_multiplier)
        self._member_broadcasts = BroadcastQueue(config.retransmit_mult)
        self._user_broadcasts = BroadcastQueue(
            config.user_retransmit_mult, min_transmits=config.user_min_transmits
        )
        self.membership = Membership(
            config, name, addr.port, rng, self.awareness, self._member_broadcasts, self._events.append
        )
        self._seq_no = 0
        self._next_request_id = 0
        self._probe: ProbeRound | None = None
        self._probe_index = 0
        self._relays: dict[int, RelayedProbe] = {}
        self._streams: dict[int, _PendingStream] = {}
        self._leave_broadcast_done = False
        # Told (member name, round-trip ms) when a direct probe is acked in time (memberlist's
        # ping delegate; Alertmanager's `alertmanager_cluster_pings_seconds`).
        self.on_ping_complete: Callable[[str, int], None] | None = None
        # Stagger the periodic tasks randomly so peers started together do not synchronise.
        self._next_probe_ms = now_ms + rng.randrange(config.probe_interval_ms)
        self._next_gossip_ms = now_ms + rng.randrange(config.gossip_interval_ms)
        # Eager gossip (config.eager_gossip_spacing_ms): a user broadcast waits for a round of
        # its own, due `spacing` after the last round that sent anything.
        self._eager_gossip_due = False
        self._last_gossip_ms: int | None = None
        self._next_push_pull_ms = now_ms + rng.randrange(config.push_pull_interval_ms)
        self.membership.incarnation = 1
        self.membership.alive(
            Alive(1, name, self._addr_bytes, addr.port, b"", self.vsn()), now_ms, bootstrap=True
        )

    # --- public queries --------------------------------------------------------------------

    @staticmethod
    def vsn() -> tuple[int, ...]:
        return (
            PROTOCOL_VERSION_MIN,
            PROTOCOL_VERSION_MAX,
            PROTOCOL_VERSION_CURRENT,
            DELEGATE_VERSION_MIN,
            DELEGATE_VERSION_MAX,
            DELEGATE_VERSION_CURRENT,
        )

    def members(self) -> list[Member]:
        """Alive and suspect members, ourselves included (memberlist's Members())."""
        return self.membership.members()

    def member_count(self) -> int:
        """len(members()) without building a snapshot of each member."""
        return sum(1 for node in self.membership.nodes if not node.dead_or_left)

    def member(self, name: str) -> Member | None:
        state = self.membership.by_name.get(name)
        return state.snapshot() if state is not None else None

    @property
    def health_score(self) -> int:
        return self.awareness.score

    @property
    def leave_complete(self) -> bool:
        """After `leave`: our leave notice has been gossiped enough, or nobody is left to
        tell. The shell waits for this (bounded, Alertmanager waits 10 s) before closing."""
        if not self.membership.left:
            return False
        others_alive = any(not n.dead_or_left and n.name != self.name for n in self.membership.nodes)
        return self._leave_broadcast_done or not others_alive

    def take_outgoing(self) -> list[Outgoing]:
        out, self._outgoing = self._outgoing, []
        return out

    def take_events(self) -> list[Event]:
        events = list(self._events)
        self._events.clear()
        return events

    # --- commands --------------------------------------------------------------------------

    def join(self, addresses: list[Address], now_ms: int) -> list[int]:
        """Start a joining push/pull with each address; outcomes arrive as PushPullCompleted."""
        return [self._start_push_pull(address, join=True, now_ms=now_ms) for address in addresses]

    def leave(self, now_ms: int) -> None:
        if self.membership.left:
            return
        self.membership.left = True
        me = self.membership.local
        self.membership.dead(Dead(me.incarnation, self.name, self.name), now_ms)

    def broadcast_user(self, payload: bytes) -> None:
        """Queue a user message for piggybacked gossip. It must fit one packet; larger
        payloads go through `send_reliable`, as Alertmanager does."""
        budget = (
            self.config.udp_buffer_size
            - codec.COMPOUND_HEADER_OVERHEAD
            - codec.COMPOUND_OVERHEAD
            - codec.USER_MSG_OVERHEAD
        )
        if len(payload) > budget:
            raise ValueError(f"user broadcast of {len(payload)} bytes exceeds the packet budget {budget}")
        self._user_broadcasts.queue(payload)
        self.user_broadcast_queued()

    def user_broadcast_queued(self) -> None:
        """A user broadcast was queued (here or in the delegate): with eager gossip on, a
        round of its own comes due (`next_deadline` moves, possibly to the past: run `tick`)."""
        if self.config.eager_gossip_spacing_ms is not None:
            self._eager_gossip_due = True

    def send_reliable(self, member_name: str, payload: bytes, now_ms: int) -> int | None:
        """Send a user message over a stream to one member (memberlist's SendReliable)."""
        state = self.membership.by_name.get(member_name)
        if state is None:
            return None
        data = codec.encode_stream(UserStream(payload), self.config.enable_compression)
        pending = _PendingStream("user", state.address, now_ms + self.config.tcp_timeout_ms)
        return self._open_stream(pending, data, expects_reply=False)

    # --- time ------------------------------------------------------------------------------

    def has_broadcasts(self) -> bool:
        """Whether a gossip round now would send anything (memberlist's rounds find nothing
        to send and send nothing; skipping them changes nothing on the wire)."""
        if self._member_broadcasts or self._user_broadcasts:
            return True
        return self._delegate_has_broadcasts is None or self._delegate_has_broadcasts()

    def next_deadline(self) -> int:
        candidates = [self._next_push_pull_ms]
        if self.has_broadcasts():
            candidates.append(self._next_gossip_ms)
            eager = self._eager_gossip_deadline()
            if eager is not None:
                candidates.append(eager)
        if self._probe is None:
            candidates.append(self._next_probe_ms)
        else:
            if not self._probe.indirect_sent:
                candidates.append(self._probe.indirect_at_ms)
            candidates.append(self._probe.deadline_ms)
        candidates.extend(r.deadline_ms for r in self._relays.values())
        candidates.extend(s.deadline_ms for s in self._streams.values())
        suspicion = self.membership.next_suspicion_deadline()
        if suspicion is not None:
            candidates.append(suspicion)
        return min(candidates)

    def tick(self, now_ms: int) -> None:
        self._expire_relays(now_ms)
        self._expire_streams(now_ms)
        self._advance_probe(now_ms)
        self.membership.expire_suspicions(now_ms)
        if self._probe is None and now_ms >= self._next_probe_ms:
            self._next_probe_ms = now_ms + self.config.probe_interval_ms
            self._start_probe(now_ms)
        if now_ms >= self._next_gossip_ms:
            # Rounds stay on their fixed grid, like memberlist's ticker: rounds missed while
            # there was nothing to gossip (or while we were late) are skipped, not caught up.
            interval = self.config.gossip_interval_ms
            self._next_gossip_ms += ((now_ms - self._next_gossip_ms) // interval + 1) * interval
            if self.has_broadcasts():
                self._gossip(now_ms)
        eager = self._eager_gossip_deadline()
        if eager is not None and now_ms >= eager:
            if self.has_broadcasts():
                self._gossip(now_ms)
            self._eager_gossip_due = False
        if now_ms >= self._next_push_pull_ms:
            self._next_push_pull_ms = now_ms + push_pull_scale_ms(
                self.config.push_pull_interval_ms, self.membership.size
            )
            self._periodic_push_pull(now_ms)

    # --- packets in ------------------------------------------------------------------------

    def receive_packet(self, src: Address, data: bytes, now_ms: int) -> list[str]:
        """Handle one datagram. Returns the problems found (for the shell to log); a bad
        packet never raises."""
        try:
            decoded = codec.decode_packet(data)
        except codec.CodecError as error:
            return [str(error)]
        problems = list(decoded.errors)
        if decoded.truncated:
            problems.append(f"Compound request had {decoded.truncated} truncated messages")
        for message in decoded.messages:
            self._handle(src, message, now_ms)
        return problems

    def _handle(self, src: Address, message: PacketMessage | UserPacket, now_ms: int) -> None:
        if isinstance(message, Ping):
            self._handle_ping(src, message)
        elif isinstance(message, IndirectPing):
            self._handle_indirect_ping(src, message, now_ms)
        elif isinstance(message, Ack):
            self._handle_ack(message, now_ms)
        elif isinstance(message, Nack):
            if self._probe is not None and self._probe.seq_no == message.seq_no:
                self._probe.nacks += 1
        elif isinstance(message, Suspect):
            self.membership.suspect(message, now_ms)
        elif isinstance(message, Alive):
            port = message.port or self.addr.port
            self.membership.alive(dataclasses.replace(message, port=port), now_ms)
        elif isinstance(message, Dead):
            self.membership.dead(message, now_ms)
        elif isinstance(message, UserPacket):
            if self.delegate is not None and message.payload:
                self.delegate.notify_user_msg(message.payload)
        # ErrResp over a packet carries nothing we act on.

    def _reply_address(self, src: Address, source_addr: bytes, source_port: int) -> Address:
        if source_addr and source_port:
            return Address(host_from_bytes(source_addr), source_port)
        return src

    def _handle_ping(self, src: Address, ping: Ping) -> None:
        if ping.node and ping.node != self.name:
            return  # meant for whoever had this address before us
        dest = self._reply_address(src, ping.source_addr, ping.source_port)
        # Alertmanager's ping delegate answers with an empty (not nil) payload.
        self._send_message(dest, codec.encode_message(Ack(ping.seq_no, b"")))

    def _handle_indirect_ping(self, src: Address, request: IndirectPing, now_ms: int) -> None:
        seq_no = self._next_seq_no()
        requester = self._reply_address(src, request.source_addr, request.source_port)
        self._relays[seq_no] = RelayedProbe(
            requester,
            request.source_node,
            request.seq_no,
            now_ms + self.config.probe_timeout_ms,
            request.nack,
        )
        target = Address(host_from_bytes(request.target), request.port or self.addr.port)
        ping = Ping(seq_no, request.node, self._addr_bytes, self.addr.port, self.name)
        self._send_message(target, codec.encode_message(ping))

    def _handle_ack(self, ack: Ack, now_ms: int) -> None:
        probe = self._probe
        if probe is not None and probe.seq_no == ack.seq_no and now_ms < probe.deadline_ms:
            if self.on_ping_complete is not None:
                self.on_ping_complete(probe.target, now_ms - probe.started_ms)
            self._finish_probe(success=True)
            return
        relay = self._relays.pop(ack.seq_no, None)
        if relay is not None:
            self._send_message(relay.requester, codec.encode_message(Ack(relay.requester_seq_no, None)))

    # --- streams in ------------------------------------------------------------------------

    def receive_stream(self, src: Address, data: bytes, now_ms: int) -> bytes | None:
        """Handle one inbound stream message; returns the bytes to write back, if any."""
        try:
            message = codec.decode_stream(data)
        except codec.CodecError as error:
            return codec.encode_stream(ErrResp(str(error)), self.config.enable_compression)
        if isinstance(message, PushPull):
            # Like memberlist: answer with our state first, then merge theirs.
            reply = self._local_push_pull(message.join)
            self._merge_push_pull(message, now_ms)
            return reply
        if isinstance(message, UserStream):
            if self.delegate is not None and message.payload:
                self.delegate.notify_user_msg(message.payload)
            return None
        if isinstance(message, Ping):
            if message.node and message.node != self.name:
                return None
            return codec.encode_stream(Ack(message.seq_no, None), self.config.enable_compression)
        return None

    def receive_stream_reply(self, request_id: int, data: bytes, now_ms: int) -> None:
        pending = self._streams.pop(request_id, None)
        if pending is None:
            return
        try:
            message: StreamMessage = codec.decode_stream(data)
        except codec.CodecError as error:
            self._stream_outcome(pending, f"bad reply: {error}", now_ms)
            return
        if isinstance(message, ErrResp):
            self._stream_outcome(pending, f"remote error: {message.error}", now_ms)
        elif pending.kind == "push-pull" and isinstance(message, PushPull):
            self._merge_push_pull(message, now_ms)
            self._stream_outcome(pending, "", now_ms)
        elif pending.kind == "tcp-ping" and isinstance(message, Ack):
            probe = self._probe
            if probe is not None and probe.seq_no == pending.seq_no == message.seq_no:
                probe.tcp_contacted = True
        else:
            self._stream_outcome(pending, f"unexpected reply {type(message).__name__}", now_ms)

    def stream_failed(self, request_id: int, now_ms: int, reason: str = "stream failed") -> None:
        pending = self._streams.pop(request_id, None)
        if pending is not None:
            self._stream_outcome(pending, reason, now_ms)

    def _stream_outcome(self, pending: _PendingStream, error: str, now_ms: int) -> None:
        if pending.kind == "push-pull":
            self._events.append(PushPullCompleted(pending.dest, pending.join, not error, error))

    def _merge_push_pull(self, message: PushPull, now_ms: int) -> None:
        self.membership.merge(message.nodes, now_ms)
        if message.user_state and self.delegate is not None:
            self.delegate.merge_remote_state(message.user_state)

    def _local_push_pull(self, join: bool) -> bytes:
        user_state = self.delegate.local_state() if self.delegate is not None else b""
        message = PushPull(join, self.membership.push_states(), user_state)
        return codec.encode_stream(message, self.config.enable_compression)

    # --- probing ---------------------------------------------------------------------------

    def _next_seq_no(self) -> int:
        self._seq_no = (self._seq_no + 1) % SEQ_NO_MODULUS
        return self._seq_no

    def _pick_probe_target(self, now_ms: int) -> NodeState | None:
        nodes_checked = 0
        while True:
            nodes = self.membership.nodes
            if nodes_checked >= len(nodes):
                return None
            if self._probe_index >= len(nodes):
                self.membership.reap_and_shuffle(now_ms)
                self._probe_index = 0
                nodes_checked += 1
                continue
            node = nodes[self._probe_index]
            self._probe_index += 1
            if node.name == self.name or node.dead_or_left:
                nodes_checked += 1
                continue
            return node

    def _start_probe(self, now_ms: int) -> None:
        target = self._pick_probe_target(now_ms)
        if target is None:
            return
        interval = self.awareness.scale_timeout_ms(self.config.probe_interval_ms)
        seq_no = self._next_seq_no()
        self._probe = ProbeRound(
            seq_no=seq_no,
            target=target.name,
            target_incarnation=target.incarnation,
            started_ms=now_ms,
            indirect_at_ms=now_ms + self.config.probe_timeout_ms,
            deadline_ms=now_ms + interval,
        )
        ping = codec.encode_message(Ping(seq_no, target.name, self._addr_bytes, self.addr.port, self.name))
        if target.state == NodeStateType.ALIVE:
            self._send_message(target.address, ping, target)
        else:
            # A suspect gets the accusation along with the ping, to refute it at once.
            accusation = codec.encode_message(Suspect(target.incarnation, target.name, self.name))
            self._send_raw(target.address, codec.make_compound([ping, accusation]), target)

    def _advance_probe(self, now_ms: int) -> None:
        probe = self._probe
        if probe is None:
            return
        if not probe.indirect_sent and now_ms >= probe.indirect_at_ms:
            probe.indirect_sent = True
            self._send_indirect_probes(probe, now_ms)
        if now_ms >= probe.deadline_ms:
            self._finish_probe(success=probe.tcp_contacted)

    def _send_indirect_probes(self, probe: ProbeRound, now_ms: int) -> None:
        target = self.membership.by_name.get(probe.target)
        if target is None:
            return
        helpers = self.membership.k_random(
            self.config.indirect_checks,
            lambda n: n.name in (self.name, probe.target) or n.state != NodeStateType.ALIVE,
        )
        for helper in helpers:
            wants_nack = helper.protocol_max >= PROTOCOL_VERSION_WITH_NACKS
            probe.expected_nacks += int(wants_nack)
            request = IndirectPing(
                probe.seq_no,
                target.addr,
                target.port,
                target.name,
                wants_nack,
                self._addr_bytes,
                self.addr.port,
                self.name,
            )
            self._send_message(helper.address, codec.encode_message(request), helper)
        if self.config.enable_tcp_pings and target.protocol_max >= PROTOCOL_VERSION_WITH_TCP_PING:
            ping = Ping(probe.seq_no, target.name, self._addr_bytes, self.addr.port, self.name)
            data = codec.encode_stream(ping, self.config.enable_compression)
            pending = _PendingStream("tcp-ping", target.address, probe.deadline_ms, seq_no=probe.seq_no)
            self._open_stream(pending, data, expects_reply=True)

    def _finish_probe(self, success: bool) -> None:
        probe = self._probe
        assert probe is not None
        self._probe = None
        if success:
            self.awareness.apply_delta(-1)
            return
        self.awareness.apply_delta(awareness_delta_after_failure(probe.expected_nacks, probe.nacks))
        self.membership.suspect(Suspect(probe.target_incarnation, probe.target, self.name), probe.deadline_ms)

    def _expire_relays(self, now_ms: int) -> None:
        for seq_no in [s for s, r in self._relays.items() if r.deadline_ms <= now_ms]:
            relay = self._relays.pop(seq_no)
            if relay.send_nack:
                self._send_message(relay.requester, codec.encode_message(Nack(relay.requester_seq_no)))

    def _expire_streams(self, now_ms: int) -> None:
        for request_id in [i for i, s in self._streams.items() if s.deadline_ms <= now_ms]:
            pending = self._streams.pop(request_id)
            self._stream_outcome(pending, "timeout", now_ms)

    # --- gossip and push/pull -------------------------------------------------------------

    def _eager_gossip_deadline(self) -> int | None:
        spacing = self.config.eager_gossip_spacing_ms
        if not self._eager_gossip_due or spacing is None:
            return None
        return self._last_gossip_ms + spacing if self._last_gossip_ms is not None else 0

    def _gossip(self, now_ms: int) -> None:
        limit = self.config.udp_buffer_size - codec.COMPOUND_HEADER_OVERHEAD
        # Any round carries what an eager round would have.
        self._last_gossip_ms = now_ms
        self._eager_gossip_due = False

        def exclude(node: NodeState) -> bool:
            if node.name == self.name:
                return True
            if node.state in (NodeStateType.ALIVE, NodeStateType.SUSPECT):
                return False
            # Keep telling a recently dead member, so it can learn of it and refute.
            recently_dead = now_ms - node.state_change_ms <= self.config.gossip_to_the_dead_time_ms
            return not (node.state == NodeStateType.DEAD and recently_dead)

        for node in self.membership.k_random(self.config.gossip_nodes, exclude):
            messages = self._get_broadcasts(codec.COMPOUND_OVERHEAD, limit)
            if not messages:
                return
            packet = messages[0] if len(messages) == 1 else codec.make_compound(messages)
            self._send_raw(node.address, packet, node)

    def _periodic_push_pull(self, now_ms: int) -> None:
        peers = self.membership.k_random(1, lambda n: n.name == self.name or n.state != NodeStateType.ALIVE)
        if peers:
            self._start_push_pull(peers[0].address, join=False, now_ms=now_ms)

    def _start_push_pull(self, dest: Address, join: bool, now_ms: int) -> int:
        pending = _PendingStream("push-pull", dest, now_ms + self.config.tcp_timeout_ms, join=join)
        return self._open_stream(pending, self._local_push_pull(join), expects_reply=True)

    def _open_stream(self, pending: _PendingStream, data: bytes, expects_reply: bool) -> int:
        self._next_request_id += 1
        request_id = self._next_request_id
        if expects_reply:
            if len(self._streams) >= MAX_PENDING_STREAMS:
                oldest = next(iter(self._streams))
                self._stream_outcome(
                    self._streams.pop(oldest), "too many pending streams", pending.deadline_ms
                )
            self._streams[request_id] = pending
        self._outgoing.append(StreamOut(request_id, pending.dest, data, expects_reply, pending.deadline_ms))
        return request_id

    # --- sending packets ------------------------------------------------------------------

    def _get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        # Every ping and ack asks for piggyback gossip; empty queues (the idle case) are not
        # asked, and neither is a delegate that says it holds nothing.
        size = self.membership.size
        delegate_has = self._delegate_has_broadcasts
        # A delegate that cannot tell is asked every time but not assumed to hold anything.
        delegate_waiting = delegate_has() if delegate_has is not None else False
        user_waiting = delegate_waiting or bool(self._user_broadcasts)
        # memberlist fills the packet with membership news first. A joiner re-broadcasts the
        # alive state of every member it learned (hundreds of messages, each sent
        # 4 log10 N times), which held a fresh silence back for seconds; keeping room for
        # one user message while any waits bounds that delay at the cost of slowing such a
        # flood of membership news (mostly old news to its receivers) at most twofold.
        member_limit = max(0, limit - self._user_reserve_bytes) if user_waiting else limit
        messages = (
            self._member_broadcasts.take(overhead, member_limit, size) if self._member_broadcasts else []
        )
        if self.membership.left and self.name in self._member_broadcasts.take_finished():
            self._leave_broadcast_done = True
        available = limit - sum(len(m) + overhead for m in messages)
        user_overhead = overhead + codec.USER_MSG_OVERHEAD
        if available > user_overhead:
            user = self._user_broadcasts.take(user_overhead, available, size) if self._user_broadcasts else []
            available -= sum(len(m) + user_overhead for m in user)
            delegate_may_have = delegate_has is None or delegate_waiting
            if self.delegate is not None and available > user_overhead and delegate_may_have:
                user += self.delegate.get_broadcasts(user_overhead, available)
            messages += [codec.encode_user_message(m) for m in user]
        return messages

    def _send_message(self, dest: Address, message: bytes, node: NodeState | None = None) -> None:
        """Send one message, piggybacking whatever gossip fits in the rest of the packet."""
        available = self.config.udp_buffer_size - len(message) - codec.COMPOUND_HEADER_OVERHEAD
        extra = self._get_broadcasts(codec.COMPOUND_OVERHEAD, available)
        packet = codec.make_compound([message, *extra]) if extra else message
        self._send_raw(dest, packet, node)

    def _send_raw(self, dest: Address, packet: bytes, node: NodeState | None = None) -> None:
        # memberlist sends the compressed form only when it is smaller; for tiny packets
        # (acks) it provably is not, and pure-Python LZW is the costliest part of an ack.
        if self.config.enable_compression and compressed_size_lower_bound(len(packet)) < len(packet):
            compressed = codec.compress_message(packet)
            if len(compressed) < len(packet):
                packet = compressed
        if node is not None and node.protocol_max >= PROTOCOL_VERSION_WITH_CRC:
            packet = codec.add_crc(packet)
        self._outgoing.append(PacketOut(dest, packet))
