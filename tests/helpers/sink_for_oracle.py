"""A recording HTTP sink for process and oracle tests: a real server on 127.0.0.1.

It runs in a background thread (so it serves sync and async tests alike), answers every
POST with 200 and records method, path, headers, the decoded JSON body and the arrival time.
HTTP/1.1 keep-alive is on, as Alertmanager's webhook client reuses connections.

    with RecordingSink() as sink:
        url = sink.url("/hook/team-a")
        ...
        sink.wait_for(lambda requests: len(requests) >= 2, timeout=15)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Webhook bodies of a few thousand alerts stay far below this; a larger body is a bug in the
# sender and is refused rather than buffered.
MAX_BODY_BYTES = 64 * 1024 * 1024
# Polling period of wait_for(): recording happens on server threads, so a condition variable
# would work too, but polling keeps the predicate free to look at anything.
WAIT_POLL_SECONDS = 0.02
DEFAULT_WAIT_SECONDS = 20.0
LISTEN_BACKLOG = 1024


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RecordingServer

    def _record_and_answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        self.server.sink._record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                received_at=time.monotonic(),
            )
        )
        status = self.server.sink.status_for(self.path)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = _record_and_answer
    do_PUT = _record_and_answer
    do_GET = _record_and_answer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line."""


class _RecordingServer(ThreadingHTTPServer):
    daemon_threads = True
    # The listen backlog: a daemon flushing many groups at once opens many connections at
    # once; the stdlib default of 5 turns that burst into resets and SYN retries.
    request_queue_size = LISTEN_BACKLOG
    sink: RecordingSink

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A daemon dropping an idle keep-alive connection at shutdown is not a test failure."""


class RecordingSink:
    """Records every request; `status_for` can be overridden to script failures."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        """`host`: the address to listen on (the HA chaos tests serve replicas in network
        namespaces, so they listen on every address and hand each replica its own URL)."""
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._server = _RecordingServer((host, 0), _Handler)
        self._server.sink = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-sink", daemon=True)
        self.statuses: dict[str, list[int]] = {}

    # ------------------------------------------------------------ lifecycle
    def start(self) -> RecordingSink:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RecordingSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # ------------------------------------------------------------ scripting
    def status_for(self, path: str) -> int:
        """Next scripted status for this path (then 200 forever)."""
        with self._lock:
            script = self.statuses.get(path)
            if script:
                return script.pop(0)
        return 200

    # ------------------------------------------------------------ reading
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def bodies(self, path: str | None = None) -> list[Any]:
        return [request.json() for request in self.requests if path is None or request.path == path]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for(
        self,
        predicate: Callable[[list[RecordedRequest]], bool],
        timeout: float = DEFAULT_WAIT_SECONDS,
        what: str = "condition",
    ) -> list[RecordedRequest]:
        """Poll until predicate(requests) holds; AssertionError with what was seen otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.requests
            if predicate(seen):
                return seen
            if time.monotonic() >= deadline:
                summary = [(request.path, request.body[:300]) for request in seen]
                raise AssertionError(
                    f"sink: {what} not met within {timeout}s; got {len(seen)} requests: {summary}"
                )
            time.sleep(WAIT_POLL_SECONDS)

    def wait_for_count(
        self, count: int, path: str | None = None, timeout: float = DEFAULT_WAIT_SECONDS
    ) -> list[RecordedRequest]:
        def enough(requests: list[RecordedRequest]) -> bool:
            return sum(1 for request in requests if path is None or request.path == path) >= count

        self.wait_for(enough, timeout, what=f"{count} requests on {path or 'any path'}")
        return [request for request in self.requests if path is None or request.path == path]
