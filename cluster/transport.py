"""The gossip transport: UDP for packets and TCP for streams on one port, with trio.

`Transport` is the seam the peer talks to; `NetTransport` is the real one (memberlist's
NetTransport: the same port number for UDP and TCP) and `cluster.testing.MemoryNetwork`
builds in-memory ones for tests. A transport knows nothing of the protocol: it hands
datagrams and accepted connections to a `TransportHandler` and sends what it is given.

Streams carry exactly one memberlist stream message each way, so `read_stream_message`
reads precisely one message (framed by the core's `stream_message_length`) and never waits
for the peer to close a connection it keeps open for our answer.

TLS: when given `ssl.SSLContext`s, TCP streams are wrapped in `trio.SSLStream` (server side
on accept, client side on connect); packets stay on UDP.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import ipaddress
import logging
import socket as stdlib_socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import trio

from cluster import replication as pb
from cluster.core import Address, CodecError, stream_message_length

logger = logging.getLogger(__name__)

# A UDP datagram cannot be larger; a smaller buffer would silently truncate Go peers'
# packets (memberlist reads with a 65536-byte buffer too).
MAX_DATAGRAM_BYTES: Final = 65536
# How much to ask the kernel for per read on a stream; push/pull states are read in chunks.
STREAM_READ_CHUNK_BYTES: Final = 65536
# Inbound connections served at once. memberlist bounds concurrent push/pulls at 128; a
# flood beyond that is refused instead of growing our memory.
MAX_INBOUND_STREAMS: Final = 128
# With port 0 the kernel picks a TCP port that may be taken for UDP; memberlist retries
# the pair 10 times, so do we.
PORT_PAIR_ATTEMPTS: Final = 10
# Datagrams handled per readiness wake-up before yielding to other tasks: a burst (a
# compound of gossip from each peer) is drained without a scheduler pass per packet, but a
# flood cannot starve the rest of the process.
MAX_DATAGRAMS_PER_WAKEUP: Final = 64
# The UDP receive buffer memberlist asks for (udpRecvBufSize): datagrams wait in the kernel
# while the one thread is busy (a flush rendering hundreds of webhooks), and Linux's default
# (212992 bytes, about 90 gossip packets at their in-kernel size) overflows silently. The
# kernel caps the request at net.core.rmem_max; like memberlist we halve it until accepted.
UDP_RECEIVE_BUFFER_BYTES: Final = 2 * 1024 * 1024


class TransportError(Exception):
    """A stream could not be read as one whole memberlist message."""


class TransportHandler(Protocol):
    async def packet_received(self, src: Address, data: bytes) -> None: ...

    async def stream_received(self, src: Address, stream: trio.abc.Stream) -> None: ...


class Transport(Protocol):
    async def serve(
        self, handler: TransportHandler, *, task_status: trio.TaskStatus[Address] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Bind, report the bound address through `task_status`, then serve until cancelled."""
        ...

    async def send_packet(self, dest: Address, data: bytes) -> None: ...

    async def connect(self, dest: Address) -> trio.abc.Stream: ...


async def read_stream_message(stream: trio.abc.ReceiveStream, already: bytes = b"") -> bytes:
    """Read exactly one memberlist stream message. Raises TransportError on EOF or garbage."""
    buffer = bytearray(already)
    while True:
        if buffer:
            try:
                length = stream_message_length(bytes(buffer))
            except CodecError as error:
                raise TransportError(str(error)) from error
            if length is not None and len(buffer) >= length:
                if len(buffer) > length:
                    logger.debug("ignoring %d bytes after a stream message", len(buffer) - length)
                return bytes(buffer[:length])
        chunk = await stream.receive_some(STREAM_READ_CHUNK_BYTES)
        if not chunk:
            raise TransportError(f"connection closed after {len(buffer)} bytes of a stream message")
        buffer += chunk


