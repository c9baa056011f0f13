"""Replicated silences and notification-log entries, riding on the real core's gossip.

Each node holds two last-writer-wins maps (Alertmanager's `sil` and `nfl` channels). A local
write is stamped with the node's *wall clock* (which the simulator skews and jumps) and
queued as a user broadcast; whoever merges something new re-broadcasts it (Alertmanager's
epidemic fan-out), and push/pull carries the whole state. Alertmanager re-broadcasts what a
push/pull merged only when the whole state part is under its 700-byte "oversized" limit;
we do the same per entry under the same rule.

The one deliberate difference: Alertmanager keeps its own copy when timestamps tie, which
can leave two replicas different for ever; here ties break on (writer, value), a total order,
so "all replicas equal after healing" is a property the checker can demand. Payload sizes
are padded to what Alertmanager's protobuf messages weigh, so bytes per second are honest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final, NamedTuple

import msgpack

from cluster.core import Node

SILENCES: Final = "sil"
NFLOG: Final = "nfl"
CHANNELS: Final = (SILENCES, NFLOG)
# Alertmanager's OversizedMessage threshold: half the 1400-byte gossip packet.
OVERSIZED_BYTES: Final = 700
# A MeshSilence with two matchers, creator and comment weighs about 250 bytes; a MeshEntry
# with a group key and a few alert hashes about 120.
PAYLOAD_BYTES: Final = {SILENCES: 250, NFLOG: 120}


class Version(NamedTuple):
    """Ordered as last-writer-wins compares: wall time first, then a total tie-break."""

    wall_ms: int
    writer: str
    value: bytes


Applied = Callable[[str, str, Version], None]


def _encode(channel: str, key: str, version: Version) -> bytes:
    packed: bytes = msgpack.packb([channel, key, version.wall_ms, version.writer, version.value])
    return packed


class ReplicaState:
    """The application state one simulated replica keeps; satisfies `cluster.core.LocalState`."""

    def __init__(self, name: str, wall_clock: Callable[[], int], on_applied: Applied) -> None:
        self.name = name
        self.wall_clock = wall_clock
        self.on_applied = on_applied
        self.maps: dict[str, dict[str, Version]] = {channel: {} for channel in CHANNELS}
        self.node: Node | None = None
        self._writes = 0

    # --- the application side ------------------------------------------------------------

    def write(self, channel: str, key: str) -> Version:
        """A local change (a silence created, a notification sent): stamp and gossip it."""
        self._writes += 1
        body = f"{self.name}/{self._writes}".encode()
        # Incompressible filler, so runs with LZW on do not flatter the byte counts.
        value = body + hashlib.shake_256(body).digest(max(0, PAYLOAD_BYTES[channel] - len(body)))
        version = Version(self.wall_clock(), self.name, value)
        current = self.maps[channel].get(key)
        # Alertmanager skips a local nflog write older than what it holds (clock skew).
        if current is not None and current >= version:
            return current
        self.maps[channel][key] = version
        self.on_applied(channel, key, version)
        if self.node is not None:
            self.node.broadcast_user(_encode(channel, key, version))
        return version

    def digest(self) -> str:
        """Equal digests mean equal replicated state."""
        hasher = hashlib.blake2b(digest_size=16)
        for channel in CHANNELS:
            for key, version in sorted(self.maps[channel].items()):
                hasher.update(_encode(channel, key, version))
        return hasher.hexdigest()

    def _merge(self, channel: str, key: str, version: Version) -> bool:
        entries = self.maps.get(channel)
        if entries is None:
            return False  # unknown channel: Alertmanager logs and ignores it
        current = entries.get(key)
        if current is not None and current >= version:
            return False
        entries[key] = version
        self.on_applied(channel, key, version)
        return True

    # --- cluster.core.LocalState -----------------------------------------------------------

    def notify_user_msg(self, data: bytes) -> None:
        channel, key, wall_ms, writer, value = msgpack.unpackb(data)
        if self._merge(channel, key, Version(wall_ms, writer, value)) and self.node is not None:
            self.node.broadcast_user(data)

    def local_state(self) -> bytes:
        entries = [
            [channel, key, v.wall_ms, v.writer, v.value]
            for channel in CHANNELS
            for key, v in self.maps[channel].items()
        ]
        packed: bytes = msgpack.packb(entries)
        return packed

    def merge_remote_state(self, data: bytes) -> None:
        small = len(data) <= OVERSIZED_BYTES
        for channel, key, wall_ms, writer, value in msgpack.unpackb(data):
            version = Version(wall_ms, writer, value)
            if self._merge(channel, key, version) and small and self.node is not None:
                self.node.broadcast_user(_encode(channel, key, version))

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        return []  # our broadcasts sit in the core's user queue
