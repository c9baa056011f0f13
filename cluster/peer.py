"""The trio shell around the gossip core: one `Peer` per replica.

Theory of operation
-------------------
The `Peer` owns a sans-IO `cluster.core.Node` and is the only place that reads a clock or
touches the network. It feeds the node what the transport receives, calls `tick` when the
node's next deadline comes, and flushes the node's output after every call: datagrams go
to the transport at once, streams each get a task (bounded by `MAX_OUTBOUND_STREAMS`).
Core time is integer milliseconds of `trio.current_time()` since the peer started, so the
whole shell runs under trio's MockClock in tests.

Around the core it does what Alertmanager's cluster.Peer does:

* advertise address: `--cluster.advertise-address` (an IP or, unlike Alertmanager, a host
  name resolved once), else the bind address, else (binding 0.0.0.0 / ::) the first
  private IP of this host; a public one only with the insecure flag;
* join the resolved `--cluster.peer` addresses, retrying with backoff until one answers;
  remember peers that failed or left and retry them every reconnect interval until the
  reconnect timeout; re-resolve the peer names every 15 s and join any new address
  (StatefulSet pods come back with new IPs);
* settle: ready once replicated state has been exchanged with a peer by push/pull in
  either direction, or at once when no other peer is configured, or at the settle timeout;
* position: index of our name among the sorted member names (the wait stage's multiplier);
* leave: announce our departure and wait (bounded) until it has been gossiped.

Oversized channel messages (see `cluster.replication`) are sent over TCP to every other
member from a dedicated task, as Alertmanager's channels do.
"""

from __future__ import annotations

import dataclasses
import fcntl
import ipaddress
import logging
import math
import random
import socket as stdlib_socket
import struct
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Final, Protocol

import trio

from cluster.core import (
    Address,
    CoreConfig,
    EventKind,
    LocalState,
    Member,
    MemberEvent,
    Node,
    PacketOut,
    PushPullCompleted,
    StreamOut,
    alertmanager_defaults,
    codec,
    tocsin_defaults,
    with_peer_count,
)
from cluster.core.config import TOCSIN_SUSPICION_MULT, with_suspicion_multiplier
from cluster.core.messages import PushPull
from cluster.replication import Replicator
from cluster.security import PACKET_OVERHEAD_BYTES, Keyring, SecurityError
from cluster.tlsconfig import load_tls_config
from cluster.transport import NetTransport, TlsTransport, Transport, TransportError, read_stream_message

logger = logging.getLogger(__name__)

# Alertmanager re-resolves --cluster.peer names this often (DefaultRefreshInterval).
REFRESH_INTERVAL_S: Final = 15.0
# Alertmanager's Leave(10 s) on shutdown: long enough for a few gossip rounds.
LEAVE_TIMEOUT_S: Final = 10.0
# Alertmanager drops long-failed peers in a sweep every 5 minutes.
FAILED_PEER_SWEEP_INTERVAL_S: Final = 300.0
# First join retry after half a second (replicas started together come up within a second
# of each other), doubling up to the reconnect interval.
INITIAL_JOIN_RETRY_S: Final = 0.5
# Streams we run at once (push/pulls, reliable user messages, TCP pings): the core itself
# waits on at most 128 replies; the same bound keeps a burst of oversized broadcasts from
# opening hundreds of connections.
MAX_OUTBOUND_STREAMS: Final = 128
# Core deadlines are whole milliseconds; waking half a millisecond late guarantees the
# floor of the clock has reached the deadline, so the loop never spins on float rounding.
DEADLINE_SLACK_MS: Final = 0.5
MS_PER_S: Final = 1000
# Private ranges Alertmanager (go-sockaddr) prefers for the advertise address; Python's
# is_private also covers these except RFC 6598 shared space, added here.
_SHARED_ADDRESS_SPACE: Final = ipaddress.ip_network("100.64.0.0/10")
_SIOCGIFADDR: Final = 0x8915
_IFREQ_BYTES: Final = 256