def address_family(host: str) -> stdlib_socket.AddressFamily:
    try:
        return stdlib_socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else stdlib_socket.AF_INET
    except ValueError:
        return stdlib_socket.AF_INET


def enlarge_receive_buffer(udp: stdlib_socket.socket, wanted: int = UDP_RECEIVE_BUFFER_BYTES) -> int:
    """Ask for a `wanted`-byte receive buffer, halving the request while the system refuses
    it (memberlist's setUDPRecvBuf). Returns the size granted (as the kernel reports it, which
    on Linux is twice the request, capped); a system that refuses every size keeps its default."""
    size = wanted
    while size > 0:
        try:
            udp.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, size)
            break
        except OSError as error:
            logger.debug("UDP receive buffer of %d bytes refused: %s", size, error)
            size //= 2
    else:
        logger.warning("could not enlarge the UDP receive buffer; keeping the system default")
    return int(udp.getsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF))


def _peer_address(stream: trio.SocketStream) -> Address:
    peer = stream.socket.getpeername()
    return Address(str(peer[0]), int(peer[1]))


class NetTransport:
    """UDP + TCP on `host:port` (port 0 picks a free pair)."""

    def __init__(
        self,
        host: str,
        port: int,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        client_server_name: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._client_server_name = client_server_name
        # The bound UDP socket, used directly (non-blocking) rather than through trio's
        # socket wrapper, whose every send and receive also yields to the scheduler: an
        # idle replica's CPU time is mostly scheduler passes.
        self._udp: stdlib_socket.socket | None = None
        self._inbound = trio.CapacityLimiter(MAX_INBOUND_STREAMS)
        # What the kernel granted for the bound socket (0 until serving).
        self.receive_buffer_bytes = 0

    async def _bind(self) -> tuple[list[trio.SocketListener], stdlib_socket.socket]:
        family = address_family(self.host)
        last_error: OSError | None = None
        for _ in range(PORT_PAIR_ATTEMPTS):
            listeners = await trio.open_tcp_listeners(self.port, host=self.host or None)
            port = listeners[0].socket.getsockname()[1]
            udp = stdlib_socket.socket(family, stdlib_socket.SOCK_DGRAM)
            try:
                # trio's bind resolves a host name without blocking; it sets non-blocking too.
                await trio.socket.from_stdlib_socket(udp).bind((self.host, port))
            except OSError as error:
                udp.close()
                for listener in listeners:
                    await listener.aclose()
                last_error = error
                if self.port != 0 or error.errno != errno.EADDRINUSE:
                    raise
                continue
            return listeners, udp
        assert last_error is not None
        raise last_error

    async def serve(
        self, handler: TransportHandler, *, task_status: trio.TaskStatus[Address] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners, udp = await self._bind()
        self.receive_buffer_bytes = enlarge_receive_buffer(udp)
        self._udp = udp
        bound = udp.getsockname()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, self._stream_task(handler), listeners)
                nursery.start_soon(self._receive_packets, udp, handler)
                task_status.started(Address(str(bound[0]), int(bound[1])))
        finally:
            udp.close()
            self._udp = None

    def _stream_task(self, handler: TransportHandler) -> Callable[[trio.SocketStream], Awaitable[None]]:
        async def serve_one(stream: trio.SocketStream) -> None:
            try:
                self._inbound.acquire_nowait()
            except trio.WouldBlock:
                logger.warning("refusing a gossip connection: %d already open", MAX_INBOUND_STREAMS)
                await stream.aclose()
                return
            try:
                src = _peer_address(stream)
                wrapped: trio.abc.Stream = stream
                if self._server_ssl is not None:
                    wrapped = trio.SSLStream(stream, self._server_ssl, server_side=True)
                async with wrapped:
                    await handler.stream_received(src, wrapped)
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as error:
                logger.debug("gossip stream error: %s", error)
            finally:
                self._inbound.release()

        return serve_one

    async def _receive_packets(self, udp: stdlib_socket.socket, handler: TransportHandler) -> None:
        while True:
            await trio.lowlevel.wait_readable(udp)
            for _ in range(MAX_DATAGRAMS_PER_WAKEUP):
                try:
                    data, src = udp.recvfrom(MAX_DATAGRAM_BYTES)
                except BlockingIOError:
                    break
                except OSError as error:
                    # ICMP errors from earlier sends surface here on some systems; keep going.
                    logger.debug("UDP receive error: %s", error)
                    continue
                await handler.packet_received(Address(str(src[0]), int(src[1])), data)

    async def send_packet(self, dest: Address, data: bytes) -> None:
        """Send one datagram; `dest.host` is an IP address (the core only knows those), so
        the send never resolves a name. Waits only when the socket's buffer is full."""
        udp = self._udp
        if udp is None:
            raise OSError(errno.ENOTCONN, "transport is not serving")
        while True:
            try:
                udp.sendto(data, (dest.host, dest.port))
                return
            except BlockingIOError:
                await trio.lowlevel.wait_writable(udp)

    async def connect(self, dest: Address) -> trio.abc.Stream:
        stream = await trio.open_tcp_stream(dest.host, dest.port)
        if self._client_ssl is None:
            return stream
        tls = trio.SSLStream(stream, self._client_ssl, server_hostname=self._client_server_name or dest.host)
        await tls.do_handshake()
        return tls


# --- Alertmanager's TLS transport -----------------------------------------------------------
#
# With --cluster.tls-config, Alertmanager carries *all* memberlist traffic over TLS/TCP.
# Every connection starts with frames of a 4-byte little-endian length and a protobuf
# clusterpb.MemberlistMessage{version "v0.1.0", kind STREAM 0 | PACKET 1, from_addr, msg}.
# A PACKET frame carries one datagram; connections that carry packets are pooled and
# reused. A STREAM frame (no payload) turns the rest of the connection into a plain
# memberlist stream.

TLS_MESSAGE_VERSION: Final = "v0.1.0"
TLS_KIND_STREAM: Final = 0
TLS_KIND_PACKET: Final = 1
TLS_FRAME_LENGTH_BYTES: Final = 4
# A packet frame holds at most one datagram plus a few header bytes; anything much larger
# is not from a well-behaved peer.
MAX_TLS_FRAME_BYTES: Final = MAX_DATAGRAM_BYTES + 1024
# Alertmanager's connection pool is an LRU of 1024 connections.
TLS_POOL_CAPACITY: Final = 1024
# Alertmanager dials pooled packet connections with DefaultTCPTimeout.
TLS_DIAL_TIMEOUT_S: Final = 10.0


def encode_tls_frame(kind: int, from_addr: str, message: bytes) -> bytes:
    body = pb.encode_bytes_field(1, TLS_MESSAGE_VERSION.encode())
    if kind:
        body += pb.encode_varint_field(2, kind)
    if from_addr:
        body += pb.encode_bytes_field(3, from_addr.encode())
    if message:
        body += pb.encode_bytes_field(4, message)
    return len(body).to_bytes(TLS_FRAME_LENGTH_BYTES, "little") + body


def decode_tls_message(body: bytes) -> tuple[str, int, str, bytes]:
    """(version, kind, from_addr, msg) of one MemberlistMessage. Raises ProtobufError."""
    version, kind, from_addr, message = "", 0, "", b""
    for field, wire_type, value in pb.iter_fields(body):
        if field == 1:
            version = pb.expect_string(field, wire_type, value)
        elif field == 2:
            kind = pb.expect_int(field, wire_type, value)
        elif field == 3:
            from_addr = pb.expect_string(field, wire_type, value)
        elif field == 4:
            message = pb.expect_bytes(field, wire_type, value)
    return version, kind, from_addr, message


class _BufferedStream(trio.abc.Stream):
    """A stream that first returns bytes already read past a frame."""

    def __init__(self, inner: trio.abc.Stream, leftover: bytes) -> None:
        self._inner = inner
        self._leftover = leftover

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._leftover:
            size = len(self._leftover) if max_bytes is None else max_bytes
            chunk, self._leftover = self._leftover[:size], self._leftover[size:]
            await trio.lowlevel.checkpoint()
            return chunk
        return bytes(await self._inner.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _read_tls_frame(stream: trio.abc.ReceiveStream, buffer: bytearray) -> bytes | None:
    """One frame body from `stream` (consuming it from `buffer`), or None at a clean EOF."""
    while True:
        if len(buffer) >= TLS_FRAME_LENGTH_BYTES:
            size = int.from_bytes(buffer[:TLS_FRAME_LENGTH_BYTES], "little")
            if size > MAX_TLS_FRAME_BYTES:
                raise TransportError(f"TLS frame of {size} bytes exceeds {MAX_TLS_FRAME_BYTES}")
            end = TLS_FRAME_LENGTH_BYTES + size
            if len(buffer) >= end:
                body = bytes(buffer[TLS_FRAME_LENGTH_BYTES:end])
                del buffer[:end]
                return body
        chunk = await stream.receive_some(STREAM_READ_CHUNK_BYTES)
        if not chunk:
            if buffer:
                raise TransportError("connection closed inside a TLS frame")
            return None
        buffer += chunk


def _parse_from_addr(text: str, fallback_host: str) -> Address | None:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    try:
        if ipaddress.ip_address(host).is_unspecified:
            host = fallback_host
    except ValueError:
        pass
    return Address(host, int(port))


@dataclasses.dataclass(slots=True)
class _PooledConnection:
    stream: trio.SSLStream[trio.SocketStream]
    lock: trio.Lock


@dataclasses.dataclass(slots=True)
class TlsCounters:
    """Alertmanager's `alertmanager_tls_transport_*` counts as plain integers (`daemon.metrics`
    reads them at scrape time)."""

    packet_bytes_sent: int = 0
    packet_bytes_received: int = 0
    streams_sent: int = 0
    streams_received: int = 0
    # As in Alertmanager, every inbound connection that ends other than by becoming a stream
    # (a peer closing its pooled packet connection included) counts as a read error.
    read_errors: int = 0
    # connection_type ("packet" or "stream") -> failed dials and writes; a type appears with
    # its first failure, as Alertmanager's labelled counter does.
    write_errors: dict[str, int] = dataclasses.field(default_factory=dict)

    def write_failed(self, connection_type: str) -> None:
        self.write_errors[connection_type] = self.write_errors.get(connection_type, 0) + 1


class TlsTransport:
    """Alertmanager-compatible TLS transport: packets and streams over TLS/TCP."""

    def __init__(
        self,
        host: str,
        port: int,
        server_ssl: ssl.SSLContext,
        client_ssl: ssl.SSLContext,
        client_server_name: str = "",
    ) -> None:
        self.host = host
        self.port = port
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._client_server_name = client_server_name
        self._from_addr = ""
        self._pool: collections.OrderedDict[Address, _PooledConnection] = collections.OrderedDict()
        self._inbound = trio.CapacityLimiter(MAX_INBOUND_STREAMS)
        self.tls_counters = TlsCounters()

    async def serve(
        self, handler: TransportHandler, *, task_status: trio.TaskStatus[Address] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_ssl_over_tcp_listeners(self.port, self._server_ssl, host=self.host or None)
        tcp_listener = listeners[0].transport_listener
        assert isinstance(tcp_listener, trio.SocketListener)
        bound = tcp_listener.socket.getsockname()
        address = Address(str(bound[0]), int(bound[1]))
        self._from_addr = f"[{address.host}]:{address.port}" if ":" in address.host else f"{address.host}:{address.port}"
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, self._connection_task(handler), listeners)
                task_status.started(address)
        finally:
            for pooled in self._pool.values():
                await pooled.stream.aclose()
            self._pool.clear()

    def _connection_task(
        self, handler: TransportHandler
    ) -> Callable[[trio.SSLStream[trio.SocketStream]], Awaitable[None]]:
        async def serve_one(stream: trio.SSLStream[trio.SocketStream]) -> None:
            try:
                self._inbound.acquire_nowait()
            except trio.WouldBlock:
                await stream.aclose()
                return
            try:
                async with stream:
                    await self._serve_connection(handler, stream)
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, TransportError) as error:
                self.tls_counters.read_errors += 1
                logger.debug("TLS gossip connection error: %s", error)
            except Exception as error:  # a malformed frame must not take the listener down
                self.tls_counters.read_errors += 1
                logger.debug("TLS gossip connection dropped: %r", error)
            finally:
                self._inbound.release()

        return serve_one

    async def _serve_connection(self, handler: TransportHandler, stream: trio.SSLStream[trio.SocketStream]) -> None:
        remote = _peer_address(stream.transport_stream)
        buffer = bytearray()
        while True:
            body = await _read_tls_frame(stream, buffer)
            if body is None:
                self.tls_counters.read_errors += 1
                return
            version, kind, from_addr, message = decode_tls_message(body)
            if version != TLS_MESSAGE_VERSION:
                raise TransportError("tls memberlist message version incompatible")
            if kind == TLS_KIND_STREAM:
                self.tls_counters.streams_received += 1
                await handler.stream_received(remote, _BufferedStream(stream, bytes(buffer)))
                return
            if kind != TLS_KIND_PACKET:
                raise TransportError("could not read from either stream or packet channel")
            src = _parse_from_addr(from_addr, remote.host) or remote
            self.tls_counters.packet_bytes_received += len(message)
            await handler.packet_received(src, message)

    async def _dial(self, dest: Address) -> trio.SSLStream[trio.SocketStream]:
        with trio.fail_after(TLS_DIAL_TIMEOUT_S):
            tcp = await trio.open_tcp_stream(dest.host, dest.port)
            tls = trio.SSLStream(tcp, self._client_ssl, server_hostname=self._client_server_name or dest.host)
            await tls.do_handshake()
        return tls

    async def send_packet(self, dest: Address, data: bytes) -> None:
        pooled = self._pool.get(dest)
        try:
            if pooled is None:
                pooled = _PooledConnection(await self._dial(dest), trio.Lock())
                self._pool[dest] = pooled
                while len(self._pool) > TLS_POOL_CAPACITY:
                    _, evicted = self._pool.popitem(last=False)
                    await evicted.stream.aclose()
            self._pool.move_to_end(dest)
            async with pooled.lock:
                await pooled.stream.send_all(encode_tls_frame(TLS_KIND_PACKET, self._from_addr, data))
            self.tls_counters.packet_bytes_sent += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, ssl.SSLError) as error:
            self.tls_counters.write_failed("packet")
            if pooled is not None and self._pool.get(dest) is pooled:
                del self._pool[dest]
                await pooled.stream.aclose()
            raise OSError(errno.ECONNRESET, f"TLS packet to {dest}: {error}") from error
        except OSError:
            self.tls_counters.write_failed("packet")
            raise

    async def connect(self, dest: Address) -> trio.abc.Stream:
        try:
            tls = await self._dial(dest)
            await tls.send_all(encode_tls_frame(TLS_KIND_STREAM, "", b""))
        except (trio.BrokenResourceError, trio.TooSlowError, ssl.SSLError) as error:
            self.tls_counters.write_failed("stream")
            raise OSError(errno.ECONNRESET, f"TLS stream to {dest}: {error}") from error
        except OSError:
            self.tls_counters.write_failed("stream")
            raise
        self.tls_counters.streams_sent += 1
        return tls
