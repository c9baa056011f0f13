"""notify.transport against a scripted HTTP/1.1 server on 127.0.0.1: keep-alive reuse, the
server closing connections, chunked and gzip bodies, the connection bound, and errors as
httpx's exception classes."""

from __future__ import annotations

import gzip
from collections.abc import Callable

import httpx
import pytest
import trio

from notify.errors import RetryableError
from notify.httpclient import build_client, post_json
from notify.transport import MAX_RESPONSE_BODY_BYTES, Http11Transport

Reply = Callable[[bytes], bytes | None]  # request bytes -> raw response, or None to hang up


class ScriptedServer:
    """Answers each request on a connection with `reply(request)`; counts connections."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.requests: list[bytes] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.delay = 0.0
        self.port = 0

    async def serve(self, nursery: trio.Nursery) -> None:
        listeners = await nursery.start(trio.serve_tcp, self._handle, 0)
        self.port = listeners[0].socket.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        buffered = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buffered += data
                head, _, rest = buffered.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += await stream.receive_some(65536)
                request, buffered = head + b"\r\n\r\n" + rest[:length], rest[length:]
                self.requests.append(request)
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                await trio.sleep(self.delay)
                self.in_flight -= 1
                answer = self.reply(request)
                if answer is None:
                    return
                await stream.send_all(answer)
                if b"connection: close" in answer.lower():
                    return


def ok(body: bytes = b"") -> Reply:
    return lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def test_keep_alive_reuses_one_connection_for_sequential_requests() -> None:
    server = ScriptedServer(ok(b"fine"))
    async with trio.open_nursery() as nursery:
        await server.serve(nursery)
        client = build_client({})
        for _ in range(5):
            response = await client.post(server.url, content=b'{"a":1}', headers={"Content-Type": "application/json"})
            assert (response.status_code, response.text) == (200, "fine")
        await client.aclose()
        nursery.cancel_scope.cancel()
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /hook HTTP/1.1\r\n")
    assert b"user-agent: alertmanager/0.25.0" in first.lower()
    assert first.endswith(b'\r\n\r\n{"a":1}')


async def test_server_closing_after_each_answer_gets_a_new_connection() -> None:
    server = ScriptedServer(lambda request: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    async with trio.open_nursery() as nursery:
        await server.serve(nursery)
        client = build_client({})
        for _ in range(3):
            assert (await client.get(server.url)).status_code == 200
            await trio.sleep(0.01)  # the server's FIN arrives
        await client.aclose()
        nursery.cancel_scope.cancel()
    assert server.connections == 3


async def test_an_idle_connection_the_server_dropped_is_not_reused() -> None:
    answers = iter([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", None])

    def reply(request: bytes) -> bytes | None:
        return next(answers, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    server = ScriptedServer(reply)
    async with trio.open_nursery() as nursery:
        await server.serve(nursery)
        client = build_client({})
        assert (await client.get(server.url)).status_code == 200
        # The server now hangs up on the next request it reads on that connection; the
        # client only learns about it by failing, then gets a fresh connection.
        with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected"):
            await client.get(server.url)
        assert (await client.get(server.url)).status_code == 200
        await client.aclose()
        nursery.cancel_scope.cancel()
    assert server.connections == 2


async def test_chunked_and_gzip_bodies_are_decoded_by_the_client() -> None:
    compressed = gzip.compress(b"compressed answer")
    chunked = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    replies = iter(
        [
            chunked,
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(compressed), compressed),
        ]
    )
    server = ScriptedServer(lambda request: next(replies))
    async with trio.open_nursery() as nursery:
        await server.serve(nursery)
        client = build_client({})
        response = await client.get(server.url)
        assert (response.status_code, response.text, response.reason_phrase) == (500, "hello world", "Internal Server Error")
        assert (await client.get(server.url)).text == "compressed answer"
        await client.aclose()
        nursery.cancel_scope.cancel()
    assert server.connections == 1


async def test_connections_are_bounded_and_waiting_requests_all_complete() -> None:
    server = ScriptedServer(ok())
    server.delay = 0.01
    async with trio.open_nursery() as nursery:
        await server.serve(nursery)
        client = httpx.AsyncClient(transport=Http11Transport(httpx.AsyncHTTPTransport(), max_connections=4))
        statuses: list[int] = []

        async def one() -> None:
            statuses.append((await client.post(server.url, content=b"x")).status_code)

        async with trio.open_nursery() as senders:
            for _ in range(40):
                senders.start_soon(one)
        await client.aclose()
        nursery.cancel_scope.cancel()
    assert statuses == [200] * 40
    assert server.most_in_flight == 4
    assert server.connections == 4


async def test_refused_connection_is_a_connect_error_and_a_retryable_notify_error() -> None:
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: connections are refused
        client = build_client({})
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")
        with pytest.raises(RetryableError, match=r'^Post "<redacted>": '):
            await post_json(client, f"http://127.0.0.1:{port}/secret-token", b"{}")
        await client.aclose()


async def test_an_oversized_answer_fails_the_request() -> None:
    server = ScriptedServer(
        lambda request: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_RESPONSE_BODY_BYTES + 1)
        + b"x" * (MAX_RESPONSE_BODY_BYTES + 1)
    )
    async with trio.open_nursery() as nursery:
        await server.serve(nursery)
        client = build_client({})
        with pytest.raises(httpx.ReadError, match="larger than"):
            await client.get(server.url)
        await client.aclose()
        nursery.cancel_scope.cancel()


async def test_cancelled_exchange_closes_its_connection() -> None:
    server = ScriptedServer(ok())
    server.delay = 10.0
    async with trio.open_nursery() as nursery:
        await server.serve(nursery)
        client = build_client({})
        with trio.move_on_after(0.05):
            await client.get(server.url)
        server.delay = 0.0
        assert (await client.get(server.url)).status_code == 200
        await client.aclose()
        nursery.cancel_scope.cancel()
    assert server.connections == 2


async def test_other_schemes_go_to_the_fallback() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(204)

    client = httpx.AsyncClient(transport=Http11Transport(httpx.MockTransport(handler)))
    assert (await client.get("https://example.invalid/x")).status_code == 204
    assert seen == ["https://example.invalid/x"]
    await client.aclose()
