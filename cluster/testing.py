"""An in-memory trio network for cluster tests (in the spirit of trio.testing's fake net).

`MemoryNetwork.transport(host)` gives a `Transport` whose packets and streams reach the
other transports of the same network without sockets, so peers can be tested under
`trio.testing.MockClock(autojump_threshold=0)`. Faults are explicit: `partition` splits
hosts into groups that cannot reach each other (packets vanish, connections hang until the
caller's deadline, like a dead link), `loss` drops that fraction of packets (seeded), and a
stopped transport refuses connections like a closed port.
"""

from __future__ import annotations

import errno
import random
from collections.abc import Iterable
from typing import Final

import trio
import trio.testing

from cluster.core import Address
from cluster.transport import TransportHandler

# Ports handed out to transports asked for port 0, and to the client side of connections.
FIRST_EPHEMERAL_PORT: Final = 40000


class MemoryNetwork:
    def __init__(self, seed: int = 0, loss: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.loss = loss
        self._serving: dict[Address, MemoryTransport] = {}
        self._side: dict[str, int] = {}
        self._next_port = FIRST_EPHEMERAL_PORT
        self.packets_sent = 0
        self.packets_dropped = 0

    def transport(self, host: str, port: int = 0) -> MemoryTransport:
        return MemoryTransport(self, host, port)

    def partition(self, *groups: Iterable[str]) -> None:
        """Hosts in different groups cannot talk; hosts in no group reach everyone."""
        self._side = {host: index for index, group in enumerate(groups) for host in group}

    def heal(self) -> None:
        self._side = {}

    def reachable(self, a: str, b: str) -> bool:
        side_a, side_b = self._side.get(a), self._side.get(b)
        return side_a is None or side_b is None or side_a == side_b

    def allocate_port(self) -> int:
        self._next_port += 1
        return self._next_port

    def _register(self, transport: MemoryTransport, address: Address) -> None:
        if address in self._serving:
            raise OSError(errno.EADDRINUSE, f"address {address} already in use")
        self._serving[address] = transport

    def _unregister(self, address: Address) -> None:
        self._serving.pop(address, None)

    def _lookup(self, address: Address) -> MemoryTransport | None:
        return self._serving.get(address)


class MemoryTransport:
    def __init__(self, network: MemoryNetwork, host: str, port: int) -> None:
        self._network = network
        self.host = host
        self.port = port
        self.address: Address | None = None
        self._handler: TransportHandler | None = None
        self._nursery: trio.Nursery | None = None

    async def serve(
        self, handler: TransportHandler, *, task_status: trio.TaskStatus[Address] = trio.TASK_STATUS_IGNORED
    ) -> None:
        address = Address(self.host, self.port or self._network.allocate_port())
        self._network._register(self, address)
        try:
            async with trio.open_nursery() as nursery:
                self.address, self._handler, self._nursery = address, handler, nursery
                task_status.started(address)
                await trio.sleep_forever()
        finally:
            self._network._unregister(address)
            self.address = self._handler = self._nursery = None

    async def send_packet(self, dest: Address, data: bytes) -> None:
        network = self._network
        network.packets_sent += 1
        target = network._lookup(dest)
        if self.address is None or target is None or target._nursery is None or target._handler is None:
            return
        if not network.reachable(self.host, dest.host) or network.rng.random() < network.loss:
            network.packets_dropped += 1
            return
        target._nursery.start_soon(target._handler.packet_received, self.address, bytes(data))

    async def connect(self, dest: Address) -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        if not self._network.reachable(self.host, dest.host):
            await trio.sleep_forever()  # a dead link: the caller's timeout decides
        target = self._network._lookup(dest)
        if target is None or target._nursery is None or target._handler is None:
            raise OSError(errno.ECONNREFUSED, f"connection to {dest} refused")
        client, server = trio.testing.memory_stream_pair()
        src = Address(self.host, self._network.allocate_port())
        target._nursery.start_soon(_serve_stream, target._handler, src, server)
        return client


async def _serve_stream(handler: TransportHandler, src: Address, stream: trio.abc.Stream) -> None:
    async with stream:
        try:
            await handler.stream_received(src, stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
