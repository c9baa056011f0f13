"""The UDP side of `NetTransport` on 127.0.0.1: the receive buffer it asks the kernel for
(memberlist's 2 MiB), and a burst of full-size gossip packets that queues up while the
process is not reading arrives whole and in order, over many readiness wake-ups."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import trio

from cluster.core import Address
from cluster.transport import (
    MAX_DATAGRAMS_PER_WAKEUP,
    UDP_RECEIVE_BUFFER_BYTES,
    NetTransport,
    enlarge_receive_buffer,
)

HOST = "127.0.0.1"
RMEM_MAX = Path("/proc/sys/net/core/rmem_max")
# A full gossip packet (Alertmanager's MaxGossipPacketSize).
GOSSIP_PACKET_BYTES = 1400
# Linux's default receive buffer (212992 bytes) holds under a hundred of these; memberlist's
# 2 MiB (granted as 4 MiB) holds well over a thousand.
BURST_DATAGRAMS = 600
DELIVERY_TIMEOUT_S = 10.0

pytestmark = pytest.mark.process


class Recorder:
    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.arrived = trio.Event()
        self.expected = 0

    async def packet_received(self, src: Address, data: bytes) -> None:
        self.packets.append(data)
        if len(self.packets) >= self.expected:
            self.arrived.set()

    async def stream_received(self, src: Address, stream: trio.abc.Stream) -> None:
        raise AssertionError("no streams in this test")


def linux_rmem_max() -> int:
    if not sys.platform.startswith("linux") or not RMEM_MAX.exists():
        pytest.skip("receive buffer sizes are checked against Linux's accounting")
    return int(RMEM_MAX.read_text())


def test_the_receive_buffer_is_memberlists_size_capped_by_the_system() -> None:
    rmem_max = linux_rmem_max()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        granted = enlarge_receive_buffer(udp)
    # Linux doubles the request (bookkeeping overhead) after capping it at rmem_max.
    assert granted == 2 * min(UDP_RECEIVE_BUFFER_BYTES, rmem_max)


class RefusesLargeBuffers:
    """A socket whose system refuses receive buffers above `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.requests: list[int] = []
        self.size = 0

    def setsockopt(self, level: int, option: int, value: int) -> None:
        assert (level, option) == (socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.requests.append(value)
        if value > self.limit:
            raise OSError("no buffer space available")
        self.size = value

    def getsockopt(self, level: int, option: int) -> int:
        return self.size


def test_a_refused_size_is_halved_until_the_system_accepts_it() -> None:
    fake = RefusesLargeBuffers(limit=600 * 1024)
    granted = enlarge_receive_buffer(fake, wanted=2 * 1024 * 1024)  # type: ignore[arg-type]
    assert fake.requests == [2 * 1024 * 1024, 1024 * 1024, 512 * 1024]
    assert granted == 512 * 1024


def test_a_system_refusing_every_size_keeps_its_default() -> None:
    fake = RefusesLargeBuffers(limit=0)
    assert enlarge_receive_buffer(fake, wanted=8) == 0  # type: ignore[arg-type]
    assert fake.requests == [8, 4, 2, 1]


async def test_a_burst_queued_while_the_process_is_busy_arrives_whole_and_in_order() -> None:
    if linux_rmem_max() < UDP_RECEIVE_BUFFER_BYTES:
        pytest.skip("net.core.rmem_max caps the buffer below memberlist's size")
    assert BURST_DATAGRAMS > 4 * MAX_DATAGRAMS_PER_WAKEUP  # several drains, not one
    recorder = Recorder()
    recorder.expected = BURST_DATAGRAMS
    transport = NetTransport(HOST, 0)
    sent = [index.to_bytes(4, "big") * (GOSSIP_PACKET_BYTES // 4) for index in range(BURST_DATAGRAMS)]
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(transport.serve, recorder)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            # No checkpoint between the sends: the whole burst waits in the kernel before the
            # transport's reader runs once, as it does while a flush keeps the thread busy.
            for datagram in sent:
                sender.sendto(datagram, (HOST, bound.port))
        with trio.move_on_after(DELIVERY_TIMEOUT_S):
            await recorder.arrived.wait()
        nursery.cancel_scope.cancel()
    assert len(recorder.packets) == BURST_DATAGRAMS
    assert recorder.packets == sent