STATUS_SETTLING: Final = "settling"
STATUS_READY: Final = "ready"


class PeerError(Exception):
    """A configuration problem found at start (bad listen or advertise address)."""


@dataclasses.dataclass(frozen=True, slots=True)
class PeerSettings:
    """Everything the shell needs, from Alertmanager's --cluster.* flags."""

    listen_address: str = "0.0.0.0:9094"
    advertise_address: str = ""
    known_peers: tuple[str, ...] = ()
    name: str = ""  # empty: the host name, stable across restarts of a StatefulSet pod
    core: CoreConfig = dataclasses.field(default_factory=alertmanager_defaults)
    settle_timeout_s: float = 60.0
    reconnect_interval_s: float = 10.0
    reconnect_timeout_s: float = 6 * 3600.0
    refresh_interval_s: float = REFRESH_INTERVAL_S
    allow_insecure_public_advertise: bool = False
    keyring: Keyring | None = None


def core_config(
    known_peers: int,
    gossip_interval: timedelta,
    push_pull_interval: timedelta,
    tcp_timeout: timedelta,
    probe_timeout: timedelta,
    probe_interval: timedelta,
    encrypted: bool = False,
    suspicion_multiplier: float = TOCSIN_SUSPICION_MULT,
) -> CoreConfig:
    """The core configuration Alertmanager 0.25 derives from its flags, with tocsin's
    defaults (`tocsin_defaults`: suspicion tuning, more user broadcast retransmits, eager
    user gossip) and --cluster.suspicion-multiplier (ValueError when out of bounds)."""

    def ms(delta: timedelta) -> int:
        return int(delta / timedelta(milliseconds=1))

    config = dataclasses.replace(
        tocsin_defaults(),
        gossip_interval_ms=ms(gossip_interval),
        push_pull_interval_ms=ms(push_pull_interval),
        tcp_timeout_ms=ms(tcp_timeout),
        probe_timeout_ms=ms(probe_timeout),
        probe_interval_ms=ms(probe_interval),
    )
    config = with_suspicion_multiplier(config, suspicion_multiplier)
    if encrypted:
        # Encryption adds version, nonce and tag; keep the datagram under the same budget.
        config = dataclasses.replace(config, udp_buffer_size=config.udp_buffer_size - PACKET_OVERHEAD_BYTES)
    return with_peer_count(config, known_peers)


def build_peer(
    *,
    listen_address: str,
    advertise_address: str = "",
    known_peers: Sequence[str] = (),
    name: str = "",
    gossip_interval: timedelta = timedelta(milliseconds=200),
    push_pull_interval: timedelta = timedelta(minutes=1),
    tcp_timeout: timedelta = timedelta(seconds=10),
    probe_timeout: timedelta = timedelta(milliseconds=500),
    probe_interval: timedelta = timedelta(seconds=1),
    settle_timeout: timedelta = timedelta(minutes=1),
    reconnect_interval: timedelta = timedelta(seconds=10),
    reconnect_timeout: timedelta = timedelta(hours=6),
    allow_insecure_public_advertise: bool = False,
    tls_config_file: str = "",
    key_file: str = "",
    replicator: Replicator | None = None,
    suspicion_multiplier: float = TOCSIN_SUSPICION_MULT,
) -> Peer:
    """A Peer configured from Alertmanager's --cluster.* flags (plus tocsin's
    --cluster.peer-name and --cluster.key-file). Raises PeerError, TLSConfigError or
    SecurityError for bad settings; nothing is bound until `run`."""
    host, port = split_host_port(listen_address)
    keyring = Keyring.from_file(key_file) if key_file else None
    settings = PeerSettings(
        listen_address=listen_address,
        advertise_address=advertise_address,
        known_peers=tuple(known_peers),
        name=name,
        core=core_config(
            len(known_peers),
            gossip_interval,
            push_pull_interval,
            tcp_timeout,
            probe_timeout,
            probe_interval,
            encrypted=keyring is not None,
            suspicion_multiplier=suspicion_multiplier,
        ),
        settle_timeout_s=settle_timeout.total_seconds(),
        reconnect_interval_s=reconnect_interval.total_seconds(),
        reconnect_timeout_s=reconnect_timeout.total_seconds(),
        allow_insecure_public_advertise=allow_insecure_public_advertise,
        keyring=keyring,
    )
    tls = load_tls_config(tls_config_file) if tls_config_file else None
    transport: Transport
    if tls is not None:
        logger.info("using TLS for gossip")
        transport = TlsTransport(host, port, tls.server_context(), tls.client_context(), tls.server_name)
    else:
        transport = NetTransport(host, port)
    return Peer(settings, transport, replicator)


