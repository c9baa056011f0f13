"""Differential tests: same config, same alerts into Alertmanager 0.25 and tocsin; same results.

Each scenario states the notifications it expects (known-correct values, so a scenario that
stopped exercising what it claims fails even when both daemons agree), then compares every
webhook body and the API views of both daemons.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers.alerts_gen import alert, resolved, utc_now
from tests.oracle.differential import PairStarter

pytestmark = [pytest.mark.oracle, pytest.mark.process]

TIMERS = """\
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
"""


def test_grouping_by_labels_then_resolution(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(
        f"""\
route:
  receiver: team
  group_by: [alertname, cluster]
{TIMERS}receivers:
  - name: team
    webhook_configs:
      - url: $SINK/team
"""
    )
    start = utc_now()
    alerts = [
        alert(
            {"alertname": name, "cluster": cluster, "instance": f"node-{index}", "job": "node"},
            annotations={"summary": f"{name} on {cluster}"},
            starts_at=start,
            generator_url="http://prometheus.example/graph?g0.expr=up",
        )
        for name in ("DiskFull", "HighLoad")
        for cluster in ("eu", "us")
        for index in range(2)
    ]
    pair.post_alerts(alerts)
    pair.wait_for_notifications(4)
    bodies = pair.compare_notifications()
    assert sorted(body["groupKey"] for body in bodies) == [
        '{}:{alertname="DiskFull", cluster="eu"}',
        '{}:{alertname="DiskFull", cluster="us"}',
        '{}:{alertname="HighLoad", cluster="eu"}',
        '{}:{alertname="HighLoad", cluster="us"}',
    ]
    assert all(len(body["alerts"]) == 2 and body["status"] == "firing" for body in bodies)
    pair.assert_external_urls()
    pair.compare_api([{}, {"filter": 'cluster="eu"'}, {"filter": ["alertname=~Disk.*", "instance!=node-0"]}])
    pair.compare_status()

    pair.post_alerts(resolved(alerts, utc_now()))
    pair.wait_for_notifications(8)
    bodies = pair.compare_notifications()
    assert sorted(body["status"] for body in bodies) == ["firing"] * 4 + ["resolved"] * 4
    # Resolved alerts leave GET /alerts at once.
    assert pair.oracle.get("/api/v2/alerts").json() == []
    pair.compare_api()
    pair.assert_quiet(8)


def test_group_by_all_labels(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(
        f"""\
route:
  receiver: team
  group_by: ['...']
{TIMERS}receivers:
  - name: team
    webhook_configs:
      - url: $SINK/all
"""
    )
    start = utc_now()
    alerts = [
        alert({"alertname": "Down", "instance": f"i{index}", "zone": "z"}, starts_at=start)
        for index in range(3)
    ]
    pair.post_alerts(alerts)
    pair.wait_for_notifications(3)
    bodies = pair.compare_notifications()
    for body in bodies:
        assert body["groupLabels"] == body["alerts"][0]["labels"] == body["commonLabels"]
    pair.compare_api()
    pair.assert_quiet(3)


NESTED_ROUTES = f"""\
route:
  receiver: default
  group_by: [alertname]
{TIMERS}  routes:
    - matchers: ['team="db"']
      receiver: db
      continue: true
      routes:
        - matchers: ['severity="critical"']
          receiver: db-pager
    - matchers: ['severity=~"critical|warning"']
      receiver: oncall
      group_by: [alertname, severity]
receivers:
  - name: default
    webhook_configs: [{{url: $SINK/default}}]
  - name: db
    webhook_configs: [{{url: $SINK/db}}]
  - name: db-pager
    webhook_configs: [{{url: $SINK/db-pager}}]
  - name: oncall
    webhook_configs: [{{url: $SINK/oncall}}]
  - name: unused
"""


def test_nested_routes_with_continue(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(NESTED_ROUTES)
    start = utc_now()
    pair.post_alerts(
        [
            alert({"alertname": "Disk", "team": "db", "severity": "critical"}, starts_at=start),
            alert({"alertname": "Disk", "team": "db", "severity": "info"}, starts_at=start),
            alert({"alertname": "Latency", "team": "web", "severity": "warning"}, starts_at=start),
            alert({"alertname": "Latency", "team": "web", "severity": "info"}, starts_at=start),
        ]
    )
    pair.wait_for_notifications(5)
    bodies = pair.compare_notifications()
    # The critical db alert goes to the nested db-pager (first match inside the continuing
    # route) and, because of `continue`, also to oncall.
    assert sorted((body["receiver"], body["groupKey"]) for body in bodies) == [
        ("db", '{}/{team="db"}:{alertname="Disk"}'),
        ("db-pager", '{}/{team="db"}/{severity="critical"}:{alertname="Disk"}'),
        ("default", '{}:{alertname="Latency"}'),
        ("oncall", '{}/{severity=~"critical|warning"}:{alertname="Disk", severity="critical"}'),
        ("oncall", '{}/{severity=~"critical|warning"}:{alertname="Latency", severity="warning"}'),
    ]
    pair.compare_api(
        [
            {},
            {"receiver": "oncall"},
            {"receiver": "db.*"},
            {"receiver": "db"},
            {"filter": 'team="db"', "receiver": "db-pager"},
            {"active": "false"},
            {"silenced": "false", "inhibited": "false"},
        ]
    )
    pair.compare_status()
    pair.assert_quiet(5)


def test_max_alerts_truncation(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(
        f"""\
