"""Inhibition rules, as Alertmanager 0.25's inhibit package applies them, without scans.

A target alert (matching every target matcher of a rule) is muted when some *unresolved*
source alert (matching every source matcher) has the same values for the rule's `equal`
labels; a label missing on both sides counts as equal (both are ""). If the target itself
matches the source matchers, sources that also match the target matchers are skipped, so
an alert never inhibits itself or its peers.

Each rule keeps the source alerts the store has shown it (`observe`), filed under the tuple
of their `equal` label values: a lookup reads one bucket, never every source. Resolved
sources stay until `gc` (the lookup skips them), as in Alertmanager's per-rule cache.

Which source is reported in `inhibitedBy` when several qualify: Alertmanager takes the first
in map order (random); we take the earliest observed, so the answer is stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from daemon.config.model import InhibitRule
from daemon.matchers import Matcher
from notify.model import Alert, fingerprint


class InhibitMarker(Protocol):
    """The part of daemon.marker.Marker the inhibitor writes to."""

    def set_inhibited(self, fingerprint: int, inhibited_by: Iterable[str]) -> None: ...


def _matches(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(matcher.matches(labels.get(matcher.name, "")) for matcher in matchers)


class _RuleState:
    def __init__(self, rule: InhibitRule) -> None:
        self.source_matchers = tuple(rule.source_matchers)
        self.target_matchers = tuple(rule.target_matchers)
        # Duplicates in `equal` change nothing; a fixed order makes the bucket key.
        self.equal = tuple(sorted(set(rule.equal)))
        # equal-label values -> fingerprint -> latest version of that source alert
        self._sources: dict[tuple[str, ...], dict[int, Alert]] = {}
        self._key_of: dict[int, tuple[str, ...]] = {}

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.equal)

    def observe(self, alert: Alert, alert_fingerprint: int) -> None:
        if not _matches(self.source_matchers, alert.labels):
            return
        key = self.key(alert.labels)
        # Same fingerprint means same labels, so the key cannot change between versions.
        self._key_of[alert_fingerprint] = key
        self._sources.setdefault(key, {})[alert_fingerprint] = alert

    def forget(self, alert_fingerprint: int) -> None:
        key = self._key_of.pop(alert_fingerprint, None)
        if key is None:
            return
        bucket = self._sources[key]
        del bucket[alert_fingerprint]
        if not bucket:
            del self._sources[key]

    def gc(self, now: datetime) -> int:
        resolved = [
            fp for bucket in self._sources.values() for fp, alert in bucket.items() if alert.resolved_at(now)
        ]
        for fp in resolved:
            self.forget(fp)
        return len(resolved)

    def inhibiting_source(self, labels: Mapping[str, str], now: datetime) -> int | None:
        """The fingerprint of the first source inhibiting a target with `labels`, if any."""
        if not _matches(self.target_matchers, labels):
            return None
        bucket = self._sources.get(self.key(labels))
        if not bucket:
            return None
        exclude_two_sided = _matches(self.source_matchers, labels)
        for source_fingerprint, source in bucket.items():
            if source.resolved_at(now):
                continue
            if exclude_two_sided and _matches(self.target_matchers, source.labels):
                continue
            return source_fingerprint
        return None

    def __len__(self) -> int:
        return len(self._key_of)


class Inhibitor:
    """Satisfies notify.context.AlertMuter. Feed it every alert the store accepts."""

    def __init__(self, rules: Sequence[InhibitRule], marker: InhibitMarker | None = None) -> None:
        self._rules = [_RuleState(rule) for rule in rules]
        self._marker = marker

    def observe(self, alert: Alert) -> None:
        """An alert was stored (new or updated): file it as a source where it qualifies."""
        if not self._rules:
            return
        alert_fingerprint = alert.fingerprint()
        for rule in self._rules:
            rule.observe(alert, alert_fingerprint)

    def forget(self, alert_fingerprint: int) -> None:
        """The store dropped the alert."""
        for rule in self._rules:
            rule.forget(alert_fingerprint)

    def gc(self, now: datetime) -> int:
        """Drop resolved sources; returns how many entries went."""
        return sum(rule.gc(now) for rule in self._rules)

    def inhibited_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """`[source fingerprint as 16 hex digits]` or `[]`; recorded in the marker."""
        if self._marker is None:
            return self._inhibiting(labels, now)
        return self.update_status(fingerprint(labels), labels, now)

    def update_status(self, alert_fingerprint: int, labels: Mapping[str, str], now: datetime) -> list[str]:
        """`inhibited_by` for a caller that knows the alert's fingerprint (the API, once per
        listed alert)."""
        found = self._inhibiting(labels, now)
        if self._marker is not None:
            self._marker.set_inhibited(alert_fingerprint, found)
        return found

    def _inhibiting(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        for rule in self._rules:
            source = rule.inhibiting_source(labels, now)
            if source is not None:
                return [f"{source:016x}"]
        return []

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return bool(self.inhibited_by(labels, now))

    def source_count(self) -> int:
        return sum(len(rule) for rule in self._rules)


__all__ = ["InhibitMarker", "Inhibitor"]
