"""Differential tests for suppression: inhibition and silences, in webhooks and in the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers.alerts_gen import alert, api_time, utc_now
from tests.oracle.differential import PairStarter

pytestmark = [pytest.mark.oracle, pytest.mark.process]

CONFIG = """\
route:
  receiver: team
  group_by: [alertname, cluster]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
receivers:
  - name: team
    webhook_configs: [{url: $SINK/team}]
"""


def test_inhibited_and_silenced_alerts_are_not_sent_and_show_as_suppressed(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(CONFIG)
    start = utc_now()
    pair.post_silence(
        {
            "matchers": [{"name": "alertname", "value": "Maint.*", "isRegex": True, "isEqual": True}],
            "startsAt": api_time(start),
            "endsAt": api_time(start + timedelta(hours=1)),
            "createdBy": "oracle",
            "comment": "maintenance window",
        },
        "maintenance",
    )
    pair.post_alerts(
        [
            alert({"alertname": "Down", "cluster": "eu", "severity": "critical"}, starts_at=start),
            alert({"alertname": "Slow", "cluster": "eu", "severity": "warning"}, starts_at=start),
            alert({"alertname": "Slow", "cluster": "us", "severity": "warning"}, starts_at=start),
            # Missing `cluster` on both sides counts as equal: inhibited by nothing here, since
            # the only critical alert has cluster="eu".
            alert({"alertname": "Slow", "severity": "warning"}, starts_at=start),
            alert({"alertname": "Maintenance", "cluster": "us", "severity": "warning"}, starts_at=start),
        ]
    )
    pair.wait_for_notifications(3)
    bodies = pair.compare_notifications()
    assert sorted(body["groupKey"] for body in bodies) == [
        '{}:{alertname="Down", cluster="eu"}',
        '{}:{alertname="Slow", cluster="us"}',
        '{}:{alertname="Slow"}',
    ]
    pair.compare_api(
        [
            {},
            {"inhibited": "false"},
            {"silenced": "false"},
            {"active": "false"},
            {"silenced": "false", "inhibited": "false", "active": "true"},
        ]
    )
    states = {
        one["labels"]["alertname"] + one["labels"].get("cluster", ""): one["status"]
        for one in pair.oracle.get("/api/v2/alerts").json()
    }
    assert states["Sloweu"]["state"] == "suppressed" and len(states["Sloweu"]["inhibitedBy"]) == 1
    assert (
        states["Maintenanceus"]["state"] == "suppressed" and len(states["Maintenanceus"]["silencedBy"]) == 1
    )
    pair.assert_quiet(3)


TIME_INTERVAL_CONFIG = """\
route:
  receiver: open
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  routes:
    - matchers: [route="muted"]
      receiver: muted
      mute_time_intervals: [always]
    - matchers: [route="inactive"]
      receiver: inactive
      active_time_intervals: [last-century]
    - matchers: [route="active"]
      receiver: active
      active_time_intervals: [always]
time_intervals:
  - name: always
    time_intervals:
      - weekdays: ['sunday:saturday']
  - name: last-century
    time_intervals:
      - years: ['1990:1999']
receivers:
  - name: open
    webhook_configs: [{url: $SINK/open}]
  - name: muted
    webhook_configs: [{url: $SINK/muted}]
  - name: inactive
    webhook_configs: [{url: $SINK/inactive}]
  - name: active
    webhook_configs: [{url: $SINK/active}]
"""


def test_mute_and_active_time_intervals(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(TIME_INTERVAL_CONFIG)
    start = utc_now()
    pair.post_alerts(
        [
            alert({"alertname": name, "route": route}, starts_at=start)
            for name, route in (("A", "muted"), ("B", "inactive"), ("C", "active"), ("D", "none"))
        ]
    )
    pair.wait_for_notifications(2)
    pair.compare_notifications()
    assert sorted(request.path for request in pair.oracle.sink.requests) == ["/active", "/open"]
    pair.compare_api()
    pair.assert_quiet(2)
