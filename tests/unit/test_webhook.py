"""Webhook body and sender.

The golden bodies below were recorded from the real Alertmanager 0.25 (Debian build, Go
before 1.22): it ran with two webhook receivers pointed at a recording server, received the
alerts built in `_escaping_alerts()` / `_truncation_alerts()` over POST /api/v2/alerts, and
these are the exact bytes it POSTed (trailing newline included). The receiver name of the
first is `a.b*c?d(e)[f]{g}|h^i$j\\k-/ü`; the second has `max_alerts: 2` and three alerts.
"""

from __future__ import annotations

import base64
import json
import ssl
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from notify.context import FlushContext
from notify.errors import PermanentError, RetryableError
from notify.httpclient import (
    USER_AGENT,
    UnsupportedHttpConfigError,
    build_client,
    build_ssl_context,
    post_json,
)
from notify.model import ZERO_TIME, Alert
from notify.receivers.base import go_json, quote_meta
from notify.receivers.webhook import WebhookConfig, WebhookIntegration, build_payload, truncate_alerts
from tests.helpers.http_sink import HttpSink, ScriptedResponse

GOLDEN_ESCAPING_BODY = (
    b'{"receiver":"a\\\\.b\\\\*c\\\\?d\\\\(e\\\\)\\\\[f\\\\]\\\\{g\\\\}\\\\|h\\\\^i\\\\$j\\\\\\\\k-/\xc3\xbc","status":"firing","a'
    b'lerts":[{"status":"firing","labels":{"alertname":"Test","job":"j\\u0008\\u000c\\u0001\x7f\\u2028\\'
    b'u2029\\t\\n\\r\\"\\\\/"},"annotations":{"desc":"x","summary":"a \\u003cb\\u003e \\u0026 c"},"starts'
    b'At":"2024-01-02T03:04:05.123456Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://p'
    b'rom/graph?g0.expr=up\\u0026x=\\u003c\\u003e","fingerprint":"c0109471c927aab5"},{"status":"res'
    b'olved","labels":{"alertname":"Test","instance":"i2","job":"j2"},"annotations":{"summary":"'
    b'a \\u003cb\\u003e \\u0026 c"},"startsAt":"2024-01-02T03:04:05Z","endsAt":"2024-01-02T04:00:00'
    b'.5Z","generatorURL":"http://x/\xc3\xa9","fingerprint":"87eff94b26e5e151"}],"groupLabels":{"alert'
    b'name":"Test"},"commonLabels":{"alertname":"Test"},"commonAnnotations":{"summary":"a \\u003c'
    b'b\\u003e \\u0026 c"},"externalURL":"http://am.example:9093/prefix","version":"4","groupKey":'
    b'"{}:{alertname=\\"Test\\"}","truncatedAlerts":0}\n'
)

GOLDEN_TRUNCATED_BODY = (
    b'{"receiver":"trunc","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"'
    b'Trunc","n":"1"},"annotations":{},"startsAt":"2024-01-02T03:04:05+02:00","endsAt":"0001-01-'
    b'01T00:00:00Z","generatorURL":"","fingerprint":"3fc03ea82a12009f"},{"status":"firing","labe'
    b'ls":{"alertname":"Trunc","n":"2"},"annotations":{"a":"1"},"startsAt":"2024-01-02T03:04:05.'
    b'5Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"3fbc3ea82a0e17c8"}],"'
    b'groupLabels":{"alertname":"Trunc"},"commonLabels":{"alertname":"Trunc"},"commonAnnotations'
    b'":{},"externalURL":"http://am.example:9093/prefix","version":"4","groupKey":"{}/{alertname'
    b'=\\"Trunc\\"}:{alertname=\\"Trunc\\"}","truncatedAlerts":1}\n'
)

EXTERNAL_URL = "http://am.example:9093/prefix"
# The oracle run happened after the resolved alert's endsAt; any such moment gives the same body.
FLUSH_TIME = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
ESCAPING_RECEIVER = "a.b*c?d(e)[f]{g}|h^i$j\\k-/ü"


