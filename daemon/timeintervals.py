"""Named time intervals (`time_intervals` / `mute_time_intervals`), evaluated as Alertmanager
0.25's timeinterval.ContainsTime does. Pure: the moment is an argument.

Semantics: within one interval, fields are ANDed and the ranges of a field ORed; a field that
is not set matches everything; a named interval contains a moment if any of its entries does.
The moment is converted to the entry's `location` (IANA zone, UTC when unset) first.
`times` are [start, end) minutes of the local day; weekdays (sunday = 0), days of month,
months and years are inclusive ranges. Negative days of month count from the month's end.

Quirk kept on purpose: Alertmanager measures the length of a month as elapsed hours / 24,
truncated, so in the month a zone springs forward (a 23-hour day) the month is one day
shorter for negative day-of-month ranges (`-1` means the day before the last).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

from daemon.config.model import TimeIntervalSpec

logger = logging.getLogger(__name__)

MINUTES_PER_HOUR = 60
HOURS_PER_DAY = 24
DECEMBER = 12


@cache
def _zone(name: str | None) -> tzinfo:
    # Config validation has already rejected unknown zones; the cache is bounded by the config.
    if name is None or name == "UTC":
        return UTC
    if name == "Local":  # Go's time.LoadLocation("Local"): the machine's zone
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    return ZoneInfo(name)


def _go_weekday(moment: datetime) -> int:
    return (moment.weekday() + 1) % 7  # Python: monday = 0; Go: sunday = 0


def days_in_month(moment: datetime) -> int:
    """Alertmanager's daysInMonth: elapsed hours from this month's start to the next's, / 24."""
    zone = moment.tzinfo
    start = datetime(moment.year, moment.month, 1, tzinfo=zone)
    if moment.month == DECEMBER:
        end = datetime(moment.year + 1, 1, 1, tzinfo=zone)
    else:
        end = datetime(moment.year, moment.month + 1, 1, tzinfo=zone)
    # Subtract in UTC: Python subtracts aware datetimes of one zone as wall-clock times.
    elapsed = end.astimezone(UTC) - start.astimezone(UTC)
    return int(elapsed / timedelta(hours=1)) // HOURS_PER_DAY


def _clamp(value: int, lowest: int, highest: int) -> int:
    return max(lowest, min(highest, value))


def _in_day_of_month(moment: datetime, ranges: Sequence[tuple[int, int]]) -> bool:
    month_days = days_in_month(moment)
    for begin, end in ranges:
        first = month_days + begin + 1 if begin < 0 else begin
        last = month_days + end + 1 if end < 0 else end
        if first > month_days:
            continue
        first = _clamp(first, -month_days, month_days)
        last = _clamp(last, -month_days, month_days)
        if first <= moment.day <= last:
            return True
    return False


def _in_ranges(value: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(begin <= value <= end for begin, end in ranges)


def interval_contains(spec: TimeIntervalSpec, moment: datetime) -> bool:
    local = moment.astimezone(_zone(spec.location))
    if spec.times:
        minute_of_day = local.hour * MINUTES_PER_HOUR + local.minute
        if not any(r.start_minute <= minute_of_day < r.end_minute for r in spec.times):
            return False
    if spec.days_of_month and not _in_day_of_month(local, spec.days_of_month):
        return False
    if spec.months and not _in_ranges(local.month, spec.months):
        return False
    if spec.weekdays and not _in_ranges(_go_weekday(local), spec.weekdays):
        return False
    return not (spec.years and not _in_ranges(local.year, spec.years))


class TimeIntervalSet:
    """The config's named intervals; satisfies notify.context.TimeIntervals."""

    def __init__(self, intervals: Mapping[str, Sequence[TimeIntervalSpec]]) -> None:
        self._intervals = {name: tuple(specs) for name, specs in intervals.items()}

    def contains(self, name: str, moment: datetime) -> bool:
        specs = self._intervals.get(name)
        if specs is None:
            # Config validation rejects references to undefined intervals; be loud if not.
            logger.error("time interval %s doesn't exist in config", name)
            return False
        return any(interval_contains(spec, moment) for spec in specs)

    def any_contains(self, names: Sequence[str], moment: datetime) -> bool:
        return any(self.contains(name, moment) for name in names)


__all__ = ["TimeIntervalSet", "days_in_month", "interval_contains"]
