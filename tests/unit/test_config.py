"""The loaded model: defaults, inheritance from `global`, route and interval parsing."""

from __future__ import annotations

import pathlib
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.config.loader import (
    DEFAULT_CONFIG_YAML,
    ConfigError,
    default_config,
    load_config_file,
    parse_config,
)
from daemon.config.model import TimeRange
from daemon.matchers import Matcher, MatchType

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "configs"


def test_default_config() -> None:
    config = default_config()
    assert config.route.receiver == "default"
    assert [receiver.name for receiver in config.receivers] == ["default"]
    assert config.receivers[0].integrations == {}
    assert config.resolve_timeout == timedelta(minutes=5)
    assert config.source_path is None
    assert parse_config(DEFAULT_CONFIG_YAML, "/").original == config.original


def test_global_defaults_when_global_is_missing() -> None:
    config = parse_config("route: {receiver: r}\nreceivers: [{name: r}]\n", "/etc/am")
    glob = config.global_config
    assert glob["resolve_timeout"] == timedelta(minutes=5)
    assert glob["smtp_hello"] == "localhost"
    assert glob["smtp_require_tls"] is True
    assert glob["pagerduty_url"] == "https://events.pagerduty.com/v2/enqueue"
    assert glob["opsgenie_api_url"] == "https://api.opsgenie.com/"
    assert glob["telegram_api_url"] == "https://api.telegram.org"
    assert glob["http_config"]["follow_redirects"] is True
    assert glob["http_config"]["enable_http2"] is True


def test_route_tree_model() -> None:
    config = load_config_file(str(FIXTURES / "webhook.yml"))
    root = config.route
    assert root.receiver == "team-x"
    assert root.group_by == ["alertname"]
    assert root.group_wait == timedelta(seconds=5)
    assert root.group_interval is None  # inherited/defaulted by the routing tree
    (child,) = root.routes
    # One matchers string may hold several comma-separated matchers; sorted by name.
    assert child.matchers == [
        Matcher("env", MatchType.NOT_EQUAL, "dev"),
        Matcher("service", MatchType.REGEX, "db|cache"),
    ]
    assert child.group_by is None
    (grandchild,) = child.routes
    assert grandchild.matchers == [Matcher("severity", MatchType.REGEX, "page|critical")]
    assert grandchild.active_time_intervals == ["office"]
    assert grandchild.continue_matching is True


def test_match_match_re_and_matchers_merge_sorted() -> None:
    text = """
route:
  receiver: r
  routes:
  - receiver: r
    match: {b: "1", a: "2"}
    match_re: {a: "1.*"}
    matchers: ['a!="2"', c=3]
receivers: [{name: r}]
"""
    (child,) = parse_config(text, "/").route.routes
    assert [str(matcher) for matcher in child.matchers] == ['a=~"1.*"', 'a="2"', 'a!="2"', 'b="1"', 'c="3"']


def test_group_by_wildcard_and_empty() -> None:
    text = "route:\n  receiver: r\n  routes:\n  - group_by: ['...']\n  - group_by: []\nreceivers: [{name: r}]\n"
    wildcard, empty = parse_config(text, "/").route.routes
    assert wildcard.group_by == ["..."]
    assert empty.group_by is None  # an empty list inherits


def test_inhibit_rules_model() -> None:
    (rule,) = load_config_file(str(FIXTURES / "webhook.yml")).inhibit_rules
    assert rule.source_matchers == [Matcher("severity", MatchType.REGEX, "crit.*")]
    assert rule.target_matchers == [Matcher("severity", MatchType.EQUAL, "warning")]
    assert rule.equal == ["cluster", "alertname"]


def test_time_intervals_model() -> None:
    config = load_config_file(str(FIXTURES / "rich.yml"))
    (weekends,) = config.time_intervals["weekends"]
    assert weekends.times == [TimeRange(0, 1440)]
    assert weekends.weekdays == [(6, 6), (0, 0)]
    assert weekends.days_of_month == [(1, 5), (-3, -1), (7, 7)]
    assert weekends.months == [(1, 3), (5, 5)]
    assert weekends.years == [(2023, 2025)]
    assert weekends.location == "Europe/Berlin"
    # The deprecated mute_time_intervals list is merged in by name.
    (old,) = config.time_intervals["old"]
    assert old.weekdays == [(1, 1)]
    assert old.location is None


def test_case_insensitive_interval_names() -> None:
    text = """
route: {receiver: r}
receivers: [{name: r}]
time_intervals:
- name: x
  time_intervals:
  - weekdays: ['Monday:FRIDAY']
    months: ['JANUARY', '12']
    times: [{start_time: '09:30', end_time: '24:00'}]
"""
    (spec,) = parse_config(text, "/").time_intervals["x"]
    assert spec.weekdays == [(1, 5)]
    assert spec.months == [(1, 1), (12, 12)]
    assert spec.times == [TimeRange(570, 1440)]


