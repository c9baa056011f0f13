"""The daemon behind `--web.config.file`: TLS with real certificates (trustme), client
certificates, basic auth, configured headers, and the real amtool 0.25 talking to the TLS
endpoint with `--http.config.file`. Where the real Alertmanager 0.25 is installed, the same
scenario runs against it too, so the expectations are Alertmanager's, not our guesses."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme

from tests.conftest import require_binary, require_tocsin
from tests.helpers.processes import (
    AMTOOL_BINARY,
    READY_POLL_SECONDS,
    READY_TIMEOUT_SECONDS,
    DaemonKind,
    DaemonProcess,
    amtool,
)

pytestmark = [pytest.mark.process]

CONFIG = """\
route:
  receiver: default
receivers:
  - name: default
"""
USER = "alice"
PASSWORD = "correct horse"
# bcrypt's minimum cost keeps the tests quick; the daemon treats every cost alike.
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass
class Certificates:
    directory: Path
    ca: Path
    server: Path
    client: Path

    def client_context(self, *, with_client_cert: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if with_client_cert:
            context.load_cert_chain(str(self.client))
        return context


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    directory = tmp_path_factory.mktemp("pki")
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(directory / "ca.pem"))
    authority.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
        str(directory / "server.pem")
    )
    authority.issue_cert("operator@example.com").private_key_and_cert_chain_pem.write_to_path(
        str(directory / "client.pem")
    )
    return Certificates(directory, directory / "ca.pem", directory / "server.pem", directory / "client.pem")


def require(kind: DaemonKind) -> None:
    if kind == "alertmanager":
        require_binary()
    else:
        require_tocsin()


class SecuredDaemon:
    """A daemon started with a web config file; readiness is probed over TLS with credentials."""

    def __init__(self, kind: DaemonKind, workdir: Path, web_config: str, certificates: Certificates) -> None:
        require(kind)
        workdir.mkdir(parents=True)
        web_config_path = certificates.directory / f"web-{kind}-{workdir.name}.yml"
        web_config_path.write_text(web_config)
        self.web_config_path = web_config_path
        self.certificates = certificates
        self.process = DaemonProcess.launch(kind, CONFIG, workdir, extra_args=[f"--web.config.file={web_config_path}"])
        self.url = f"https://127.0.0.1:{self.process.port}"

    def client(self, *, auth: tuple[str, str] | None = (USER, PASSWORD), with_client_cert: bool = False) -> httpx.Client:
        return httpx.Client(
            verify=self.certificates.client_context(with_client_cert=with_client_cert),
            auth=auth,
            timeout=REQUEST_TIMEOUT_SECONDS,
        )

    def wait_ready(self, **client_options: bool) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        with self.client(with_client_cert=client_options.get("with_client_cert", False)) as client:
            while True:
                if self.process.process.poll() is not None:
                    raise AssertionError(f"daemon exited\n{self.process.log_tail()}")
                try:
                    if client.get(f"{self.url}/-/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"not ready over TLS\n{self.process.log_tail()}")
                time.sleep(READY_POLL_SECONDS)

    def stop(self) -> None:
        self.process.stop()


StartSecured = Callable[..., SecuredDaemon]


@pytest.fixture
def secured(tmp_path: Path, certificates: Certificates) -> Iterator[StartSecured]:
    started: list[SecuredDaemon] = []

    def start(kind: DaemonKind, web_config: str, **ready_options: bool) -> SecuredDaemon:
        daemon = SecuredDaemon(kind, tmp_path / f"{kind}-{len(started)}", web_config, certificates)
        started.append(daemon)
        daemon.wait_ready(**ready_options)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


TLS_AND_AUTH = f"""\
tls_server_config:
  cert_file: server.pem
  key_file: server.pem
