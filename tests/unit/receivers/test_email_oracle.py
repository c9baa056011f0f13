"""Email, differentially: the real Alertmanager 0.25 and our EmailIntegration send to the same
SMTP server (STARTTLS with a trustme CA, AUTH) and the two received messages must match.

Alertmanager is driven through its API; our side renders the same alerts in-process (the
daemon's email wiring is another engineer's), with the same receiver name, group labels and
external URL. Normalised: the multipart boundary, Message-Id and Date values (their formats
are checked), and the header order (Go writes headers in map order, which is random).
Everything else, including the quoted-printable bodies, must be byte-identical.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from notify.context import FlushContext
from notify.model import Alert
from notify.receivers.email import EmailIntegration
from notify.template.templates import Templates
from tests.helpers.alerts_gen import alert, api_time
from tests.helpers.processes import DaemonProcess
from tests.helpers.smtp_server import SECOND_LOOPBACK_HOST, ReceivedMessage, SmtpServer, TestCertificates

pytestmark = [pytest.mark.oracle, pytest.mark.process]

EXTERNAL_URL = "http://alertmanager.example:9093"
RECEIVER = "team-mail"
MESSAGE_ID = re.compile(rb"^Message-Id: <\d+\.\d+@[^>\s]+>$")
DATE = re.compile(
    rb"^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    rb"\d{4} \d\d:\d\d:\d\d [+-]\d{4}$"
)
BOUNDARY = re.compile(rb"boundary=([0-9a-f]{60})\r\n")

StartAlertmanager = Callable[..., DaemonProcess]


def normalise(message: ReceivedMessage) -> tuple[list[bytes], bytes]:
    """(sorted header lines with volatile values replaced, body with the boundary replaced)."""
    head, separator, body = message.data.partition(b"\r\n\r\n")
    assert separator, "no blank line after the headers"
    match = BOUNDARY.search(head + b"\r\n")
    assert match is not None, head
    boundary = match.group(1)
    lines = []
    for line in head.split(b"\r\n"):
        if line.startswith(b"Message-Id: "):
            assert MESSAGE_ID.match(line), line
            line = b"Message-Id: <ID>"
        elif line.startswith(b"Date: "):
            assert DATE.match(line), line
            line = b"Date: DATE"
        lines.append(line.replace(boundary, b"BOUNDARY"))
    return sorted(lines), body.replace(boundary, b"BOUNDARY")


def post_alerts(daemon: DaemonProcess, alerts: Sequence[dict[str, Any]]) -> None:
    response = httpx.post(f"{daemon.base_url}/api/v2/alerts", json=list(alerts), timeout=10)
    assert response.status_code == 200, response.text


def model_alert(posted: dict[str, Any]) -> Alert:
    def parse(text: str | None) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else datetime(1, 1, 1, tzinfo=UTC)

    return Alert(
        labels=dict(posted["labels"]),
        annotations=dict(posted.get("annotations") or {}),
        starts_at=parse(posted.get("startsAt")),
        ends_at=parse(posted.get("endsAt")),
        generator_url=posted.get("generatorURL", ""),
    )


def alertmanager_config(email: dict[str, Any]) -> str:
    config = {
        "route": {
            "receiver": RECEIVER,
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1m",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": RECEIVER, "email_configs": [email]}],
    }
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)


async def send_ours(email: dict[str, Any], group_labels: dict[str, str], alerts: Sequence[Alert]) -> None:
    integration = EmailIntegration.from_settings(
        RECEIVER, 0, {"hello": "localhost", **email}, Templates.with_defaults(), external_url=EXTERNAL_URL
    )
    ctx = FlushContext(
        group_key="{}:{}",
        receiver=RECEIVER,
        group_labels=group_labels,
        repeat_interval=timedelta(hours=1),
        mute_time_intervals=(),
        active_time_intervals=(),
        now=datetime.now(UTC),
    )
    await integration.send(ctx, alerts)


async def compare(
    alertmanager_factory: StartAlertmanager,
    server: SmtpServer,
    email: dict[str, Any],
    posted: Sequence[dict[str, Any]],
    group_labels: dict[str, str],
) -> tuple[ReceivedMessage, ReceivedMessage]:
    daemon = alertmanager_factory(
        alertmanager_config(email), extra_args=[f"--web.external-url={EXTERNAL_URL}/"]
    )
    post_alerts(daemon, posted)
    [theirs] = server.wait_for_messages(1)
    daemon.stop()
    await send_ours(email, group_labels, [model_alert(one) for one in posted])
    ours = server.wait_for_messages(2)[1]

    assert normalise(ours) == normalise(theirs)
    assert (ours.mail_from, ours.rcpt_tos, ours.mail_options, ours.login, ours.encrypted, ours.hello) == (
        theirs.mail_from,
        theirs.rcpt_tos,
        theirs.mail_options,
        theirs.login,
        theirs.encrypted,
        theirs.hello,
    )
    return theirs, ours


def firing_alerts(start: datetime) -> list[dict[str, Any]]:
    return [
        alert(
            {"alertname": "DiskFull", "job": "node", "instance": f"db-{index}", "severity": "critical"},
            annotations={
                "summary": f"Disk {index} is full – 99% <used> & climbing",
                "description": "A long description that goes on and on " * 4,
            },
            starts_at=start,
            generator_url=f"http://prometheus.example/graph?g0.expr=disk&instance={index}",
        )
        for index in range(2)
    ]


async def test_default_templates_starttls_and_login(
    alertmanager_factory: StartAlertmanager, tmp_path: Path
) -> None:
    certs = TestCertificates(tmp_path)
    start = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    with SmtpServer(starttls_context=certs.server_context(), users={"alertmanager": "s3cret"}) as server:
        email = {
            "to": "ops@example.org, Second Person <second@example.org>",
            "from": "Alertmanager <alertmanager@example.org>",
            "smarthost": server.smarthost,
            "auth_username": "alertmanager",
            "auth_password": "s3cret",
            "tls_config": {"ca_file": str(certs.ca_file)},
        }
        _theirs, ours = await compare(
            alertmanager_factory, server, email, firing_alerts(start), {"alertname": "DiskFull"}
        )
    parsed = ours.parsed()
    assert parsed["Subject"] == "[FIRING:2] DiskFull (node critical)"
    assert ours.login == "alertmanager" and ours.encrypted
    assert ours.rcpt_tos == ("ops@example.org", "second@example.org")


async def test_custom_text_headers_unicode_and_resolved(
    alertmanager_factory: StartAlertmanager, tmp_path: Path
) -> None:
    certs = TestCertificates(tmp_path)
    start = datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)
    posted = firing_alerts(start)
    posted[1]["endsAt"] = api_time(datetime.now(UTC) - timedelta(minutes=1))
    with SmtpServer(
        starttls_context=certs.server_context(), users={"am": "pw"}, exclude_mechanisms=("LOGIN",)
    ) as server:
        email = {
            "to": "{{ .GroupLabels.alertname | toLower }}@example.org",
            "from": "alerts@example.org",
            "smarthost": server.smarthost,
            "hello": "tocsin.example",
            "auth_username": "am",
            "auth_password": "pw",
            "auth_identity": "am",
            "tls_config": {"ca_file": str(certs.ca_file)},
            "send_resolved": True,
            "headers": {
                "subject": "Ünïcödé {{ .Status | toUpper }} – {{ .CommonAnnotations.summary }} and a tail "
                "long enough to need several encoded words",
                "X-Team": "storage\tteam",
                "Reply-To": "noc@example.org",
            },
            "text": "Status: {{ .Status }}\n{{ range .Alerts }}{{ .Labels.instance }} = {{ .Annotations.summary }}"
            "   \n{{ .Annotations.description }}\n{{ end }}trailing = sign and tab\t",
            "html": "<p>{{ .CommonLabels.alertname }} & <b>{{ len .Alerts.Firing }}</b> "
            "{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}</p>",
        }
        _theirs, ours = await compare(alertmanager_factory, server, email, posted, {"alertname": "DiskFull"})
    parsed = ours.parsed()
    assert str(parsed["Subject"]).startswith("Ünïcödé FIRING – ")
    assert ours.rcpt_tos == ("diskfull@example.org",)
    assert ours.hello == "tocsin.example"
    text_part, html_part = parsed.iter_parts()
    assert "db-1 = Disk 1 is full" in text_part.get_content()
    assert "&lt;used&gt; &amp; climbing" in html_part.get_content()


CUSTOM_TEMPLATES = """\
{{ define "email.default.subject" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} x{{ len .Alerts }}{{ end }}
{{ define "team.text" }}{{ range .Alerts }}* {{ .Labels.instance }}: {{ .Annotations.summary }}
{{ end }}{{ end }}
"""


async def test_user_template_file_cram_md5_without_tls(
    alertmanager_factory: StartAlertmanager, tmp_path: Path
) -> None:
    template_file = tmp_path / "team.tmpl"
    template_file.write_text(CUSTOM_TEMPLATES)
    start = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    with SmtpServer(cram_md5_secrets={"am": "cram-secret"}, auth_require_tls=False) as server:
        email = {
            "to": "ops@example.org",
            "from": "am@example.org",
            "smarthost": server.smarthost,
            "require_tls": False,
            "auth_username": "am",
            "auth_secret": "cram-secret",
            "text": '{{ template "team.text" . }}',
        }
        config = yaml.safe_load(alertmanager_config(email))
        config["templates"] = [str(tmp_path / "*.tmpl")]
        daemon = alertmanager_factory(
            yaml.safe_dump(config, sort_keys=False), extra_args=[f"--web.external-url={EXTERNAL_URL}/"]
        )
        posted = firing_alerts(start)
        post_alerts(daemon, posted)
        [theirs] = server.wait_for_messages(1)
        daemon.stop()
        integration = EmailIntegration.from_settings(
            RECEIVER,
            0,
            email,
            Templates.with_defaults([str(tmp_path / "*.tmpl")]),
            external_url=EXTERNAL_URL,
        )
        ctx = FlushContext(
            "{}:{}", RECEIVER, {"alertname": "DiskFull"}, timedelta(hours=1), (), (), datetime.now(UTC)
        )
        await integration.send(ctx, [model_alert(one) for one in posted])
        ours = server.wait_for_messages(2)[1]
    assert normalise(ours) == normalise(theirs)
    assert (ours.login, ours.encrypted) == (theirs.login, theirs.encrypted) == ("am", False)
    assert ours.parsed()["Subject"] == "[FIRING] DiskFull x2"


def wait_for_log(daemon: DaemonProcess, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = daemon.log_text()
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged:\n{daemon.log_tail()}")


async def test_port_465_alertmanager_insists_on_starttls_we_do_not(
    alertmanager_factory: StartAlertmanager, tmp_path: Path
) -> None:
    """The documented deliberate difference: Alertmanager 0.25 asks for STARTTLS inside the
    implicit TLS of port 465 unless require_tls is false; we send (and match its message once
    require_tls is false)."""
    certs = TestCertificates(tmp_path)
    try:
        server = SmtpServer(implicit_tls_context=certs.server_context(), host=SECOND_LOOPBACK_HOST, port=465)
        server.__enter__()
    except (OSError, RuntimeError) as exc:
        pytest.skip(f"cannot listen on {SECOND_LOOPBACK_HOST}:465: {exc}")
    try:
        email = {
            "to": "ops@example.org",
            "from": "am@example.org",
            "smarthost": server.smarthost,
            "tls_config": {"ca_file": str(certs.ca_file)},
        }
        daemon = alertmanager_factory(alertmanager_config(email))
        post_alerts(daemon, firing_alerts(datetime(2024, 5, 6, tzinfo=UTC)))
        wait_for_log(daemon, "does not advertise the STARTTLS extension")
        daemon.stop()
        assert server.messages == []

        email["require_tls"] = False
        theirs, ours = await compare(
            alertmanager_factory,
            server,
            email,
            firing_alerts(datetime(2024, 5, 6, tzinfo=UTC)),
            {"alertname": "DiskFull"},
        )
        assert theirs.encrypted and ours.encrypted
        del email["require_tls"]
        await send_ours(
            email,
            {"alertname": "DiskFull"},
            [model_alert(firing_alerts(datetime(2024, 5, 6, tzinfo=UTC))[0])],
        )
        assert server.wait_for_messages(3)[2].encrypted
    finally:
        server.__exit__(None, None, None)


async def test_tocsin_daemon_and_alertmanager_send_the_same_email(
    daemon_factory: Any, tmp_path: Path
) -> None:
    """Whole processes: each daemon gets the same config (its own SMTP server), the same
    alerts, and the two messages must match."""
    certs = TestCertificates(tmp_path)
    start = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    with (
        SmtpServer(starttls_context=certs.server_context(), users={"am": "pw"}) as for_alertmanager,
        SmtpServer(starttls_context=certs.server_context(), users={"am": "pw"}) as for_tocsin,
    ):

        def config(server: SmtpServer) -> str:
            return alertmanager_config(
                {
                    "to": "ops@example.org",
                    "smarthost": server.smarthost,
                    "headers": {"X-Severity": "{{ .CommonLabels.severity }}"},
                    "tls_config": {"ca_file": str(certs.ca_file)},
                }
            ).replace(
                "route:",
                "global:\n  smtp_from: Alerts <alerts@example.org>\n  smtp_auth_username: am\n"
                "  smtp_auth_password: pw\nroute:",
                1,
            )

        daemons = daemon_factory.start_many(
            [("alertmanager", config(for_alertmanager)), ("tocsin", config(for_tocsin))],
            extra_args=[f"--web.external-url={EXTERNAL_URL}/"],
        )
        for daemon in daemons:
            post_alerts(daemon, firing_alerts(start))
        [theirs] = for_alertmanager.wait_for_messages(1)
        [ours] = for_tocsin.wait_for_messages(1)
    assert normalise(ours) == normalise(theirs)
    assert (ours.login, ours.encrypted, ours.mail_from) == (theirs.login, theirs.encrypted, theirs.mail_from)
    assert ours.parsed()["X-Severity"] == "critical"
