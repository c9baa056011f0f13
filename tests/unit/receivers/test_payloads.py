"""Payload facts the differential tests cannot reach (fixed endpoints: Pushover, PagerDuty v1)
and the truncation limit of every receiver (reference §11.22), with known-correct values
derived from Alertmanager 0.25's notifiers."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notify.httpclient import build_client
from notify.receivers.common import truncate_in_bytes, truncate_in_runes
from notify.receivers.pagerduty import (
    DETAILS_REMOVED_MESSAGE,
    MAX_EVENT_BYTES,
    PagerdutyConfig,
    PagerdutyIntegration,
)
from notify.receivers.pushover import PushoverConfig, PushoverIntegration
from tests.helpers.http_sink import HttpSink, ScriptedResponse
from tests.unit.receivers.helpers import (
    EXTERNAL_URL,
    GROUP_KEY,
    build,
    default_templates,
    firing,
    resolved,
    send,
)

KEY_HASH = hashlib.sha256(GROUP_KEY.encode()).hexdigest()
LONG = "é" * 30000  # 2 bytes per rune: rune and byte limits differ


# ---------------------------------------------------------------- truncation helpers


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abcdef", 4, ("abc…", True)),
        ("abc", 3, ("abc", False)),
        ("abcd", 3, ("abc", True)),  # at 3 runes or fewer, no marker
        ("héllo wörld", 11, ("héllo wörld", False)),
        ("héllo wörld", 6, ("héllo…", True)),
    ],
)
def test_truncate_in_runes(text: str, limit: int, expected: tuple[str, bool]) -> None:
    assert truncate_in_runes(text, limit) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("aé€", 6, ("aé€", False)),
        ("aé€", 5, ("a…", True)),  # é would leave 1 byte of the 2 it needs
        ("aé€x", 6, ("aé…", True)),
        ("abcd", 3, ("…", True)),
        ("abcd", 2, ("..", True)),
    ],
)
def test_truncate_in_bytes(text: str, limit: int, expected: tuple[str, bool]) -> None:
    assert truncate_in_bytes(text, limit) == expected


@given(st.text(), st.integers(min_value=4, max_value=64))
def test_truncate_in_bytes_never_exceeds_the_limit_nor_splits_a_character(text: str, limit: int) -> None:
    cut, truncated = truncate_in_bytes(text, limit)
    encoded = cut.encode("utf-8", errors="surrogatepass")
    assert len(encoded) <= limit
    assert truncated == (cut != text)
    if truncated:
        assert text.startswith(cut.removesuffix("…"))


# ---------------------------------------------------------------- per-receiver limits


def _json(sink: HttpSink) -> Any:
    (request,) = sink.requests()
    return request.json()


LIMITS = [
    # config key, settings, how to read the limited field from the request, its limit, unit
    (
        "slack_configs",
        {"api_url": "http://sink/s", "title": "{{ .CommonAnnotations.long }}"},
        lambda sink: _json(sink)["attachments"][0]["title"],
        1024,
        "runes",
    ),
    (
        "opsgenie_configs",
        {"api_key": "k", "api_url": "http://sink/", "message": "{{ .CommonAnnotations.long }}"},
        lambda sink: _json(sink)["message"],
        130,
        "runes",
    ),
    (
        "pagerduty_configs",
        {"routing_key": "k", "url": "http://sink/pd", "description": "{{ .CommonAnnotations.long }}"},
        lambda sink: _json(sink)["payload"]["summary"],
        1024,
        "runes",
    ),
    (
        "victorops_configs",
        {
            "api_key": "k",
            "routing_key": "r",
            "api_url": "http://sink/",
            "state_message": "{{ .CommonAnnotations.long }}",
        },
        lambda sink: _json(sink)["state_message"],
        20480,
        "runes",
    ),
    (
        "telegram_configs",
        {
            "bot_token": "t",
            "chat_id": 1,
            "api_url": "http://sink",
            "message": "{{ .CommonAnnotations.long }}",
        },
        lambda sink: _json(sink)["text"],
        4096,
        "runes",
    ),
    (
        "webex_configs",
        {"room_id": "r", "api_url": "http://sink/w", "message": "{{ .CommonAnnotations.long }}"},
        lambda sink: _json(sink)["markdown"],
        7439,
        "bytes",
    ),
]


@pytest.mark.parametrize(
    ("config_key", "settings", "field", "limit", "unit"), LIMITS, ids=[row[0] for row in LIMITS]
)
async def test_truncation_limits(
    config_key: str, settings: dict[str, Any], field: Any, limit: int, unit: str
) -> None:
    sink = HttpSink(default=ScriptedResponse(200, b'{"ok":true,"result":{}}'))
    await send(build(config_key, settings, sink), firing(long=LONG))
    value = field(sink)
    assert value.endswith("…")
    if unit == "runes":
        assert len(value) == limit
    else:
        # 2-byte runes: the largest whole-rune prefix within limit - 3 bytes, then the marker.
        assert len(value.encode()) == limit - 3 - (limit - 3) % 2 + 3


async def test_sns_message_cut_by_bytes_with_truncated_attribute() -> None:
    from notify.receivers.sns import MAX_MESSAGE_BYTES, SnsConfig, SnsIntegration

    sink = HttpSink(default=ScriptedResponse(200, b"<PublishResponse/>"))
    config = SnsConfig.from_mapping(
        {
            "api_url": "http://sink",
            "topic_arn": "arn:aws:sns:us-east-1:1:t",
            "message": "{{ range .Alerts }}{{ .Annotations.long }}{{ .Annotations.long }}{{ .Annotations.long }}{{ end }}",
            "sigv4": {"region": "us-east-1", "access_key": "AK", "secret_key": "SK"},
        }
    )
    integration = SnsIntegration(
        "team", 0, config, build_client(transport=sink.transport()), default_templates(), EXTERNAL_URL
    )
    await send(integration, firing(3, long=LONG))
    (request,) = sink.requests()
    form = urllib.parse.parse_qs(request.body.decode(), keep_blank_values=True, encoding="latin-1")
    assert len(form["Message"][0]) == MAX_MESSAGE_BYTES  # latin-1 decoding: one char per byte
    assert form["MessageAttributes.entry.1.Name"] == ["truncated"]
    assert form["MessageAttributes.entry.1.Value.StringValue"] == ["true"]
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AK/")


# ---------------------------------------------------------------- PagerDuty


def _pagerduty(settings: dict[str, Any], sink: HttpSink) -> PagerdutyIntegration:
    return PagerdutyIntegration(
        "team",
        0,
        PagerdutyConfig.from_mapping(settings),
        build_client(transport=sink.transport()),
        default_templates(),
        EXTERNAL_URL,
        v1_url="http://sink/generic/2010-04-15/create_event.json",
    )


async def test_pagerduty_v1_trigger_and_resolve_bodies() -> None:
    sink = HttpSink()
    integration = _pagerduty({"service_key": "svc", "details": {"note": "{{ .Status }}"}}, sink)
    alerts = firing()
    await send(integration, alerts)
    await send(integration, resolved(alerts))
    trigger, resolve = (request.body for request in sink.requests("/generic/2010-04-15/create_event.json"))
    # Go's struct order; event_action "" and payload null are always written for v1.
    assert list(json.loads(trigger)) == [
        "service_key",
        "incident_key",
        "event_type",
        "description",
        "event_action",
        "payload",
        "client",
        "client_url",
        "details",
    ]
    assert json.loads(trigger)["incident_key"] == KEY_HASH
    assert json.loads(trigger)["client_url"] == f"{EXTERNAL_URL}/#/alerts?receiver=team"
    assert json.loads(trigger)["details"]["note"] == "firing"
    assert json.loads(trigger)["description"] == "[FIRING:2] HighLatency (api)"
    resolve_body = json.loads(resolve)
    assert resolve_body["event_type"] == "resolve"
    assert "client" not in resolve_body and "client_url" not in resolve_body
    assert trigger.endswith(b"}\n")


async def test_pagerduty_oversized_event_loses_its_details() -> None:
    sink = HttpSink()
    integration = _pagerduty(
        {"routing_key": "rk", "url": "http://sink/pd", "details": {"big": "{{ .CommonAnnotations.long }}"}},
        sink,
    )
    await send(integration, firing(long="x" * (MAX_EVENT_BYTES + 1)))
    body = sink.requests("/pd")[0].json()
    assert body["payload"]["custom_details"] == {"error": DETAILS_REMOVED_MESSAGE}
    assert DETAILS_REMOVED_MESSAGE.endswith("maximum size of 512KB")


async def test_pagerduty_key_from_file_is_trimmed_and_templated(tmp_path: Any) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("rk-{{ .CommonLabels.job }}\n")
    sink = HttpSink()
    await send(_pagerduty({"routing_key_file": str(key_file), "url": "http://sink/pd"}, sink), firing())
    assert sink.requests("/pd")[0].json()["routing_key"] == "rk-api"


# ---------------------------------------------------------------- Pushover


async def test_pushover_parameters_in_the_query_string() -> None:
    sink = HttpSink()
    config = PushoverConfig.from_mapping({"user_key": "uk", "token": "tok", "retry": 90.0, "sound": "siren"})
    integration = PushoverIntegration(
        "team", 0, config, build_client(transport=sink.transport()), default_templates(), EXTERNAL_URL,
        api_url="http://sink/1/messages.json",
    )  # fmt: skip
    await send(integration, firing())
    (request,) = sink.requests("/1/messages.json")
    assert request.method == "POST" and request.body == b""
    assert request.headers["content-type"] == "text/plain"
    names = [pair.split("=", 1)[0] for pair in request.query.split("&")]
    assert names == sorted(names)  # url.Values.Encode order
    params = {name: values[0] for name, values in request.query_params().items()}
    assert params["token"] == "tok" and params["user"] == "uk"
    assert params["title"] == "[FIRING:2] HighLatency (api)"
    assert params["priority"] == "2"
    assert (params["retry"], params["expire"]) == ("90", "3600")
    assert params["sound"] == "siren" and params["url_title"] == ""
    assert params["url"] == f"{EXTERNAL_URL}/#/alerts?receiver=team"
    assert "html" not in params
    assert params["message"].startswith("Alerts Firing:\nLabels:\n - alertname = HighLatency\n")  # trimmed


async def test_pushover_limits_empty_message_and_html() -> None:
    sink = HttpSink()
    config = PushoverConfig.from_mapping(
        {
            "user_key": "uk",
            "token": "tok",
            "title": "{{ .CommonAnnotations.long }}",
            "url": "{{ .CommonAnnotations.long }}",
            "message": "  {{ if false }}x{{ end }}  ",
            "html": True,
        }
    )
    integration = PushoverIntegration(
        "team", 0, config, build_client(transport=sink.transport()), default_templates(), EXTERNAL_URL,
        api_url="http://sink/p",
    )  # fmt: skip
    await send(integration, firing(long=LONG))
    params = {name: values[0] for name, values in sink.requests("/p")[0].query_params().items()}
    assert len(params["title"]) == 250 and params["title"].endswith("…")
    assert len(params["url"]) == 512
    assert params["message"] == "(no details)"
    assert params["html"] == "1"