http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  {USER}: {PASSWORD_HASH}
"""


@pytest.mark.parametrize("kind", ["tocsin", "alertmanager"])
def test_basic_auth_over_tls(secured: StartSecured, kind: DaemonKind) -> None:
    daemon = secured(kind, TLS_AND_AUTH)
    with daemon.client(auth=None) as anonymous:
        refused = anonymous.get(f"{daemon.url}/api/v2/status")
    with daemon.client(auth=(USER, "wrong password")) as wrong:
        wrong_password = wrong.get(f"{daemon.url}/api/v2/status")
    with daemon.client(auth=("mallory", PASSWORD)) as unknown:
        unknown_user = unknown.get(f"{daemon.url}/api/v2/alerts")
    for response in (refused, wrong_password, unknown_user):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Basic"
        assert response.text == "Unauthorized\n"
        # Configured headers are on every answer, refusals included.
        assert response.headers["x-frame-options"] == "deny"
    with daemon.client() as client:
        status = client.get(f"{daemon.url}/api/v2/status")
        assert status.status_code == 200
        assert status.json()["cluster"]["status"] == "disabled"
        assert status.headers["strict-transport-security"] == "max-age=31536000"
        posted = client.post(f"{daemon.url}/api/v2/alerts", json=[{"labels": {"alertname": "Secured"}}])
        assert posted.status_code == 200
        assert [alert["labels"] for alert in client.get(f"{daemon.url}/api/v2/alerts").json()] == [
            {"alertname": "Secured"}
        ]
    # Plain HTTP on the TLS port gets no API answer.
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as plain:
        try:
            answer = plain.get(f"http://127.0.0.1:{daemon.process.port}/api/v2/status")
        except httpx.TransportError:
            pass
        else:
            assert answer.status_code == 400


MUTUAL_TLS = """\
tls_server_config:
  cert_file: server.pem
  key_file: server.pem
  client_ca_file: ca.pem
  client_auth_type: RequireAndVerifyClientCert