def default_peer_name() -> str:
    return stdlib_socket.gethostname()


def split_host_port(text: str) -> tuple[str, int]:
    """Go's net.SplitHostPort plus a port check; brackets around IPv6 hosts are removed."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise PeerError(f"address {text}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise PeerError(f"address {text}: too many colons in address")
    if not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
        raise PeerError(f"address {text}: invalid port")
    return host, int(port)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_unspecified(host: str) -> bool:
    if host == "":
        return True
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _is_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        return False
    return ip.is_private or (ip.version == 4 and ip in _SHARED_ADDRESS_SPACE)


def _interface_ipv4_addresses() -> list[str]:
    """IPv4 addresses of this host's interfaces, in interface-index order (Linux ioctl)."""
    found: list[str] = []
    try:
        interfaces = stdlib_socket.if_nameindex()
    except OSError:
        return found
    with stdlib_socket.socket(stdlib_socket.AF_INET, stdlib_socket.SOCK_DGRAM) as probe:
        for _, name in interfaces:
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:
                continue  # interface without an IPv4 address
            found.append(stdlib_socket.inet_ntoa(answer[20:24]))
    return found


def discover_advertise_host(allow_public: bool, candidates: Sequence[str] | None = None) -> str:
    """The first private IP of this host (Alertmanager's rule); a public one only when
    allowed. Raises PeerError when there is none."""
    addresses = list(candidates) if candidates is not None else _interface_ipv4_addresses()
    parsed = []
    for text in addresses:
        try:
            parsed.append(ipaddress.ip_address(text))
        except ValueError:
            continue
    for ip in parsed:
        if _is_private(ip):
            return str(ip)
    if not allow_public:
        raise PeerError("no private IP found, explicit advertise addr not provided")
    for ip in parsed:
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast):
            return str(ip)
    raise PeerError("no private/public IP found, explicit advertise addr not provided")


Resolver = Callable[[str], Any]  # async (host) -> list[str] of IPs; raises OSError


