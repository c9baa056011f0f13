"""Routing tree: inheritance, matching order, keys and group keys.

The expected receivers and group keys below were produced by the real Alertmanager 0.25
(`amtool config routes test` and a webhook sink recording `groupKey`).
"""

from __future__ import annotations

from datetime import timedelta

from daemon.config.model import RouteConfig
from daemon.matchers import Matcher, MatchType
from daemon.routing import DEFAULT_ROUTE_OPTS, Route, group_key


def eq(name: str, value: str) -> Matcher:
    return Matcher(name, MatchType.EQUAL, value)


def ne(name: str, value: str) -> Matcher:
    return Matcher(name, MatchType.NOT_EQUAL, value)


def rx(name: str, value: str) -> Matcher:
    return Matcher(name, MatchType.REGEX, value)


def receivers(root: Route, **labels: str) -> list[str]:
    return [route.opts.receiver for route in root.match(labels)]


def test_root_defaults() -> None:
    root = Route.from_config(RouteConfig(receiver="default"))
    assert root.opts.receiver == "default"
    assert root.opts.group_wait == timedelta(seconds=30)
    assert root.opts.group_interval == timedelta(minutes=5)
    assert root.opts.repeat_interval == timedelta(hours=4)
    assert root.opts.group_by == frozenset()
    assert not root.opts.group_by_all
    assert root.opts == DEFAULT_ROUTE_OPTS.__class__(
        receiver="default",
        group_by=frozenset(),
        group_by_all=False,
        group_wait=timedelta(seconds=30),
        group_interval=timedelta(minutes=5),
        repeat_interval=timedelta(hours=4),
    )
    assert root.key() == "{}"
    assert group_key(root, {}) == "{}:{}"


def test_inheritance_of_receiver_grouping_and_timers() -> None:
    config = RouteConfig(
        receiver="root",
        group_by=["alertname"],
        group_wait=timedelta(seconds=10),
        group_interval=timedelta(minutes=1),
        repeat_interval=timedelta(hours=1),
        mute_time_intervals=["nights"],
        routes=[
            RouteConfig(
                matchers=[eq("team", "db")],
                group_wait=timedelta(seconds=5),
                active_time_intervals=["office"],
                routes=[RouteConfig(matchers=[eq("severity", "critical")], receiver="pager")],
            )
        ],
    )
    root = Route.from_config(config)
    child = root.routes[0]
    grandchild = child.routes[0]
    assert child.opts.receiver == "root"
    assert child.opts.group_by == frozenset({"alertname"})
    assert child.opts.group_wait == timedelta(seconds=5)
    assert child.opts.group_interval == timedelta(minutes=1)
    assert child.opts.repeat_interval == timedelta(hours=1)
    # Mute and active intervals apply only where they are written.
    assert root.opts.mute_time_intervals == ("nights",)
    assert child.opts.mute_time_intervals == ()
    assert child.opts.active_time_intervals == ("office",)
    assert grandchild.opts.active_time_intervals == ()
    assert grandchild.opts.receiver == "pager"
    assert grandchild.opts.group_wait == timedelta(seconds=5)


def test_group_by_empty_list_inherits_and_wildcard_is_inherited() -> None:
    config = RouteConfig(
        receiver="r",
        group_by=["alertname", "job"],
        routes=[
            RouteConfig(matchers=[eq("a", "1")], group_by=[]),
            RouteConfig(
                matchers=[eq("a", "2")],
                group_by=["..."],
                routes=[
                    RouteConfig(matchers=[eq("b", "1")]),
                    RouteConfig(matchers=[eq("b", "2")], group_by=["instance"]),
                ],
            ),
        ],
    )
    root = Route.from_config(config)
    empty_list, wildcard = root.routes
    assert empty_list.opts.group_by == frozenset({"alertname", "job"})
    assert not empty_list.opts.group_by_all
    assert wildcard.opts.group_by_all
    assert wildcard.routes[0].opts.group_by_all
    assert not wildcard.routes[1].opts.group_by_all
    assert wildcard.routes[1].opts.group_by == frozenset({"instance"})

    labels = {"alertname": "A", "a": "2", "b": "1", "job": "j", "zone": "z"}
    assert wildcard.routes[0].group_labels(labels) == labels
    assert empty_list.group_labels(labels) == {"alertname": "A", "job": "j"}
    # Labels the alert lacks are left out, not set to "".
    assert wildcard.routes[1].group_labels(labels) == {}