"""


@pytest.mark.parametrize("kind", ["tocsin", "alertmanager"])
def test_missing_client_certificate_is_refused_when_required(secured: StartSecured, kind: DaemonKind) -> None:
    daemon = secured(kind, MUTUAL_TLS, with_client_cert=True)
    with daemon.client(auth=None, with_client_cert=True) as client:
        assert client.get(f"{daemon.url}/-/healthy").text == "OK"
    with daemon.client(auth=None, with_client_cert=False) as client, pytest.raises(httpx.TransportError):
        client.get(f"{daemon.url}/-/healthy")
    # A certificate from another authority is refused as well.
    stranger = trustme.CA().issue_cert("intruder@example.com")
    context = daemon.certificates.client_context(with_client_cert=False)
    with stranger.private_key_and_cert_chain_pem.tempfile() as pem:
        context.load_cert_chain(pem)
    with httpx.Client(verify=context, timeout=REQUEST_TIMEOUT_SECONDS) as client, pytest.raises(httpx.TransportError):
        client.get(f"{daemon.url}/-/healthy")


@pytest.mark.parametrize("kind", ["tocsin", "alertmanager"])
def test_amtool_talks_to_the_tls_endpoint_with_an_http_config_file(
    secured: StartSecured, kind: DaemonKind, certificates: Certificates, tmp_path: Path
) -> None:
    require_binary(AMTOOL_BINARY)
    daemon = secured(kind, TLS_AND_AUTH)
    http_config = tmp_path / "amtool-http.yml"
    http_config.write_text(
        f"tls_config:\n  ca_file: {certificates.ca}\n"
        f"basic_auth:\n  username: {USER}\n  password: {json.dumps(PASSWORD)}\n"
    )
    flag = f"--http.config.file={http_config}"
    added = amtool(daemon.url, flag, "alert", "add", "alertname=FromAmtool", "severity=page")
    assert added.returncode == 0, added.stderr
    queried = amtool(daemon.url, flag, "-o", "json", "alert", "query")
    assert queried.returncode == 0, queried.stderr
    assert [alert["labels"] for alert in json.loads(queried.stdout)] == [{"alertname": "FromAmtool", "severity": "page"}]
    silenced = amtool(daemon.url, flag, "silence", "add", "alertname=FromAmtool", "--comment=tls", "--author=ops")
    assert silenced.returncode == 0, silenced.stderr
    silence_id = silenced.stdout.strip()
    listed = amtool(daemon.url, flag, "silence", "query", "-q")
    assert listed.stdout.split() == [silence_id]
    # Without the credentials amtool gets the 401.
    anonymous = tmp_path / "amtool-anonymous.yml"
    anonymous.write_text(f"tls_config:\n  ca_file: {certificates.ca}\n")
    refused = amtool(daemon.url, f"--http.config.file={anonymous}", "alert", "query")
    assert refused.returncode != 0
    assert "401" in refused.stderr or "Unauthorized" in refused.stderr, refused.stderr
    # Without the CA amtool refuses the server's certificate.
    untrusted = amtool(daemon.url, "alert", "query")
    assert untrusted.returncode != 0
    assert "certificate" in untrusted.stderr, untrusted.stderr


@pytest.mark.parametrize("kind", ["tocsin", "alertmanager"])
def test_users_are_reread_and_a_broken_file_fails_handshakes(secured: StartSecured, kind: DaemonKind) -> None:
    daemon = secured(kind, TLS_AND_AUTH)
    new_hash = bcrypt.hashpw(b"second", bcrypt.gensalt(4)).decode()
    daemon.web_config_path.write_text(TLS_AND_AUTH + f"  bob: {new_hash}\n")
    with daemon.client(auth=("bob", "second")) as client:
        assert client.get(f"{daemon.url}/api/v2/status").status_code == 200
    daemon.web_config_path.write_text("basic_auth_users: [broken\n")
    with daemon.client() as client, pytest.raises(httpx.ConnectError):
        client.get(f"{daemon.url}/api/v2/status")


@pytest.mark.parametrize("kind", ["tocsin", "alertmanager"])
def test_a_broken_file_without_tls_answers_500(tmp_path: Path, kind: DaemonKind) -> None:
    require(kind)
    web_config = tmp_path / "web.yml"
    web_config.write_text(f"basic_auth_users:\n  {USER}: {PASSWORD_HASH}\n")
    process = DaemonProcess.launch(kind, CONFIG, tmp_path / kind, extra_args=[f"--web.config.file={web_config}"])
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        with httpx.Client(auth=(USER, PASSWORD), timeout=REQUEST_TIMEOUT_SECONDS) as client:
            while True:
                try:
                    if client.get(f"{process.base_url}/-/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, process.log_tail()
                time.sleep(READY_POLL_SECONDS)
            web_config.write_text("basic_auth_users: [broken\n")
            broken = client.get(f"{process.base_url}/api/v2/status")
            assert (broken.status_code, broken.text) == (500, "Internal Server Error\n")
    finally:
        process.stop()


@pytest.mark.parametrize(
    "web_config",
    [
        "foo: 1\n",
        "tls_server_config: {key_file: x}\n",
        "http_server_config: {headers: {X-Frame-Options: foo}}\n",
        "basic_auth_users: {a: notahash}\n",
        "tls_server_config: {min_version: TLS9}\n",
    ],
)
def test_invalid_web_config_stops_startup_with_alertmanagers_message(
    web_config: str, tmp_path: Path, certificates: Certificates
) -> None:
    require_tocsin()
    messages = {}
    for kind in ("tocsin", "alertmanager"):
        if kind == "alertmanager":
            try:
                require_binary()
            except pytest.skip.Exception:
                continue
        path = tmp_path / f"{kind}-web.yml"
        path.write_text(web_config)
        process = DaemonProcess.launch(kind, CONFIG, tmp_path / kind, extra_args=[f"--web.config.file={path}"])
        try:
            assert process.process.wait(timeout=READY_TIMEOUT_SECONDS) != 0
        finally:
            process.stop()
        listen_errors = [line for line in process.log_text().splitlines() if 'msg="Listen error"' in line]
        assert listen_errors, process.log_text()
        messages[kind] = listen_errors[0].split(" err=", 1)[1]
    if "alertmanager" in messages:
        assert messages["tocsin"] == messages["alertmanager"]


@pytest.mark.parametrize("kind", ["tocsin", "alertmanager"])
def test_a_rotated_certificate_is_served_without_restart(
    secured: StartSecured, kind: DaemonKind, certificates: Certificates, tmp_path: Path
) -> None:
    server_pem = certificates.directory / f"rotating-{kind}.pem"
    server_pem.write_bytes(certificates.server.read_bytes())
    daemon = secured(kind, TLS_AND_AUTH.replace("server.pem", server_pem.name))
    successor = trustme.CA()
    successor.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    trusting_successor = ssl.create_default_context()
    successor.configure_trust(trusting_successor)
    with httpx.Client(verify=trusting_successor, auth=(USER, PASSWORD), timeout=REQUEST_TIMEOUT_SECONDS) as client:
        assert client.get(f"{daemon.url}/-/healthy").status_code == 200
    with daemon.client() as old_trust, pytest.raises(httpx.ConnectError):
        old_trust.get(f"{daemon.url}/-/healthy")
