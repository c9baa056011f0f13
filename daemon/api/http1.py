"""The API's HTTP/1.1 server on trio: keep-alive connections, requests answered one at a time
in arrival order (pipelining-safe), Content-Length and chunked bodies, `Expect:
100-continue`, optional TLS (`trio.SSLStream`), and Go net/http's answers to requests it
cannot parse, so clients see what Alertmanager's server would say.

Two layers, as in h11:
- pure functions: `find_head_end`, `parse_request_head` (raises `HttpError` with Go's status
  and text), `ChunkedDecoder` (bytes in, body bytes out), `encode_response`;
- `serve_connection`, the trio shell for one connection: it reads, feeds the pure part,
  calls the handler and writes the answer.

Why not hypercorn + ASGI (what the API ran on before): its per-request cost (h11 events, ASGI
messages, a task group per request) was about 400 us of CPU for a bare `GET /-/ready` and
60 % of a silence creation's; this server answers `/-/ready` in about 40 us.

Error boundary: `HttpError` is "the client sent something we refuse" (answered, then the
connection closes); `ConnectionLost` is "the client went away mid-request" (nothing to answer);
anything else a handler raises is our bug (logged, answered 500, connection closed).
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Protocol
from urllib.parse import unquote, unquote_to_bytes

import trio

from daemon.api.response import Response

logger = logging.getLogger(__name__)

# Request line plus headers. Go allows 1 MiB; 64 KiB leaves room for UI links carrying many
# `filter` matchers and still bounds what one connection can make us buffer.
MAX_REQUEST_HEAD_BYTES = 64 * 1024
# Once the first byte of a request has arrived, the whole head must follow within this time:
# a client trickling headers (slowloris) cannot hold a connection for long.
REQUEST_HEAD_TIMEOUT_SECONDS = 60.0
# An idle keep-alive connection is closed after this long. Go's server (Alertmanager's) keeps
# idle connections forever; Prometheus's client drops its own after 5 minutes, so with 10 the
# client closes first and never races a request against our close.
IDLE_CONNECTION_TIMEOUT_SECONDS = 600.0
# A TLS client must finish its handshake within this time.
TLS_HANDSHAKE_TIMEOUT_SECONDS = 60.0
# Bytes asked of the socket per read: a whole alert batch of Prometheus's usually arrives in
# one or two reads.
RECEIVE_BYTES = 64 * 1024
# A chunk-size line (hex size plus extensions) longer than this is garbage; Go's limit too.
MAX_CHUNK_LINE_BYTES = 4096
# Trailer section of a chunked body; bounded like the head it resembles.
MAX_TRAILER_BYTES = MAX_REQUEST_HEAD_BYTES
# A response body at least this large is sent after the head instead of joined to it (the
# join would copy megabytes of JSON for nothing).
SEPARATE_BODY_BYTES = 64 * 1024
# After answering a request we refuse, we stop writing and read (and drop) what the client is
# still sending for up to this long before closing, so the kernel does not reset the
# connection before the client has read the answer (Go's server waits 500 ms too).
CLOSE_LINGER_SECONDS = 0.5

CONTINUE_RESPONSE = b"HTTP/1.1 100 Continue\r\n\r\n"
_TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

# RFC 9110 token characters (method and header names).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters other than HTAB, CR and LF: one search over the whole head finds them.
_STRAY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Characters Go's httpguts.ValidHostHeader accepts in a Host header.
_HOST = re.compile(r"[0-9A-Za-z!$%&'()*+,\-.:;=\[\]_~]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_HEX = re.compile(r"[0-9A-Fa-f]{1,16}")
_COMMON_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
# Headers whose every occurrence matters (duplicates are refused or compared), not just the join.
_FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
# Header names seen before, already validated, with their lower-case form. Bounded, so a
# client inventing names cannot grow it; past the bound names are simply checked each time.
MAX_REMEMBERED_HEADER_NAMES = 512
_header_names: dict[str, str] = {}


class HttpError(Exception):
    """A request we refuse at the HTTP layer; answered as Go's net/http answers it, then the
    connection closes."""

    def __init__(self, status: int, detail: str = "", body: str | None = None) -> None:
        reason = HTTPStatus(status).phrase
        self.status = status
        self.status_text = f"{reason}: {detail}" if detail else reason
        self.body = body if body is not None else f"{status} {self.status_text}"
        super().__init__(self.status_text)

    def encode(self) -> bytes:
        return (
            f"HTTP/1.1 {self.status} {self.status_text}\r\nContent-Type: {_TEXT_CONTENT_TYPE}\r\n"
            f"Connection: close\r\n\r\n{self.body}"
        ).encode()


class ConnectionLost(Exception):
    """The client closed the connection in the middle of a request."""


# ------------------------------------------------------------------------------ parsing


@dataclass(slots=True)
class RequestHead:
    method: str
    target: str  # the request-target as sent
    path: str  # percent-decoded
    query_string: str  # as sent, after the `?`
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    http11: bool  # HTTP/1.1 (or a later 1.x); False for HTTP/1.0
    keep_alive: bool
    content_length: int  # -1 when the body is chunked
    expect_continue: bool
    # A non-empty Expect other than 100-continue: answered 417, as Go does.
    unsupported_expectation: bool = False


def find_head_end(buffer: bytes | bytearray, start: int = 0) -> int:
    """The index just past the blank line that ends the head, or -1. Lines may end in CRLF or
    a bare LF, as Go accepts. `start` skips what an earlier call already scanned."""
    crlf = buffer.find(b"\n\r\n", start)
    bare = buffer.find(b"\n\n", start, len(buffer) if crlf < 0 else crlf + 1)
    if bare >= 0:
        return bare + 2
    return crlf + 3 if crlf >= 0 else -1


def _parse_version(version: str) -> tuple[int, int]:
    """Go's ParseHTTPVersion: `HTTP/d.d` only."""
    if version == "HTTP/1.1":
        return 1, 1
    if version == "HTTP/1.0":
        return 1, 0
    if len(version) != len("HTTP/1.1") or not version.startswith("HTTP/") or version[6] != ".":
        raise HttpError(400)
    major, minor = version[5], version[7]
    if not (major.isdigit() and minor.isdigit() and major.isascii() and minor.isascii()):
        raise HttpError(400)
    return int(major), int(minor)