def test_matching_depth_first_first_match_wins_continue_and_fallback() -> None:
    # The same tree as the amtool check in this module's docstring.
    config = RouteConfig(
        receiver="default",
        group_by=["alertname"],
        routes=[
            RouteConfig(
                matchers=[eq("team", "db")],
                receiver="db",
                continue_matching=True,
                routes=[RouteConfig(matchers=[eq("severity", "critical")], receiver="db-pager")],
            ),
            RouteConfig(matchers=[rx("team", "db|web")], receiver="dbweb"),
            RouteConfig(matchers=[eq("team", "web")], receiver="web-unreachable"),
        ],
    )
    root = Route.from_config(config)
    assert receivers(root, team="db") == ["db", "dbweb"]
    assert receivers(root, team="db", severity="critical") == ["db-pager", "dbweb"]
    assert receivers(root, team="web") == ["dbweb"]
    assert receivers(root, team="ops") == ["default"]
    assert receivers(root, severity="critical") == ["default"]


def test_root_that_does_not_match_gives_nothing() -> None:
    root = Route(DEFAULT_ROUTE_OPTS, (eq("a", "b"),))
    assert root.match({"a": "c"}) == []
    assert root.match({"a": "b"}) == [root]


def test_missing_label_matches_as_empty_string() -> None:
    root = Route.from_config(
        RouteConfig(
            receiver="default",
            routes=[RouteConfig(matchers=[eq("team", "")], receiver="no-team")],
        )
    )
    assert receivers(root, alertname="A") == ["no-team"]
    assert receivers(root, alertname="A", team="x") == ["default"]


def test_route_keys_sort_matchers_by_name_value_type() -> None:
    config = RouteConfig(
        receiver="default",
        routes=[
            RouteConfig(
                matchers=[eq("team", "db"), rx("env", "prod|stage")],
                routes=[
                    RouteConfig(matchers=[ne("severity", "info")]),
                    RouteConfig(matchers=[rx("a", "x"), eq("a", "x"), ne("a", "w")]),
                ],
            )
        ],
    )
    root = Route.from_config(config)
    child = root.routes[0]
    assert child.key() == '{}/{env=~"prod|stage",team="db"}'
    assert child.routes[0].key() == '{}/{env=~"prod|stage",team="db"}/{severity!="info"}'
    assert child.routes[1].key() == '{}/{env=~"prod|stage",team="db"}/{a!="w",a="x",a=~"x"}'


def test_group_keys_byte_identical_to_alertmanager() -> None:
    config = RouteConfig(
        receiver="default",
        group_by=["alertname"],
        routes=[
            RouteConfig(
                matchers=[eq("team", "db"), rx("env", "prod|stage")],
                receiver="hook",
                group_by=["alertname", "instance"],
                routes=[RouteConfig(matchers=[ne("severity", "info")], group_by=["..."])],
            )
        ],
    )
    root = Route.from_config(config)
    first = {"alertname": "A", "team": "db", "env": "prod", "instance": 'i"1', "severity": "info"}
    second = {"alertname": "B", "team": "db", "env": "stage", "severity": "crit", "x": "ü"}
    [route_a] = root.match(first)
    [route_b] = root.match(second)
    assert group_key(route_a, route_a.group_labels(first)) == (
        '{}/{env=~"prod|stage",team="db"}:{alertname="A", instance="i\\"1"}'
    )
    assert group_key(route_b, route_b.group_labels(second)) == (
        '{}/{env=~"prod|stage",team="db"}/{severity!="info"}:'
        '{alertname="B", env="stage", severity="crit", team="db", x="ü"}'
    )
    assert group_key(root, root.group_labels({"alertname": "A", "x": "y"})) == '{}:{alertname="A"}'


def test_walk_is_depth_first_and_indexes_follow_it() -> None:
    config = RouteConfig(
        receiver="r0",
        routes=[
            RouteConfig(receiver="r1", routes=[RouteConfig(receiver="r2")]),
            RouteConfig(receiver="r3"),
        ],
    )
    root = Route.from_config(config)
    walked = list(root.walk())
    assert [route.opts.receiver for route in walked] == ["r0", "r1", "r2", "r3"]
    assert [route.index for route in walked] == [0, 1, 2, 3]
    assert walked[2].parent is walked[1]
