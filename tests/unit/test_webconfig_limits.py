"""Request limits and the web config at the application's boundary: body size (413) per endpoint, the
body read deadline (408, in virtual time), basic auth (401 before the body is read), the
configured headers, and a web config file that breaks while serving (500)."""

from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import pytest
import trio
import trio.testing

from daemon.api.http1 import RequestHead, parse_request_head
from daemon.api.response import Response
from daemon.api.server import (
    MAX_ALERTS_BODY_BYTES,
    MAX_REQUEST_BODY_BYTES,
    REQUEST_BODY_TIMEOUT_SECONDS,
    ApiApplication,
    body_limit,
)
from daemon.webconfig import WebConfigSource
from tests.unit.test_api import Fixture, application

HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()


def scope(method: str, path: str, headers: dict[str, str] | None = None) -> RequestHead:
    """A request head as the HTTP server parses it off the wire."""
    lines = [f"{method} {path} HTTP/1.1", "Host: tocsin", *(f"{name}: {value}" for name, value in (headers or {}).items())]
    return parse_request_head(("\r\n".join(lines) + "\r\n\r\n").encode())


class Exchange:
    """Feeds body chunks to the app and keeps its answer."""

    def __init__(self, chunks: list[bytes] | None, *, stall: bool = False) -> None:
        self.chunks = list(chunks or [])
        self.stall = stall
        self.received = 0
        self.response: Response | None = None

    def complete_body(self) -> bytes | None:
        return None  # always streamed, so the limits apply while reading

    async def receive(self) -> bytes:
        if not self.chunks:
            if self.stall:
                await trio.sleep_forever()
            return b""
        self.received += 1
        return self.chunks.pop(0)

    @property
    def status(self) -> int:
        assert self.response is not None
        return self.response.status

    @property
    def headers(self) -> dict[str, str]:
        assert self.response is not None
        headers = {name.lower(): value for name, value in self.response.headers}
        if self.response.content_type is not None:
            headers["content-type"] = self.response.content_type
        return headers

    @property
    def body(self) -> bytes:
        assert self.response is not None
        return self.response.body


async def run(app: ApiApplication, request: RequestHead, exchange: Exchange) -> Exchange:
    exchange.response = await app.respond(request, exchange)
    return exchange


def test_body_limits_per_endpoint() -> None:
    assert body_limit("POST", "/api/v2/alerts", "/") == MAX_ALERTS_BODY_BYTES
    assert body_limit("POST", "/am/api/v2/alerts/", "/am") == MAX_ALERTS_BODY_BYTES
    assert body_limit("POST", "/api/v2/silences", "/") == MAX_REQUEST_BODY_BYTES
    assert body_limit("POST", "/-/reload", "/") == MAX_REQUEST_BODY_BYTES
    assert MAX_REQUEST_BODY_BYTES < MAX_ALERTS_BODY_BYTES


async def test_announced_oversized_body_is_refused_without_reading_it() -> None:
    app = application(Fixture())
    headers = {"content-type": "application/json", "content-length": str(MAX_REQUEST_BODY_BYTES + 1)}
    exchange = await run(app, scope("POST", "/api/v2/silences", headers), Exchange([b"x"]))
    assert exchange.status == 413
    assert exchange.body == f"Request body too large: the limit for this endpoint is {MAX_REQUEST_BODY_BYTES} bytes.\n".encode()
    assert exchange.received == 0


async def test_streamed_oversized_body_is_cut_off_at_the_limit() -> None:
    app = application(Fixture())
    chunk = b"x" * (256 * 1024)
    exchange = Exchange([chunk] * 8)
    streamed = {"content-type": "application/json", "transfer-encoding": "chunked"}
    await run(app, scope("POST", "/api/v2/silences", streamed), exchange)
    assert exchange.status == 413
    assert exchange.received == 5  # stopped reading just past 1 MiB


async def test_alert_batches_may_be_larger_than_other_bodies() -> None:
    app = application(Fixture())
    alerts = b"[" + b",".join([b'{"labels":{"alertname":"Big","i":"%d"}}' % index for index in range(40_000)]) + b"]"
    assert len(alerts) > MAX_REQUEST_BODY_BYTES
    headers = {"content-type": "application/json", "content-length": str(len(alerts))}
    exchange = await run(app, scope("POST", "/api/v2/alerts", headers), Exchange([alerts]))
    assert exchange.status == 200


async def test_a_body_that_never_finishes_gets_408(autojump_clock: trio.testing.MockClock) -> None:
    app = application(Fixture())
    started = trio.current_time()
    headers = {"content-type": "application/json", "content-length": "2"}
    exchange = await run(app, scope("POST", "/api/v2/silences", headers), Exchange([b"{"], stall=True))
    assert exchange.status == 408
    assert trio.current_time() - started == pytest.approx(REQUEST_BODY_TIMEOUT_SECONDS)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_auth_headers_and_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(
        f"basic_auth_users:\n  ops: {HASH}\n"
        "http_server_config:\n  headers:\n    Content-Security-Policy: default-src 'none'\n    X-Frame-Options: deny\n"
    )
    app = application(Fixture())
    app.web_config = WebConfigSource(str(path))
    # The body of an unauthenticated request is never read.
    unauthenticated = {"authorization": basic("ops", "nope"), "content-length": "2"}
    refused = await run(app, scope("POST", "/api/v2/silences", unauthenticated), Exchange([b"{}"]))
    assert (refused.status, refused.body, refused.received) == (401, b"Unauthorized\n", 0)
    assert refused.headers["www-authenticate"] == "Basic"
    assert refused.headers["x-frame-options"] == "deny"
    page = await run(app, scope("GET", "/", {"authorization": basic("ops", "pw")}), Exchange(None))
    assert page.status == 200
    # A configured header replaces the UI's own policy instead of adding a second one.
    assert page.headers["content-security-policy"] == "default-src 'none'"
    assert page.response is not None
    assert [name for name, _ in page.response.headers].count("Content-Security-Policy") == 1
    path.write_text("basic_auth_users: {ops: short}\n")
    broken = await run(app, scope("GET", "/-/healthy", {"authorization": basic("ops", "pw")}), Exchange(None))
    assert (broken.status, broken.body) == (500, b"Internal Server Error\n")
