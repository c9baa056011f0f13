"""A lean HTTP/1.1 keep-alive transport for plain `http://` requests, under `httpx.AsyncClient`.

Why: httpcore's connection pool spends ~0.5 ms of CPU per request and scans its whole queue
of waiting requests whenever one finishes, so 20,000 aggregation groups flushing to one
webhook crawled at under 100 notifications a second where Alertmanager sends ~1,900. This
transport keeps the client (headers, auth, redirects, response decoding, the error classes)
and replaces only the pool: h11 frames the messages, trio moves the bytes, idle connections
wait in a per-origin stack, and a semaphore bounds the connections, so a waiting request
costs nothing until a slot frees.

Scope: `http://` URLs only. Everything else (TLS, HTTP/2) goes to the `fallback` transport
unchanged, and clients with a proxy never get this transport (see `notify.httpclient`).

Errors are translated at this boundary into httpx's own (`ConnectError`, `ReadError`,
`WriteError`, `RemoteProtocolError`), which `notify.httpclient.post_json` classifies as
retryable transport errors. A connection is returned to the pool only after a complete,
reusable exchange; a cancelled or failed one is closed.
"""

from __future__ import annotations

import h11
import httpx
import trio

# Connections open at once (in use or idle), as httpx's default pool allows; requests beyond
# it wait for a slot in FIFO order.
MAX_CONNECTIONS = 100
# An idle connection older than this is closed rather than reused (httpx's default): servers
# drop idle keep-alive connections, and one that has vanished would fail the next request.
KEEPALIVE_EXPIRY_SECONDS = 5.0
# One read from the socket; webhook responses are tiny, large ones take a few reads.
READ_CHUNK_BYTES = 64 * 1024
# A response head (status line and headers) larger than this is refused, as h11 does by
# default; no receiver Alertmanager talks to sends one.
MAX_RESPONSE_HEAD_BYTES = 64 * 1024
# Receivers answer with a few bytes of status text. The bound keeps a broken or hostile
# endpoint from filling memory through the notifier; past it the request fails.
MAX_RESPONSE_BODY_BYTES = 16 * 1024 * 1024

DEFAULT_HTTP_PORT = 80
SERVER_DISCONNECTED = "Server disconnected without sending a response."

Origin = tuple[str, int]


class _Connection:
    """One keep-alive connection: a trio stream and the h11 state machine framing it."""

    __slots__ = ("idle_since", "protocol", "stream")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.protocol = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD_BYTES)
        self.idle_since = 0.0

    def is_reusable(self, now: float) -> bool:
        """Fresh enough, and the server has neither closed it nor sent anything unasked."""
        if now - self.idle_since > KEEPALIVE_EXPIRY_SECONDS:
            return False
        return not self.stream.socket.is_readable()

    async def exchange(self, request: httpx.Request, body: bytes) -> tuple[h11.Response, bytes]:
        protocol = self.protocol
        outgoing = protocol.send(
            h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers.raw)
        )
        assert outgoing is not None
        if body:
            outgoing += protocol.send(h11.Data(data=body)) or b""
        outgoing += protocol.send(h11.EndOfMessage()) or b""
        try:
            await self.stream.send_all(outgoing)
        except (trio.BrokenResourceError, OSError) as error:
            raise httpx.WriteError(str(error) or type(error).__name__) from None

        head: h11.Response | None = None
        chunks: list[bytes] = []
        received = 0
        while True:
            try:
                event = protocol.next_event()
            except h11.RemoteProtocolError as error:
                raise httpx.RemoteProtocolError(str(error)) from None
            if event is h11.NEED_DATA:
                try:
                    data = await self.stream.receive_some(READ_CHUNK_BYTES)
                except (trio.BrokenResourceError, OSError) as error:
                    raise httpx.ReadError(str(error) or type(error).__name__) from None
                if not data and head is None:
                    # Typically a keep-alive connection the server closed as we reused it.
                    raise httpx.RemoteProtocolError(SERVER_DISCONNECTED)
                try:
                    protocol.receive_data(data)
                except h11.RemoteProtocolError as error:
                    raise httpx.RemoteProtocolError(str(error)) from None
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                received += len(event.data)
                if received > MAX_RESPONSE_BODY_BYTES:
                    raise httpx.ReadError(f"response body larger than {MAX_RESPONSE_BODY_BYTES} bytes")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return head, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError(SERVER_DISCONNECTED)
            # h11.InformationalResponse (1xx) is skipped: the final response follows.

    def finish_cycle(self) -> bool:
        """After a complete exchange: ready the connection for the next one, if it can be."""
        protocol = self.protocol
        if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE:
            protocol.start_next_cycle()
            return True
        return False


class Http11Transport(httpx.AsyncBaseTransport):
    """Plain-HTTP requests over pooled HTTP/1.1 connections; anything else to `fallback`."""

    def __init__(self, fallback: httpx.AsyncBaseTransport, *, max_connections: int = MAX_CONNECTIONS) -> None:
        self._fallback = fallback
        self._slots = trio.Semaphore(max_connections)
        # Idle connections per origin, most recently used last (reused first: least likely
        # to have been dropped by the server).
        self._idle: dict[Origin, list[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            return await self._fallback.handle_async_request(request)
        body = await request.aread()
        origin = (url.raw_host.decode("ascii"), url.port or DEFAULT_HTTP_PORT)
        async with self._slots:
            connection = self._take_idle(origin)
            if connection is None:
                connection = await self._connect(origin)
            try:
                head, content = await connection.exchange(request, body)
            except BaseException:
                await trio.aclose_forcefully(connection.stream)
                raise
            if connection.finish_cycle() and not self._closed:
                connection.idle_since = trio.current_time()
                self._idle.setdefault(origin, []).append(connection)
            else:
                await trio.aclose_forcefully(connection.stream)
        return httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            stream=httpx.ByteStream(content),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = trio.current_time()
        while idle:
            connection = idle.pop()
            if connection.is_reusable(now):
                return connection
            connection.stream.socket.close()
        return None

    @staticmethod
    async def _connect(origin: Origin) -> _Connection:
        host, port = origin
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError as error:
            raise httpx.ConnectError(str(error) or type(error).__name__) from None
        return _Connection(stream)

    async def aclose(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.stream.socket.close()
        self._idle.clear()
        await self._fallback.aclose()


__all__ = [
    "KEEPALIVE_EXPIRY_SECONDS",
    "MAX_CONNECTIONS",
    "MAX_RESPONSE_BODY_BYTES",
    "MAX_RESPONSE_HEAD_BYTES",
    "Http11Transport",
]