async def resolve_host(host: str) -> list[str]:
    """IP addresses for `host` (an IP resolves to itself), without duplicates, in order."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    infos = await trio.socket.getaddrinfo(host, None, type=stdlib_socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


@dataclasses.dataclass(slots=True)
class _FailedPeer:
    address: Address
    since_s: float


@dataclasses.dataclass(slots=True)
class PeerCounters:
    """Alertmanager's `alertmanager_cluster_peers_*`, `_reconnections_*` and `_refresh_join_*`
    counts as plain integers (`daemon.metrics` reads them at scrape time). As memberlist's
    delegate does, joins count every member including ourselves, and `left` counts members
    that left or were declared dead."""

    peers_joined: int = 0
    peers_left: int = 0
    peers_updated: int = 0
    reconnections: int = 0
    reconnections_failed: int = 0
    refresh_joins: int = 0
    refresh_joins_failed: int = 0
    # member name -> alive messages about it (one entry per member ever seen, as Alertmanager's
    # per-peer label)
    alive_messages: dict[str, int] = dataclasses.field(default_factory=dict)


class OversizedSendObserver(Protocol):
    """Told how each direct (TCP) send of an oversized channel message to one member went
    (Alertmanager's `alertmanager_oversize_gossip_message_*` metrics); `daemon` implements it."""

    def oversized_sent(self, key: str, seconds: float, ok: bool) -> None: ...


class PingObserver(Protocol):
    """Told the round-trip time of each acked direct probe (`alertmanager_cluster_pings_seconds`)."""

    def ping_completed(self, member_name: str, seconds: float) -> None: ...


# Why we asked the core to join an address, so the push/pull's outcome lands in the right counter.
_RECONNECT = "reconnect"
_REFRESH = "refresh"


def _holds_nothing() -> bool:
    return False


def _may_hold_something() -> bool:
    return True


class _SettleTracker:
    """Wraps the application's delegate to notice a remote state arriving by push/pull."""

    def __init__(self, inner: LocalState | None, on_remote_state: Callable[[], None]) -> None:
        self._on_remote_state = on_remote_state
        self._inner_has_broadcasts: Callable[[], bool] = _holds_nothing
        self.inner = inner

    @property
    def inner(self) -> LocalState | None:
        return self._inner

    @inner.setter
    def inner(self, inner: LocalState | None) -> None:
        # `has_broadcasts` is asked on every ping, ack and gossip round: its optional method is
        # looked up here, once, rather than on that path.
        self._inner = inner
        if inner is None:
            self._inner_has_broadcasts = _holds_nothing
        else:
            # A delegate that cannot tell is asked for broadcasts every round.
            ask: Callable[[], bool] | None = getattr(inner, "has_broadcasts", None)
            self._inner_has_broadcasts = _may_hold_something if ask is None else ask

    def local_state(self) -> bytes:
        return self.inner.local_state() if self.inner is not None else b""

    def merge_remote_state(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.merge_remote_state(data)
        self._on_remote_state()

    def notify_user_msg(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.notify_user_msg(data)

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        return self.inner.get_broadcasts(overhead, limit) if self.inner is not None else []

    def has_broadcasts(self) -> bool:
        return self._inner_has_broadcasts()


class Peer:
    """A cluster member. Start it with `await nursery.start(peer.run)`; it satisfies
    `notify.context.ClusterGate` (`wait_ready`, `position`)."""

    def __init__(
        self,
        settings: PeerSettings,
        transport: Transport,
        replicator: Replicator | None = None,
        rng: random.Random | None = None,
        resolver: Callable[[str], Any] = resolve_host,
    ) -> None:
        self.settings = settings
        self.name = settings.name or default_peer_name()
        self.replicator = replicator
        self._transport = transport
        self._rng = rng or random.Random()
        self._resolve = resolver
        self._keyring = settings.keyring
        self._delegate = _SettleTracker(replicator, self._state_exchanged)
        self._node: Node | None = None
        self._nursery: trio.Nursery | None = None
        self._cancel_scope: trio.CancelScope | None = None
        self._t0 = 0.0
        # The clock loop's sleep (None while it is awake) and the core deadline it ends at.
        self._clock_sleep: trio.CancelScope | None = None
        self._clock_sleeps_until_ms = 0
        self._flushed = trio.Event()
        self._oversized_ready = trio.Event()
        self._ready = trio.Event()
        self._stream_slots = trio.CapacityLimiter(MAX_OUTBOUND_STREAMS)
        self._failed: dict[Address, _FailedPeer] = {}
        self._peer_failed = trio.Event()  # set when a peer is added to `_failed`
        self._joined_once = False
        # False when a --cluster.peer name did not resolve: we cannot know we are alone.
        self._all_peers_resolved = True
        self.advertise = Address("", 0)
        self.bound = Address("", 0)
        self.packet_errors = 0
        self.stream_errors = 0
        self.counters = PeerCounters()
        self._join_reasons: dict[Address, str] = {}
        self.oversized_observer: OversizedSendObserver | None = None
        self.ping_observer: PingObserver | None = None
        # request id of an oversized send in flight -> (channel key, trio time it was queued)
        self._oversized_sends: dict[int, tuple[str, float]] = {}
        if replicator is not None:
            replicator.retransmit_mult = settings.core.user_retransmit_mult
            replicator.min_transmits = settings.core.user_min_transmits
            replicator.wakeup = self._oversized_ready.set
            replicator.broadcast_queued = self._user_broadcast_queued

    # --- ClusterGate and API ----------------------------------------------------------------

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def node(self) -> Node:
        if self._node is None:
            raise RuntimeError("the peer is not running")
        return self._node

    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def members(self) -> list[Member]:
        """Alive and suspect members, ourselves included, sorted by name."""
        return sorted(self.node.members(), key=lambda m: m.name)

    def position(self) -> int:
        names = [m.name for m in self.members()]
        return names.index(self.name) if self.name in names else 0

    def cluster_size(self) -> int:
        return self._node.member_count() if self._node is not None else 1

    def status(self) -> dict[str, object]:
        """`/api/v2/status` cluster block: name, settling|ready, peers sorted by name."""
        peers = [
            {"name": m.name, "address": join_host_port(m.address.host, m.address.port)}
            for m in (self.members() if self._node is not None else [])
        ]
        return {
            "name": self.name,
            "status": STATUS_READY if self.ready() else STATUS_SETTLING,
            "peers": peers,
        }

    def failed_peers(self) -> list[Address]:
        return sorted(self._failed)

    # --- running ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Peer] = trio.TASK_STATUS_IGNORED) -> None:
        """Bind, join, gossip until cancelled. Reports `self` once bound and the node exists."""
        bind_host, _ = split_host_port(self.settings.listen_address)
        with trio.CancelScope() as scope:
            self._cancel_scope = scope
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.bound = await nursery.start(self._transport.serve, self)
                self.advertise = await self._advertise_address(bind_host, self.bound.port)
                self._t0 = trio.current_time()
                self._node = Node(self.settings.core, self.name, self.advertise, self._rng, self._delegate, 0)
                self._node.membership.on_alive = self._alive_received
                self._node.on_ping_complete = self._ping_completed
                if self.replicator is not None:
                    self.replicator.set_cluster_size(self.cluster_size)
                logger.info(
                    "cluster peer %s listening on %s, advertising %s", self.name, self.bound, self.advertise
                )
                peers = await self._resolve_peers()
                if not peers and self._all_peers_resolved:
                    logger.info("no other peers configured: settled alone")
                    self._ready.set()
                nursery.start_soon(self._clock_loop)
                nursery.start_soon(self._settle_timeout)
                nursery.start_soon(self._join_and_maintain, peers)
                nursery.start_soon(self._oversized_loop)
                task_status.started(self)

    async def leave(self, timeout_s: float = LEAVE_TIMEOUT_S) -> None:
        """Tell the cluster we are going, wait (bounded) until it has been gossiped, stop."""
        if self._node is not None:
            self._node.leave(self._now_ms())
            await self._flush()
            with trio.move_on_after(timeout_s):
                while not self._node.leave_complete:
                    await self._flushed.wait()
            if not self._node.leave_complete:
                logger.warning("timed out waiting for the leave notice to be gossiped")
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    # --- the clock ----------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return math.floor((trio.current_time() - self._t0) * MS_PER_S)

    def _deadline_time(self, deadline_ms: int) -> float:
        return self._t0 + (deadline_ms + DEADLINE_SLACK_MS) / MS_PER_S

    def _reschedule(self) -> None:
        """Move the clock loop's wake-up to the node's next deadline, if that changed. An
        idle replica's CPU time is made of its wake-ups, so the loop wakes only for a
        deadline: not for every packet, and not for a deadline that went away (an ack
        arriving before the probe's indirect-ping time, a gossip round left with nothing
        to send)."""
        sleep = self._clock_sleep
        if sleep is None or self._node is None:
            return  # the loop is awake and looks at the deadline before it sleeps again
        deadline_ms = self._node.next_deadline()
        if deadline_ms != self._clock_sleeps_until_ms:
            self._clock_sleeps_until_ms = deadline_ms
            sleep.deadline = self._deadline_time(deadline_ms)

    def _user_broadcast_queued(self) -> None:
        if self._node is not None:
            self._node.user_broadcast_queued()
        self._reschedule()

    async def _clock_loop(self) -> None:
        while True:
            self.node.tick(self._now_ms())
            await self._flush()
            deadline_ms = self.node.next_deadline()
            self._clock_sleeps_until_ms = deadline_ms
            with trio.CancelScope(deadline=self._deadline_time(deadline_ms)) as sleep:
                self._clock_sleep = sleep
                try:
                    await trio.sleep_forever()
                finally:
                    self._clock_sleep = None

    # --- output -------------------------------------------------------------------------------

    async def _flush(self) -> None:
        node = self.node
        for out in node.take_outgoing():
            if isinstance(out, PacketOut):
                await self._send_packet(out)
            else:
                assert self._nursery is not None
                self._nursery.start_soon(self._run_stream, out)
        for event in node.take_events():
            self._handle_event(event)
        self._reschedule()
        flushed, self._flushed = self._flushed, trio.Event()
        flushed.set()

    async def _send_packet(self, out: PacketOut) -> None:
        data = self._keyring.encrypt_packet(out.data) if self._keyring is not None else out.data
        try:
            await self._transport.send_packet(out.dest, data)
        except OSError as error:
            logger.debug("sending a packet to %s failed: %s", out.dest, error)

    async def _run_stream(self, out: StreamOut) -> None:
        error = ""
        reply = b""
        async with self._stream_slots:
            with trio.move_on_at(self._t0 + out.deadline_ms / MS_PER_S) as timer:
                try:
                    stream = await self._transport.connect(out.dest)
                    async with stream:
                        await stream.send_all(self._seal_stream(out.data))
                        if out.expects_reply:
                            reply = self._open_stream(await read_stream_message(stream))
                except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as failure:
                    error = f"stream to {out.dest}: {failure}"
                except (TransportError, SecurityError) as failure:
                    error = f"stream from {out.dest}: {failure}"
            if timer.cancelled_caught:
                error = f"stream to {out.dest}: timed out"
        if not out.expects_reply:
            if error:
                logger.debug("%s", error)
            self._oversized_done(out.request_id, ok=not error)
            return
        if error:
            self.stream_errors += 1
            logger.debug("%s", error)
            self.node.stream_failed(out.request_id, self._now_ms(), error)
        else:
            self.node.receive_stream_reply(out.request_id, reply, self._now_ms())
        await self._flush()

    def _alive_received(self, member_name: str) -> None:
        alive = self.counters.alive_messages
        alive[member_name] = alive.get(member_name, 0) + 1

    def _ping_completed(self, member_name: str, round_trip_ms: int) -> None:
        if self.ping_observer is not None:
            self.ping_observer.ping_completed(member_name, round_trip_ms / MS_PER_S)

    def _oversized_done(self, request_id: int, ok: bool) -> None:
        sent = self._oversized_sends.pop(request_id, None)
        if sent is not None and self.oversized_observer is not None:
            key, queued_at = sent
            self.oversized_observer.oversized_sent(key, trio.current_time() - queued_at, ok)

    def _seal_stream(self, data: bytes) -> bytes:
        return self._keyring.encrypt_stream(data) if self._keyring is not None else data

    def _open_stream(self, data: bytes) -> bytes:
        return self._keyring.decrypt_stream(data) if self._keyring is not None else data

    # --- input (TransportHandler) ---------------------------------------------------------------

    async def packet_received(self, src: Address, data: bytes) -> None:
        if self._node is None:
            return
        if self._keyring is not None:
            try:
                data = self._keyring.decrypt_packet(data)
            except SecurityError as error:
                self.packet_errors += 1
                logger.debug("decrypt packet from %s failed: %s", src, error)
                return
        for problem in self._node.receive_packet(src, data, self._now_ms()):
            self.packet_errors += 1
            logger.debug("packet from %s: %s", src, problem)
        await self._flush()

    async def stream_received(self, src: Address, stream: trio.abc.Stream) -> None:
        if self._node is None:
            return
        timeout_s = self.settings.core.tcp_timeout_ms / MS_PER_S
        with trio.move_on_after(timeout_s):
            try:
                data = self._open_stream(await read_stream_message(stream))
            except (TransportError, SecurityError) as error:
                self.stream_errors += 1
                logger.debug("stream from %s: %s", src, error)
                return
            reply = self._node.receive_stream(src, data, self._now_ms())
            if reply is not None:
                await stream.send_all(self._seal_stream(reply))
                if _is_push_pull(data):
                    self._state_exchanged()
        await self._flush()

    # --- events, settle ---------------------------------------------------------------------------

    def _handle_event(self, event: MemberEvent | PushPullCompleted) -> None:
        if isinstance(event, PushPullCompleted):
            if event.join:
                self._count_join_outcome(event.peer, event.ok)
            if event.ok:
                self._joined_once = self._joined_once or event.join
                self._state_exchanged()
            return
        member = event.member
        if event.kind == EventKind.JOINED:
            self.counters.peers_joined += 1
        elif event.kind == EventKind.UPDATED:
            self.counters.peers_updated += 1
        else:
            self.counters.peers_left += 1
        if member.name == self.name:
            return
        if event.kind == EventKind.JOINED:
            self._failed.pop(member.address, None)
            logger.info("cluster member joined: %s at %s", member.name, member.address)
        elif event.kind in (EventKind.LEFT, EventKind.DEAD):
            self._failed.setdefault(member.address, _FailedPeer(member.address, trio.current_time()))
            self._peer_failed.set()
            logger.info("cluster member %s: %s at %s", event.kind.value, member.name, member.address)

    def _state_exchanged(self) -> None:
        if not self._ready.is_set():
            logger.info("gossip settled: state exchanged with a peer")
            self._ready.set()

    async def _settle_timeout(self) -> None:
        await trio.sleep(self.settings.settle_timeout_s)
        if not self._ready.is_set():
            logger.info("gossip not settled but continuing anyway (settle timeout)")
            self._ready.set()

    # --- joining and keeping in touch ----------------------------------------------------------------

    async def _advertise_address(self, bind_host: str, bound_port: int) -> Address:
        configured = self.settings.advertise_address
        if configured:
            host, port = split_host_port(configured)
            try:
                addresses = await self._resolve(host)
            except OSError as error:
                raise PeerError(f"failed to resolve advertise address {host!r}: {error}") from error
            if not addresses:
                raise PeerError(f"advertise address {host!r} resolves to nothing")
            if not _is_unspecified(addresses[0]):
                return Address(_canonical_ip(addresses[0]), port or bound_port)
            logger.warning("advertise address %s is unspecified; discovering one", configured)
        if not _is_unspecified(bind_host):
            addresses = await self._resolve(bind_host)
            return Address(_canonical_ip(addresses[0]), bound_port)
        try:
            host = discover_advertise_host(self.settings.allow_insecure_public_advertise)
        except PeerError as error:
            logger.warning("couldn't deduce an advertise address: %s", error)
            host = "127.0.0.1"
        return Address(host, bound_port)

    async def _resolve_peers(self) -> list[Address]:
        """Resolved --cluster.peer addresses other than our own; names that fail to
        resolve are skipped (and retried on the next refresh)."""
        resolved: list[Address] = []
        self._all_peers_resolved = True
        for text in self.settings.known_peers:
            try:
                host, port = split_host_port(text)
            except PeerError as error:
                logger.warning("ignoring peer: %s", error)
                continue
            try:
                hosts = await self._resolve(host)
            except OSError as error:
                logger.debug("resolving peer %s failed: %s", host, error)
                self._all_peers_resolved = False
                continue
            for ip in hosts:
                address = Address(_canonical_ip(ip), port)
                if address != self.advertise and address not in resolved:
                    resolved.append(address)
        return resolved

    def _join(self, addresses: Sequence[Address], reason: str | None = None) -> None:
        if addresses:
            if reason is not None:
                for address in addresses:
                    self._join_reasons[address] = reason
            self.node.join(list(addresses), self._now_ms())

    def _count_join_outcome(self, address: Address, ok: bool) -> None:
        reason = self._join_reasons.pop(address, None)
        counters = self.counters
        if reason == _RECONNECT:
            if ok:
                counters.reconnections += 1
            else:
                counters.reconnections_failed += 1
        elif reason == _REFRESH:
            if ok:
                counters.refresh_joins += 1
            else:
                counters.refresh_joins_failed += 1

    async def _join_and_maintain(self, peers: list[Address]) -> None:
        now_s = trio.current_time()
        for address in peers:
            self._failed.setdefault(address, _FailedPeer(address, now_s))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._initial_join, peers)
            nursery.start_soon(self._reconnect_while_peers_failed)
            nursery.start_soon(self._periodic, FAILED_PEER_SWEEP_INTERVAL_S, self._sweep_failed)
            nursery.start_soon(self._periodic, self.settings.refresh_interval_s, self._refresh)

    async def _initial_join(self, peers: list[Address]) -> None:
        delay = INITIAL_JOIN_RETRY_S
        while peers and not self._joined_once:
            self._join(peers)
            await self._flush()
            await trio.sleep(delay)
            delay = min(delay * 2, self.settings.reconnect_interval_s)

    async def _periodic(self, interval_s: float, action: Callable[[], Any]) -> None:
        if interval_s <= 0:
            return
        while True:
            await trio.sleep(interval_s)
            await action()

    async def _reconnect_while_peers_failed(self) -> None:
        """Every reconnect interval, rejoin the failed peers; with none failed (a healthy
        cluster) sleep until one fails instead of waking every interval for nothing."""
        if self.settings.reconnect_interval_s <= 0:
            return
        while True:
            while not self._failed:
                self._peer_failed = trio.Event()
                await self._peer_failed.wait()
            await trio.sleep(self.settings.reconnect_interval_s)
            await self._reconnect()

    async def _reconnect(self) -> None:
        self._join([failed.address for failed in self._failed.values()], _RECONNECT)
        await self._flush()

    async def _sweep_failed(self) -> None:
        cutoff = trio.current_time() - self.settings.reconnect_timeout_s
        for address, failed in list(self._failed.items()):
            if failed.since_s <= cutoff:
                logger.debug("failed peer %s has timed out", address)
                del self._failed[address]

    async def _refresh(self) -> None:
        known = {m.address for m in self.node.members()}
        missing = [address for address in await self._resolve_peers() if address not in known]
        if missing:
            logger.debug("refresh: joining %s", missing)
            self._join(missing, _REFRESH)
            await self._flush()

    # --- oversized channel messages ------------------------------------------------------------------

    async def _oversized_loop(self) -> None:
        if self.replicator is None:
            return
        while True:
            await self._oversized_ready.wait()
            self._oversized_ready = trio.Event()
            self.replicator.wakeup = self._oversized_ready.set
            for key, message in self.replicator.take_oversized_by_key():
                for member in self.node.members():
                    if member.name != self.name:
                        request_id = self.node.send_reliable(member.name, message, self._now_ms())
                        if request_id is not None:
                            self._oversized_sends[request_id] = (key, trio.current_time())
            await self._flush()


def _canonical_ip(host: str) -> str:
    ip = ipaddress.ip_address(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _is_push_pull(data: bytes) -> bool:
    try:
        return isinstance(codec.decode_stream(data), PushPull)
    except codec.CodecError:
        return False


__all__ = [
    "STATUS_READY",
    "STATUS_SETTLING",
    "OversizedSendObserver",
    "Peer",
    "PeerCounters",
    "PeerError",
    "PeerSettings",
    "PingObserver",
    "build_peer",
    "core_config",
    "default_peer_name",
    "discover_advertise_host",
    "join_host_port",
    "resolve_host",
    "split_host_port",
]
