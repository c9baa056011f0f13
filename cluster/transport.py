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

import errno
import ipaddress
import logging
import socket as stdlib_socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import trio

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
        self._udp: trio.socket.SocketType | None = None
        self._inbound = trio.CapacityLimiter(MAX_INBOUND_STREAMS)

    async def _bind(self) -> tuple[list[trio.SocketListener], trio.socket.SocketType]:
        family = address_family(self.host)
        last_error: OSError | None = None
        for _ in range(PORT_PAIR_ATTEMPTS):
            listeners = await trio.open_tcp_listeners(self.port, host=self.host or None)
            port = listeners[0].socket.getsockname()[1]
            udp = trio.socket.socket(family, stdlib_socket.SOCK_DGRAM)
            try:
                await udp.bind((self.host, port))
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

    async def _receive_packets(self, udp: trio.socket.SocketType, handler: TransportHandler) -> None:
        while True:
            try:
                data, src = await udp.recvfrom(MAX_DATAGRAM_BYTES)
            except OSError as error:
                # ICMP errors from earlier sends surface here on some systems; keep going.
                logger.debug("UDP receive error: %s", error)
                continue
            await handler.packet_received(Address(str(src[0]), int(src[1])), data)

    async def send_packet(self, dest: Address, data: bytes) -> None:
        if self._udp is None:
            raise OSError(errno.ENOTCONN, "transport is not serving")
        await self._udp.sendto(data, (dest.host, dest.port))

    async def connect(self, dest: Address) -> trio.abc.Stream:
        stream = await trio.open_tcp_stream(dest.host, dest.port)
        if self._client_ssl is None:
            return stream
        tls = trio.SSLStream(stream, self._client_ssl, server_hostname=self._client_server_name or dest.host)
        await tls.do_handshake()
        return tls
