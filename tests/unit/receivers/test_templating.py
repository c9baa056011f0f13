"""Template errors fail a notification permanently (nothing is sent), and secrets kept in
files are read at every send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from notify.errors import PermanentError
from tests.helpers.http_sink import HttpSink, ScriptedResponse
from tests.unit.receivers.helpers import build, firing, send

BROKEN = "{{ .Nope.Deeper }}"  # executing a field of nil fails in Go's text/template

TEMPLATED: list[tuple[str, dict[str, Any]]] = [
    ("slack_configs", {"api_url": "http://sink/s", "text": BROKEN}),
    ("pagerduty_configs", {"routing_key": "k", "url": "http://sink/p", "client": BROKEN}),
    ("pagerduty_configs", {"routing_key": "k", "url": "http://sink/p", "details": {"x": BROKEN}}),
    ("opsgenie_configs", {"api_key": "k", "api_url": "http://sink/", "note": BROKEN}),
    ("victorops_configs", {"api_key": "k", "routing_key": BROKEN, "api_url": "http://sink/"}),
    ("discord_configs", {"webhook_url": "http://sink/d", "message": BROKEN}),
    ("webex_configs", {"room_id": "r", "api_url": "http://sink/w", "message": BROKEN}),
    ("telegram_configs", {"bot_token": "t", "chat_id": 1, "api_url": "http://sink", "message": BROKEN}),
    ("pushover_configs", {"user_key": "u", "token": "t", "sound": BROKEN}),
    ("wechat_configs", {"api_secret": "s", "corp_id": "c", "api_url": "http://sink/", "to_tag": BROKEN}),
    (
        "sns_configs",
        {
            "topic_arn": "arn:t",
            "subject": BROKEN,
            "sigv4": {"region": "r", "access_key": "a", "secret_key": "s"},
        },
    ),
]


@pytest.mark.parametrize(
    ("config_key", "settings"), TEMPLATED, ids=[f"{key}-{i}" for i, (key, _) in enumerate(TEMPLATED)]
)
async def test_template_error_is_permanent_and_sends_nothing(
    config_key: str, settings: dict[str, Any]
) -> None:
    sink = HttpSink(default=ScriptedResponse(200, b'{"access_token":"t"}'))
    with pytest.raises(PermanentError, match=r"nil pointer evaluating|can't evaluate field|executing"):
        await send(build(config_key, settings, sink), firing())
    assert [request.method for request in sink.requests()] in ([], ["GET"])  # WeChat fetches its token first


@pytest.mark.parametrize(
    ("config_key", "settings", "secret_key", "where"),
    [
        ("slack_configs", {}, "api_url_file", lambda request: request.path),
        (
            "opsgenie_configs",
            {"api_url": "http://sink/"},
            "api_key_file",
            lambda request: request.headers["authorization"],
        ),
        (
            "victorops_configs",
            {"routing_key": "r", "api_url": "http://sink/"},
            "api_key_file",
            lambda request: request.path,
        ),
    ],
)
async def test_secret_files_are_read_at_every_send(
    tmp_path: Path, config_key: str, settings: dict[str, Any], secret_key: str, where: Any
) -> None:
    secret = tmp_path / "secret"
    first, second = ("http://sink/one", "http://sink/two") if secret_key == "api_url_file" else ("one", "two")
    secret.write_text(first + "\n")
    sink = HttpSink()
    integration = build(config_key, {**settings, secret_key: str(secret)}, sink)
    await send(integration, firing())
    secret.write_text(second + "\n")
    await send(integration, firing())
    seen = [where(request) for request in sink.requests()]
    assert "one" in seen[0] and "two" in seen[1]


def test_a_template_file_that_does_not_parse_fails_the_build(tmp_path: Path) -> None:
    from daemon.config.loader import parse_config
    from daemon.integrations import IntegrationBuildError, build_notifiers
    from daemon.nflog import NotificationLog

    (tmp_path / "bad.tmpl").write_text('{{ define "x" }}{{ if }}{{ end }}')
    config = parse_config(
        "route: {receiver: r}\nreceivers: [{name: r, slack_configs: [{api_url: 'http://sink/s'}]}]\n"
        f"templates: ['{tmp_path}/*.tmpl']\n",
        str(tmp_path),
    )
    with pytest.raises(
        IntegrationBuildError, match=r"^failed to parse templates: template: bad.tmpl:1: missing value for if"
    ):
        build_notifiers(config, "http://am.example", nflog=NotificationLog())
