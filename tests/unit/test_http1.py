"""The API's HTTP/1.1 server (`daemon.api.http1`): the pure parser and encoder, then the
connection shell over an in-memory stream in virtual time.

The refusals are Go net/http's answers as the real Alertmanager 0.25 gives them (checked by
hand with raw sockets against `prometheus-alertmanager`: status line, body, close)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from daemon.api.http1 import (
    CONTINUE_RESPONSE,
    IDLE_CONNECTION_TIMEOUT_SECONDS,
    MAX_REQUEST_HEAD_BYTES,
    REQUEST_HEAD_TIMEOUT_SECONDS,
    ChunkedDecoder,
    HttpError,
    RequestBody,
    RequestHead,
    encode_response_head,
    find_head_end,
    listen_socket,
    parse_request_head,
    serve_connection,
    socket_url,
)
from daemon.api.response import Response

# ------------------------------------------------------------------------------ parser


def test_a_plain_request_is_parsed() -> None:
    head = parse_request_head(
        b"POST /api/v2/silences?filter=a%3D1&x HTTP/1.1\r\nHost: am:9093\r\nContent-Type: application/json\r\n"
        b"Content-Length: 12\r\nX-Multi: a\r\nx-multi: b\r\n\r\n"
    )
    assert (head.method, head.path, head.query_string) == ("POST", "/api/v2/silences", "filter=a%3D1&x")
    assert head.headers == {
        "host": "am:9093",
        "content-type": "application/json",
        "content-length": "12",
        "x-multi": "a, b",
    }
    assert (head.http11, head.keep_alive, head.content_length, head.expect_continue) == (True, True, 12, False)


@pytest.mark.parametrize(
    ("raw", "status_line", "body"),
    [
        (b"GARBAGE\r\n\r\n", "400 Bad Request", "400 Bad Request"),
        (b"GET / HTTP/2.5\r\nHost: x\r\n\r\n", "505 HTTP Version Not Supported: unsupported protocol version",
         "505 HTTP Version Not Supported: unsupported protocol version"),
        (b"GET / HTTP/1.10\r\nHost: x\r\n\r\n", "400 Bad Request", "400 Bad Request"),
        (b"GET /-/ready HTTP/1.1\r\n\r\n", "400 Bad Request: missing required Host header",
         "400 Bad Request: missing required Host header"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", "400 Bad Request", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", "400 Bad Request: invalid header name",
         "400 Bad Request: invalid header name"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", "400 Bad Request: invalid header value",
         "400 Bad Request: invalid header value"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "501 Not Implemented",
         "Unsupported transfer encoding"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400 Bad Request",
         "400 Bad Request"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "400 Bad Request", "400 Bad Request"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "400 Bad Request", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "400 Bad Request", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: x y\r\n\r\n", "400 Bad Request: malformed Host header",
         "400 Bad Request: malformed Host header"),
        (b"GET /-/re%zzdy HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request", "400 Bad Request"),
        (b"GET ready HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request", "400 Bad Request"),
        (b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", "400 Bad Request", "400 Bad Request"),
    ],
)
def test_refusals_are_go_net_https(raw: bytes, status_line: str, body: str) -> None:
    with pytest.raises(HttpError) as refused:
        parse_request_head(raw[: find_head_end(raw)])
    expected = f"HTTP/1.1 {status_line}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{body}"
    assert refused.value.encode() == expected.encode()


def test_what_go_accepts_is_accepted() -> None:
    bare_lf = parse_request_head(b"GET /-/ready HTTP/1.1\nHost: x\n\n")
    assert (bare_lf.path, bare_lf.headers) == ("/-/ready", {"host": "x"})
    folded = parse_request_head(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\t b\r\n\r\n")
    assert folded.headers["x-a"] == "a b"
    absolute = parse_request_head(b"GET http://x/-/ready?a=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (absolute.path, absolute.query_string) == ("/-/ready", "a=1")
    escaped = parse_request_head(b"GET /-/re%61dy/%E2%9C%93?x=%zz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (escaped.path, escaped.query_string) == ("/-/ready/\u2713", "x=%zz")
    lower_method = parse_request_head(b"get / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert lower_method.method == "get"
    asterisk = parse_request_head(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert asterisk.path == "*"


def test_connection_persistence_follows_the_version() -> None:
    assert parse_request_head(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n").keep_alive is False
    assert parse_request_head(b"GET / HTTP/1.0\r\n\r\n").keep_alive is False
    assert parse_request_head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive is True


def test_body_framing() -> None:
    chunked = parse_request_head(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nContent-Length: 5\r\n\r\n")
    assert chunked.content_length == -1  # chunked wins over Content-Length, as in Go
    same_twice = parse_request_head(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n")
    assert same_twice.content_length == 3
    # HTTP/1.0 knows no Transfer-Encoding: the body is empty.
    old = parse_request_head(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert old.content_length == 0
    expects = parse_request_head(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n")
    assert (expects.expect_continue, expects.unsupported_expectation) == (True, False)
    odd = parse_request_head(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n")
    assert odd.unsupported_expectation is True


def test_head_end_with_either_line_ending() -> None:
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY") == len(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert find_head_end(b"GET / HTTP/1.1\nHost: x\n\nBODY\r\n\r\n") == len(b"GET / HTTP/1.1\nHost: x\n\n")
    assert find_head_end(b"GET / HTTP/1.1\nHost: x\n\r\n") == len(b"GET / HTTP/1.1\nHost: x\n\r\n")
    assert find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n") == -1
    # A later call may start scanning where the previous one stopped, minus a straddle.
    buffer = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert find_head_end(buffer, len(buffer) - 4) == len(buffer)


def encode_chunked(body: bytes, sizes: list[int]) -> bytes:
    out = []
    position = 0
    for size in sizes:
        piece = body[position : position + size]
        if not piece:
            break
        out.append(f"{len(piece):X};ext=1\r\n".encode() + piece + b"\r\n")
        position += len(piece)
    if position < len(body):
        out.append(f"{len(body) - position:x}\r\n".encode() + body[position:] + b"\r\n")
    out.append(b"0\r\nTrailer: t\r\n\r\n")
    return b"".join(out)


@given(
    body=st.binary(max_size=300),
    sizes=st.lists(st.integers(1, 50), max_size=10),
    cuts=st.lists(st.integers(1, 40), max_size=40),
)
def test_chunked_decoding_survives_any_split_of_its_input(body: bytes, sizes: list[int], cuts: list[int]) -> None:
    encoded = encode_chunked(body, sizes) + b"NEXT REQUEST"
    decoder = ChunkedDecoder()
    pending = bytearray()
    decoded = bytearray()
    position = 0
    for cut in [*cuts, len(encoded)]:
        if decoder.done:
            break
        pending += encoded[position : position + cut]
        position += cut
        piece, consumed = decoder.feed(pending)
        del pending[:consumed]
        decoded += piece
    assert decoder.done
    assert bytes(decoded) == body
    assert bytes(pending) + encoded[position:] == b"NEXT REQUEST"


@pytest.mark.parametrize("framing", [b"zz\r\n", b"5\r\nhelloXX", b"-1\r\n", b"1" * 5000])
def test_malformed_chunks_are_refused(framing: bytes) -> None:
    with pytest.raises(HttpError) as refused:
        ChunkedDecoder().feed(framing)
    assert refused.value.status == 400


def test_response_head_is_sorted_like_gos_header_map() -> None:
    response = Response(415, b"{}", "application/json", [("Vary", "Origin"), ("Allow", "a\r\nInjected: 1")])
    head = encode_response_head(response, http11=True, body_length=2, connection="close", date="D")
    assert head == (
        b"HTTP/1.1 415 Unsupported Media Type\r\nAllow: a  Injected: 1\r\nContent-Type: application/json\r\n"
        b"Vary: Origin\r\nDate: D\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    )
    old = encode_response_head(Response(599), http11=False, body_length=None, connection=None, date="D")
    assert old == b"HTTP/1.0 599 status code 599\r\nDate: D\r\n\r\n"


# ------------------------------------------------------------------------------ connection


class Recorder:
    """A handler that reads the body (or not) and echoes what it saw."""

    def __init__(self, *, read_body: bool = True, fail: bool = False) -> None:
        self.read_body = read_body
        self.fail = fail
        self.seen: list[tuple[str, str, bytes]] = []

    async def __call__(self, head: RequestHead, reader: RequestBody) -> Response:
        if self.fail:
            raise RuntimeError("handler bug")
        body = b""
        if self.read_body:
            while piece := await reader.receive():
                body += piece
        self.seen.append((head.method, head.path, body))
        return Response(200, b"echo:" + body, "text/plain", [("X-Path", head.path)])


class Client:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _fill(self) -> bool:
        data = await self.stream.receive_some(65536)
        self.buffer += data
        return bool(data)

    async def response(self, *, head_request: bool = False) -> tuple[str, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            if not await self._fill():
                raise EOFError(bytes(self.buffer))
        end = self.buffer.index(b"\r\n\r\n") + 4
        status_line, *lines = self.buffer[: end - 4].decode().split("\r\n")
        del self.buffer[:end]
        headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
        length = 0 if head_request else int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            await self._fill()
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return status_line, headers, body

    async def closed(self) -> bool:
        return not self.buffer and not await self._fill()


@pytest.fixture
async def connection(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Client, Recorder]]:
    handler: Recorder = getattr(request, "param", None) or Recorder()
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_connection, server_stream, handler)
        yield Client(client_stream), handler
        nursery.cancel_scope.cancel()


GET_READY = b"GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\n"


async def test_keep_alive_and_pipelined_requests_are_answered_in_order(connection: tuple[Client, Recorder]) -> None:
    client, handler = connection
    await client.send(GET_READY)
    status, headers, body = await client.response()
    assert (status, body, headers["x-path"]) == ("HTTP/1.1 200 OK", b"echo:", "/-/ready")
    assert "date" in headers and "server" not in headers and "connection" not in headers
    await client.send(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.response())[2] == b"echo:abc"
    assert (await client.response())[1]["x-path"] == "/b"
    assert [path for _, path, _ in handler.seen] == ["/-/ready", "/a", "/b"]


async def test_chunked_body_arriving_in_pieces(connection: tuple[Client, Recorder]) -> None:
    client, _ = connection
    await client.send(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab")
    await trio.testing.wait_all_tasks_blocked()
    await client.send(b"c\r\n2\r\nde\r\n0\r\n\r\n")
    assert (await client.response())[2] == b"echo:abcde"
    await client.send(GET_READY)
    assert (await client.response())[0] == "HTTP/1.1 200 OK"


async def test_100_continue_is_sent_when_the_body_is_first_read(connection: tuple[Client, Recorder]) -> None:
    client, _ = connection
    await client.send(b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    await trio.testing.wait_all_tasks_blocked()
    assert bytes(client.buffer) + await client.stream.receive_some(65536) == CONTINUE_RESPONSE
    await client.send(b"{}")
    assert (await client.response())[2] == b"echo:{}"


@pytest.mark.parametrize("connection", [Recorder(read_body=False)], indirect=True)
async def test_an_unread_body_that_never_came_closes_the_connection(connection: tuple[Client, Recorder]) -> None:
    client, _ = connection
    await client.send(b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    status, headers, _ = await client.response()
    assert (status, headers["connection"]) == ("HTTP/1.1 200 OK", "close")
    assert await client.closed()


@pytest.mark.parametrize("connection", [Recorder(read_body=False)], indirect=True)
async def test_an_unread_body_already_received_is_skipped(connection: tuple[Client, Recorder]) -> None:
    client, handler = connection
    await client.send(b"POST /skip HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody" + GET_READY)
    assert "connection" not in (await client.response())[1]
    assert (await client.response())[1]["x-path"] == "/-/ready"
    assert [path for _, path, _ in handler.seen] == ["/skip", "/-/ready"]


async def test_head_answers_the_length_without_the_body(connection: tuple[Client, Recorder]) -> None:
    client, _ = connection
    await client.send(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + GET_READY)
    status, headers, _ = await client.response(head_request=True)
    assert (status, headers["content-length"]) == ("HTTP/1.1 200 OK", str(len(b"echo:")))
    assert (await client.response())[2] == b"echo:"


async def test_connection_close_and_http10(connection: tuple[Client, Recorder]) -> None:
    client, _ = connection
    await client.send(b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    status, headers, _ = await client.response()
    assert (status, headers["connection"]) == ("HTTP/1.0 200 OK", "keep-alive")
    await client.send(b"GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await client.response())[1]["connection"] == "close"
    assert await client.closed()


async def test_server_level_answers(connection: tuple[Client, Recorder]) -> None:
    client, handler = connection
    await client.send(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = await client.response()
    assert (status, headers["content-length"], body) == ("HTTP/1.1 200 OK", "0", b"")
    await client.send(b"POST /x HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 0\r\n\r\n")
    status, headers, _ = await client.response()
    assert (status, headers["connection"]) == ("HTTP/1.1 417 Expectation Failed", "close")
    assert await client.closed()
    assert handler.seen == []


async def test_oversized_head_gets_431(connection: tuple[Client, Recorder]) -> None:
    client, _ = connection
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * MAX_REQUEST_HEAD_BYTES)
    await client.send(b"p" * 10)
    status, headers, _ = await client.response()
    assert (status, headers["connection"]) == ("HTTP/1.1 431 Request Header Fields Too Large", "close")


@pytest.mark.parametrize("connection", [Recorder(fail=True)], indirect=True)
async def test_a_handler_bug_answers_500_and_closes(connection: tuple[Client, Recorder], caplog: pytest.LogCaptureFixture) -> None:
    client, _ = connection
    await client.send(GET_READY)
    status, headers, _ = await client.response()
    assert (status, headers["connection"]) == ("HTTP/1.1 500 Internal Server Error", "close")
    assert "handler bug" in caplog.text


async def test_idle_and_slow_heads_are_cut_off(autojump_clock: trio.testing.MockClock) -> None:
    for partial, limit in ((b"", IDLE_CONNECTION_TIMEOUT_SECONDS), (b"GET / HT", REQUEST_HEAD_TIMEOUT_SECONDS)):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_connection, server_stream, Recorder())
            if partial:
                await client_stream.send_all(partial)
            assert await client_stream.receive_some(65536) == b""
        assert trio.current_time() - started == pytest.approx(limit)


async def test_timeouts_follow_each_phase_of_a_long_lived_connection(autojump_clock: trio.testing.MockClock) -> None:
    """A handler may outlive the idle timeout; after it, the idle and head timeouts count from
    the moment each phase began (the watchdog sleeps past deadlines that moved earlier)."""

    async def slow_handler(head: RequestHead, reader: RequestBody) -> Response:
        await trio.sleep(IDLE_CONNECTION_TIMEOUT_SECONDS * 2)
        return Response(200, b"late")

    client_stream, server_stream = trio.testing.memory_stream_pair()
    client = Client(client_stream)
    with trio.fail_after(IDLE_CONNECTION_TIMEOUT_SECONDS * 10):  # a watchdog that never wakes fails, not hangs
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_connection, server_stream, slow_handler)
            await trio.sleep(IDLE_CONNECTION_TIMEOUT_SECONDS / 2)
            await client.send(GET_READY)
            status, _, body = await client.response()
            assert (status, body) == ("HTTP/1.1 200 OK", b"late")
            answered = trio.current_time()
            await trio.sleep(IDLE_CONNECTION_TIMEOUT_SECONDS - 1)
            await client.send(b"GET / HT")  # a head begun 1 s before the idle timeout
            assert await client.closed()
            assert trio.current_time() - answered == pytest.approx(IDLE_CONNECTION_TIMEOUT_SECONDS - 1 + REQUEST_HEAD_TIMEOUT_SECONDS)


async def test_over_a_real_socket_large_answers_pipelining_and_close() -> None:
    """The plain-socket transport (file descriptor reads and writes, waiting only when the
    kernel would block): an answer far larger than the socket buffers, read slowly."""
    big = b"z" * (4 * 1024 * 1024)

    async def handler(head: RequestHead, reader: RequestBody) -> Response:
        body = reader.complete_body()
        if body is None:
            body = b""
            while piece := await reader.receive():
                body += piece
        return Response(200, big if head.path == "/big" else b"got:" + body)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, lambda stream: serve_connection(stream, handler), listeners)
        client = Client(await trio.open_tcp_stream("127.0.0.1", port))
        await client.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\nPOST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        # Until the server task blocks writing the big answer into full socket buffers.
        await trio.testing.wait_all_tasks_blocked()
        assert (await client.response())[2] == big
        assert (await client.response())[2] == b"got:abc"
        await client.send(b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await client.response())[1]["connection"] == "close"
        assert await client.closed()
        nursery.cancel_scope.cancel()


def test_listen_addresses_in_gos_forms() -> None:
    listener = listen_socket("127.0.0.1:0", backlog=8)
    try:
        assert socket_url(listener, "http").startswith("http://127.0.0.1:")
    finally:
        listener.close()
    with pytest.raises(OSError, match="address tcp/nope: unknown port"):
        listen_socket(":nope", backlog=8)
