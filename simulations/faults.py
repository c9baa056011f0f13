"""The fault knobs of the packet simulator, as plain data a scenario can change at any time.

`LinkFaults` says what happens to every datagram: a one-way delay drawn from `DelayModel`,
independent loss, duplication and reordering. `Topology` says which node may reach which:
crashed nodes, partitions (symmetric or one-way, between groups of nodes), and flapping
nodes whose links go down and up on a period. `Topology.can_reach` is the one question the
simulator asks for every packet and stream; it depends only on the virtual time, so a run is
reproducible from its seed.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Final

# A LAN one-way delay: about a millisecond, with a tail. Real Alertmanager pods in one
# cluster see 0.2-2 ms; the tail stands for GC pauses and busy hosts.
DEFAULT_DELAY_MIN_MS: Final = 1
DEFAULT_DELAY_MEDIAN_MS: Final = 2
# No delay is longer than this, so the simulation never parks a packet for ever; it is far
# beyond the 500 ms probe timeout, which is what a late packet has to beat.
MAX_DELAY_MS: Final = 5_000
# A reordered packet is held back by up to this much, enough to land behind later packets
# on the same link without turning into a loss for the 500 ms probe timeout.
DEFAULT_REORDER_HOLD_MS: Final = 50
# The group every node belongs to unless a scenario moves it.
MAIN_GROUP: Final = 0


@dataclasses.dataclass(frozen=True, slots=True)
class DelayModel:
    """One-way delay: `min_ms` plus a log-normal tail whose median is `median_ms`; `sigma`
    is the spread of the tail's logarithm (0 gives a constant delay)."""

    min_ms: int = DEFAULT_DELAY_MIN_MS
    median_ms: int = DEFAULT_DELAY_MEDIAN_MS
    sigma: float = 0.5

    def draw(self, rng: random.Random) -> int:
        tail = self.median_ms - self.min_ms
        if tail <= 0 or self.sigma == 0:
            return max(self.min_ms, self.median_ms)
        extra = tail * math.exp(self.sigma * rng.gauss(0.0, 1.0))
        return min(self.min_ms + round(extra), MAX_DELAY_MS)


@dataclasses.dataclass(slots=True)
class LinkFaults:
    """What the network does to each datagram. Streams (TCP) are reliable: they are only
    delayed, and fail when the path is cut."""

    delay: DelayModel = dataclasses.field(default_factory=DelayModel)
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_hold_ms: int = DEFAULT_REORDER_HOLD_MS


@dataclasses.dataclass(slots=True)
class Flapping:
    """A node whose every link is down for `down_ms` of each `period_ms`, starting at
    `phase_ms` (a bad cable, a NIC resetting)."""

    period_ms: int
    down_ms: int
    phase_ms: int = 0

    def is_down(self, now_ms: int) -> bool:
        return (now_ms - self.phase_ms) % self.period_ms < self.down_ms


@dataclasses.dataclass(slots=True)
class Topology:
    """Who can reach whom. Nodes sit in numbered groups; `blocked` holds directed
    (from-group, to-group) pairs whose traffic is cut. A symmetric partition blocks both
    directions, an asymmetric one only one."""

    group: dict[int, int] = dataclasses.field(default_factory=dict)
    blocked: set[tuple[int, int]] = dataclasses.field(default_factory=set)
    crashed: set[int] = dataclasses.field(default_factory=set)
    flapping: dict[int, Flapping] = dataclasses.field(default_factory=dict)
    # Extra one-way delay for everything a node sends or receives: a node starved of CPU
    # that answers late (the load Lifeguard was designed for).
    slow: dict[int, int] = dataclasses.field(default_factory=dict)

    def can_reach(self, src: int, dst: int, now_ms: int) -> bool:
        if src in self.crashed or dst in self.crashed:
            return False
        if (
            self.blocked
            and (self.group.get(src, MAIN_GROUP), self.group.get(dst, MAIN_GROUP)) in self.blocked
        ):
            return False
        if self.flapping:
            for node in (src, dst):
                flap = self.flapping.get(node)
                if flap is not None and flap.is_down(now_ms):
                    return False
        return True

    # --- scenario helpers ----------------------------------------------------------------

    def partition(self, sides: list[list[int]], one_way: bool = False) -> None:
        """Put each side in its own group; traffic between sides is cut (only from the
        first side to the others when `one_way`)."""
        for number, side in enumerate(sides, start=1):
            for node in side:
                self.group[node] = number
        groups = range(1, len(sides) + 1)
        for a in groups:
            for b in groups:
                if a != b and (not one_way or a == 1):
                    self.blocked.add((a, b))

    def isolate(self, node: int, group_number: int) -> None:
        """Cut `node` off from everybody (its own group, blocked both ways with all)."""
        others = {self.group.get(n, MAIN_GROUP) for n in self.group} | {MAIN_GROUP}
        self.group[node] = group_number
        for other in others - {group_number}:
            self.blocked.add((group_number, other))
            self.blocked.add((other, group_number))

    def heal_partitions(self) -> None:
        self.group.clear()
        self.blocked.clear()

    def impaired_nodes(self) -> set[int]:
        """Nodes that some fault other than uniform loss and delay is touching right now."""
        return set(self.group) | set(self.crashed) | set(self.flapping) | set(self.slow)
