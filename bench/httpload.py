"""Minimal, fast HTTP/1.1 plumbing for the benchmark: a keep-alive client and a recording sink.

Why not httpx here: the load generator must not be the bottleneck, and a general client
spends more CPU per request than a Go server spends answering it. Request bytes are built
before the clock starts, and the sink defers all parsing of bodies until after the run, so
both sides of the measurement cost little more than the syscalls.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

HEADER_END = b"\r\n\r\n"
# A response head larger than this is not what these daemons send; refuse instead of buffering.
MAX_HEADER_BYTES = 64 * 1024
# asyncio's stream buffer: large enough that a multi-megabyte GET body streams in big reads.
STREAM_LIMIT_BYTES = 4 * 1024 * 1024
SINK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def build_request(method: str, path: str, port: int, body: bytes | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "User-Agent: tocsin-bench"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


class HttpProtocolError(RuntimeError):
    pass


@dataclass
class Response:
    status: int
    length: int
    body: bytes | None  # only when asked for: keeping 100 MB of JSON around costs memory


class RawConnection:
    """One keep-alive connection; requests on it are strictly sequential."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.reconnects = 0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                "127.0.0.1", self.port, limit=STREAM_LIMIT_BYTES
            )
        return self._reader, self._writer

    async def send(self, request_bytes: bytes, keep_body: bool = False) -> Response:
        reused = self._reader is not None
        try:
            return await self._send_once(request_bytes, keep_body)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            # A server may close an idle keep-alive connection just as we reuse it; like any
            # HTTP client, retry once on a fresh connection. A fresh connection failing is real.
            await self.close()
            if not reused or (isinstance(error, asyncio.IncompleteReadError) and error.partial):
                raise
            self.reconnects += 1
            return await self._send_once(request_bytes, keep_body)

    async def _send_once(self, request_bytes: bytes, keep_body: bool) -> Response:
        reader, writer = await self._connect()
        writer.write(request_bytes)
        await writer.drain()
        head = await reader.readuntil(HEADER_END)
        if len(head) > MAX_HEADER_BYTES:
            raise HttpProtocolError("response head too large")
        status_line, *header_lines = head[:-4].split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            body = await reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await self._read_chunked(reader)
        else:
            body = await reader.read()  # close-delimited
            await self.close()
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return Response(status, len(body), body if keep_body else None)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from these servers
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self._reader = self._writer = None


# ---------------------------------------------------------------------------- sink


@dataclass
class SinkRecord:
    arrived_at: float  # time.perf_counter()
    body: bytes


@dataclass
class SinkState:
    records: list[SinkRecord] = field(default_factory=list)
    waiter: asyncio.Event = field(default_factory=asyncio.Event)
    target_count: int = 0
    transports: list[asyncio.Transport] = field(default_factory=list)

    def add(self, record: SinkRecord) -> None:
        self.records.append(record)
        if self.target_count and len(self.records) >= self.target_count:
            self.waiter.set()


class _SinkProtocol(asyncio.Protocol):
    def __init__(self, state: SinkState) -> None:
        self._state = state
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._state.transports.append(transport)

    def data_received(self, data: bytes) -> None:
        arrived_at = time.perf_counter()
        self._buffer += data
        while True:
            head_end = self._buffer.find(HEADER_END)
            if head_end < 0:
                return
            head = bytes(self._buffer[:head_end]).lower()
            marker = head.find(b"content-length:")
            if marker < 0:
                raise HttpProtocolError("sink: request without Content-Length")
            line_end = head.find(b"\r\n", marker)
            length = int(head[marker + len(b"content-length:") : line_end if line_end >= 0 else None])
            total = head_end + len(HEADER_END) + length
            if len(self._buffer) < total:
                return
            self._state.add(SinkRecord(arrived_at, bytes(self._buffer[head_end + len(HEADER_END) : total])))
            del self._buffer[:total]
            assert self._transport is not None
            self._transport.write(SINK_RESPONSE)


class RecordingSinkServer:
    """An asyncio webhook endpoint that answers 200 at once and keeps bodies for later."""

    def __init__(self) -> None:
        self.state = SinkState()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _SinkProtocol(self.state), "127.0.0.1", 0, backlog=1024
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def wait_for(self, count: int) -> None:
        """Return once `count` requests have arrived (callers bound it with asyncio.timeout)."""
        self.state.target_count = count
        if len(self.state.records) < count:
            await self.state.waiter.wait()

    async def close(self) -> None:
        for transport in self.state.transports:
            transport.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
