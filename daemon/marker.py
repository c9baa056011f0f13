"""Per-alert status as the API reports it: unprocessed, active or suppressed, and by what.

The silencer and the inhibitor write here whenever they evaluate an alert (in the pipeline
and on every GET of alerts); the API only reads. An alert nobody has evaluated yet is
`unprocessed`. It is `suppressed` while any silence or inhibiting alert applies to it, else
`active`. Entries are dropped when the alert store garbage-collects the alert.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Final

STATE_UNPROCESSED: Final = "unprocessed"
STATE_ACTIVE: Final = "active"
STATE_SUPPRESSED: Final = "suppressed"


@dataclasses.dataclass(frozen=True, slots=True)
class AlertStatus:
    state: str
    # Sorted silence IDs (active silences only).
    silenced_by: tuple[str, ...] = ()
    # Fingerprints (16 hex digits) of the alerts inhibiting this one.
    inhibited_by: tuple[str, ...] = ()
    # Not in the API: pending silences and the silence-state version the result is based
    # on, so the silencer can skip re-evaluating an alert when nothing changed.
    pending_silences: tuple[str, ...] = ()
    silences_version: int = 0

    def to_api(self) -> dict[str, Any]:
        """The `status` object of a gettableAlert (arrays never null)."""
        return {
            "inhibitedBy": list(self.inhibited_by),
            "silencedBy": list(self.silenced_by),
            "state": self.state,
        }


UNPROCESSED_STATUS: Final = AlertStatus(STATE_UNPROCESSED)


def _state_for(silenced_by: tuple[str, ...], inhibited_by: tuple[str, ...]) -> str:
    return STATE_SUPPRESSED if silenced_by or inhibited_by else STATE_ACTIVE


class Marker:
    """Alert statuses keyed by fingerprint (int).

    A status object is replaced only when its content changes, so readers may treat "the
    same object as last time" as "unchanged" (the API caches each alert's rendered JSON on it).
    """

    __slots__ = ("_statuses",)

    def __init__(self) -> None:
        self._statuses: dict[int, AlertStatus] = {}

    def set_active_or_silenced(
        self,
        fingerprint: int,
        silenced_by: Iterable[str],
        pending_silences: Iterable[str] = (),
        silences_version: int = 0,
    ) -> None:
        """Replace the silences of an alert; the IDs are the complete set that applies."""
        current = self._statuses.get(fingerprint, UNPROCESSED_STATUS)
        silenced = tuple(sorted(silenced_by))
        updated = AlertStatus(
            state=_state_for(silenced, current.inhibited_by),
            silenced_by=silenced,
            inhibited_by=current.inhibited_by,
            pending_silences=tuple(sorted(pending_silences)),
            silences_version=silences_version,
        )
        if updated != current:
            self._statuses[fingerprint] = updated

    def set_silenced(self, fingerprint: int, silence_ids: Iterable[str]) -> None:
        """Shorthand for callers that track no pending silences or versions."""
        self.set_active_or_silenced(fingerprint, silence_ids)

    def set_inhibited(self, fingerprint: int, inhibited_by: Iterable[str]) -> None:
        """Replace the inhibiting alerts' fingerprints (hex strings) of an alert."""
        current = self._statuses.get(fingerprint, UNPROCESSED_STATUS)
        inhibiting = tuple(sorted(inhibited_by))
        state = _state_for(current.silenced_by, inhibiting)
        if inhibiting != current.inhibited_by or state != current.state:
            self._statuses[fingerprint] = dataclasses.replace(current, state=state, inhibited_by=inhibiting)

    def status(self, fingerprint: int) -> AlertStatus:
        return self._statuses.get(fingerprint, UNPROCESSED_STATUS)

    def delete(self, fingerprint: int) -> None:
        self._statuses.pop(fingerprint, None)

    def count(self, *states: str) -> int:
        """How many alerts are marked with any of `states` (all marked alerts if none given)."""
        if not states:
            return len(self._statuses)
        return sum(1 for status in self._statuses.values() if status.state in states)

    def is_active(self, fingerprint: int) -> bool:
        return self.status(fingerprint).state == STATE_ACTIVE

    def is_silenced(self, fingerprint: int) -> bool:
        return bool(self.status(fingerprint).silenced_by)

    def is_inhibited(self, fingerprint: int) -> bool:
        return bool(self.status(fingerprint).inhibited_by)

    def __len__(self) -> int:
        return len(self._statuses)


__all__ = [
    "STATE_ACTIVE",
    "STATE_SUPPRESSED",
    "STATE_UNPROCESSED",
    "UNPROCESSED_STATUS",
    "AlertStatus",
    "Marker",
]