def _decode_path(raw: str) -> str:
    if "%" in raw and _BAD_ESCAPE.search(raw):
        raise HttpError(400)
    if raw.isascii():
        return unquote(raw) if "%" in raw else raw
    return unquote_to_bytes(raw.encode("latin-1")).decode("utf-8", "replace")


def _split_target(method: str, target: str) -> tuple[str, str]:
    """(decoded path, raw query) of a request-target in any of its four forms."""
    if target.startswith("/"):
        raw_path, _, query = target.partition("?")
        return _decode_path(raw_path), query
    if target == "*":
        return "*", ""
    scheme = _SCHEME.match(target)
    if scheme is not None:
        rest = target[scheme.end() :]
        slash = rest.find("/")
        if slash < 0:
            raw_path, _, query = "/", "", rest.partition("?")[2]
        else:
            raw_path, _, query = rest[slash:].partition("?")
        return _decode_path(raw_path), query
    if method == "CONNECT":
        return "", ""  # authority-form: no path, which no route matches
    raise HttpError(400)


def _header_tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


def _lowered_header_name(name: str) -> str:
    lowered = _header_names.get(name)
    if lowered is None:
        if not _TOKEN.fullmatch(name):
            raise HttpError(400, "invalid header name")
        lowered = name.lower()
        if len(_header_names) < MAX_REMEMBERED_HEADER_NAMES:
            _header_names[name] = lowered
    return lowered