def _escaping_alerts() -> list[Alert]:
    return [
        Alert(
            labels={"alertname": "Test", "job": 'j\b\f\x01\x7f\u2028\u2029\t\n\r"\\/'},
            annotations={"summary": "a <b> & c", "desc": "x"},
            starts_at=datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
            generator_url="http://prom/graph?g0.expr=up&x=<>",
        ),
        Alert(
            labels={"alertname": "Test", "job": "j2", "instance": "i2"},
            annotations={"summary": "a <b> & c"},
            starts_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            ends_at=datetime(2024, 1, 2, 4, 0, 0, 500000, tzinfo=UTC),
            generator_url="http://x/é",
        ),
    ]


def _truncation_alerts() -> list[Alert]:
    return [
        Alert(
            labels={"alertname": "Trunc", "n": "1"},
            starts_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        ),
        Alert(
            labels={"alertname": "Trunc", "n": "2"},
            annotations={"a": "1"},
            starts_at=datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC),
        ),
        Alert(
            labels={"alertname": "Trunc", "n": "3"},
            starts_at=datetime(2024, 1, 2, 3, 4, 5, 1, tzinfo=UTC),
        ),
    ]


def test_body_matches_alertmanager_escaping_and_key_order() -> None:
    body = build_payload(
        ESCAPING_RECEIVER,
        '{}:{alertname="Test"}',
        {"alertname": "Test"},
        _escaping_alerts(),
        EXTERNAL_URL,
        FLUSH_TIME,
    )
    assert body == GOLDEN_ESCAPING_BODY


def test_body_matches_alertmanager_with_max_alerts() -> None:
    body = build_payload(
        "trunc",
        '{}/{alertname="Trunc"}:{alertname="Trunc"}',
        {"alertname": "Trunc"},
        _truncation_alerts(),
        EXTERNAL_URL,
        FLUSH_TIME,
        max_alerts=2,
    )
    assert body == GOLDEN_TRUNCATED_BODY


def test_all_resolved_group_has_status_resolved() -> None:
    resolved = [alert for alert in _escaping_alerts() if alert.ends_at != ZERO_TIME]
    body = build_payload("r", "{}:{}", {}, resolved, EXTERNAL_URL, FLUSH_TIME)
    assert body.startswith(b'{"receiver":"r","status":"resolved","alerts":[{"status":"resolved",')


def test_common_labels_and_annotations_are_the_shared_pairs() -> None:
    alerts = [
        Alert(labels={"a": "1", "b": "2", "c": "3"}, annotations={"x": "1", "y": "2"}),
        Alert(labels={"a": "1", "b": "other", "c": "3"}, annotations={"x": "1"}),
    ]
    body = build_payload("r", "{}:{}", {}, alerts, EXTERNAL_URL, FLUSH_TIME)
    assert b'"commonLabels":{"a":"1","c":"3"},"commonAnnotations":{"x":"1"}' in body


@pytest.mark.parametrize(
    ("max_alerts", "kept", "truncated"),
    [(0, 5, 0), (1, 1, 4), (4, 4, 1), (5, 5, 0), (9, 5, 0)],
)
def test_truncate_alerts(max_alerts: int, kept: int, truncated: int) -> None:
    alerts = [Alert(labels={"n": str(n)}) for n in range(5)]
    result, left_out = truncate_alerts(alerts, max_alerts)
    assert [alert.labels["n"] for alert in result] == [str(n) for n in range(kept)]
    assert left_out == truncated


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("wh+test", "wh\\+test"),
        ("plain-name_1/x", "plain-name_1/x"),
        ("a.b*c?d(e)[f]{g}|h^i$j\\k", "a\\.b\\*c\\?d\\(e\\)\\[f\\]\\{g\\}\\|h\\^i\\$j\\\\k"),
    ],
)
def test_quote_meta(name: str, quoted: str) -> None:
    assert quote_meta(name) == quoted


def test_go_json_replaces_lone_surrogates_and_encodes_scalars() -> None:
    assert go_json({"s": "a\ud800b", "n": 3, "t": True, "f": False, "z": None, "l": []}) == (
        b'{"s":"a\\ufffdb","n":3,"t":true,"f":false,"z":null,"l":[]}'
    )


