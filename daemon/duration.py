"""Prometheus durations (`model.Duration` of prometheus/common 0.39, as Alertmanager 0.25
uses them in its config and flags): `1y2w3d4h5m6s7ms`, units in that order, each at most
once, a year being 365 days; a bare `0` is allowed. Values are `datetime.timedelta` with
millisecond precision.
"""

from __future__ import annotations

import re
from datetime import timedelta

from daemon.matchers import go_quote

_MILLISECOND = 1
_SECOND = 1000 * _MILLISECOND
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_WEEK = 7 * _DAY
_YEAR = 365 * _DAY

# (unit, milliseconds), biggest first: the order the syntax demands and the printer uses.
_UNITS = (("y", _YEAR), ("w", _WEEK), ("d", _DAY), ("h", _HOUR), ("m", _MINUTE), ("s", _SECOND), ("ms", 1))
_DURATION_SYNTAX = re.compile("".join(f"(?:([0-9]+){unit})?" for unit, _ in _UNITS) + r"\Z")

# Go's time.Duration is an int64 of nanoseconds; longer durations (~292 years) are refused.
_MAX_NANOSECONDS = (1 << 63) - 1
_NANOSECONDS_PER_MILLISECOND = 1_000_000


class DurationError(ValueError):
    """An unparsable duration; the message is prometheus/common's."""


def parse_duration(text: str) -> timedelta:
    if text == "0":
        return timedelta(0)
    if text == "":
        raise DurationError("empty duration string")
    found = _DURATION_SYNTAX.match(text)
    if found is None:
        raise DurationError(f"not a valid duration string: {go_quote(text)}")
    total_nanoseconds = 0
    for (_, unit_milliseconds), digits in zip(_UNITS, found.groups(), strict=True):
        if digits is None:
            continue
        count = int(digits)
        if count > _MAX_NANOSECONDS // unit_milliseconds // _NANOSECONDS_PER_MILLISECOND:
            raise DurationError("duration out of range")
        total_nanoseconds += count * unit_milliseconds * _NANOSECONDS_PER_MILLISECOND
        if total_nanoseconds > _MAX_NANOSECONDS:
            raise DurationError("duration out of range")
    return timedelta(milliseconds=total_nanoseconds // _NANOSECONDS_PER_MILLISECOND)


def format_duration(duration: timedelta) -> str:
    """model.Duration.String(): `0s`, `5m`, `1h30m`, `90d`; years and weeks only when exact."""
    remaining = duration // timedelta(milliseconds=1)
    if remaining == 0:
        return "0s"
    parts: list[str] = []
    for unit, unit_milliseconds in _UNITS:
        only_when_exact = unit in ("y", "w")
        if only_when_exact and remaining % unit_milliseconds != 0:
            continue
        count = remaining // unit_milliseconds
        if count > 0:
            parts.append(f"{count}{unit}")
            remaining -= count * unit_milliseconds
    return "".join(parts)


__all__ = ["DurationError", "format_duration", "parse_duration"]