route:
  receiver: capped
  group_by: [alertname]
{TIMERS}receivers:
  - name: capped
    webhook_configs:
      - url: $SINK/capped
        max_alerts: 2
      - url: $SINK/uncapped
"""
    )
    start = utc_now()
    alerts = [
        alert({"alertname": "Many", "instance": f"host-{index}"}, starts_at=start) for index in range(5)
    ]
    pair.post_alerts(alerts)
    pair.wait_for_notifications(2)
    bodies = {body["groupKey"] + str(len(body["alerts"])): body for body in pair.compare_notifications()}
    truncated = bodies['{}:{alertname="Many"}2']
    assert truncated["truncatedAlerts"] == 3
    assert bodies['{}:{alertname="Many"}5']["truncatedAlerts"] == 0
    pair.compare_api()

    pair.post_alerts(resolved(alerts, utc_now()))
    pair.wait_for_notifications(4)
    pair.compare_notifications()
    pair.assert_quiet(4)


def test_partial_resolution_and_send_resolved_false(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(
        f"""\
route:
  receiver: both
  group_by: [alertname]
{TIMERS}receivers:
  - name: both
    webhook_configs:
      - url: $SINK/resolved-on
      - url: $SINK/resolved-off
        send_resolved: false
"""
    )
    start = utc_now()
    alerts = [alert({"alertname": "Flap", "instance": f"i{index}"}, starts_at=start) for index in range(3)]
    pair.post_alerts(alerts)
    pair.wait_for_notifications(2)
    pair.compare_notifications()

    # One of three resolves: the send_resolved receiver hears about it (a firing notification
    # carrying the resolved alert); the other has nothing new to say.
    pair.post_alerts(resolved(alerts[:1], utc_now()))
    pair.wait_for_notifications(3)
    pair.compare_notifications()
    heard = [request.json() for request in pair.oracle.sink.requests if request.path == "/resolved-on"]
    assert heard[1]["status"] == "firing"
    assert sorted(one["status"] for one in heard[1]["alerts"]) == ["firing", "firing", "resolved"]
    pair.compare_api()

    # The rest resolve: only the send_resolved receiver gets the resolved notification.
    pair.post_alerts(resolved(alerts[1:], utc_now()))
    pair.wait_for_notifications(4)
    pair.compare_notifications()
    assert [request.path for request in pair.oracle.sink.requests].count("/resolved-off") == 1
    pair.assert_quiet(4)


QUOTEMETA_NAMES = [
    "a+b",
    "dot.team",
    "[brackets]",
    "star*(paren)",
    "caret^dollar$|pipe?{brace}",
    "back\\slash",
]


def test_receiver_names_needing_quotemeta(oracle_pair: PairStarter) -> None:
    routes = "".join(
        f"    - matchers: ['slot=\"{index}\"']\n      receiver: '{name}'\n"
        for index, name in enumerate(QUOTEMETA_NAMES)
    )
    receivers = "".join(
        f"  - name: '{name}'\n    webhook_configs: [{{url: '$SINK/r{index}'}}]\n"
        for index, name in enumerate(QUOTEMETA_NAMES)
    )
    pair = oracle_pair(
        f"""\
route:
  receiver: '{QUOTEMETA_NAMES[0]}'
  group_by: [slot]
{TIMERS}  routes:
{routes}receivers:
{receivers}"""
    )
    start = utc_now()
    pair.post_alerts(
        [
            alert({"alertname": "Odd", "slot": str(index)}, starts_at=start)
            for index in range(len(QUOTEMETA_NAMES))
        ]
    )
    pair.wait_for_notifications(len(QUOTEMETA_NAMES))
    bodies = pair.compare_notifications()
    assert {body["receiver"] for body in bodies} == {
        "a\\+b",
        "dot\\.team",
        "\\[brackets\\]",
        "star\\*\\(paren\\)",
        "caret\\^dollar\\$\\|pipe\\?\\{brace\\}",
        "back\\\\slash",
    }
    pair.compare_api([{}, {"receiver": "a\\+b"}, {"receiver": "dot.team"}])
    pair.compare_status()


def test_explicit_end_time_and_alert_update(oracle_pair: PairStarter) -> None:
    """An explicit future endsAt still shows as the zero time in firing webhook alerts, and
    re-posting with new annotations updates the stored alert without a new notification."""
    pair = oracle_pair(
        f"""\
route:
  receiver: team
  group_by: [alertname]
{TIMERS}receivers:
  - name: team
    webhook_configs: [{{url: $SINK/team}}]