def parse_request_head(head: bytes | bytearray) -> RequestHead:
    """A request line and headers (through the blank line) as Go's net/http reads them;
    raises HttpError with Go's answer for anything it refuses."""
    text = head.decode("latin-1")
    lines = text.split("\n")
    request_line = lines[0].removesuffix("\r")
    parts = request_line.split(" ", 2)
    if len(parts) != 3:
        raise HttpError(400)
    method, target, version = parts
    if (method not in _COMMON_METHODS and not _TOKEN.fullmatch(method)) or _CONTROL.search(target):
        raise HttpError(400)
    major, minor = _parse_version(version)
    if major != 1:
        raise HttpError(505, "unsupported protocol version")
    has_stray_controls = _STRAY_CONTROL.search(text) is not None
    headers: dict[str, str] = {}
    framing: list[tuple[str, str]] = []
    last_name = ""
    for index in range(1, len(lines)):
        line = lines[index].removesuffix("\r")
        if not line:
            break
        if line[0] in " \t":
            if not last_name:
                raise HttpError(400)  # Go: malformed MIME header initial line
            continued = line.strip(" \t")
            headers[last_name] = f"{headers[last_name]} {continued}"
            continue
        name, colon, value = line.partition(":")
        if not colon or not name:
            raise HttpError(400)  # Go: malformed MIME header line
        lowered = _header_names.get(name) or _lowered_header_name(name)
        value = value.strip(" \t")
        if (has_stray_controls or "\r" in value) and _CONTROL.search(value):
            raise HttpError(400, "invalid header value")
        if lowered in _FRAMING_HEADERS:
            framing.append((lowered, value))
        previous = headers.get(lowered)
        headers[lowered] = value if previous is None else f"{previous}, {value}"
        last_name = lowered
    http11 = minor >= 1
    content_length = _check_framing(method, http11, framing) if framing else 0
    if not framing and http11 and method != "CONNECT":
        raise HttpError(400, "missing required Host header")
    path, query_string = _split_target(method, target)
    connection = headers.get("connection")
    if connection is None:
        keep_alive = http11
    else:
        tokens = _header_tokens(connection)
        keep_alive = "close" not in tokens if http11 else "keep-alive" in tokens
    expect = headers.get("expect")
    expect_continue = unsupported_expectation = False
    if expect is not None:
        if expect.lower() == "100-continue":
            expect_continue = http11 and content_length != 0
        else:
            unsupported_expectation = expect != ""
    return RequestHead(
        method,
        target,
        path,
        query_string,
        headers,
        http11,
        keep_alive,
        content_length,
        expect_continue,
        unsupported_expectation,
    )


# Heads parsed before, by their bytes: a client repeats the same head (its headers, often its
# Content-Length too) request after request, and parsing one costs several microseconds where
# a lookup and a copy cost one. Bounded in entries and in the size of a head remembered.
MAX_REMEMBERED_HEADS = 256
MAX_REMEMBERED_HEAD_BYTES = 2048
_parsed_heads: dict[bytes, RequestHead] = {}


def parse_request_head_memoised(head: bytes) -> RequestHead:
    """`parse_request_head`, remembering recent results (refusals are not remembered). Every
    call returns its own RequestHead and headers dict, so a caller may change them."""
    known = _parsed_heads.get(head)
    if known is None:
        known = parse_request_head(head)
        if len(head) <= MAX_REMEMBERED_HEAD_BYTES:
            if len(_parsed_heads) >= MAX_REMEMBERED_HEADS:
                del _parsed_heads[next(iter(_parsed_heads))]  # the oldest
            _parsed_heads[head] = known
    return RequestHead(
        known.method,
        known.target,
        known.path,
        known.query_string,
        dict(known.headers),
        known.http11,
        known.keep_alive,
        known.content_length,
        known.expect_continue,
        known.unsupported_expectation,
    )


