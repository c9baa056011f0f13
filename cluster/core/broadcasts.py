"""A transmit-limited broadcast queue (memberlist's TransmitLimitedQueue semantics).

Every queued message is handed out at most `retransmit_limit(mult, n)` times. Messages sent
fewer times go first; among equals the larger message first (it is the hardest to fit),
then the newer. A *named* message (membership news about one node) replaces any queued
message with the same name, so stale news about a node is never sent after fresher news.
Unnamed messages (user broadcasts) never invalidate each other, as in Alertmanager.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Final

# Alertmanager prunes its queue to 4096 messages; we enforce the same bound at insertion,
# dropping the messages that have already been sent the most.
MAX_QUEUED_BROADCASTS: Final = 4096


# A transmit floor never asks for more than this many copies per other member: in clusters
# that small a gossip round reaches most members anyway.
FLOOR_COPIES_PER_MEMBER: Final = 2


def retransmit_limit(retransmit_mult: int, cluster_size: int) -> int:
    """mult * ceil(log10(n + 1)): enough rounds of fan-out to reach n members whp."""
    return retransmit_mult * math.ceil(math.log10(cluster_size + 1))


def transmit_limit(retransmit_mult: int, min_transmits: int, cluster_size: int) -> int:
    """How often a queued message is handed out: memberlist's `retransmit_limit`, raised to
    `min_transmits` (capped at two copies per other member)."""
    floor = min(min_transmits, FLOOR_COPIES_PER_MEMBER * max(1, cluster_size - 1))
    return max(floor, retransmit_limit(retransmit_mult, cluster_size))


@dataclasses.dataclass(slots=True)
class _Queued:
    message: bytes
    name: str | None
    sequence: int
    transmits: int = 0

    def priority(self) -> tuple[int, int, int]:
        return (self.transmits, -len(self.message), -self.sequence)


class BroadcastQueue:
    def __init__(
        self, retransmit_mult: int, max_queued: int = MAX_QUEUED_BROADCASTS, min_transmits: int = 0
    ) -> None:
        self.retransmit_mult = retransmit_mult
        # A floor under retransmit_limit (0: memberlist's formula alone); see transmit_limit.
        self.min_transmits = min_transmits
        self.max_queued = max_queued
        self._items: list[_Queued] = []
        self._sequence = 0
        # Names of messages that were handed out for the last time or replaced, since the
        # caller last asked; lets the owner learn that e.g. its leave notice went out.
        self._finished: list[str] = []

    def __len__(self) -> int:
        return len(self._items)

    def queue(self, message: bytes, name: str | None = None) -> None:
        self._sequence += 1
        if name is not None:
            for item in self._items:
                if item.name == name:
                    self._items.remove(item)
                    self._finished.append(name)
                    break
        self._items.append(_Queued(message, name, self._sequence))
        if len(self._items) > self.max_queued:
            self.prune(self.max_queued)

    def prune(self, max_retain: int) -> None:
        """Drop the most-sent (then smallest, then oldest) messages beyond `max_retain`."""
        while len(self._items) > max_retain:
            worst = max(self._items, key=_Queued.priority)
            self._items.remove(worst)
            if worst.name is not None:
                self._finished.append(worst.name)

    def take(self, overhead: int, limit: int, cluster_size: int) -> list[bytes]:
        """Messages fitting in `limit` bytes, each costing `overhead` extra; counts them as
        transmitted and retires those that reached the retransmit limit."""
        limit_per_message = transmit_limit(self.retransmit_mult, self.min_transmits, cluster_size)
        chosen: list[_Queued] = []
        used = 0
        candidates = sorted(self._items, key=_Queued.priority)
        for item in candidates:
            free = limit - used - overhead
            if free <= 0:
                break
            if len(item.message) > free:
                continue
            used += overhead + len(item.message)
            chosen.append(item)
        for item in chosen:
            item.transmits += 1
            if item.transmits >= limit_per_message:
                self._items.remove(item)
                if item.name is not None:
                    self._finished.append(item.name)
        return [item.message for item in chosen]

    def take_finished(self) -> list[str]:
        finished, self._finished = self._finished, []
        return finished

    def reset(self) -> None:
        self._items.clear()