def _flush_context(now: datetime = FLUSH_TIME) -> FlushContext:
    return FlushContext(
        group_key='{}:{alertname="Test"}',
        receiver="team+x",
        group_labels={"alertname": "Test"},
        repeat_interval=timedelta(hours=4),
        mute_time_intervals=(),
        active_time_intervals=(),
        now=now,
    )


async def test_send_posts_the_body_with_alertmanager_headers() -> None:
    with HttpSink() as sink:
        config = WebhookConfig(url=sink.url("/hook"))
        async with build_client() as client:
            integration = WebhookIntegration("team+x", 0, config, client, EXTERNAL_URL)
            await integration.send(_flush_context(), _escaping_alerts())
        (request,) = sink.requests("/hook")
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT == "Alertmanager/0.25.0"
    assert request.json()["receiver"] == "team\\+x"
    assert request.body.endswith(b',"version":"4","groupKey":"{}:{alertname=\\"Test\\"}","truncatedAlerts":0}\n')


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (500, RetryableError, "unexpected status code 500: boom"),
        (503, RetryableError, "unexpected status code 503: boom"),
        (400, PermanentError, "unexpected status code 400: boom"),
        (429, PermanentError, "unexpected status code 429: boom"),
        (302, PermanentError, "unexpected status code 302: boom"),
    ],
)
async def test_send_classifies_status(status: int, error_type: type[Exception], message: str) -> None:
    sink = HttpSink()
    sink.script("/hook", ScriptedResponse(status=status, body=b"boom"))
    async with build_client(transport=sink.transport(), http_config={"follow_redirects": False}) as client:
        integration = WebhookIntegration("r", 0, WebhookConfig(url="http://hook.test/hook"), client, EXTERNAL_URL)
        with pytest.raises(error_type) as raised:
            await integration.send(_flush_context(), _escaping_alerts())
    assert str(raised.value) == message


async def test_empty_error_body_has_no_colon() -> None:
    sink = HttpSink()
    sink.script("/hook", 500)
    async with build_client(transport=sink.transport()) as client:
        integration = WebhookIntegration("r", 0, WebhookConfig(url="http://hook.test/hook"), client, EXTERNAL_URL)
        with pytest.raises(RetryableError, match=r"^unexpected status code 500$"):
            await integration.send(_flush_context(), _escaping_alerts())


async def test_transport_error_is_retryable_and_redacts_the_url() -> None:
    with trio.socket.socket() as unused:
        await unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    secret_url = f"http://127.0.0.1:{closed_port}/hook?token=s3cr3t"
    async with build_client() as client:
        integration = WebhookIntegration("r", 0, WebhookConfig(url=secret_url), client, EXTERNAL_URL)
        with pytest.raises(RetryableError) as raised:
            await integration.send(_flush_context(), _escaping_alerts())
    assert str(raised.value).startswith('Post "<redacted>": ')
    assert "s3cr3t" not in str(raised.value)


async def test_url_file_is_read_at_each_send(tmp_path: Path) -> None:
    sink = HttpSink()
    url_file = tmp_path / "url"
    url_file.write_text("http://hook.test/first\n")
    config = WebhookConfig.from_mapping({"url_file": str(url_file)})
    async with build_client(transport=sink.transport()) as client:
        integration = WebhookIntegration("r", 0, config, client, EXTERNAL_URL)
        await integration.send(_flush_context(), _escaping_alerts())
        url_file.write_text("http://hook.test/second")
        await integration.send(_flush_context(), _escaping_alerts())
        url_file.unlink()
        with pytest.raises(PermanentError, match=r"^read url_file: "):
            await integration.send(_flush_context(), _escaping_alerts())
    assert [request.path for request in sink.requests()] == ["/first", "/second"]


def test_config_from_mapping_defaults_and_errors() -> None:
    config = WebhookConfig.from_mapping({"url": "http://x/"})
    assert (config.send_resolved, config.max_alerts, config.http_config) == (True, 0, {})
    config = WebhookConfig.from_mapping({"url": "http://x/", "send_resolved": False, "max_alerts": 3})
    assert (config.send_resolved, config.max_alerts) == (False, 3)
    with pytest.raises(ValueError, match="one of url or url_file"):
        WebhookConfig.from_mapping({})


