"""Re-posting an alert: Alertmanager merges overlapping intervals and replaces others (ref. §5.1).

Only the API is compared here; each step posts the same labels with other times and both
daemons must then show the same startsAt/endsAt (the server-filled end time normalised).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.helpers.alerts_gen import alert, api_time, utc_now
from tests.oracle.differential import PairStarter

pytestmark = [pytest.mark.oracle, pytest.mark.process]

CONFIG = """\
route:
  receiver: quiet
  group_wait: 1h
receivers:
  - name: quiet
"""

LABELS = {"alertname": "Merge", "instance": "a"}


def test_reposting_merges_or_replaces_like_alertmanager(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(CONFIG)
    origin = utc_now()
    hour = timedelta(hours=1)
    minutes_10 = timedelta(minutes=10)
    # (step, posted times, expected stored (startsAt, endsAt) or None when no longer listed)
    steps: list[tuple[str, dict[str, datetime], tuple[datetime, datetime] | None]] = [
        ("first post", {"starts_at": origin, "ends_at": origin + hour}, (origin, origin + hour)),
        (
            "later start, overlapping: keeps the earlier start, takes the later end",
            {"starts_at": origin + minutes_10, "ends_at": origin + 2 * hour},
            (origin, origin + 2 * hour),
        ),
        (
            "earlier start, overlapping: takes the earlier start, keeps the later end",
            {"starts_at": origin - minutes_10, "ends_at": origin + hour},
            (origin - minutes_10, origin + 2 * hour),
        ),
        (
            "no end time: the explicit later end wins over now + resolve_timeout",
            {"starts_at": origin},
            (origin - minutes_10, origin + 2 * hour),
        ),
        (
            "explicit later end",
            {"starts_at": origin, "ends_at": origin + 3 * hour},
            (origin - minutes_10, origin + 3 * hour),
        ),
        (
            "disjoint, later: replaces",
            {"starts_at": origin + 5 * hour, "ends_at": origin + 6 * hour},
            (origin + 5 * hour, origin + 6 * hour),
        ),
        (
            "disjoint, in the past: replaces, so it is resolved",
            {"starts_at": origin - 3 * hour, "ends_at": origin - 2 * hour},
            None,
        ),
        (
            "firing again",
            {"starts_at": origin + 5 * hour, "ends_at": origin + 7 * hour},
            (origin + 5 * hour, origin + 7 * hour),
        ),
    ]
    for step, times, expected in steps:
        posted = alert(
            LABELS, annotations={"step": step}, starts_at=times["starts_at"], ends_at=times.get("ends_at")
        )
        pair.post_alerts([posted])
        pair.compare_api()
        stored = [(one["startsAt"], one["endsAt"]) for one in pair.oracle.get("/api/v2/alerts").json()]
        assert stored == ([] if expected is None else [(api_time(expected[0]), api_time(expected[1]))]), step
