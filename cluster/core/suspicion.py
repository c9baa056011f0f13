"""Lifeguard's suspicion timing as pure functions, plus the per-suspect bookkeeping.

A suspected member gets `max_timeout` to refute when nobody else confirms the suspicion;
each *independent* confirmation (a suspect message from a member we had not heard it from)
shrinks the remaining time logarithmically, reaching `min_timeout` after `k` confirmations.
`min_timeout` is scaled by log10 of the cluster size (at least 1), as in memberlist.

Two rules pick k and the floor: memberlist's (`CoreConfig.suspicion_confirmations` None,
k = multiplier - 2), which Go peers apply, and tocsin's (an explicit k, the daemon's
default), which keeps Lifeguard on whatever the multiplier; see `suspicion_window`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

from cluster.core.config import CoreConfig

# memberlist's default SuspicionMult. Under tocsin's rule a suspicion that no other member
# can confirm (a two-member cluster) lasts at least this many probe intervals, as long as
# Alertmanager's: with nobody to tell a crash from a slow peer, only time can.
MEMBERLIST_SUSPICION_MULT = 4
# Under tocsin's rule no suspicion is shorter than this many probe intervals: in clusters
# below 100 members a 1-interval floor let a replica answering 1.5 s late be declared dead
# about three times a minute in a 3-member cluster (docs/simulations.md, "Suspicion tuning").
SUSPICION_FLOOR_PROBE_INTERVALS = 2
# The first two suspicion intervals are spent expecting no confirmations: we have no phase
# relationship with peers' probes, so k is the multiplier minus these two.
CONFIRMATION_SLACK = 2


def suspicion_timeout_ms(suspicion_mult: float, cluster_size: int, probe_interval_ms: int) -> int:
    """Minimum suspicion timeout: mult * max(1, log10(max(1, n))) * probe interval.

    The node scale is kept to three decimals before multiplying, as memberlist does. The
    multiplier may be fractional (a tocsin extension); the product is rounded to the
    microsecond before truncating to milliseconds, so float noise (1.1 * 3 = 3.3000000000000003)
    never moves the result, and whole multipliers give memberlist's exact values."""
    node_scale_permille = int(max(1.0, math.log10(max(1.0, float(cluster_size)))) * 1000)
    return round(suspicion_mult * node_scale_permille * probe_interval_ms) // 1000


def expected_confirmations(suspicion_mult: float, cluster_size: int, confirmations: int | None = None) -> int:
    """k: how many independent confirmations bring the timeout down to the minimum. Zero
    when the cluster is too small to supply them (excluding ourselves and the suspect).

    `confirmations` None is memberlist's rule: the multiplier minus CONFIRMATION_SLACK (a
    multiplier below 3 thus expects none, which turns Lifeguard's dynamic suspicion off), and
    none at all when the cluster cannot supply that many. A number is tocsin's rule (see
    docs/simulations.md, "Suspicion tuning"): k is that number, but at most what the cluster
    can supply, so in a 3-member cluster a suspicion still waits for the one other member's
    confirmation instead of ending at the short minimum."""
    others = cluster_size - 2
    if confirmations is None:
        k = max(0, math.floor(suspicion_mult) - CONFIRMATION_SLACK)
        return 0 if others < k else k
    return max(0, min(confirmations, others))


class SuspicionWindow(NamedTuple):
    """k confirmations bring a suspicion from `max_ms` down to `min_ms`."""

    k: int
    min_ms: int
    max_ms: int


def suspicion_window(config: CoreConfig, cluster_size: int) -> SuspicionWindow:
    """The suspicion timing a member of a `cluster_size` cluster applies."""
    minimum = suspicion_timeout_ms(config.suspicion_mult, cluster_size, config.probe_interval_ms)
    k = expected_confirmations(config.suspicion_mult, cluster_size, config.suspicion_confirmations)
    if config.suspicion_confirmations is not None:
        minimum = max(minimum, SUSPICION_FLOOR_PROBE_INTERVALS * config.probe_interval_ms)
        if k == 0:
            floor = suspicion_timeout_ms(MEMBERLIST_SUSPICION_MULT, cluster_size, config.probe_interval_ms)
            minimum = max(minimum, floor)
    return SuspicionWindow(k, minimum, config.suspicion_max_timeout_mult * minimum)


def remaining_suspicion_ms(confirmations: int, k: int, elapsed_ms: int, min_ms: int, max_ms: int) -> int:
    """Time left after `confirmations` of the `k` expected arrived (may be <= 0: expired)."""
    fraction = math.log(confirmations + 1.0) / math.log(k + 1.0)
    raw_seconds = max_ms / 1000.0 - fraction * (max_ms / 1000.0 - min_ms / 1000.0)
    timeout = max(math.floor(1000.0 * raw_seconds), min_ms)
    return timeout - elapsed_ms


@dataclasses.dataclass(slots=True)
class Suspicion:
    """One member under suspicion; `deadline_ms` is when it is declared dead."""

    k: int
    min_ms: int
    max_ms: int
    start_ms: int
    deadline_ms: int
    confirmed_by: set[str]
    confirmations: int = 0

    @classmethod
    def start(cls, from_node: str, k: int, min_ms: int, max_ms: int, now_ms: int) -> Suspicion:
        timeout = max_ms if k >= 1 else min_ms
        return cls(k, min_ms, max_ms, now_ms, now_ms + timeout, {from_node})

    def confirm(self, from_node: str, now_ms: int) -> bool:
        """Record a confirmation; True if it was new and independent (worth re-gossiping)."""
        if self.confirmations >= self.k or from_node in self.confirmed_by:
            return False
        self.confirmed_by.add(from_node)
        self.confirmations += 1
        remaining = remaining_suspicion_ms(
            self.confirmations, self.k, now_ms - self.start_ms, self.min_ms, self.max_ms
        )
        self.deadline_ms = now_ms + max(remaining, 0)
        return True