def _check_framing(method: str, http11: bool, framing: list[tuple[str, str]]) -> int:
    """Host rules, then the body's length from the framing headers (see `_body_length`)."""
    hosts = [value for name, value in framing if name == "host"]
    if len(hosts) > 1:
        raise HttpError(400)
    if not hosts and http11 and method != "CONNECT":
        raise HttpError(400, "missing required Host header")
    if hosts and not _HOST.fullmatch(hosts[0]):
        raise HttpError(400, "malformed Host header")
    lengths = [value for name, value in framing if name == "content-length"]
    encodings = [value for name, value in framing if name == "transfer-encoding"] if http11 else []
    return _body_length(lengths, encodings)


def _body_length(lengths: list[str], encodings: list[str]) -> int:
    """The body's length from its framing headers, -1 for chunked (which wins over any
    Content-Length, as in Go)."""
    if encodings:
        if len(encodings) > 1 or encodings[0].lower() != "chunked":
            raise HttpError(501, body="Unsupported transfer encoding")
        return -1
    if not lengths:
        return 0
    first = lengths[0]
    if any(other != first for other in lengths[1:]):
        raise HttpError(400)  # Go: multiple Content-Length headers
    if first == "":
        return 0
    if not (first.isascii() and first.isdigit()) or len(first) > len(str(2**63 - 1)):
        raise HttpError(400)  # Go: bad Content-Length
    return int(first)


class ChunkedDecoder:
    """Sans-IO decoder of a chunked body: `feed` takes bytes from the connection and returns
    the body bytes they complete and how many input bytes it consumed; `done` once the
    last chunk and its trailers have been read."""

    def __init__(self) -> None:
        self._remaining = 0  # data bytes left in the current chunk
        self._state = "size"  # size | data | data-end | trailers | done
        self._trailer_bytes = 0

    @property
    def done(self) -> bool:
        return self._state == "done"

    def feed(self, data: bytes | bytearray) -> tuple[bytes, int]:
        """Body bytes decodable from the start of `data`, and the number of bytes consumed."""
        pieces: list[bytes] = []
        position = 0
        size = len(data)
        while position < size and self._state != "done":
            state = self._state
            if state == "data":
                take = min(self._remaining, size - position)
                pieces.append(bytes(data[position : position + take]))
                position += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "data-end"
                continue
            if state == "data-end":
                # Exactly CRLF after the data, as Go's chunked reader demands.
                ending = bytes(data[position : position + 2])
                if ending != b"\r\n"[: len(ending)]:
                    raise HttpError(400)
                if len(ending) < 2:
                    break
                position += 2
                self._state = "size"
                continue
            line_end = data.find(b"\n", position)
            if line_end < 0:
                pending = size - position
                limit = MAX_CHUNK_LINE_BYTES if state != "trailers" else MAX_TRAILER_BYTES - self._trailer_bytes
                if pending > limit:
                    raise HttpError(400)
                break
            line = bytes(data[position:line_end]).removesuffix(b"\r")
            position = line_end + 1
            if state == "size":
                self._remaining = _chunk_size(line)
                self._state = "data" if self._remaining else "trailers"
            else:  # trailers, through an empty line; their content is not used
                self._trailer_bytes += len(line) + 2
                if self._trailer_bytes > MAX_TRAILER_BYTES:
                    raise HttpError(431)
                if not line:
                    self._state = "done"
        return b"".join(pieces), position


def _chunk_size(line: bytes) -> int:
    if len(line) > MAX_CHUNK_LINE_BYTES:
        raise HttpError(400)
    digits = line.split(b";", 1)[0].rstrip(b" \t").decode("latin-1")
    if not _HEX.fullmatch(digits):
        raise HttpError(400)
    return int(digits, 16)


# ------------------------------------------------------------------------------ responses


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} status code {status}"  # Go's text for a code it has no name for


_STATUS_LINES: dict[int, str] = {status.value: _status_line(status.value) for status in HTTPStatus}
_NO_BODY_STATUSES = frozenset({204, 304})


