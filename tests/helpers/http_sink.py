"""A recording HTTP sink: a real server on 127.0.0.1 that stands in for webhook, Slack,
PagerDuty, ... endpoints.

It records every request (method, path, query, headers, body) and answers from a per-path
response script, e.g. `sink.script("/hook", 500, 500, 200)`; once a path's script is used up it
answers with the default response. The server runs on its own thread, so the same object
serves trio tests, plain tests and real daemon processes.

Virtual-time (MockClock) tests cannot talk to a real socket: trio's autojump would skip past
the client's timeouts while the kernel carries the bytes. For them `sink.transport()` returns
an in-memory httpx transport that goes through the same script and the same recording.
"""

from __future__ import annotations

import collections
import dataclasses
import http.server
import json
import ssl
import threading
import time
import urllib.parse
from typing import Any

import httpx

# Bodies beyond this are a test bug (no receiver sends this much); refuse instead of buffering.
MAX_BODY_BYTES = 16 * 1024 * 1024
# How long stop() waits for the server thread; a test should not hang on a stuck handler.
STOP_TIMEOUT_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names lowercased; the last value wins for repeated names
    body: bytes
    received_at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)

    def query_params(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.query, keep_blank_values=True)


@dataclasses.dataclass(frozen=True)
class ScriptedResponse:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    # Seconds the real server waits before answering (ignored by the in-memory transport).
    delay: float = 0.0


ResponseSpec = int | ScriptedResponse


def _as_response(spec: ResponseSpec) -> ScriptedResponse:
    return spec if isinstance(spec, ScriptedResponse) else ScriptedResponse(status=spec)


class HttpSink:
    """Use as a context manager (`with HttpSink() as sink:`) or call start()/stop()."""

    def __init__(self, default: ResponseSpec = 200, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: a server-side context to serve HTTPS instead of HTTP."""
        self._default = _as_response(default)
        self._tls = tls
        self._scripts: dict[str, collections.deque[ScriptedResponse]] = {}
        self._requests: list[RecordedRequest] = []
        self._changed = threading.Condition()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting and inspection -------------------------------------------------------
    def script(self, path: str, *responses: ResponseSpec) -> None:
        """Queue responses for `path` (appended to what is still queued)."""
        with self._changed:
            queue = self._scripts.setdefault(path, collections.deque())
            queue.extend(_as_response(spec) for spec in responses)

    def requests(self, path: str | None = None) -> list[RecordedRequest]:
        with self._changed:
            return [r for r in self._requests if path is None or r.path == path]

    def clear(self) -> None:
        with self._changed:
            self._requests.clear()
            self._scripts.clear()

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least `count` requests (to `path`) arrived; raise on timeout.
        From trio, call it through `trio.to_thread.run_sync`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = [r for r in self._requests if path is None or r.path == path]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"got {len(matching)} of {count} requests to {path or 'any path'}")
                self._changed.wait(remaining)

    def _record_and_answer(self, request: RecordedRequest) -> ScriptedResponse:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            queue = self._scripts.get(request.path)
            return queue.popleft() if queue else self._default

    # -- real server -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sink not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def start(self) -> HttpSink:
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self._read_body()
                split = urllib.parse.urlsplit(self.path)
                recorded = RecordedRequest(
                    method=self.command,
                    path=split.path,
                    query=split.query,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                    received_at=time.monotonic(),
                )
                answer = sink._record_and_answer(recorded)
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        if size > MAX_BODY_BYTES:
                            raise ValueError("chunk too large for the test sink")
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    raise ValueError("body too large for the test sink")
                return self.rfile.read(length)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # tests read the recording, not stderr

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self._tls is not None:
            self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(STOP_TIMEOUT_SECONDS)
            self._server = None

    def __enter__(self) -> HttpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- in-memory transport ------------------------------------------------------------------
    def transport(self) -> httpx.AsyncBaseTransport:
        return _SinkTransport(self)


class _SinkTransport(httpx.AsyncBaseTransport):
    def __init__(self, sink: HttpSink) -> None:
        self._sink = sink

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query.decode(),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        answer = self._sink._record_and_answer(recorded)
        return httpx.Response(answer.status, headers=list(answer.headers), content=answer.body)
