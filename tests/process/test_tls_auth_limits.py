"""Request limits on a real daemon socket (daemon.api.http1 in front of the router): oversized
headers get 431, oversized bodies 413 before they are read, whatever the framing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.api.http1 import MAX_REQUEST_HEAD_BYTES
from daemon.api.server import MAX_ALERTS_BODY_BYTES, MAX_REQUEST_BODY_BYTES
from tests.conftest import require_tocsin
from tests.helpers.processes import DaemonProcess, start_daemon

pytestmark = [pytest.mark.process]

CONFIG = "route:\n  receiver: default\nreceivers:\n  - name: default\n"
SOCKET_TIMEOUT_SECONDS = 10.0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    require_tocsin()
    process = start_daemon("tocsin", CONFIG, Path(tmp_path_factory.mktemp("limits")))
    try:
        yield process
    finally:
        process.stop()


def exchange(daemon: DaemonProcess, request: bytes) -> bytes:
    """Send raw bytes, return the status line and headers of the answer."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=SOCKET_TIMEOUT_SECONDS) as connection:
        try:
            connection.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before it has read everything
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_oversized_headers_get_431(daemon: DaemonProcess) -> None:
    big = b"x" * (MAX_REQUEST_HEAD_BYTES * 3)
    answer = exchange(daemon, b"GET /-/ready HTTP/1.1\r\nHost: t\r\nX-Padding: " + big + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431")
    normal = exchange(daemon, b"GET /-/ready HTTP/1.1\r\nHost: t\r\nX-Padding: " + b"x" * 8000 + b"\r\nConnection: close\r\n\r\n")
    assert normal.startswith(b"HTTP/1.1 200")


def test_announced_oversized_alert_batch_gets_413_at_once(daemon: DaemonProcess) -> None:
    answer = exchange(
        daemon,
        b"POST /api/v2/alerts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {MAX_ALERTS_BODY_BYTES + 1}\r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 413")


def test_chunked_oversized_silence_gets_413(daemon: DaemonProcess) -> None:
    chunk = b"x" * (MAX_REQUEST_BODY_BYTES // 2)
    framed = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 3 + b"0\r\n\r\n"
    answer = exchange(
        daemon,
        b"POST /api/v2/silences HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + framed,
    )
    assert answer.startswith(b"HTTP/1.1 413")