class _DateCache:
    """The Date header, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._text = formatdate(second, usegmt=True)
        return self._text


_dates = _DateCache()


def _header_value(value: str) -> str:
    # Go's header writer turns newlines into spaces, so no value can split the response.
    if "\r" in value or "\n" in value:
        return value.replace("\r", " ").replace("\n", " ")
    return value


def encode_response_head(
    response: Response, *, http11: bool, body_length: int | None, connection: str | None, date: str
) -> bytes:
    """Status line and headers: the handler's headers sorted by name (Go writes its header map
    sorted), then Date, Content-Length (None: none), Connection (None: none)."""
    # Most answers carry few short headers of their own (the API's `Vary: Origin`) and repeat
    # within a second (same status, type, headers and length): their head is remembered
    # instead of formatted again.
    headers = response.headers
    key: tuple[object, ...] = (response.status, response.content_type, http11, body_length, connection, date)
    if headers:
        if len(headers) > MAX_REMEMBERED_RESPONSE_HEADERS:
            return _build_response_head(
                response, http11=http11, body_length=body_length, connection=connection, date=date
            )
        for _, value in headers:
            if len(value) > MAX_REMEMBERED_RESPONSE_HEADER_VALUE:
                return _build_response_head(
                    response, http11=http11, body_length=body_length, connection=connection, date=date
                )
        key = (*key, *headers)
    head = _response_heads.get(key)
    if head is None:
        if len(_response_heads) >= MAX_REMEMBERED_RESPONSE_HEADS:
            _response_heads.clear()  # mostly heads of past seconds
        head = _response_heads[key] = _build_response_head(
            response, http11=http11, body_length=body_length, connection=connection, date=date
        )
    return head


# Response heads, by everything they are made of (the Date included), for answers with at
# most this many handler headers, none longer than this: the API's own headers, not a
# Location echoing a long request path.
MAX_REMEMBERED_RESPONSE_HEADS = 256
MAX_REMEMBERED_RESPONSE_HEADERS = 4
MAX_REMEMBERED_RESPONSE_HEADER_VALUE = 128
_response_heads: dict[tuple[object, ...], bytes] = {}


def _build_response_head(
    response: Response, *, http11: bool, body_length: int | None, connection: str | None, date: str
) -> bytes:
    lines = [f"HTTP/1.{1 if http11 else 0} {_STATUS_LINES.get(response.status) or _status_line(response.status)}"]
    headers = response.headers
    if response.content_type is not None:
        headers = [*headers, ("Content-Type", response.content_type)]
    if len(headers) > 1:
        headers = sorted(headers, key=lambda header: header[0].lower())
    lines.extend(f"{name}: {_header_value(value)}" for name, value in headers)
    lines.append(f"Date: {date}")
    if body_length is not None:
        lines.append(f"Content-Length: {body_length}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode()


# ------------------------------------------------------------------------------ the shell


class RequestBody(Protocol):
    """How a handler reads the body of its request."""

    def complete_body(self) -> bytes | None:
        """The whole body if it has already arrived (taking it), else None: then `receive`."""

    async def receive(self) -> bytes:
        """The next piece of the body; b"" once it is complete."""


Handler = Callable[[RequestHead, RequestBody], Awaitable[Response]]


class _ByteStream(Protocol):
    """What a connection needs of its transport: a plain socket or a TLS stream."""

    async def receive_some(self, max_bytes: int) -> bytes: ...

    async def send_all(self, data: bytes) -> None: ...

    async def send_eof(self) -> None: ...

    async def settle(self) -> None:
        """Let other tasks run if this request never had to wait (fairness)."""


class _SocketBytes:
    """A plain TCP connection driven straight through its file descriptor: trio's socket
    methods add a scheduling round trip to every call, which costs more than parsing a
    request. We wait for readiness only when the kernel says "would block", and `settle`
    gives the other tasks their turn once per request in which we never waited."""

    def __init__(self, connection: trio.socket.SocketType) -> None:
        self._socket = connection
        self._fd = connection.fileno()
        self._waited = False
        self._sent_since_read = False

    async def receive_some(self, max_bytes: int) -> bytes:
        if self._sent_since_read:
            # A client reads our answer before it sends again (unless it pipelines, and then
            # the head is usually in our buffer already): a read now would almost always fail
            # with EAGAIN, an exception and a syscall spent for nothing.
            self._sent_since_read = False
            self._waited = True
            await trio.lowlevel.wait_readable(self._fd)
        while True:
            try:
                return os.read(self._fd, max_bytes)
            except BlockingIOError:
                self._waited = True
                await trio.lowlevel.wait_readable(self._fd)
            except OSError as error:
                raise ConnectionLost from error

    async def send_all(self, data: bytes) -> None:
        self._sent_since_read = True
        try:
            # Almost always the kernel takes a whole answer at once.
            written = os.write(self._fd, data)
        except BlockingIOError:
            written = 0
        except OSError as error:
            raise ConnectionLost from error
        if written == len(data):
            return
        view = memoryview(data)[written:]
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:
                self._waited = True
                await trio.lowlevel.wait_writable(self._fd)
            except OSError as error:
                raise ConnectionLost from error

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint()
        try:
            self._socket.shutdown(socket.SHUT_WR)
        except OSError as error:
            raise ConnectionLost from error

    async def settle(self) -> None:
        if not self._waited:
            await trio.lowlevel.checkpoint()
        self._waited = False


class _StreamBytes:
    """Any trio stream: TLS (which has no half-close: closing sends close_notify) or, in
    tests, an in-memory one."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream

    async def receive_some(self, max_bytes: int) -> bytes:
        return bytes(await self._stream.receive_some(max_bytes))

    async def send_all(self, data: bytes) -> None:
        await self._stream.send_all(data)

    async def send_eof(self) -> None:
        if isinstance(self._stream, trio.abc.HalfCloseableStream):
            await self._stream.send_eof()
        else:
            await trio.lowlevel.checkpoint()

    async def settle(self) -> None:
        """Nothing to do: every operation of a trio stream is a checkpoint already."""


