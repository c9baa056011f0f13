"""Prometheus model.Duration parsing and printing (prometheus/common 0.39 semantics)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.duration import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("1y", timedelta(days=365)),
        ("90s", timedelta(seconds=90)),
        ("1h0m5s", timedelta(hours=1, seconds=5)),
        ("250ms", timedelta(milliseconds=250)),
        ("1y2w3d4h5m6s7ms", timedelta(days=365 + 14 + 3, hours=4, minutes=5, seconds=6, milliseconds=7)),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration string"),
        ("x", 'not a valid duration string: "x"'),
        ("5", 'not a valid duration string: "5"'),
        ("30m1h", 'not a valid duration string: "30m1h"'),
        ("1.5h", 'not a valid duration string: "1.5h"'),
        ("-5m", 'not a valid duration string: "-5m"'),
        (" 5m", 'not a valid duration string: " 5m"'),
        ("5m\n", 'not a valid duration string: "5m\\n"'),
        ("1m1m", 'not a valid duration string: "1m1m"'),
        ("300y", "duration out of range"),
        ("293y", "duration out of range"),
        ("292y53w", "duration out of range"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("duration", "printed"),
    [
        (timedelta(0), "0s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(hours=4), "4h"),
        (timedelta(days=90), "90d"),  # not 12w6d: weeks only when exact
        (timedelta(days=14), "2w"),
        (timedelta(days=365), "1y"),
        (timedelta(days=366), "366d"),
        (timedelta(seconds=30), "30s"),
        (timedelta(milliseconds=1500), "1s500ms"),
        (timedelta(microseconds=999), "0s"),
    ],
)
def test_format(duration: timedelta, printed: str) -> None:
    assert format_duration(duration) == printed


@given(st.integers(min_value=0, max_value=200 * 365 * 24 * 3600 * 1000))
def test_format_then_parse_round_trips(milliseconds: int) -> None:
    duration = timedelta(milliseconds=milliseconds)
    assert parse_duration(format_duration(duration)) == duration


@given(st.text(max_size=20))
def test_parse_raises_only_duration_error(text: str) -> None:
    try:
        parse_duration(text)
    except DurationError:
        pass