# -- http_config --------------------------------------------------------------------------------
async def _get_headers(http_config: dict[str, object]) -> dict[str, str]:
    sink = HttpSink()
    async with build_client(http_config, transport=sink.transport()) as client:
        await post_json(client, "http://hook.test/hook", b"{}")
    return sink.requests("/hook")[0].headers


async def test_basic_auth_password_file_is_read_per_request(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("first\n")
    sink = HttpSink()
    config = {"basic_auth": {"username": "am", "password": "", "password_file": str(password_file)}}
    async with build_client(config, transport=sink.transport()) as client:
        await post_json(client, "http://hook.test/hook", b"{}")
        password_file.write_text("second")
        await post_json(client, "http://hook.test/hook", b"{}")
    assert [request.headers["authorization"] for request in sink.requests()] == [
        "Basic " + base64.b64encode(b"am:first").decode(),
        "Basic " + base64.b64encode(b"am:second").decode(),
    ]


@pytest.mark.parametrize(
    ("http_config", "expected"),
    [
        ({"authorization": {"type": "", "credentials": "abc"}}, "Bearer abc"),
        ({"authorization": {"type": "Token", "credentials": "abc"}}, "Token abc"),
        ({"bearer_token": "xyz"}, "Bearer xyz"),
    ],
)
async def test_authorization_header(http_config: dict[str, object], expected: str) -> None:
    headers = await _get_headers(http_config)
    assert headers["authorization"] == expected
    assert headers["user-agent"] == "Alertmanager/0.25.0"
    assert headers["content-type"] == "application/json"


async def test_credentials_file_is_trimmed(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("  s3cret \n")
    headers = await _get_headers({"authorization": {"credentials_file": str(token_file)}})
    assert headers["authorization"] == "Bearer s3cret"


async def test_unreadable_credentials_file_is_a_retryable_send_error(tmp_path: Path) -> None:
    sink = HttpSink()
    config = {"authorization": {"credentials_file": str(tmp_path / "missing")}}
    async with build_client(config, transport=sink.transport()) as client:
        with pytest.raises(RetryableError, match=r'^Post "<redacted>": '):
            await post_json(client, "http://hook.test/hook", b"{}")
    assert sink.requests() == []


def test_oauth2_is_refused_at_build_time() -> None:
    with pytest.raises(UnsupportedHttpConfigError):
        build_client({"oauth2": {"client_id": "x", "client_secret": "y", "token_url": "http://t/"}})


def test_tls_versions_map_onto_ssl() -> None:
    context = build_ssl_context({"min_version": "TLS12", "max_version": "TLS13"})
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.maximum_version == ssl.TLSVersion.TLSv1_3
    insecure = build_ssl_context({"insecure_skip_verify": True})
    assert (insecure.check_hostname, insecure.verify_mode) == (False, ssl.CERT_NONE)


def _self_signed(tmp_path: Path, hostname: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_tls_ca_file_and_server_name(tmp_path: Path) -> None:
    cert_path, key_path = _self_signed(tmp_path, "hook.internal")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    with HttpSink(tls=server_context) as sink:
        trusted = {"tls_config": {"ca_file": str(cert_path), "server_name": "hook.internal"}}
        async with build_client(trusted) as client:
            await post_json(client, sink.url("/hook"), b"{}")
        # Without server_name the certificate does not match 127.0.0.1.
        async with build_client({"tls_config": {"ca_file": str(cert_path)}}) as client:
            with pytest.raises(RetryableError, match=r'^Post "<redacted>": '):
                await post_json(client, sink.url("/hook"), b"{}")
        assert len(sink.requests("/hook")) == 1


@given(st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), st.text(st.characters(exclude_categories=["Cs"])), max_size=5))
def test_go_json_is_valid_json_for_any_text(mapping: dict[str, str]) -> None:
    encoded = go_json(mapping)
    assert json.loads(encoded) == mapping
    # Only the characters Go escapes are escaped: the rest stays raw UTF-8.
    assert not set(encoded.decode()) & set("<>&\u2028\u2029\b\f")
