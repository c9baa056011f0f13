"""Per-alert status as the API reports it: unprocessed, active or suppressed, and by what.

The silencer and the inhibitor write here whenever they evaluate an alert (in the pipeline
and on every GET of alerts); the API only reads. An alert nobody has evaluated yet is
`unprocessed`. It is `suppressed` while any silence or inhibiting alert applies to it, else
`active`. Entries are dropped when the alert store garbage-collects the alert.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson

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
    # `to_api()` encoded, once per status object (`json()`): many alerts share one status.
    api_json: bytes | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def to_api(self) -> dict[str, Any]:
        """The `status` object of a gettableAlert (arrays never null)."""
        return {
            "inhibitedBy": list(self.inhibited_by),
            "silencedBy": list(self.silenced_by),
            "state": self.state,
        }

    def json(self) -> bytes:
        """`to_api()` as JSON bytes, encoded on first use and kept (the status is immutable)."""
        encoded = self.api_json
        if encoded is None:
            encoded = orjson.dumps(self.to_api())
            object.__setattr__(self, "api_json", encoded)
        return encoded


UNPROCESSED_STATUS: Final = AlertStatus(STATE_UNPROCESSED)
# Written by the silence table (daemon.silences.AlertSilenceTable), whose results carry no
# version: the versioned cache of the table-less silencer never trusts such a status.
UNVERSIONED: Final = -1
# The status of almost every alert, shared: neither silenced nor inhibited.
ACTIVE_STATUS: Final = AlertStatus(STATE_ACTIVE, silences_version=UNVERSIONED)


def _state_for(silenced_by: tuple[str, ...], inhibited_by: tuple[str, ...]) -> str:
    return STATE_SUPPRESSED if silenced_by or inhibited_by else STATE_ACTIVE


class Marker:
    """Alert statuses keyed by fingerprint (int).

    A status object is replaced only when its content changes, so readers may treat "the
    same object as last time" as "unchanged" (the API caches each alert's rendered JSON on it).
    """

    __slots__ = ("_inhibited", "_statuses")

    def __init__(self) -> None:
        self._statuses: dict[int, AlertStatus] = {}
        # Fingerprints whose status names inhibiting alerts: while there are none and no
        # inhibition rule exists, nothing can inhibit and the API may skip the inhibitor.
        self._inhibited: set[int] = set()

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

    def set_silences(self, fingerprint: int, active: tuple[str, ...], pending: tuple[str, ...]) -> AlertStatus:
        """Like `set_active_or_silenced` for IDs that come sorted in tuples which are kept
        while they hold (the silence table's results): unchanged tuples cost one lookup.
        Returns the alert's status. A status with nothing muting the alert becomes the
        shared ACTIVE_STATUS, so "is ACTIVE_STATUS" tells a reader all it needs."""
        statuses = self._statuses
        current = statuses.get(fingerprint, UNPROCESSED_STATUS)
        if not active and not pending and not current.inhibited_by:
            if current is not ACTIVE_STATUS:
                statuses[fingerprint] = ACTIVE_STATUS
            return ACTIVE_STATUS
        if (
            current.silenced_by is active
            and current.pending_silences is pending
            and current.state != STATE_UNPROCESSED
        ):
            return current
        updated = AlertStatus(
            state=_state_for(active, current.inhibited_by),
            silenced_by=active,
            inhibited_by=current.inhibited_by,
            pending_silences=pending,
            silences_version=UNVERSIONED,
        )
        if updated == current:
            return current
        statuses[fingerprint] = updated
        return updated

    def set_unmuted(self, fingerprints: Iterable[int]) -> None:
        """Record ACTIVE_STATUS for alerts that nothing silences or inhibits (what
        `set_silences(fingerprint, (), ())` and `set_inhibited(fingerprint, ())` leave),
        in one pass: the first GET of many alerts writes one for each."""
        fingerprints = list(fingerprints)
        self._statuses.update(dict.fromkeys(fingerprints, ACTIVE_STATUS))
        if self._inhibited:
            self._inhibited.difference_update(fingerprints)

    def set_silenced(self, fingerprint: int, silence_ids: Iterable[str]) -> None:
        """Shorthand for callers that track no pending silences or versions."""
        self.set_active_or_silenced(fingerprint, silence_ids)

    def set_inhibited(self, fingerprint: int, inhibited_by: Iterable[str]) -> None:
        """Replace the inhibiting alerts' fingerprints (hex strings) of an alert."""
        current = self._statuses.get(fingerprint, UNPROCESSED_STATUS)
        inhibiting = tuple(sorted(inhibited_by))
        if not inhibiting and not current.inhibited_by and current.state != STATE_UNPROCESSED:
            return  # the common answer, and nothing to change
        state = _state_for(current.silenced_by, inhibiting)
        if inhibiting != current.inhibited_by or state != current.state:
            self._statuses[fingerprint] = dataclasses.replace(current, state=state, inhibited_by=inhibiting)
        if inhibiting:
            self._inhibited.add(fingerprint)
        else:
            self._inhibited.discard(fingerprint)

    def status(self, fingerprint: int) -> AlertStatus:
        return self._statuses.get(fingerprint, UNPROCESSED_STATUS)

    def statuses(self) -> Mapping[int, AlertStatus]:
        """Every recorded status by fingerprint (read-only; an absent one is unprocessed),
        for readers that look up many alerts at once."""
        return self._statuses

    def any_inhibited(self) -> bool:
        """Whether some alert's status names inhibiting alerts."""
        return bool(self._inhibited)

    def delete(self, fingerprint: int) -> None:
        self._statuses.pop(fingerprint, None)
        self._inhibited.discard(fingerprint)

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
    "ACTIVE_STATUS",
    "STATE_ACTIVE",
    "STATE_SUPPRESSED",
    "STATE_UNPROCESSED",
    "UNPROCESSED_STATUS",
    "UNVERSIONED",
    "AlertStatus",
    "Marker",
]
