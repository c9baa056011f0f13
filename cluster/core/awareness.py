"""Lifeguard's local health awareness: a score from 0 (healthy) to max - 1.

Missed nacks, failed probes and having to refute accusations raise the score; successful
probes lower it. The probe interval (and the TCP-fallback window) scale by score + 1, so a
node that is itself slow stops accusing healthy peers.
"""

from __future__ import annotations

import dataclasses


def clamp_score(score: int, max_multiplier: int) -> int:
    return min(max(score, 0), max_multiplier - 1)


def scale_timeout_ms(timeout_ms: int, score: int) -> int:
    return timeout_ms * (score + 1)


@dataclasses.dataclass(slots=True)
class Awareness:
    max_multiplier: int
    score: int = 0

    def apply_delta(self, delta: int) -> None:
        self.score = clamp_score(self.score + delta, self.max_multiplier)

    def scale_timeout_ms(self, timeout_ms: int) -> int:
        return scale_timeout_ms(timeout_ms, self.score)
