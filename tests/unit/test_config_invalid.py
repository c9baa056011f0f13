"""Invalid configurations and the exact error each produces.

Every expected message below was printed by the real `amtool check-config` of
Alertmanager 0.25 for the same YAML text (the "FAILED: ..." part).
"""

from __future__ import annotations

import re

import pytest

from daemon.config.loader import ConfigError, parse_config

INVALID_CONFIGS = [
    pytest.param(
        "route:\n  receiver: r\n  group_wait: 5x\nreceivers:\n- name: r\n",
        'not a valid duration string: "5x"',
        id="bad_duration",
    ),
    pytest.param(
        "# nothing\n",
        "no route provided in config",
        id="comment_only",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  discord_configs:\n  - title: x\n",
        "no discord webhook URL provided",
        id="discord_nourl",
    ),
    pytest.param(
        "route:\n  receiver: r\n  receiver: s\nreceivers:\n- name: r\n",
        "yaml: unmarshal errors:\n  line 3: field receiver already set in type config.plain",
        id="dup_key",
    ),
    pytest.param(
        "route:\n  receiver: r\n  routes:\n  - match: {a: b, a: c}\nreceivers:\n- name: r\n",
        'yaml: unmarshal errors:\n  line 4: key "a" already set in map',
        id="dup_map_key",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  email_configs:\n  - to: a@b\n    headers: {subject: a, Subject: b}\n",
        'duplicate header "Subject" in email config',
        id="email_dup_header",
    ),
    pytest.param(
        "global:\n  smtp_smarthost: 'x:25'\nroute:\n  receiver: r\nreceivers:\n- name: r\n  email_configs:\n  - to: a@b\n",
        "no global SMTP from set",
        id="email_no_from",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  email_configs:\n  - to: a@b\n",
        "no global SMTP smarthost set",
        id="email_no_smarthost",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  email_configs:\n  - from: a@b\n",
        "missing to address in email config",
        id="email_no_to",
    ),
    pytest.param(
        "",
        "no route provided in config",
        id="empty",
    ),
    pytest.param(
        "global:\n  opsgenie_api_key: k\n  opsgenie_api_key_file: f\nroute:\n  receiver: r\nreceivers:\n- name: r\n",
        "at most one of opsgenie_api_key & opsgenie_api_key_file must be configured",
        id="global_opsgenie_both",
    ),
    pytest.param(
        "global:\n  resolve_timeout: 1.5m\nroute:\n  receiver: r\nreceivers:\n- name: r\n",
        'not a valid duration string: "1.5m"',
        id="global_resolve",
    ),
    pytest.param(
        "global:\n  smtp_auth_password: k\n  smtp_auth_password_file: f\nroute:\n  receiver: r\nreceivers:\n- name: r\n",
        "at most one of smtp_auth_password & smtp_auth_password_file must be configured",
        id="global_smtp_both",
    ),
    pytest.param(
        "global:\n  pagerduty_url: ftp://x\nroute:\n  receiver: r\nreceivers:\n- name: r\n",
        'unsupported scheme "ftp" for URL',
        id="global_url",
    ),
    pytest.param(
        "route:\n  receiver: r\n  group_by: [a, b, a]\nreceivers:\n- name: r\n",
        'duplicated label "a" in group_by',
        id="group_by_dup",
    ),
    pytest.param(
        "route:\n  receiver: r\n  group_by: ['a-b']\nreceivers:\n- name: r\n",
        'invalid label name "a-b" in group_by list',
        id="group_by_invalid",
    ),
    pytest.param(
        "route:\n  receiver: r\n  group_by: alertname\nreceivers:\n- name: r\n",
        "yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `alertname` into []string",
        id="group_by_str",
    ),
    pytest.param(
        "route:\n  receiver: r\n  group_by: ['...', a]\nreceivers:\n- name: r\n",
        "cannot have wildcard group_by (`...`) and other other labels at the same time",
        id="group_by_wildcard_mix",
    ),
    pytest.param(
        "route:\n  receiver: r\n  group_interval: 0s\nreceivers:\n- name: r\n",
        "group_interval cannot be zero",
        id="group_interval_zero",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs:\n  - url: http://x\n    http_config:\n      authorization: {type: Basic}\n",
        'authorization type cannot be set to "basic", use "basic_auth" instead',
        id="http_basic_type",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs:\n  - url: http://x\n    http_config:\n      tls_config: {min_version: TLS9}\n",
        "unknown TLS version: TLS9",
        id="http_tls_version",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs:\n  - url: http://x\n    http_config:\n      basic_auth: {username: u}\n      bearer_token: t\n",
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        id="http_two_auth",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs:\n  - url: http://x\n    http_config:\n      tls: {}\n",
        "yaml: unmarshal errors:\n  line 8: field tls not found in type config.plain",
        id="http_unknown",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ninhibit_rules:\n- source_match: {'a-b': c}\n",
        'invalid label name "a-b"',
        id="inhibit_bad_name",
    ),
    pytest.param(
        "route:\n  receiver: r\n  routes:\n  - match: {'a:b': c}\nreceivers:\n- name: r\n",
        'invalid label name "a:b"',
        id="match_bad_name",
    ),
    pytest.param(
        "route:\n  receiver: r\n  routes:\n  - match_re: {a: '('}\nreceivers:\n- name: r\n",
        "error parsing regexp: missing closing ): `^(?:()$`",
        id="match_re_bad",
    ),
    pytest.param(
        "route:\n  receiver: r\n  routes:\n  - match_re: {a: }\nreceivers:\n- name: r\n",
        'invalid regexp value for "a"',
        id="match_re_null",
    ),
    pytest.param(
        "route:\n  receiver: r\n  routes:\n  - matchers: ['foo']\nreceivers:\n- name: r\n",
        "bad matcher format: foo",
        id="matchers_bad",
    ),
    pytest.param(
        "route:\n  receiver: r\n  routes:\n  - matchers: ['a=\"b']\nreceivers:\n- name: r\n",
        'matcher value contains unescaped double quote: "b',
        id="matchers_quote",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs:\n  - url: http://x\n    max_alerts: -1\n",
        "yaml: unmarshal errors:\n  line 7: cannot unmarshal !!int `-1` into uint64",
        id="max_alerts_neg",
    ),
    pytest.param(
        "receivers:\n- name: r\n",
        "no routes provided",
        id="no_route",
    ),
    pytest.param(
        "hello\n",
        "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `hello` into config.plain",
        id="not_a_map",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  opsgenie_configs:\n  - message: x\n",
        "no global OpsGenie API Key set either inline or in a file",
        id="opsgenie_nokey",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  opsgenie_configs:\n  - api_key: k\n    responders: [{name: n, type: Robot}]\n",
        "opsGenieConfig responder { n  robot} type does not match valid options ^(team|teams|user|escalation|schedule)$",
        id="opsgenie_responder",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  opsgenie_configs:\n  - api_key: k\n    responders: [{type: team}]\n",
        "opsGenieConfig responder {   team} has to have at least one of id, username or name specified",
        id="opsgenie_responder_empty",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  pagerduty_configs:\n  - client: x\n",
        "missing service or routing key in PagerDuty config",
        id="pagerduty_nokey",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  pushover_configs:\n  - user_key: u\n",
        "missing token in Pushover config",
        id="pushover_notoken",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  pushover_configs:\n  - token: t\n",
        "missing user key in Pushover config",
        id="pushover_nouser",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  pushover_configs:\n  - user_key: u\n    token: t\n    retry: 5x\n",
        'time: unknown unit "x" in duration "5x"',
        id="pushover_retry",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n- name: r\n",
        'notification config name "r" is not unique',
        id="receiver_dup",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n- webhook_configs: []\n",
        "missing name in receiver",
        id="receiver_noname",
    ),
    pytest.param(
        "route:\n  receiver: r\n  repeat_interval: 0\nreceivers:\n- name: r\n",
        "repeat_interval cannot be zero",
        id="repeat_interval_zero",
    ),
    pytest.param(
        "route:\n  receiver: r\n  active_time_intervals: [x]\nreceivers:\n- name: r\n",
        "root route must not have any active time intervals",
        id="root_active",
    ),
    pytest.param(
        "route:\n  receiver: r\n  continue: true\nreceivers:\n- name: r\n",
        "cannot have continue in root route",
        id="root_continue",
    ),
    pytest.param(
        "route:\n  receiver: r\n  match: {a: b}\nreceivers:\n- name: r\n",
        "root route must not have any matchers",
        id="root_match",
    ),
    pytest.param(
        "route:\n  receiver: r\n  matchers: [a=b]\nreceivers:\n- name: r\n",
        "root route must not have any matchers",
        id="root_matchers",
    ),
    pytest.param(
        "route:\n  receiver: r\n  mute_time_intervals: [x]\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals: []\n",
        "root route must not have any mute time intervals",
        id="root_mute",
    ),
    pytest.param(
        "route:\n  group_by: [a]\nreceivers:\n- name: r\n",
        "root route must specify a default receiver",
        id="root_no_receiver",
    ),
    pytest.param(
        "route:\n  receiver: r\n  routes: {a: b}\nreceivers:\n- name: r\n",
        "yaml: unmarshal errors:\n  line 3: cannot unmarshal !!map into []*config.Route",
        id="routes_not_list",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  slack_configs:\n  - api_url: http://x\n    actions: [{type: button}]\n",
        "missing text in Slack action configuration",
        id="slack_action",
    ),
    pytest.param(
        "global:\n  slack_api_url: http://x\n  slack_api_url_file: /f\nroute:\n  receiver: r\nreceivers:\n- name: r\n",
        "at most one of slack_api_url & slack_api_url_file must be configured",
        id="slack_both",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  slack_configs:\n  - api_url: http://x\n    fields: [{title: t}]\n",
        "missing value in Slack field configuration",
        id="slack_field",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  slack_configs:\n  - channel: x\n",
        "no global Slack API URL set either inline or in a file",
        id="slack_no_url",
    ),
    pytest.param(
        "global:\n  smtp_smarthost: 'localhost'\nroute:\n  receiver: r\nreceivers:\n- name: r\n",
        "address localhost: missing port in address",
        id="smarthost_noport",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  sns_configs:\n  - subject: x\n",
        "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config",
        id="sns_none",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  sns_configs:\n  - topic_arn: a\n    phone_number: b\n",
        "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config",
        id="sns_two",
    ),
    pytest.param(
        "route:\n  receiver: r\n   bad: [\n",
        "yaml: line 3: mapping values are not allowed in this context",
        id="syntax",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  telegram_configs:\n  - bot_token: t\n    chat_id: abc\n",
        "yaml: unmarshal errors:\n  line 7: cannot unmarshal !!str `abc` into int64",
        id="telegram_chat_str",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  telegram_configs:\n  - bot_token: t\n",
        "missing chat_id on telegram_config",
        id="telegram_nochat",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  telegram_configs:\n  - chat_id: 1\n",
        "missing bot_token on telegram_config",
        id="telegram_notoken",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  telegram_configs:\n  - bot_token: t\n    chat_id: 5\n    parse_mode: bbcode\n",
        "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string",
        id="telegram_parse",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - days_of_month: ['0']\n",
        "0 is not a valid day of the month: out of range",
        id="ti_dom",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - days_of_month: ['-3:5']\n",
        "end day must be negative if start day is negative",
        id="ti_dom_neg",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals: []\nmute_time_intervals:\n- name: x\n  time_intervals: []\n",
        'time interval "x" is not unique',
        id="ti_dup",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals: []\n- name: x\n  time_intervals: []\n",
        'time interval "x" is not unique',
        id="ti_dup2",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - location: Mars/Olympus\n",
        "unknown time zone Mars/Olympus",
        id="ti_location",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - months: ['march:january']\n",
        "end month january is before start month march",
        id="ti_month",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - months: ['smarch']\n",
        "smarch is not a valid month",
        id="ti_month_bad",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- time_intervals: []\n",
        "missing name in time interval",
        id="ti_noname",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - times: [{start_time: '10:00', end_time: '09:00'}]\n",
        "start time cannot be equal or greater than end time",
        id="ti_times",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - times: [{start_time: '9:00', end_time: '10:00'}]\n",
        "couldn't parse timestamp 9:00, invalid format",
        id="ti_times_fmt",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - day: [1]\n",
        "yaml: unmarshal errors:\n  line 8: field day not found in type timeinterval.TimeInterval",
        id="ti_unknown",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - weekdays: [funday]\n",
        "funday is not a valid weekday",
        id="ti_weekday",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - weekdays: ['friday:monday']\n",
        "start day cannot be before end day",
        id="ti_weekday_order",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\ntime_intervals:\n- name: x\n  time_intervals:\n  - years: ['2025:2020']\n",
        "end year 2020 is before start year 2025",
        id="ti_year",
    ),
    pytest.param(
        "route:\n  receiver: r\n  routes:\n  - receiver: r\n    mute_time_intervals: [nope]\nreceivers:\n- name: r\n",
        'undefined time interval "nope" used in route',
        id="undefined_interval",
    ),
    pytest.param(
        "route:\n  receiver: r\n  routes:\n  - receiver: nope\nreceivers:\n- name: r\n",
        'undefined receiver "nope" used in route',
        id="undefined_receiver",
    ),
    pytest.param(
        "route:\n  receiver: r\n  foo: 1\nreceivers:\n- name: r\n  bar: 2\n  webhook_configs:\n  - url: http://x\n    send_resolved: maybe\n",
        "yaml: unmarshal errors:\n  line 3: field foo not found in type config.plain\n  line 6: field bar not found in type config.plain\n  line 9: cannot unmarshal !!str `maybe` into bool",
        id="unknown_many",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\nfoo: 1\n",
        "yaml: unmarshal errors:\n  line 5: field foo not found in type config.plain",
        id="unknown_top",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  victorops_configs:\n  - api_key: k\n    routing_key: r\n    custom_fields: {entity_id: x}\n",
        "victorOps config contains custom field entity_id which cannot be used as it conflicts with the fixed/static fields",
        id="victorops_custom",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  victorops_configs:\n  - api_key: k\n",
        "missing Routing key in VictorOps config",
        id="victorops_noroute",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webex_configs:\n  - room_id: x\n",
        "missing webex_configs.http_config.authorization",
        id="webex_noauth",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webex_configs:\n  - message: x\n",
        "missing room_id on webex_config",
        id="webex_noroom",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs:\n  - url: ftp://x/\n",
        'unsupported scheme "ftp" for URL',
        id="webhook_ftp",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs:\n  - send_resolved: true\n",
        "missing URL in webhook config",
        id="webhook_no_url",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs:\n  - url: 'http://'\n",
        "missing host for URL",
        id="webhook_nohost",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  wechat_configs:\n  - message: x\n",
        "no global Wechat ApiSecret set",
        id="wechat_nosecret",
    ),
    pytest.param(
        "global:\n  wechat_api_secret: s\n  wechat_api_corp_id: c\nroute:\n  receiver: r\nreceivers:\n- name: r\n  wechat_configs:\n  - message_type: html\n",
        'weChat message type "html" does not match valid options ^(text|markdown)$',
        id="wechat_type",
    ),
    pytest.param(
        "route:\n  receiver: r\nreceivers:\n- name: r\n  webhook_configs: {a: 1}\n  slack_configs: 3\n",
        "yaml: unmarshal errors:\n  line 5: cannot unmarshal !!map into []*config.WebhookConfig\n"
        "  line 6: cannot unmarshal !!int `3` into []*config.SlackConfig",
        id="integration_list_types",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID_CONFIGS)
def test_invalid_config_message_matches_alertmanager(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "/etc/alertmanager")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("route: {receiver: r, routes: [~]}\nreceivers: [{name: r}]\n", "[]*config.Route"),
        ("route: {receiver: r}\nreceivers: [~]\n", "[]*config.Receiver"),
        ("route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [~]}]\n", "[]*config.WebhookConfig"),
        ("route: {receiver: r}\nreceivers: [{name: r}]\ninhibit_rules: [~]\n", "[]*config.InhibitRule"),
    ],
)
def test_null_list_entries_are_refused(text: str, message: str) -> None:
    """Alertmanager crashes (nil pointer) on these; tocsin reports them instead."""
    with pytest.raises(ConfigError, match=r"a null entry is not allowed in " + re.escape(message)):
        parse_config(text, "/")