class _Connection:
    """One client connection: requests in, answers out, strictly one after the other."""

    def __init__(self, stream: _ByteStream, handler: Handler) -> None:
        self._stream = stream
        self._handler = handler
        self._buffer = bytearray()
        # One scope for the whole connection, cancelled by `watch_timeouts` once the current
        # phase's deadline passes: the idle or head timeout while a request head is awaited,
        # none (inf) while a handler runs. The deadline is a plain number, because moving a
        # cancel scope's deadline twice per request (trio keeps them in a heap) cost more than
        # parsing the request; the watchdog's own scope is moved only when a deadline comes
        # earlier than the time it sleeps until (a slow head, a handler that outlived it).
        self._timeouts = trio.CancelScope()
        self._deadline = math.inf
        self._watchdog_wake = trio.CancelScope()
        # Body state of the request being handled.
        self._body_remaining = 0  # Content-Length bytes not yet handed out
        self._chunked: ChunkedDecoder | None = None
        self._continue_pending = False

    def _set_deadline(self, deadline: float) -> None:
        self._deadline = deadline
        if deadline < self._watchdog_wake.deadline:
            self._watchdog_wake.deadline = deadline

    async def watch_timeouts(self) -> None:
        """Cancel the connection once its deadline passes; runs beside `run` until it ends."""
        while True:
            deadline = self._deadline
            if trio.current_time() >= deadline:
                self._timeouts.cancel()
                return
            with trio.CancelScope(deadline=deadline) as self._watchdog_wake:
                await trio.sleep_forever()

    async def run(self) -> None:
        with self._timeouts:
            while True:
                head_bytes = await self._read_head()
                if head_bytes is None:
                    return
                try:
                    request = parse_request_head_memoised(head_bytes)
                except HttpError as error:
                    await self._refuse(error)
                    return
                if not await self._answer(request):
                    await self._close_gracefully()
                    return
                await self._stream.settle()

    async def _answer(self, request: RequestHead) -> bool:
        """Handle one request; True when the connection stays open for the next."""
        if request.unsupported_expectation:
            await self._send(request, Response(417), keep_alive=False)
            return False
        if request.method == "OPTIONS" and request.target == "*":
            # Go's server answers this itself, before any handler.
            await self._send(request, Response(200), keep_alive=request.keep_alive)
            return request.keep_alive
        self._chunked = ChunkedDecoder() if request.content_length < 0 else None
        self._body_remaining = max(request.content_length, 0)
        self._continue_pending = request.expect_continue
        try:
            response = await self._handler(request, self)
        except HttpError as error:
            await self._stream.send_all(error.encode())
            return False
        except (ConnectionLost, trio.BrokenResourceError, trio.ClosedResourceError):
            raise
        except Exception:
            logger.exception("Error while serving a request", extra={"method": request.method, "path": request.path})
            await self._send(request, Response(500, b"Internal Server Error\n", _TEXT_CONTENT_TYPE), keep_alive=False)
            return False
        keep_alive = request.keep_alive and self._discard_unread_body()
        await self._send(request, response, keep_alive=keep_alive)
        return keep_alive

    # -- reading

    async def _read_head(self) -> bytes | None:
        """The next request's head, or None when the client closed or timed out."""
        buffer = self._buffer
        end = find_head_end(buffer)
        if end < 0:
            scanned = len(buffer)
            waiting_since_idle = not buffer
            timeout = IDLE_CONNECTION_TIMEOUT_SECONDS if waiting_since_idle else REQUEST_HEAD_TIMEOUT_SECONDS
            self._set_deadline(trio.current_time() + timeout)
            while end < 0:
                if len(buffer) > MAX_REQUEST_HEAD_BYTES:
                    await self._refuse(HttpError(431))
                    return None
                data = await self._stream.receive_some(RECEIVE_BYTES)
                if not data:
                    return None
                buffer += data
                # The blank line may straddle the previous read: rescan its last bytes.
                end = find_head_end(buffer, max(0, scanned - 2))
                scanned = len(buffer)
                if waiting_since_idle:
                    waiting_since_idle = False
                    if end < 0:
                        self._set_deadline(trio.current_time() + REQUEST_HEAD_TIMEOUT_SECONDS)
            self._deadline = math.inf  # never earlier than the watchdog's wake-up
        if end > MAX_REQUEST_HEAD_BYTES:
            await self._refuse(HttpError(431))
            return None
        head = bytes(buffer[:end])
        del buffer[:end]
        return head

    async def _fill(self) -> None:
        data = await self._stream.receive_some(RECEIVE_BYTES)
        if not data:
            raise ConnectionLost
        self._buffer += data

    def complete_body(self) -> bytes | None:
        if self._chunked is not None or self._continue_pending:
            return None
        remaining = self._body_remaining
        buffer = self._buffer
        if len(buffer) < remaining:
            return None
        self._body_remaining = 0
        if len(buffer) == remaining:
            body = bytes(buffer)
            buffer.clear()
            return body
        body = bytes(buffer[:remaining])
        del buffer[:remaining]
        return body

    async def receive(self) -> bytes:
        if self._continue_pending:
            self._continue_pending = False
            await self._stream.send_all(CONTINUE_RESPONSE)
        buffer = self._buffer
        decoder = self._chunked
        if decoder is None:
            remaining = self._body_remaining
            if remaining == 0:
                return b""
            if not buffer:
                await self._fill()
            if len(buffer) <= remaining:
                piece = bytes(buffer)
                buffer.clear()
            else:
                piece = bytes(buffer[:remaining])
                del buffer[:remaining]
            self._body_remaining = remaining - len(piece)
            return piece
        while not decoder.done:
            if buffer:
                piece, consumed = decoder.feed(buffer)
                del buffer[:consumed]
                if piece:
                    return piece
                if decoder.done:
                    break
            await self._fill()
        return b""

    def _discard_unread_body(self) -> bool:
        """Skip what the handler left unread of the body if it has already arrived; False when
        the connection cannot be reused (the rest is still on its way, or was never asked
        for after `Expect: 100-continue`)."""
        if self._continue_pending:
            return False
        if self._chunked is not None:
            if not self._chunked.done:
                try:
                    _, consumed = self._chunked.feed(self._buffer)
                except HttpError:
                    return False
                del self._buffer[:consumed]
            return self._chunked.done
        if self._body_remaining:
            if len(self._buffer) < self._body_remaining:
                return False
            del self._buffer[: self._body_remaining]
            self._body_remaining = 0
        return True

    # -- writing

    async def _send(self, request: RequestHead, response: Response, *, keep_alive: bool) -> None:
        body = response.body
        if response.status in _NO_BODY_STATUSES or 100 <= response.status < 200:
            body_length: int | None = None
            body = b""
        else:
            body_length = len(body)
            if request.method == "HEAD":
                body = b""
        # HTTP/1.1 says when it closes; HTTP/1.0 says when it stays open (closing is implied).
        if request.http11:
            connection: str | None = None if keep_alive else "close"
        else:
            connection = "keep-alive" if keep_alive else None
        head = encode_response_head(
            response, http11=request.http11, body_length=body_length, connection=connection, date=_dates.now()
        )
        if len(body) < SEPARATE_BODY_BYTES:
            await self._stream.send_all(head + body)
        else:
            await self._stream.send_all(head)
            await self._stream.send_all(body)

    async def _refuse(self, error: HttpError) -> None:
        await self._stream.send_all(error.encode())
        await self._close_gracefully()

    async def _close_gracefully(self) -> None:
        """Half-close, then drop what the client still sends for a moment: closing with
        unread data would reset the connection and could destroy our answer in flight."""
        await self._stream.send_eof()
        self._set_deadline(trio.current_time() + CLOSE_LINGER_SECONDS)
        while await self._stream.receive_some(RECEIVE_BYTES):
            pass


