"""A real SMTP server on loopback for email tests: aiosmtpd in its own thread.

    with SmtpServer(starttls_context=tls.server_context, users={"alice": "secret"}) as server:
        ... send to f"127.0.0.1:{server.port}" ...
        [message] = server.wait_for_messages(1)
        message.parsed()["Subject"]

It offers STARTTLS (`starttls_context`) or speaks TLS from the first byte
(`implicit_tls_context`), AUTH PLAIN and LOGIN against `users`, CRAM-MD5 against
`cram_md5_secrets`, and can answer a command with a scripted reply (`script_reply("MAIL",
"451 4.3.0 try again later")`, used once each). Every delivered message is recorded with its
envelope, raw bytes, the login used and whether the session was encrypted.

`TestCertificates` makes a trustme CA and a server certificate for 127.0.0.1 and localhost.
aiosmtpd runs its own asyncio loop in a thread, so it serves trio tests, sync tests and real
daemon processes alike.
"""

from __future__ import annotations

import collections
import dataclasses
import email
import email.message
import email.policy
import hashlib
import hmac
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

# How long a test waits for messages before failing: a send retried with backoff can take a
# few seconds on a loaded 2-core machine.
DEFAULT_WAIT_SECONDS = 20.0
# aiosmtpd's own start-up handshake; far above what a loopback bind needs.
SERVER_READY_SECONDS = 5.0
CRAM_MD5_CHALLENGE = b"<1896.697170952@smtp.test>"
SERVER_HOST = "127.0.0.1"
# Another loopback address (all of 127/8 is loopback on Linux): a test can bind the
# well-known port 465 there without colliding with anything on 127.0.0.1.
SECOND_LOOPBACK_HOST = "127.0.0.2"


@dataclasses.dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    data: bytes
    login: str | None
    encrypted: bool
    hello: str

    def parsed(self) -> email.message.EmailMessage:
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        return message


class TestCertificates:
    """A private CA and a server certificate it signed (for 127.0.0.1 and localhost)."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.server_cert = self.ca.issue_cert(SERVER_HOST, SECOND_LOOPBACK_HOST, "localhost", "::1")
        self.ca_file = directory / "smtp-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        return context


def _is_encrypted(smtp: SMTP) -> bool:
    # Covers both STARTTLS and implicit TLS (aiosmtpd's session.ssl only records STARTTLS).
    transport = smtp.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    def _scripted(self, command: str) -> str | None:
        return self._server._take_reply(command)

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        reply = self._scripted("MAIL")
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self._scripted("RCPT")
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self._scripted("DATA")
        if reply is not None:
            return reply
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else session.auth_data
        self._server._record(
            ReceivedMessage(
                mail_from=str(envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                mail_options=tuple(envelope.mail_options),
                data=bytes(envelope.original_content or b""),
                login=login.decode() if isinstance(login, bytes) else login,
                encrypted=_is_encrypted(smtp),
                hello=str(session.host_name),
            )
        )
        return "250 Message accepted"

    async def auth_LOGIN(self, smtp: SMTP, args: list[str]) -> AuthResult:
        # Real servers (Postfix, Exchange, Gmail) prompt "Username:" and "Password:", the only
        # prompts Go's and our LOGIN client answer; aiosmtpd's own prompts differ.
        username_prompt, password_prompt = self._server.login_prompts
        login = await smtp.challenge_auth(username_prompt)
        if not isinstance(login, bytes):
            return AuthResult(success=False, handled=False)
        password = await smtp.challenge_auth(password_prompt)
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=False)
        return self._server._authenticate(
            smtp, smtp.session, smtp.envelope, "LOGIN", LoginPassword(login, password)
        )

    async def auth_CRAM__MD5(self, smtp: SMTP, args: list[str]) -> AuthResult:
        response = await smtp.challenge_auth(CRAM_MD5_CHALLENGE)
        if not isinstance(response, bytes):
            return AuthResult(success=False, handled=False)
        username, _, digest = response.decode().partition(" ")
        secret = self._server.cram_md5_secrets.get(username)
        expected = (
            hmac.new(secret.encode(), CRAM_MD5_CHALLENGE, hashlib.md5).hexdigest()
            if secret is not None
            else None
        )
        if expected is not None and hmac.compare_digest(expected, digest):
            return AuthResult(success=True, auth_data=username.encode())
        return AuthResult(success=False, handled=False)


class SmtpServer:
    def __init__(
        self,
        *,
        starttls_context: ssl.SSLContext | None = None,
        implicit_tls_context: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
        cram_md5_secrets: dict[str, str] | None = None,
        exclude_mechanisms: tuple[str, ...] = (),
        auth_require_tls: bool = True,
        login_prompts: tuple[str, str] = ("Username:", "Password:"),
        host: str = SERVER_HOST,
        port: int | None = None,
    ) -> None:
        from tests.helpers.processes import free_port

        self.host = host
        self.port = port if port is not None else free_port()
        self.users = dict(users or {})
        self.cram_md5_secrets = dict(cram_md5_secrets or {})
        self.login_prompts = login_prompts
        self.messages: list[ReceivedMessage] = []
        self.auth_failures = 0
        self._replies: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._condition = threading.Condition()
        offers_auth = bool(self.users or self.cram_md5_secrets)
        excluded = list(exclude_mechanisms)
        if not self.cram_md5_secrets:
            excluded.append("CRAM-MD5")
        smtp_parameters: dict[str, Any] = {
            "ready_timeout": SERVER_READY_SECONDS,
            "enable_SMTPUTF8": True,
            # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS session is encrypted already.
            "auth_require_tls": auth_require_tls and implicit_tls_context is None,
            "auth_exclude_mechanism": excluded,
        }
        if offers_auth:
            smtp_parameters["authenticator"] = self._authenticate
        else:
            # aiosmtpd cannot stop advertising AUTH; with no users every login fails.
            smtp_parameters["auth_exclude_mechanism"] = [*excluded, "LOGIN", "PLAIN"]
        if starttls_context is not None:
            smtp_parameters["tls_context"] = starttls_context
        self._controller = Controller(
            _Handler(self),
            hostname=host,
            port=self.port,
            ssl_context=implicit_tls_context,
            **smtp_parameters,
        )

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._controller.stop()

    @property
    def smarthost(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def script_reply(self, command: str, reply: str, times: int = 1) -> None:
        """Answer the next `times` uses of MAIL, RCPT or DATA with `reply`."""
        with self._condition:
            self._replies[command].extend([reply] * times)

    def _take_reply(self, command: str) -> str | None:
        with self._condition:
            queue = self._replies.get(command)
            return queue.popleft() if queue else None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            username, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(username) == password:
                return AuthResult(success=True, auth_data=auth_data)
        with self._condition:
            self.auth_failures += 1
        return AuthResult(success=False, handled=False)

    def _record(self, message: ReceivedMessage) -> None:
        with self._condition:
            self.messages.append(message)
            self._condition.notify_all()

    def wait_for_messages(self, count: int, timeout: float = DEFAULT_WAIT_SECONDS) -> list[ReceivedMessage]:
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
                self._condition.wait(remaining)
            return list(self.messages)
