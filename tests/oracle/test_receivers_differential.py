"""Receivers against the real Alertmanager 0.25: same config, same alerts, same requests.

Every receiver URL (and the global ones) points at a recording sink; Alertmanager's requests
are compared with those tocsin's integrations make for the same notifications (method, path,
query, the headers the receiver decides, and the body as parsed JSON or form). Each scenario
also states facts about the oracle's requests, so a scenario that stopped exercising what it
claims fails even when both sides agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.alerts_gen import alert, resolved, utc_now
from tests.helpers.http_sink import ScriptedResponse
from tests.oracle.receivers_harness import (
    ReceiverScenario,
    StartDaemon,
    Step,
    compare,
    compare_daemons,
    compare_through_proxy,
    group_key_for,
)

pytestmark = [pytest.mark.oracle, pytest.mark.process]

ALERTNAME = "HighLatency"
GROUP_KEY = group_key_for({"alertname": ALERTNAME})
KEY_HASH = hashlib.sha256(GROUP_KEY.encode()).hexdigest()

CUSTOM_TEMPLATES = """\
{{ define "custom.title" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} x{{ len .Alerts }}{{ end }}
{{ define "custom.body" }}{{ range $i, $a := .Alerts }}{{ if $i }}; {{ end }}{{ $a.Labels.instance }}={{ $a.Annotations.summary | title }}{{ end }}{{ end }}
{{ define "slack.default.footer" }}footer for {{ .Receiver }} <&>{{ end }}
{{ define "__subject" }}SUBJ {{ .GroupLabels.SortedPairs.Values | join "," }}{{ end }}
"""


@pytest.fixture
def templates_glob(tmp_path: Path) -> str:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "custom.tmpl").write_text(CUSTOM_TEMPLATES)
    return str(directory / "*.tmpl")


def firing_alerts() -> list[dict[str, Any]]:
    start = utc_now()
    return [
        alert(
            {"alertname": ALERTNAME, "job": "api", "instance": f"api-{index}:9090", "severity": "page"},
            annotations={
                "summary": f"p99 latency above 2s on shard {index}",
                "runbook": "http://wiki/x?a=1&b=<2>",
            },
            starts_at=start,
            generator_url="http://prometheus.example/graph?g0.expr=latency",
        )
        for index in (1, 2)
    ]


def firing_then_resolved() -> list[Step]:
    alerts = firing_alerts()
    return [Step(alerts, 1), Step(resolved(alerts, utc_now()), 1)]


@pytest.fixture
def start_alertmanager(alertmanager_factory: Any) -> Iterator[StartDaemon]:
    yield lambda config_text: alertmanager_factory(config_text)


# ---------------------------------------------------------------- slack


def test_slack_default_templates(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="chat",
        global_yaml="  slack_api_url: '$SINK/slack/global'\n",
        receivers_yaml="""\
  - name: chat
    slack_configs:
      - channel: '#ops'
        send_resolved: true
""",
    )
    oracle = compare(start_alertmanager, scenario, firing_then_resolved(), tmp_path)
    firing = oracle[0][0]
    assert firing.path == "/slack/global"
    assert firing.headers["user-agent"] == "Alertmanager/0.25.0"
    attachment = firing.body["attachments"][0]
    assert attachment["color"] == "danger"
    assert attachment["title"] == f"[FIRING:2] {ALERTNAME} (api page)"
    assert attachment["mrkdwn_in"] == ["fallback", "pretext", "text"]
    assert oracle[1][0].body["attachments"][0]["color"] == "good"


def test_slack_every_field_and_custom_templates(
    start_alertmanager: StartDaemon, tmp_path: Path, templates_glob: str
) -> None:
    scenario = ReceiverScenario(
        receiver="chat",
        templates=[templates_glob],
        receivers_yaml="""\
  - name: chat
    slack_configs:
      - api_url: '$SINK/slack/hook?token=abc'
        channel: '#{{ .CommonLabels.severity }}'
        username: 'bot {{ .Receiver }}'
        icon_emoji: ':fire:'
        icon_url: 'http://icons/{{ .Status }}.png'
        link_names: true
        title: '{{ template "custom.title" . }}'
        title_link: 'http://x/{{ .GroupLabels.alertname }}'
        pretext: 'pre <b>'
        text: '{{ template "custom.body" . }}'
        fallback: ''
        callback_id: 'cb-{{ len .Alerts.Firing }}'
        image_url: 'http://img'
        thumb_url: 'http://thumb'
        short_fields: true
        fields:
          - {title: 'sev', value: '{{ .CommonLabels.severity }}'}
          - {title: 'long', value: 'v', short: false}
        mrkdwn_in: [text, title]
        actions:
          - {type: button, text: 'Runbook', url: 'http://wiki/{{ .GroupLabels.alertname }}', style: danger}
          - {type: button, text: 'Ack', name: ack, value: '1', confirm: {text: 'sure?', title: 'Ack', ok_text: 'yes'}}
""",
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 1)], tmp_path)
    request = oracle[0][0]
    assert request.query == {"token": ["abc"]}
    assert request.body["channel"] == "#page"
    assert request.body["link_names"] is True
    attachment = request.body["attachments"][0]
    assert attachment["title"] == f"[FIRING] {ALERTNAME} x2"
    assert attachment["footer"] == "footer for chat <&>"
    assert attachment["fallback"] == ""
    assert attachment["fields"] == [
        {"title": "sev", "value": "page", "short": True},
        {"title": "long", "value": "v", "short": False},
    ]


def test_slack_title_truncated_to_1024_runes(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="chat",
        receivers_yaml="""\
  - name: chat
    slack_configs:
      - api_url: '$SINK/slack'
        title: '{{ range .Alerts }}{{ .Annotations.summary }} é€ {{ end }}{{ range .Alerts }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ end }}'
""",
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 1)], tmp_path)
    title = oracle[0][0].body["attachments"][0]["title"]
    assert len(title) == 1024
    assert title.endswith("…")


# ---------------------------------------------------------------- pagerduty


def test_pagerduty_v2_defaults(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="pager",
        global_yaml="  pagerduty_url: '$SINK/v2/enqueue'\n",
        receivers_yaml="""\
  - name: pager
    pagerduty_configs:
      - routing_key: 'rk-123'
""",
        responses={"/v2/enqueue": ScriptedResponse(202, b'{"status":"success"}')},
    )
    oracle = compare(start_alertmanager, scenario, firing_then_resolved(), tmp_path)
    trigger, resolve = oracle[0][0].body, oracle[1][0].body
    assert trigger["event_action"] == "trigger"
    assert resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == KEY_HASH
    assert trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["custom_details"]["num_firing"] == "2"


def test_pagerduty_v2_every_field(
    start_alertmanager: StartDaemon, tmp_path: Path, templates_glob: str
) -> None:
    scenario = ReceiverScenario(
        receiver="pager",
        templates=[templates_glob],
        receivers_yaml="""\
  - name: pager
    pagerduty_configs:
      - routing_key: '{{ .CommonLabels.severity }}-key'
        url: '$SINK/pd/enqueue'
        client: 'client {{ .Receiver }}'
        client_url: 'http://client/{{ .GroupLabels.alertname }}'
        description: '{{ template "custom.title" . }}'
        details:
          firing: '{{ template "custom.body" . }}'
          extra: 'x <y>'
        images:
          - {src: 'http://img/{{ .Status }}', alt: 'graph', href: 'http://h'}
          - {src: '', alt: 'dropped'}
        links:
          - {href: 'http://runbook', text: 'Runbook'}
          - {href: '', text: 'dropped'}
        source: 'prom-{{ .CommonLabels.job }}'
        severity: '{{ if eq .CommonLabels.severity "page" }}critical{{ else }}warning{{ end }}'
        class: 'latency'
        component: 'api'
        group: 'web'
""",
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 1)], tmp_path)
    event = oracle[0][0].body
    assert event["routing_key"] == "page-key"
    assert event["payload"]["severity"] == "critical"
    assert len(event["images"]) == 1 and len(event["links"]) == 1
    # Configured details are merged over the defaults.
    assert set(event["payload"]["custom_details"]) == {
        "firing",
        "resolved",
        "num_firing",
        "num_resolved",
        "extra",
    }


# ---------------------------------------------------------------- opsgenie


def test_opsgenie_defaults_create_and_close(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="genie",
        global_yaml="  opsgenie_api_url: '$SINK/og/'\n  opsgenie_api_key: 'genie-key'\n",
        receivers_yaml="""\
  - name: genie
    opsgenie_configs:
      - responders: [{name: 'ops', type: team}]
""",
    )
    oracle = compare(start_alertmanager, scenario, firing_then_resolved(), tmp_path)
    create, close = oracle[0][0], oracle[1][0]
    assert (create.method, create.path) == ("POST", "/og/v2/alerts")
    assert create.headers["authorization"] == "GenieKey genie-key"
    assert create.body["alias"] == KEY_HASH
    assert (close.path, close.query) == (f"/og/v2/alerts/{KEY_HASH}/close", {"identifierType": ["alias"]})


def test_opsgenie_every_field_update_alerts_and_teams(
    start_alertmanager: StartDaemon, tmp_path: Path, templates_glob: str
) -> None:
    scenario = ReceiverScenario(
        receiver="genie",
        templates=[templates_glob],
        receivers_yaml="""\
  - name: genie
    opsgenie_configs:
      - api_key: 'k-{{ .CommonLabels.job }}'
        api_url: '$SINK/genie'
        message: '{{ template "custom.title" . }} {{ range .Alerts }}{{ .Annotations.summary }} {{ .Annotations.summary }}{{ end }}'
        description: '{{ template "custom.body" . }}'
        source: 'src'
        details: {severity: 'overridden', extra: '{{ .Status }}'}
        entity: 'ent'
        responders:
          - {name: 'a,b,,c', type: teams}
          - {id: '{{ .CommonLabels.missing }}', type: '{{ .CommonLabels.missing }}'}
          - {username: 'bob', type: user}
          - {id: 'esc-1', type: escalation}
        actions: 'restart, page ,'
        tags: ' t1,t2,{{ .CommonLabels.job }} '
        note: 'note'
        priority: 'P1'
        update_alerts: true
""",
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 3)], tmp_path)
    by_method = {(one.method, one.path): one for one in oracle[0]}
    create = by_method[("POST", "/genie/v2/alerts")]
    assert create.headers["authorization"] == "GenieKey k-api"
    assert len(create.body["message"]) == 130
    assert create.body["responders"][:3] == [
        {"name": "a", "type": "team"},
        {"name": "b", "type": "team"},
        {"name": "c", "type": "team"},
    ]
    assert create.body["details"]["severity"] == "overridden"
    assert ("PUT", f"/genie/v2/alerts/{KEY_HASH}/message") in by_method
    assert ("PUT", f"/genie/v2/alerts/{KEY_HASH}/description") in by_method


# ---------------------------------------------------------------- victorops


def test_victorops_defaults_and_custom_fields(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="vo",
        global_yaml="  victorops_api_url: '$SINK/vo/'\n  victorops_api_key: 'vo-key'\n",
        receivers_yaml="""\
  - name: vo
    victorops_configs:
      - routing_key: 'team-{{ .CommonLabels.job }}'
        message_type: 'SEVERE'
        custom_fields: {zeta: '{{ .Status }}', alpha: 'a <b>'}
""",
    )
    oracle = compare(start_alertmanager, scenario, firing_then_resolved(), tmp_path)
    trigger, recovery = oracle[0][0], oracle[1][0]
    assert trigger.path == "/vo/vo-key/team-api"
    assert trigger.body["message_type"] == "CRITICAL"
    assert recovery.body["message_type"] == "RECOVERY"
    assert trigger.body["entity_id"] == KEY_HASH
    assert trigger.body["zeta"] == "firing"


def test_victorops_custom_templates_and_allowed_type(
    start_alertmanager: StartDaemon, tmp_path: Path, templates_glob: str
) -> None:
    scenario = ReceiverScenario(
        receiver="vo",
        templates=[templates_glob],
        receivers_yaml="""\
  - name: vo
    victorops_configs:
      - api_url: '$SINK/victor/'
        api_key: 'k'
        routing_key: 'rk'
        message_type: '{{ if eq .CommonLabels.severity "page" }}WARNING{{ end }}'
        state_message: '{{ template "custom.body" . }}'
        entity_display_name: '{{ template "custom.title" . }}'
        monitoring_tool: 'prom'
""",
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 1)], tmp_path)
    assert oracle[0][0].body["message_type"] == "WARNING"


# ---------------------------------------------------------------- discord


def test_discord_default_and_custom_templates(
    start_alertmanager: StartDaemon, tmp_path: Path, templates_glob: str
) -> None:
    scenario = ReceiverScenario(
        receiver="disc",
        templates=[templates_glob],
        receivers_yaml="""\
  - name: disc
    discord_configs:
      - webhook_url: '$SINK/api/webhooks/1/tok'
      - webhook_url: '$SINK/api/webhooks/2/tok'
        title: '{{ template "custom.title" . }}'
        message: '{{ template "custom.body" . }} <&>'
""",
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 2)], tmp_path)
    colors = {one.body["embeds"][0]["color"] for one in oracle[0]}
    assert colors == {0x992D22}
    assert all(one.body["content"] == "" for one in oracle[0])


def test_discord_resolved_is_green(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="disc",
        receivers_yaml="""\
  - name: disc
    discord_configs:
      - webhook_url: '$SINK/api/webhooks/1/tok'
""",
    )
    oracle = compare(start_alertmanager, scenario, firing_then_resolved(), tmp_path)
    assert oracle[1][0].body["embeds"][0]["color"] == 0x2ECC71


# ---------------------------------------------------------------- webex


def test_webex_default_message_and_bearer_token(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="wx",
        global_yaml="  webex_api_url: '$SINK/v1/messages'\n",
        receivers_yaml="""\
  - name: wx
    webex_configs:
      - room_id: 'room-1'
        http_config:
          authorization: {credentials: 'bot-token'}
""",
    )
    oracle = compare(start_alertmanager, scenario, firing_then_resolved(), tmp_path)
    request = oracle[0][0]
    assert request.headers["authorization"] == "Bearer bot-token"
    assert request.body["roomId"] == "room-1"


def test_webex_message_truncated_to_7439_bytes(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    # 2-byte and 3-byte characters around the cut: the truncation must not split one.
    repeated = "{{ range .Alerts }}é€{{ .Annotations.summary }}{{ end }}" * 120
    scenario = ReceiverScenario(
        receiver="wx",
        receivers_yaml=f"""\
  - name: wx
    webex_configs:
      - room_id: 'room-1'
        api_url: '$SINK/webex'
        message: '{repeated}'
        http_config:
          authorization: {{credentials: 'bot-token'}}
""",
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 1)], tmp_path)
    message = oracle[0][0].body["markdown"]
    assert message.endswith("…")
    assert 7436 <= len(message.encode()) <= 7439


# ---------------------------------------------------------------- telegram

TELEGRAM_OK = ScriptedResponse(200, b'{"ok":true,"result":{"message_id":7,"chat":{"id":-1001},"date":1}}')


def test_telegram_html_default_message(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="tg",
        global_yaml="  telegram_api_url: '$SINK/tg'\n",
        receivers_yaml="""\
  - name: tg
    telegram_configs:
      - bot_token: '123:abc'
        chat_id: -1001
""",
        responses={"/tg/bot123:abc/sendMessage": TELEGRAM_OK},
    )
    oracle = compare(start_alertmanager, scenario, firing_then_resolved(), tmp_path)
    request = oracle[0][0]
    assert request.path == "/tg/bot123:abc/sendMessage"
    assert request.body["chat_id"] == "-1001"
    assert request.body["parse_mode"] == "HTML"
    # The runbook annotation's `&` and `<` are escaped in HTML mode.
    assert "&amp;b=&lt;2&gt;" in request.body["text"]


def test_telegram_markdown_custom_message_silent(
    start_alertmanager: StartDaemon, tmp_path: Path, templates_glob: str
) -> None:
    scenario = ReceiverScenario(
        receiver="tg",
        templates=[templates_glob],
        receivers_yaml="""\
  - name: tg
    telegram_configs:
      - bot_token: 'tok'
        chat_id: 42
        api_url: '$SINK/telegram'
        parse_mode: 'MarkdownV2'
        disable_notifications: true
        message: '*{{ template "custom.title" . }}* {{ template "custom.body" . }} <raw>'
""",
        responses={"/telegram/bottok/sendMessage": TELEGRAM_OK},
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 1)], tmp_path)
    body = oracle[0][0].body
    assert body["disable_notification"] == "true"
    assert body["text"].endswith("<raw>")


# ---------------------------------------------------------------- wechat


def test_wechat_token_then_text_message(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="wc",
        global_yaml="  wechat_api_url: '$SINK/cgi-bin/'\n  wechat_api_secret: 's3cret'\n  wechat_api_corp_id: 'corp'\n",
        receivers_yaml="""\
  - name: wc
    wechat_configs:
      - to_user: '@all'
        agent_id: '1000002'
        send_resolved: true
""",
        responses={
            "/cgi-bin/gettoken": ScriptedResponse(200, b'{"access_token":"tok-1","expires_in":7200}'),
            "/cgi-bin/message/send": ScriptedResponse(200, b'{"errcode":0,"errmsg":"ok"}'),
        },
    )
    alerts = firing_alerts()
    steps = [Step(alerts, 2), Step(resolved(alerts, utc_now()), 1)]
    oracle = compare(start_alertmanager, scenario, steps, tmp_path)
    token, send = sorted(oracle[0], key=lambda one: one.method)
    assert (token.method, token.query) == ("GET", {"corpid": ["corp"], "corpsecret": ["s3cret"]})
    assert send.query == {"access_token": ["tok-1"]}
    assert send.body["msgtype"] == "text" and send.body["markdown"] == {"content": ""}
    # The token is cached: the resolved notification only posts.
    assert [one.method for one in oracle[1]] == ["POST"]


def test_wechat_markdown_custom(start_alertmanager: StartDaemon, tmp_path: Path, templates_glob: str) -> None:
    scenario = ReceiverScenario(
        receiver="wc",
        templates=[templates_glob],
        receivers_yaml="""\
  - name: wc
    wechat_configs:
      - api_url: '$SINK/wx/'
        api_secret: 'sec'
        corp_id: 'cid'
        message_type: markdown
        message: '## {{ template "custom.title" . }}'
        to_party: '{{ .CommonLabels.job }}'
        to_tag: 'tag'
""",
        responses={
            "/wx/gettoken": ScriptedResponse(200, b'{"access_token":"t"}'),
            "/wx/message/send": ScriptedResponse(200, b"{}"),
        },
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 2)], tmp_path)
    send = next(one for one in oracle[0] if one.method == "POST")
    assert send.body["text"] == {"content": ""}
    assert send.body["toparty"] == "api"


# ---------------------------------------------------------------- sns

SNS_OK = ScriptedResponse(
    200,
    b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    b"<MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId>"
    b"</ResponseMetadata></PublishResponse>",
    headers=(("Content-Type", "text/xml"),),
)
SNS_HEADERS = ("content-type", "authorization")


def test_sns_topic_defaults_signed(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="aws",
        receivers_yaml="""\
  - name: aws
    sns_configs:
      - api_url: '$SINK'
        topic_arn: 'arn:aws:sns:eu-west-1:123456789012:alerts'
        sigv4: {region: eu-west-1, access_key: AKIDEXAMPLE, secret_key: wJalrXUtnFEMI}
""",
        responses={"/": SNS_OK},
        compared_headers=SNS_HEADERS,
    )
    oracle = compare(start_alertmanager, scenario, firing_then_resolved(), tmp_path)
    request = oracle[0][0]
    assert request.path == "/"
    assert request.body["Action"] == ["Publish"]
    assert request.body["MessageAttributes"] == [""]
    assert request.headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/<date>/eu-west-1/sns/"
    )


def test_sns_fifo_attributes_subject_and_custom_templates(
    start_alertmanager: StartDaemon, tmp_path: Path, templates_glob: str
) -> None:
    scenario = ReceiverScenario(
        receiver="aws",
        templates=[templates_glob],
        receivers_yaml="""\
  - name: aws
    sns_configs:
      - api_url: '$SINK/sns'
        topic_arn: 'arn:aws:sns:us-east-1:1:alerts.fifo'
        subject: '{{ template "custom.title" . }}'
        message: '{{ template "custom.body" . }} & more'
        attributes: {zeta: '{{ .Status }}', alpha: 'a b', '{{ .CommonLabels.job }}': 'templated name'}
        sigv4: {region: us-east-1, access_key: AKID, secret_key: SECRET}
""",
        responses={"/sns/": SNS_OK},
        compared_headers=SNS_HEADERS,
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 1)], tmp_path)
    body = oracle[0][0].body
    assert body["MessageGroupId"] == [KEY_HASH]
    assert body["MessageAttributes.entry.1.Name"] == ["alpha"]
    assert body["MessageAttributes.entry.2.Name"] == ["api"]


def test_sns_sms_truncated_to_1600_bytes(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="aws",
        receivers_yaml="""\
  - name: aws
    sns_configs:
      - api_url: '$SINK'
        phone_number: '+15555550100'
        message: '{{ range .Alerts }}{{ .Annotations.summary }} ab{{ end }}{{ range .Alerts }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ .Annotations.summary }}{{ end }}'
        sigv4: {region: us-east-1, access_key: AKID, secret_key: SECRET}
""",
        responses={"/": SNS_OK},
        compared_headers=SNS_HEADERS,
    )
    oracle = compare(start_alertmanager, scenario, [Step(firing_alerts(), 1)], tmp_path)
    body = oracle[0][0].body
    assert len(body["Message"][0].encode()) == 1600
    assert body["MessageAttributes.entry.1.Name"] == ["truncated"]


# ---------------------------------------------------------------- whole daemons


def test_tocsin_daemon_sends_what_alertmanager_sends(
    start_alertmanager: StartDaemon, tocsin_factory: Any, templates_glob: str
) -> None:
    """The tocsin process itself (config loader, routing, grouping, pipeline, receivers)
    against Alertmanager, for every receiver that needs no scripted answer."""
    scenario = ReceiverScenario(
        receiver="everyone",
        templates=[templates_glob],
        global_yaml=(
            "  slack_api_url: '$SINK/slack'\n  pagerduty_url: '$SINK/pd'\n  opsgenie_api_url: '$SINK/og/'\n"
            "  opsgenie_api_key: 'ogk'\n  victorops_api_url: '$SINK/vo/'\n  victorops_api_key: 'vok'\n"
            "  webex_api_url: '$SINK/webex'\n"
        ),
        receivers_yaml="""\
  - name: everyone
    slack_configs:
      - channel: '#a'
      - channel: '#b'
        title: '{{ template "custom.title" . }}'
        send_resolved: true
    pagerduty_configs:
      - routing_key: 'rk'
    opsgenie_configs:
      - responders: [{name: 'x,y', type: teams}]
    victorops_configs:
      - routing_key: 'vr'
    discord_configs:
      - webhook_url: '$SINK/discord'
    webex_configs:
      - room_id: 'room'
        http_config: {authorization: {credentials: 'wt'}}
    webhook_configs:
      - url: '$SINK/hook'
""",
    )
    alerts = firing_alerts()
    steps = [Step(alerts, 8), Step(resolved(alerts, utc_now()), 7)]
    oracle = compare_daemons(start_alertmanager, lambda text: tocsin_factory(text), scenario, steps)
    assert sorted(one.path for one in oracle[1]) == sorted(
        ["/slack", "/pd", f"/og/v2/alerts/{KEY_HASH}/close", "/vo/vok/vr", "/discord", "/webex", "/hook"]
    )


# ---------------------------------------------------------------- fixed endpoints (via a proxy)

PROXIED_HTTP_CONFIG = "http_config: {proxy_url: '$PROXY', tls_config: {ca_file: '$CA'}}"


def test_pushover_defaults_through_proxy(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="push",
        receivers_yaml=f"""\
  - name: push
    pushover_configs:
      - user_key: 'user-1'
        token: 'app-token'
        retry: 90s
        sound: 'siren'
        {PROXIED_HTTP_CONFIG}
""",
    )
    oracle = compare_through_proxy(
        start_alertmanager, scenario, firing_then_resolved(), ["api.pushover.net"], tmp_path
    )
    request = oracle[0][0]
    assert (request.method, request.path) == ("POST", "/1/messages.json")
    assert request.query["retry"] == ["90"] and request.query["priority"] == ["2"]
    assert oracle[1][0].query["priority"] == ["0"]


def test_pushover_html_and_custom_templates_through_proxy(
    start_alertmanager: StartDaemon, tmp_path: Path, templates_glob: str
) -> None:
    scenario = ReceiverScenario(
        receiver="push",
        templates=[templates_glob],
        receivers_yaml=f"""\
  - name: push
    pushover_configs:
      - user_key: 'u'
        token: 't'
        html: true
        title: '{{{{ template "custom.title" . }}}}'
        message: '<b>{{{{ template "custom.body" . }}}}</b> {{{{ .CommonAnnotations.runbook }}}}'
        url_title: 'Runbook'
        {PROXIED_HTTP_CONFIG}
""",
    )
    oracle = compare_through_proxy(
        start_alertmanager, scenario, [Step(firing_alerts(), 1)], ["api.pushover.net"], tmp_path
    )
    assert oracle[0][0].query["html"] == ["1"]
    assert "&amp;b=&lt;2&gt;" in oracle[0][0].query["message"][0]


def test_pagerduty_v1_through_proxy(start_alertmanager: StartDaemon, tmp_path: Path) -> None:
    scenario = ReceiverScenario(
        receiver="pager",
        receivers_yaml=f"""\
  - name: pager
    pagerduty_configs:
      - service_key: 'svc-key'
        details: {{extra: '{{{{ .Status }}}}'}}
        {PROXIED_HTTP_CONFIG}
""",
    )
    oracle = compare_through_proxy(
        start_alertmanager, scenario, firing_then_resolved(), ["events.pagerduty.com"], tmp_path
    )
    trigger, resolve = oracle[0][0].body, oracle[1][0].body
    assert oracle[0][0].path == "/generic/2010-04-15/create_event.json"
    assert (trigger["event_type"], resolve["event_type"]) == ("trigger", "resolve")
    assert trigger["payload"] is None and trigger["event_action"] == ""
    assert "client" in trigger and "client" not in resolve