async def serve_connection(
    stream: trio.abc.Stream, handler: Handler, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Serve one accepted connection until it closes. Never raises for client behaviour."""
    transport: _ByteStream
    try:
        if ssl_context is not None:
            stream = trio.SSLStream(stream, ssl_context, server_side=True, https_compatible=True)
            with trio.fail_after(TLS_HANDSHAKE_TIMEOUT_SECONDS):
                await stream.do_handshake()
        if isinstance(stream, trio.SocketStream):
            transport = _SocketBytes(stream.socket)
        else:
            transport = _StreamBytes(stream)
        connection = _Connection(transport, handler)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(connection.watch_timeouts)
            try:
                await _run_quietly(connection.run())
            finally:
                nursery.cancel_scope.cancel()
    except _CLIENT_FAILURES:
        pass
    except Exception:
        # Our bug; it must not take the listener (and every other connection) down with it.
        logger.exception("Error while serving a connection")
    finally:
        await trio.aclose_forcefully(stream)


# What a client's behaviour can make a connection end with: nothing to log.
_CLIENT_FAILURES = (trio.TooSlowError, ConnectionLost, trio.BrokenResourceError, trio.ClosedResourceError, OSError)


async def _run_quietly(work: Awaitable[None]) -> None:
    """`work`, with the client's failures dropped and our bugs logged, inside the nursery
    (whose exception groups the handlers of serve_connection would not catch)."""
    try:
        await work
    except _CLIENT_FAILURES:
        pass
    except Exception:
        logger.exception("Error while serving a connection")


def listen_socket(address: str, backlog: int) -> socket.socket:
    """A bound, listening TCP socket for Go's `host:port` (`:port`: every IPv4 interface)."""
    host, _, port_text = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if port_text.isdigit():
        port = int(port_text)
    else:
        try:
            port = socket.getservbyname(port_text, "tcp")  # Go takes service names too
        except OSError:
            raise OSError(f"address tcp/{port_text}: unknown port") from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(backlog)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


def socket_url(listener: socket.socket, scheme: str) -> str:
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if listener.family == socket.AF_INET6 else host
    return f"{scheme}://{shown}:{port}"