def test_receivers_inherit_globals() -> None:
    config = load_config_file(str(FIXTURES / "rich.yml"))
    receivers = {receiver.name: receiver for receiver in config.receivers}
    (email,) = receivers["mail"].integrations["email_configs"]
    assert email["smarthost"] == "localhost:25"
    assert email["from"] == "am@example.org"
    assert email["auth_password"] == "pw"  # the real secret stays available to the daemon
    assert email["require_tls"] is True
    assert email["send_resolved"] is False
    assert email["headers"] == {"Subject": "hi", "X-Foo": "bar", "To": "a@b.c", "From": "am@example.org"}
    (slack,) = receivers["slack"].integrations["slack_configs"]
    assert slack["api_url"] == "https://hooks.slack.com/services/x"
    assert slack["http_config"]["follow_redirects"] is True
    (pagerduty,) = receivers["mail"].integrations["pagerduty_configs"]
    assert pagerduty["url"] == "https://events.pagerduty.com/v2/enqueue"
    assert pagerduty["send_resolved"] is True
    assert pagerduty["details"]["num_firing"] == "{{ .Alerts.Firing | len }}"
    (webhook,) = receivers["web"].integrations["webhook_configs"]
    assert webhook["send_resolved"] is True
    # bearer_token becomes an authorization block, as in prometheus/common.
    assert webhook["http_config"]["authorization"] == {
        "type": "Bearer",
        "credentials": "abc",
        "credentials_file": "",
    }


@pytest.mark.parametrize(
    ("integration", "send_resolved"),
    [
        ("webhook_configs", True),
        ("pagerduty_configs", True),
        ("opsgenie_configs", True),
        ("victorops_configs", True),
        ("pushover_configs", True),
        ("sns_configs", True),
        ("telegram_configs", True),
        ("discord_configs", True),
        ("webex_configs", True),
        ("email_configs", False),
        ("slack_configs", False),
        ("wechat_configs", False),
    ],
)
def test_send_resolved_defaults(integration: str, send_resolved: bool) -> None:
    config = load_config_file(str(FIXTURES / "allrecv.yml"))
    if integration == "webhook_configs":
        config = load_config_file(str(FIXTURES / "rich.yml"))
    integrations = {key: value for receiver in config.receivers for key, value in receiver.integrations.items()}
    assert integrations[integration][0]["send_resolved"] is send_resolved


def test_url_suffixes_and_global_keys() -> None:
    config = load_config_file(str(FIXTURES / "allrecv.yml"))
    integrations = config.receivers[0].integrations
    assert integrations["opsgenie_configs"][0]["api_url"] == "https://example.org/og/"
    assert integrations["opsgenie_configs"][0]["api_key"] == "ogkey"
    assert integrations["victorops_configs"][0]["api_key"] == "vokey"
    assert integrations["wechat_configs"][0]["api_secret"] == "wsec"
    assert integrations["wechat_configs"][0]["message_type"] == "text"
    assert integrations["telegram_configs"][0]["chat_id"] == -1001
    assert integrations["telegram_configs"][0]["api_url"] == "https://api.telegram.org"
    assert integrations["pushover_configs"][0]["retry"] == 90.0
    assert integrations["pushover_configs"][0]["expire"] == 3600.0
    assert config.resolve_timeout == timedelta(hours=2)


def test_relative_paths_resolved_against_config_dir(tmp_path: pathlib.Path) -> None:
    config_file = tmp_path / "am.yml"
    config_file.write_text((FIXTURES / "paths.yml").read_text())
    config = load_config_file(str(config_file))
    assert config.templates == [str(tmp_path / "a.tmpl")]
    integrations = config.receivers[0].integrations
    assert integrations["pagerduty_configs"][0]["routing_key_file"] == str(tmp_path / "rk.txt")
    authorization = integrations["webhook_configs"][0]["http_config"]["authorization"]
    assert authorization["credentials_file"] == str(tmp_path / "tok.txt")
    assert "- a.tmpl" in config.original  # shown as written
    assert config.source_path == str(config_file)


def test_secret_url_placeholder_loads_back() -> None:
    text = "global: {slack_api_url: <secret>}\nroute: {receiver: r}\nreceivers: [{name: r, slack_configs: [{}]}]\n"
    config = parse_config(text, "/")
    assert config.receivers[0].integrations["slack_configs"][0]["api_url"] == "<secret>"


def test_ipv6_smarthost_keeps_brackets() -> None:
    text = "global: {smtp_smarthost: '[::1]:25', smtp_from: a@b}\nroute: {receiver: r}\nreceivers: [{name: r}]\n"
    config = parse_config(text, "/")
    assert config.global_config["smtp_smarthost"] == "[::1]:25"
    assert parse_config(config.original, "/").global_config["smtp_smarthost"] == "[::1]:25"


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="no such file or directory"):
        load_config_file("/nonexistent/alertmanager.yml")


_YAML_FRAGMENTS = [
    "route:\n",
    "  receiver: r\n",
    "  routes:\n",
    "  - ~\n",
    "  - receiver: x\n",
    "    group_by: [a, '...']\n",
    "    matchers: ['a=~(']\n",
    "receivers:\n",
    "- name: r\n",
    "- ~\n",
    "  webhook_configs: [~]\n",
    "  email_configs:\n  - to: a\n",
    "global: ~\n",
    "global: {smtp_smarthost: x}\n",
    "time_intervals:\n- name: t\n  time_intervals: [~, {times: [~]}]\n",
    "inhibit_rules: [~, {equal: {a: b}}]\n",
    "? [a]\n: b\n",
    "templates: {a: b}\n",
    "&a x: *a\n",
    "\t",
    "- \n",
    ": :\n",
]


@given(st.lists(st.sampled_from(_YAML_FRAGMENTS), max_size=8))
@settings(max_examples=300, deadline=None)
def test_loader_raises_only_config_error_on_fragment_soup(fragments: list[str]) -> None:
    try:
        parse_config("".join(fragments), "/")
    except ConfigError:
        pass


@given(st.text(max_size=80))
@settings(deadline=None)
def test_loader_raises_only_config_error_on_arbitrary_text(text: str) -> None:
    try:
        parse_config(text, "/")
    except ConfigError:
        pass