"""
    )
    start = utc_now()
    ends = start + timedelta(hours=2)
    first = alert(
        {"alertname": "Ends", "instance": "a"}, starts_at=start, ends_at=ends, annotations={"v": "1"}
    )
    pair.post_alerts([first])
    pair.wait_for_notifications(1)
    (body,) = pair.compare_notifications()
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    updated = {**first, "annotations": {"v": "2"}}
    pair.post_alerts([updated])
    answers = [side.get("/api/v2/alerts").json() for side in pair.sides]
    assert [answer[0]["annotations"] for answer in answers] == [{"v": "2"}, {"v": "2"}]
    pair.compare_api()
    pair.assert_quiet(1)


def test_group_by_inheritance_and_the_empty_group(oracle_pair: PairStarter) -> None:
    """A child with `group_by: []` inherits the parent's; a child's own group_by replaces it."""
    pair = oracle_pair(
        f"""\
route:
  receiver: everything
  group_by: [team]
{TIMERS}  routes:
    - matchers: [team="a"]
      receiver: inherits
      group_by: []
      routes:
        - matchers: [severity="page"]
          receiver: own
          group_by: [severity, instance]
    - matchers: [team="b"]
      receiver: inherits
      group_by: [alertname]
receivers:
  - name: everything
    webhook_configs: [{{url: $SINK/everything}}]
  - name: inherits
    webhook_configs: [{{url: $SINK/inherits}}]
  - name: own
    webhook_configs: [{{url: $SINK/own}}]
"""
    )
    start = utc_now()
    pair.post_alerts(
        [
            alert({"alertname": "X", "team": "a", "instance": "1"}, starts_at=start),
            alert({"alertname": "Y", "team": "a", "instance": "2"}, starts_at=start),
            alert({"alertname": "X", "team": "a", "severity": "page", "instance": "3"}, starts_at=start),
            alert({"alertname": "X", "team": "b"}, starts_at=start),
            alert({"alertname": "Z", "team": "c"}, starts_at=start),
            alert({"alertname": "W", "team": "d"}, starts_at=start),
        ]
    )
    pair.wait_for_notifications(5)
    bodies = pair.compare_notifications()
    assert sorted(body["groupKey"] for body in bodies) == [
        '{}/{team="a"}/{severity="page"}:{instance="3", severity="page"}',
        '{}/{team="a"}:{team="a"}',
        '{}/{team="b"}:{alertname="X"}',
        '{}:{team="c"}',
        '{}:{team="d"}',
    ]
    pair.compare_api([{}, {"receiver": "inherits"}])
    pair.assert_quiet(5)


def test_without_group_by_everything_is_one_group(oracle_pair: PairStarter) -> None:
    pair = oracle_pair(
        f"""\
route:
  receiver: everything
{TIMERS}receivers:
  - name: everything
    webhook_configs: [{{url: $SINK/everything}}]
"""
    )
    start = utc_now()
    pair.post_alerts(
        [alert({"alertname": name, "n": str(index)}, starts_at=start) for index, name in enumerate("ABCA")]
    )
    pair.wait_for_notifications(1)
    (body,) = pair.compare_notifications()
    assert body["groupKey"] == "{}:{}"
    assert body["groupLabels"] == {}
    assert len(body["alerts"]) == 4
    pair.compare_api()
    pair.assert_quiet(1)


def test_group_keys_and_group_order_with_awkward_label_values(oracle_pair: PairStarter) -> None:
    """Quotes, backslashes, newlines and non-ASCII in group labels; groups of different sizes."""
    pair = oracle_pair(
        f"""\
route:
  receiver: first
  group_by: ['...']
{TIMERS}  routes:
    - matchers: [copy="yes"]
      receiver: second
      continue: true
    - receiver: first
receivers:
  - name: first
    webhook_configs: [{{url: $SINK/first}}]
  - name: second
    webhook_configs: [{{url: $SINK/second}}]
"""
    )
    start = utc_now()
    label_sets = [
        {"alertname": 'say "hi"', "copy": "yes"},
        {"alertname": "back\\slash", "zone": "z"},
        {"alertname": "line\nbreak"},
        {"alertname": "ünïcødé ✓", "copy": "yes", "b": "2", "a": "1"},
        {"alertname": "plain", "job": "b", "instance": "2"},
        {"alertname": "plain", "job": "a", "instance": "10"},
    ]
    pair.post_alerts([alert(labels, starts_at=start) for labels in label_sets])
    pair.wait_for_notifications(8)
    bodies = pair.compare_notifications()
    assert '{}/{copy="yes"}:{alertname="say \\"hi\\"", copy="yes"}' in {body["groupKey"] for body in bodies}
    assert '{}/{}:{alertname="line\\nbreak"}' in {body["groupKey"] for body in bodies}
    pair.compare_api([{}, {"receiver": "second"}, {"filter": 'alertname=~".*i.*"'}])
    pair.assert_quiet(8)
