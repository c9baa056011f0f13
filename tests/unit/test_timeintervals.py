"""Time intervals: each field's rule, ANDs and ORs, zones, negative days, Alertmanager quirks."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from daemon.config.model import TimeIntervalSpec, TimeRange
from daemon.timeintervals import TimeIntervalSet, days_in_month, interval_contains

BUSINESS_HOURS = TimeIntervalSpec(times=[TimeRange(9 * 60, 17 * 60)], weekdays=[(1, 5)])


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (datetime(2026, 1, 5, 9, 0, tzinfo=UTC), True),  # a Monday, start inclusive
        (datetime(2026, 1, 5, 16, 59, tzinfo=UTC), True),
        (datetime(2026, 1, 5, 17, 0, tzinfo=UTC), False),  # end exclusive
        (datetime(2026, 1, 5, 8, 59, tzinfo=UTC), False),
        (datetime(2026, 1, 4, 12, 0, tzinfo=UTC), False),  # Sunday
        (datetime(2026, 1, 9, 12, 0, tzinfo=UTC), True),  # Friday, inclusive range end
        (datetime(2026, 1, 10, 12, 0, tzinfo=UTC), False),  # Saturday
    ],
)
def test_business_hours(moment: datetime, inside: bool) -> None:
    assert interval_contains(BUSINESS_HOURS, moment) is inside


def test_location_converts_the_moment() -> None:
    spec = TimeIntervalSpec(times=[TimeRange(9 * 60, 10 * 60)], location="Europe/Berlin")
    assert interval_contains(spec, datetime(2026, 1, 5, 8, 30, tzinfo=UTC))  # 09:30 CET
    assert not interval_contains(spec, datetime(2026, 7, 6, 8, 30, tzinfo=UTC))  # 10:30 CEST
    # The moment's own zone does not matter, only the instant.
    assert interval_contains(spec, datetime(2026, 1, 5, 3, 30, tzinfo=ZoneInfo("America/New_York")))


def test_days_of_month_positive_negative_and_clamped() -> None:
    last_two = TimeIntervalSpec(days_of_month=[(-2, -1)])
    assert interval_contains(last_two, datetime(2026, 2, 27, tzinfo=UTC))
    assert interval_contains(last_two, datetime(2026, 2, 28, tzinfo=UTC))
    assert not interval_contains(last_two, datetime(2026, 2, 26, tzinfo=UTC))
    beyond = TimeIntervalSpec(days_of_month=[(30, 31)])
    assert not interval_contains(beyond, datetime(2026, 2, 28, tzinfo=UTC))  # begins after the month
    assert interval_contains(TimeIntervalSpec(days_of_month=[(25, 40)]), datetime(2026, 2, 28, tzinfo=UTC))


def test_months_years_and_fields_are_anded() -> None:
    spec = TimeIntervalSpec(months=[(12, 12), (1, 2)], years=[(2026, 2027)])
    assert interval_contains(spec, datetime(2026, 1, 15, tzinfo=UTC))
    assert not interval_contains(spec, datetime(2026, 3, 15, tzinfo=UTC))
    assert not interval_contains(spec, datetime(2028, 1, 15, tzinfo=UTC))


def test_empty_spec_contains_everything() -> None:
    assert interval_contains(TimeIntervalSpec(), datetime(2026, 6, 1, tzinfo=UTC))


def test_month_length_quirk_in_a_spring_forward_month() -> None:
    # March 2026 in Berlin has 31 days but only 743 hours; Alertmanager truncates to 30.
    assert days_in_month(datetime(2026, 3, 10, tzinfo=ZoneInfo("Europe/Berlin"))) == 30
    assert days_in_month(datetime(2026, 10, 10, tzinfo=ZoneInfo("Europe/Berlin"))) == 31
    assert days_in_month(datetime(2026, 3, 10, tzinfo=UTC)) == 31
    last_day = TimeIntervalSpec(days_of_month=[(-1, -1)], location="Europe/Berlin")
    assert interval_contains(last_day, datetime(2026, 3, 30, 12, tzinfo=UTC))


def test_named_set_ors_entries_and_names() -> None:
    intervals = TimeIntervalSet(
        {
            "weekends": [TimeIntervalSpec(weekdays=[(6, 6)]), TimeIntervalSpec(weekdays=[(0, 0)])],
            "nights": [TimeIntervalSpec(times=[TimeRange(0, 6 * 60)])],
        }
    )
    sunday_noon = datetime(2026, 1, 4, 12, tzinfo=UTC)
    monday_night = datetime(2026, 1, 5, 2, tzinfo=UTC)
    monday_noon = datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert intervals.contains("weekends", sunday_noon)
    assert intervals.any_contains(["weekends", "nights"], monday_night)
    assert not intervals.any_contains(["weekends", "nights"], monday_noon)
    assert not intervals.any_contains([], monday_noon)
    assert not intervals.contains("undefined", monday_noon)
