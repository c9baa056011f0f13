"""The sans-IO core, driven by a minimal blocking socket loop in this test, joins a real
Alertmanager 0.25 (memberlist v0.5) and both sides list each other as alive peers: proof
that push/pull, pings, acks and alive gossip are wire compatible."""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from cluster.core import codec
from cluster.core.config import CoreConfig
from cluster.core.members import Address
from cluster.core.messages import NodeStateType
from cluster.core.node import Node, PacketOut, StreamOut

ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
STARTUP_TIMEOUT_S = 15.0
CONVERGE_TIMEOUT_S = 15.0
MAX_DATAGRAM = 65535

pytestmark = pytest.mark.oracle


def free_port() -> int:
    # A port free for both TCP and UDP, as memberlist binds both.
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def read_stream_message(conn: socket.socket) -> bytes:
    data = b""
    while True:
        length = codec.stream_message_length(data) if data else None
        if length is not None and len(data) >= length:
            return data[:length]
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk


class SocketShell:
    """Just enough I/O to drive one Node over real UDP and TCP."""

    def __init__(self, node: Node, port: int) -> None:
        self.node = node
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", port))
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", port))
        self.tcp.listen()

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()

    def flush(self) -> None:
        for out in self.node.take_outgoing():
            if isinstance(out, PacketOut):
                self.udp.sendto(out.data, (out.dest.host, out.dest.port))
            elif isinstance(out, StreamOut):
                self._stream(out)
        self.node.take_events()

    def _stream(self, out: StreamOut) -> None:
        try:
            with socket.create_connection((out.dest.host, out.dest.port), timeout=5) as conn:
                conn.sendall(out.data)
                if out.expects_reply:
                    reply = read_stream_message(conn)
                    self.node.receive_stream_reply(out.request_id, reply, now_ms())
        except OSError as error:
            self.node.stream_failed(out.request_id, now_ms(), str(error))

    def run_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            wait = max(0.0, min(end - time.monotonic(), (self.node.next_deadline() - now_ms()) / 1000))
            readable, _, _ = select.select([self.udp, self.tcp], [], [], wait)
            if self.udp in readable:
                data, (host, port) = self.udp.recvfrom(MAX_DATAGRAM)
                assert self.node.receive_packet(Address(host, port), data, now_ms()) == []
            if self.tcp in readable:
                conn, (host, port) = self.tcp.accept()
                with conn:
                    conn.settimeout(5)
                    reply = self.node.receive_stream(Address(host, port), read_stream_message(conn), now_ms())
                    if reply is not None:
                        conn.sendall(reply)
            self.node.tick(now_ms())
            self.flush()


def alertmanager_peers(web_port: int) -> list[dict[str, str]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/api/v2/status", timeout=2) as response:
        peers: list[dict[str, str]] = json.load(response)["cluster"].get("peers") or []
        return peers


def test_core_joins_a_real_alertmanager_cluster(tmp_path: Path) -> None:
    if not ALERTMANAGER.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus-alertmanager is not installed")
        pytest.skip("prometheus-alertmanager is not installed")
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n")
    web_port, cluster_port, our_port = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [
            shutil.which(str(ALERTMANAGER)) or str(ALERTMANAGER),
            f"--config.file={config}",
            f"--storage.path={tmp_path}",
            f"--web.listen-address=127.0.0.1:{web_port}",
            f"--cluster.listen-address=127.0.0.1:{cluster_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    node = Node(
        CoreConfig(), "tocsin-interop", Address("127.0.0.1", our_port), random.Random(1), now_ms=now_ms()
    )
    shell = SocketShell(node, our_port)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                assert len(alertmanager_peers(web_port)) == 1
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        node.join([Address("127.0.0.1", cluster_port)], now_ms())
        shell.flush()
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        while True:
            shell.run_for(0.5)
            peers = alertmanager_peers(web_port)
            ours = [m for m in node.members() if m.state == NodeStateType.ALIVE]
            if len(peers) == 2 and len(ours) == 2:
                break
            assert time.monotonic() < deadline, (peers, ours)
        assert {"name": "tocsin-interop", "address": f"127.0.0.1:{our_port}"} in peers
        # Stay in the cluster longer than probe + minimum suspicion timeout (1 s + 4 s):
        # Alertmanager would have declared us dead had our acks not been understood.
        shell.run_for(6.0)
        assert len(alertmanager_peers(web_port)) == 2
        assert all(m.state == NodeStateType.ALIVE for m in node.members())
    finally:
        shell.close()
        process.terminate()
        process.wait(timeout=10)
