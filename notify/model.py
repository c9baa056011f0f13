"""Value types shared by the pipeline and the application: label sets, alerts, hashes, times.

Fingerprints and alert hashes are byte-compatible with Alertmanager 0.25 because they are
part of what HA peers and users see: the fingerprint is FNV-1a 64 over the label pairs sorted
by name (each name and value followed by 0xff) and the nflog alert hash is xxhash64 over the
same bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import fnv_c
import xxhash

LabelSet = dict[str, str]

SEPARATOR_BYTE = b"\xff"
FNV_OFFSET_BASIS_64 = 0xCBF29CE484222325
FNV_PRIME_64 = 0x100000001B3
UINT64_MASK = 0xFFFFFFFFFFFFFFFF

# Go's zero time.Time; Alertmanager uses it for "unset" startsAt/endsAt.
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _label_bytes(labels: Mapping[str, str]) -> bytes:
    parts: list[bytes] = []
    for name in sorted(labels):
        parts.append(name.encode())
        parts.append(SEPARATOR_BYTE)
        parts.append(labels[name].encode())
        parts.append(SEPARATOR_BYTE)
    return b"".join(parts)


def fingerprint(labels: Mapping[str, str]) -> int:
    """Alertmanager's (Prometheus model's) label-set fingerprint: FNV-1a 64."""
    return int(fnv_c.fnv1a_64(_label_bytes(labels)))


def fingerprint_reference(labels: Mapping[str, str]) -> int:
    """The same FNV-1a 64 in plain Python, kept as the test oracle for the C version."""
    hash_value = FNV_OFFSET_BASIS_64
    for byte in _label_bytes(labels):
        hash_value ^= byte
        hash_value = (hash_value * FNV_PRIME_64) & UINT64_MASK
    return hash_value


def fingerprint_hex(labels: Mapping[str, str]) -> str:
    """The fingerprint as the API prints it: 16 lowercase hex digits."""
    return f"{fingerprint(labels):016x}"


def alert_hash(labels: Mapping[str, str]) -> int:
    """The nflog hash of an alert (xxhash64 of the sorted label bytes), not the fingerprint."""
    return xxhash.xxh64_intdigest(_label_bytes(labels))


def is_zero_time(moment: datetime | None) -> bool:
    return moment is None or moment == ZERO_TIME


@dataclasses.dataclass(slots=True)
class Alert:
    """One alert as the store keeps it.

    `timeout` is true when `ends_at` was not given by the client and was set to
    now + resolve_timeout; such an end time loses to an explicit one when alerts merge.
    """

    labels: LabelSet
    annotations: LabelSet = dataclasses.field(default_factory=dict)
    starts_at: datetime = ZERO_TIME
    ends_at: datetime = ZERO_TIME
    updated_at: datetime = ZERO_TIME
    generator_url: str = ""
    timeout: bool = False
    # The HTTP API's cached JSON rendering of this alert (opaque here). Not an init argument,
    # so `dataclasses.replace` starts every copy without it; never compared or shown.
    api_rendering: tuple[Any, Any, bytes] | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def fingerprint(self) -> int:
        return fingerprint(self.labels)

    def resolved_at(self, now: datetime) -> bool:
        """Resolved means an end time that is set and not after `now`."""
        return not is_zero_time(self.ends_at) and not self.ends_at > now

    def status_at(self, now: datetime) -> str:
        return "resolved" if self.resolved_at(now) else "firing"

    def merge(self, newer: Alert, now: datetime) -> Alert:
        """Alertmanager's merge of a re-posted alert with an overlapping interval.

        The newer update wins for labels and annotations; the earliest start is kept; while
        unresolved, a later explicit (non-timeout) end time is kept; when both are resolved,
        the later end time wins.
        """
        if newer.updated_at < self.updated_at:
            return newer.merge(self, now)
        merged = dataclasses.replace(newer)
        if self.starts_at < newer.starts_at:
            merged.starts_at = self.starts_at
        if newer.resolved_at(now):
            if self.resolved_at(now) and self.ends_at > newer.ends_at:
                merged.ends_at = self.ends_at
        elif self.ends_at > newer.ends_at and not self.timeout:
            merged.ends_at = self.ends_at
        return merged


# The API prints three times per alert and most of them repeat (one POST stamps all its
# alerts with the same update and end time); formatting costs ~60x a dict hit. Bounded so a
# stream of distinct times cannot grow it: past the bound it starts over.
MAX_CACHED_API_TIMES = 8192
_api_times: dict[datetime, str] = {}


def format_api_time(moment: datetime) -> str:
    """go-openapi strfmt.DateTime: RFC3339 with milliseconds, keeping the offset given."""
    # Only UTC times are memoised: equal instants in other zones print differently.
    utc = moment.tzinfo is UTC
    if utc:
        cached = _api_times.get(moment)
        if cached is not None:
            return cached
    text = moment.isoformat(timespec="milliseconds")
    if utc:
        if text.endswith("+00:00"):
            text = text[:-6] + "Z"
        if len(_api_times) >= MAX_CACHED_API_TIMES:
            _api_times.clear()
        _api_times[moment] = text
    return text


def format_go_time(moment: datetime) -> str:
    """Go's time.Time JSON form (RFC3339Nano, trailing fractional zeros trimmed)."""
    if moment.microsecond:
        text = moment.isoformat(timespec="microseconds")
        head, _, tail = text.partition(".")
        fraction, offset = tail[:6].rstrip("0"), tail[6:]
        text = f"{head}.{fraction}{offset}"
    else:
        text = moment.isoformat(timespec="seconds")
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text


def utc_from_timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


__all__ = [
    "ZERO_TIME",
    "Alert",
    "LabelSet",
    "alert_hash",
    "fingerprint",
    "fingerprint_hex",
    "format_api_time",
    "format_go_time",
    "is_zero_time",
    "utc_from_timestamp",
]
