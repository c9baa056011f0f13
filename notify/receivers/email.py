"""The email integration: Alertmanager 0.25's message, byte for byte, over SMTP.

    render (templates, pure)  ──►  build_message (pure bytes)  ──►  deliver (blocking smtplib,
                                                                     in a worker thread)

The message, as Alertmanager writes it:

    <Header>: <value Q-encoded when not printable ASCII>\\r\\n     one per configured header
    Message-Id: <unix-nanoseconds.random-uint64@hostname>\\r\\n     unless configured
    Date: <RFC 1123 with numeric zone, local time>\\r\\n
    Content-Type: multipart/alternative;  boundary=<60 hex>\\r\\n  (two spaces: Go's quirk)
    MIME-Version: 1.0\\r\\n\\r\\n
    --<boundary>  text/plain part (only when `text` is configured), quoted-printable UTF-8
    --<boundary>  text/html part (when `html` is configured, the default), quoted-printable
    --<boundary>--

Headers default to Subject `{{ template "email.default.subject" . }}`, To = `to` and From =
`from`; every header value is a text template, the HTML body an HTML template (escaping).

The session: connect (implicit TLS when the smarthost port is 465), greeting, EHLO `hello`,
STARTTLS unless `require_tls: false` (an error if the server does not offer it), AUTH when the
server offers it and `auth_username` is set, with the first mechanism of the server's list we
have credentials for (CRAM-MD5 needs `auth_secret`; PLAIN and LOGIN need the password, PLAIN
only over TLS or to localhost, as Go's net/smtp insists), MAIL FROM, one RCPT TO per `to`
address, DATA.

Errors (`notify.errors`):
- templates, `from`/`to` that do not parse, a TLS configuration that cannot be loaded:
  permanent (as Alertmanager);
- an SMTP reply 5yz: permanent. This is a deliberate difference: Alertmanager retries every
  SMTP failure until the flush deadline, including a wrong password (hammering the server and
  risking an account lock-out) and a rejected recipient; RFC 5321 calls 5yz replies permanent;
- an SMTP reply 4yz, connection, TLS and timeout errors: retryable.
Also deliberate: the reply to the end of DATA is checked (Alertmanager ignores it, so a
message the server refuses counts as sent), and port 465 does not insist on STARTTLS inside
the TLS connection (Alertmanager 0.25 fails there unless `require_tls: false`).
Messages name the failing step as Alertmanager's do (`send MAIL command: 550 ...`); they never
contain passwords or secrets.

Blocking: smtplib runs in `trio.to_thread.run_sync` with a per-operation socket timeout, at
most `MAX_CONCURRENT_SESSIONS` at a time per integration; a cancelled send abandons its thread,
which ends at the next socket timeout.
"""

from __future__ import annotations

import base64
import dataclasses
import email.policy
import email.utils
import hashlib
import hmac
import random
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import trio

from notify.context import FlushContext
from notify.errors import NotifyError, PermanentError, RetryableError
from notify.httpclient import UnsupportedHttpConfigError, build_ssl_context
from notify.model import Alert
from notify.template.data import build_template_data
from notify.template.errors import TemplateError
from notify.template.templates import Templates

INTEGRATION_NAME = "email"
DEFAULT_SUBJECT_TEMPLATE = '{{ template "email.default.subject" . }}'
DEFAULT_HTML_TEMPLATE = '{{ template "email.default.html" . }}'
DEFAULT_HELLO = "localhost"
# Go's os.Hostname fallback in Alertmanager's notifier.
FALLBACK_HOSTNAME = "localhost.localdomain"
IMPLICIT_TLS_PORT = "465"

# Seconds any one socket operation (connect, TLS handshake, one SMTP reply) may take. Some
# relays delay their greeting on purpose (anti-spam "greet pause", commonly 5-15s); 30s clears
# that, and it is also how long an abandoned thread can outlive a cancelled send.
SMTP_SOCKET_TIMEOUT_SECONDS = 30.0
# SMTP sessions in flight per integration: each holds a worker thread. Groups flush in bursts
# after a restart; 4 keeps a burst moving without letting email starve the shared thread pool.
MAX_CONCURRENT_SESSIONS = 4
# A server that keeps answering 334 would loop forever; real mechanisms need at most 2 rounds.
MAX_AUTH_CHALLENGES = 5

# RFC 2047: an encoded word is at most 75 characters, 12 of which are `=?utf-8?q?` and `?=`.
MAX_ENCODED_WORD_CHARS = 75
ENCODED_WORD_CHARSET = "utf-8"
_ENCODED_WORD_OPEN = f"=?{ENCODED_WORD_CHARSET}?q?"
_ENCODED_WORD_CLOSE = "?="
MAX_ENCODED_WORD_CONTENT = MAX_ENCODED_WORD_CHARS - len("=?UTF-8?q?") - len(_ENCODED_WORD_CLOSE)
# RFC 2045: quoted-printable lines are at most 76 characters.
MAX_QUOTED_PRINTABLE_LINE = 76
# Go's multipart writer draws 30 random bytes for the boundary (60 hex digits).
BOUNDARY_RANDOM_BYTES = 30

SMTP_REPLY_READY = 220
SMTP_REPLY_AUTH_OK = 235
SMTP_REPLY_OK = 250
SMTP_REPLY_WILL_FORWARD = 251
SMTP_REPLY_AUTH_CONTINUE = 334
SMTP_REPLY_START_DATA = 354
SMTP_PERMANENT_CLASS = 5

_HEX = "0123456789ABCDEF"
_LOCAL_HOST_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


# ---------------------------------------------------------------------------------------
# Configuration


@dataclasses.dataclass(frozen=True, slots=True)
class EmailConfig:
    """One `email_configs` entry after the loader filled in the global smtp_* values."""

    to: str
    from_: str
    smarthost: str
    hello: str = DEFAULT_HELLO
    auth_username: str = ""
    auth_password: str = dataclasses.field(default="", repr=False)
    auth_password_file: str = ""
    auth_secret: str = dataclasses.field(default="", repr=False)
    auth_identity: str = ""
    require_tls: bool = True
    tls_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    html: str = DEFAULT_HTML_TEMPLATE
    text: str = ""
    send_resolved: bool = False

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> EmailConfig:
        """From the loader's mapping (YAML names; missing keys take Alertmanager's defaults)."""
        to = str(raw.get("to") or "")
        if not to:
            raise ValueError("missing to address in email config")
        smarthost = str(raw.get("smarthost") or "")
        if not smarthost:
            raise ValueError("no global SMTP smarthost set")
        from_ = str(raw.get("from") or "")
        if not from_:
            raise ValueError("no global SMTP from set")
        headers: dict[str, str] = {}
        for name, value in (raw.get("headers") or {}).items():
            headers[canonical_header_name(str(name))] = str(value)
        # Alertmanager's notifier adds these when absent (the loader may already have).
        headers.setdefault("Subject", DEFAULT_SUBJECT_TEMPLATE)
        headers.setdefault("To", to)
        headers.setdefault("From", from_)
        require_tls = raw.get("require_tls")
        html = raw.get("html")
        return cls(
            to=to,
            from_=from_,
            smarthost=smarthost,
            hello=str(raw.get("hello") or DEFAULT_HELLO),
            auth_username=str(raw.get("auth_username") or ""),
            auth_password=str(raw.get("auth_password") or ""),
            auth_password_file=str(raw.get("auth_password_file") or ""),
            auth_secret=str(raw.get("auth_secret") or ""),
            auth_identity=str(raw.get("auth_identity") or ""),
            require_tls=True if require_tls is None else bool(require_tls),
            tls_config=dict(raw.get("tls_config") or {}),
            headers=headers,
            html=DEFAULT_HTML_TEMPLATE if html is None else str(html),
            text=str(raw.get("text") or ""),
            send_resolved=bool(raw.get("send_resolved") or False),
        )

    @property
    def host(self) -> str:
        return split_host_port(self.smarthost)[0]

    @property
    def port(self) -> str:
        return split_host_port(self.smarthost)[1]


_MIME_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def canonical_header_name(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey (`x-team` -> `X-Team`), as Alertmanager's config
    applies it; names with characters outside an HTTP token are left alone."""
    if not _MIME_TOKEN.match(name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def split_host_port(smarthost: str) -> tuple[str, str]:
    """`host:port` or `[v6]:port` (the loader has checked the port is there)."""
    host, _, port = smarthost.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


# ---------------------------------------------------------------------------------------
# Encodings, as Go's mime package writes them


def q_encode_header(value: str) -> str:
    """Go's `mime.QEncoding.Encode("utf-8", value)`: unchanged when printable ASCII (tabs
    allowed), otherwise RFC 2047 Q-encoded words of at most 75 characters, split between
    characters, never inside one."""
    if all(" " <= char <= "~" or char == "\t" for char in value):
        return value
    words: list[str] = []
    current: list[str] = []
    current_len = 0
    for char in value:
        if " " <= char <= "~" and char not in "=?_":
            encoded = "_" if char == " " else char
        else:
            encoded = "".join(
                f"={_HEX[byte >> 4]}{_HEX[byte & 0x0F]}" for byte in char.encode("utf-8", errors="replace")
            )
        if current_len + len(encoded) > MAX_ENCODED_WORD_CONTENT:
            words.append("".join(current))
            current, current_len = [], 0
        current.append(encoded)
        current_len += len(encoded)
    words.append("".join(current))
    return " ".join(_ENCODED_WORD_OPEN + word + _ENCODED_WORD_CLOSE for word in words)


class _QuotedPrintableEncoder:
    """Go's `mime/quotedprintable.Writer` (text mode): line breaks of any style become CRLF,
    `=` and bytes outside printable ASCII are escaped, whitespace before a line break is
    escaped, and lines are broken softly (`=` CRLF) before 76 characters."""

    def __init__(self) -> None:
        self.out = bytearray()
        self._line = bytearray()
        self._after_cr = False

    def feed(self, data: bytes) -> None:
        for byte in data:
            if (0x21 <= byte <= 0x7E and byte != 0x3D) or byte in b" \t\r\n":
                self._write_plain(byte)
            else:
                self._write_escaped(byte)

    def close(self) -> bytes:
        self._escape_trailing_whitespace()
        self._flush()
        return bytes(self.out)

    def _write_plain(self, byte: int) -> None:
        if byte in b"\r\n":
            if self._after_cr and byte == 0x0A:
                # The CRLF for this \r\n was already written at the \r.
                self._after_cr = False
                return
            if byte == 0x0D:
                self._after_cr = True
            self._escape_trailing_whitespace()
            self._line += b"\r\n"
            self._flush()
            return
        if len(self._line) == MAX_QUOTED_PRINTABLE_LINE - 1:
            self._soft_break()
        self._line.append(byte)
        self._after_cr = False

    def _write_escaped(self, byte: int) -> None:
        # Go leaves the pending-CR flag alone here, so "\r=\n" style input keeps one break.
        if MAX_QUOTED_PRINTABLE_LINE - 1 - len(self._line) < len("=XX"):
            self._soft_break()
        self._line += f"={_HEX[byte >> 4]}{_HEX[byte & 0x0F]}".encode("ascii")

    def _escape_trailing_whitespace(self) -> None:
        if self._line and self._line[-1] in b" \t":
            last = self._line.pop()
            self._write_escaped(last)

    def _soft_break(self) -> None:
        self._line += b"=\r\n"
        self._flush()

    def _flush(self) -> None:
        self.out += self._line
        self._line.clear()


# Bytes Go writes as they are (runs of them are copied in slices, not byte by byte).
_QP_PLAIN_RUN = re.compile(rb"[\x21-\x3c\x3e-\x7e \t]+")
_QP_ESCAPES = [f"={_HEX[byte >> 4]}{_HEX[byte & 0x0F]}".encode("ascii") for byte in range(256)]
_QP_LINE_ROOM = MAX_QUOTED_PRINTABLE_LINE - 1  # the last column is kept for a soft break's "="


def _quoted_printable_lines(data: bytes) -> bytes:
    """The same output as `_QuotedPrintableEncoder` for input without carriage returns, a run
    of plain bytes at a time (about 20x faster on the HTML email body)."""
    out: list[bytes] = []
    current = bytearray()

    def add_escaped(byte: int) -> None:
        if _QP_LINE_ROOM - len(current) < len("=XX"):
            current.extend(b"=\r\n")
            out.append(bytes(current))
            current.clear()
        current.extend(_QP_ESCAPES[byte])

    def end_line() -> None:
        if current and current[-1] in b" \t":
            add_escaped(current.pop())

    for number, line in enumerate(data.split(b"\n")):
        if number:
            end_line()
            current.extend(b"\r\n")
            out.append(bytes(current))
            current.clear()
        position, length = 0, len(line)
        while position < length:
            run = _QP_PLAIN_RUN.match(line, position)
            if run is None:
                add_escaped(line[position])
                position += 1
                continue
            start, position = position, run.end()
            while start < position:
                if len(current) == _QP_LINE_ROOM:
                    current.extend(b"=\r\n")
                    out.append(bytes(current))
                    current.clear()
                take = min(position - start, _QP_LINE_ROOM - len(current))
                current.extend(line[start : start + take])
                start += take
    end_line()
    out.append(bytes(current))
    return b"".join(out)


def quoted_printable_bytewise(data: bytes) -> bytes:
    """The byte-at-a-time encoder: the reference the fast path is tested against."""
    encoder = _QuotedPrintableEncoder()
    encoder.feed(data)
    return encoder.close()


def quoted_printable(data: bytes) -> bytes:
    """Go's quoted-printable writer output for `data` written at once and closed."""
    if b"\r" not in data:
        return _quoted_printable_lines(data)
    return quoted_printable_bytewise(data)


def format_rfc1123z(moment: datetime) -> str:
    """Go's time.RFC1123Z layout: `Mon, 02 Jan 2006 15:04:05 -0700`."""
    return email.utils.format_datetime(moment)


# ---------------------------------------------------------------------------------------
# The message (pure)


@dataclasses.dataclass(frozen=True, slots=True)
class RenderedEmail:
    """Everything templated: envelope addresses, header values and the bodies."""

    envelope_from: str
    recipients: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    text: str | None
    html: str | None


def parse_address_list(text: str) -> list[str]:
    """The addresses in an RFC 5322 address list (like Go's mail.ParseAddressList), or
    ValueError naming what is wrong."""
    header = email.policy.default.header_factory("to", text)
    if header.defects:
        raise ValueError(f"mail: {header.defects[0]}")
    addresses = [address.addr_spec for address in header.addresses]
    if not addresses:
        raise ValueError("mail: no address")
    return addresses


def render_email(config: EmailConfig, templates: Templates, data: Any) -> RenderedEmail:
    """Execute every template of the config; failures are permanent, as Alertmanager's."""

    def text(template: str, what: str) -> str:
        try:
            return templates.execute_text(template, data)
        except TemplateError as exc:
            raise PermanentError(f"execute {what}: {exc}") from None

    from_text = text(config.from_, "'from' template")
    to_text = text(config.to, "'to' template")
    try:
        senders = parse_address_list(from_text)
    except ValueError as exc:
        raise PermanentError(f"parse 'from' addresses: {exc}") from None
    if len(senders) != 1:
        raise PermanentError(f"must be exactly one 'from' address (got: {len(senders)})")
    try:
        recipients = parse_address_list(to_text)
    except ValueError as exc:
        raise PermanentError(f"parse 'to' addresses: {exc}") from None

    headers = tuple(
        (name, text(template, f'"{name}" header template')) for name, template in config.headers.items()
    )
    text_body = text(config.text, "text template") if config.text else None
    html_body: str | None = None
    if config.html:
        try:
            html_body = templates.execute_html(config.html, data)
        except TemplateError as exc:
            raise PermanentError(f"execute html template: {exc}") from None
    return RenderedEmail(senders[0], tuple(recipients), headers, text_body, html_body)


def message_id(unix_nanoseconds: int, random_number: int, hostname: str) -> str:
    return f"<{unix_nanoseconds}.{random_number}@{hostname}>"


def build_message(rendered: RenderedEmail, *, message_id: str, date: datetime, boundary: str) -> bytes:
    """The bytes after DATA, exactly as Alertmanager writes them (CRLF line ends)."""
    lines = [f"{name}: {q_encode_header(value)}\r\n" for name, value in rendered.headers]
    if not any(name == "Message-Id" for name, _ in rendered.headers):
        lines.append(f"Message-Id: {message_id}\r\n")
    lines.append(f"Date: {format_rfc1123z(date)}\r\n")
    lines.append(f"Content-Type: multipart/alternative;  boundary={boundary}\r\n")
    lines.append("MIME-Version: 1.0\r\n\r\n")
    out = bytearray("".join(lines).encode("utf-8"))

    parts = [("text/plain", rendered.text), ("text/html", rendered.html)]
    first = True
    for content_type, body in parts:
        if body is None:
            continue
        delimiter = f"--{boundary}\r\n" if first else f"\r\n--{boundary}\r\n"
        first = False
        out += (
            f"{delimiter}Content-Transfer-Encoding: quoted-printable\r\n"
            f"Content-Type: {content_type}; charset=UTF-8\r\n\r\n"
        ).encode("ascii")
        out += quoted_printable(body.encode("utf-8", errors="surrogateescape"))
    out += f"\r\n--{boundary}--\r\n".encode("ascii")
    return bytes(out)


# ---------------------------------------------------------------------------------------
# The SMTP session (blocking; runs in a worker thread)


class SmtpReplyError(Exception):
    """The server answered a command with an unexpected reply."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code


def _step_error(step: str, exc: BaseException) -> NotifyError:
    """Name the failing step as Alertmanager does and classify by the SMTP reply class."""
    if isinstance(exc, SmtpReplyError):
        message = f"{step}: {exc}"
        if exc.code // 100 == SMTP_PERMANENT_CLASS:
            return PermanentError(message)
        return RetryableError(message)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _step_error(step, SmtpReplyError(exc.smtp_code, _reply_text(exc.smtp_error)))
    if isinstance(exc, NotifyError):
        return exc
    cause = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        # smtplib reports a read timeout as a disconnection; say what happened, as Go does.
        cause = "i/o timeout"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        cause = "EOF"
    return RetryableError(f"{step}: {cause}")


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply


def _expect(reply: tuple[int, bytes], *accepted: int) -> None:
    code, text = reply
    if code not in accepted:
        raise SmtpReplyError(code, _reply_text(text))


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """What the blocking session needs, with secrets kept out of repr()."""

    host: str
    port: str
    hello: str
    implicit_tls: bool
    require_tls: bool
    tls_config: Mapping[str, Any]
    auth_username: str
    auth_password: str = dataclasses.field(repr=False)
    auth_password_file: str
    auth_secret: str = dataclasses.field(repr=False)
    auth_identity: str
    timeout: float = SMTP_SOCKET_TIMEOUT_SECONDS

    @property
    def smarthost(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def server_name(self) -> str:
        return str(self.tls_config.get("server_name") or "") or self.host

    def ssl_context(self) -> ssl.SSLContext:
        try:
            return build_ssl_context(self.tls_config)
        except (OSError, ssl.SSLError, UnsupportedHttpConfigError) as exc:
            raise PermanentError(f"parse TLS configuration: {exc}") from None

    def password(self) -> str:
        if self.auth_password_file:
            # Alertmanager 0.25 reads the file as it is, without trimming a final newline.
            try:
                with open(self.auth_password_file, encoding="utf-8", errors="surrogateescape") as handle:
                    return handle.read()
            except OSError as exc:
                reason = (exc.strerror or type(exc).__name__).lower()
                path = self.auth_password_file
                raise RetryableError(f"could not read {path}: open {path}: {reason}") from None
        return self.auth_password


class _Session(smtplib.SMTP):
    """smtplib on a socket we connected ourselves (so the TLS server name is ours to pick)."""

    def adopt(self, sock: socket.socket, server_name: str) -> tuple[int, bytes]:
        self.sock = sock
        self.file = None
        # smtplib's starttls() verifies the certificate against this name.
        self._host = server_name
        # Go writes addresses and names as raw UTF-8; smtplib would refuse them as non-ASCII.
        self.command_encoding = "utf-8"
        return self.getreply()


# Names Go's %T gives the auth implementations Alertmanager uses (its error texts quote them).
_AUTH_TYPE_NAMES = {"CRAM-MD5": "*smtp.cramMD5Auth", "PLAIN": "*smtp.plainAuth", "LOGIN": "*email.loginAuth"}

Responder = Callable[[bytes], bytes]


def choose_auth(
    plan: DeliveryPlan, mechanisms: str, encrypted: bool
) -> tuple[str, bytes | None, Responder] | None:
    """Alertmanager's choice: walk the server's list in its order and take the first known
    mechanism we have credentials for. Returns (mechanism, initial response, responder)."""
    if not plan.auth_username:
        return None
    problems: list[str] = []
    for mechanism in mechanisms.split(" "):
        if mechanism == "CRAM-MD5":
            if not plan.auth_secret:
                problems.append("missing secret for CRAM-MD5 auth mechanism")
                continue
            return mechanism, None, _cram_md5_responder(plan.auth_username, plan.auth_secret)
        if mechanism in ("PLAIN", "LOGIN"):
            try:
                password = plan.password()
            except NotifyError as exc:
                problems.append(str(exc))
                continue
            if not password:
                problems.append(f"missing password for {mechanism} auth mechanism")
                continue
            if mechanism == "PLAIN":
                if not encrypted and plan.host not in _LOCAL_HOST_NAMES:
                    # Go's PlainAuth refuses to send the password in clear to a remote host.
                    raise RetryableError(f"{_AUTH_TYPE_NAMES['PLAIN']} auth: unencrypted connection")
                initial = f"{plan.auth_identity}\0{plan.auth_username}\0{password}".encode()
                return mechanism, initial, _no_more_challenges
            return mechanism, None, _login_responder(plan.auth_username, password)
    if not problems:
        problems.append(f"unknown auth mechanism: {mechanisms}")
    raise RetryableError("find auth mechanism: " + "; ".join(problems))


def _cram_md5_responder(username: str, secret: str) -> Responder:
    def respond(challenge: bytes) -> bytes:
        digest = hmac.new(secret.encode(), challenge, hashlib.md5).hexdigest()
        return f"{username} {digest}".encode()

    return respond


def _login_responder(username: str, password: str) -> Responder:
    def respond(challenge: bytes) -> bytes:
        prompt = challenge.decode("utf-8", errors="replace").lower()
        if prompt == "username:":
            return username.encode()
        if prompt == "password:":
            return password.encode()
        raise RetryableError(f"{_AUTH_TYPE_NAMES['LOGIN']} auth: unexpected server challenge")

    return respond


def _no_more_challenges(challenge: bytes) -> bytes:
    raise RetryableError(f"{_AUTH_TYPE_NAMES['PLAIN']} auth: unexpected server challenge")


def _authenticate(session: _Session, mechanism: str, initial: bytes | None, respond: Responder) -> None:
    command = f"{mechanism} {base64.b64encode(initial).decode('ascii')}" if initial is not None else mechanism
    code, reply = session.docmd("AUTH", command)
    for _ in range(MAX_AUTH_CHALLENGES):
        if code != SMTP_REPLY_AUTH_CONTINUE:
            break
        try:
            challenge = base64.b64decode(reply, validate=False)
        except ValueError:
            challenge = reply
        try:
            answer = respond(challenge)
        except NotifyError:
            session.docmd("*")  # cancel the exchange, as Go does
            raise
        code, reply = session.docmd(base64.b64encode(answer).decode("ascii"))
    if code != SMTP_REPLY_AUTH_OK:
        raise SmtpReplyError(code, _reply_text(reply))


def _hello(session: _Session, name: str) -> None:
    code, reply = session.ehlo(name)
    if code != SMTP_REPLY_OK:
        code, reply = session.helo(name)
        _expect((code, reply), SMTP_REPLY_OK)


_SESSION_ERRORS = (OSError, smtplib.SMTPException, SmtpReplyError)


def _connect(plan: DeliveryPlan) -> socket.socket:
    step = "establish TLS connection to server" if plan.implicit_tls else "establish connection to server"
    try:
        raw = socket.create_connection((plan.host, int(plan.port)), timeout=plan.timeout)
    except OSError as exc:
        raise _step_error(step, exc) from None
    if not plan.implicit_tls:
        return raw
    try:
        return plan.ssl_context().wrap_socket(raw, server_hostname=plan.server_name())
    except BaseException as exc:
        raw.close()
        if isinstance(exc, OSError):
            raise _step_error(step, exc) from None
        raise


def deliver(plan: DeliveryPlan, envelope_from: str, recipients: Sequence[str], message: bytes) -> None:
    """One SMTP session, blocking. Raises RetryableError or PermanentError."""
    sock = _connect(plan)
    encrypted = plan.implicit_tls
    session = _Session(timeout=plan.timeout)
    try:
        try:
            _expect(session.adopt(sock, plan.server_name()), SMTP_REPLY_READY)
        except _SESSION_ERRORS as exc:
            raise _step_error("create SMTP client", exc) from None
        try:
            _hello(session, plan.hello)
        except _SESSION_ERRORS as exc:
            raise _step_error("send EHLO command", exc) from None

        if plan.require_tls and not encrypted:
            if not session.has_extn("starttls"):
                raise RetryableError(
                    f"'require_tls' is true (default) but \"{plan.smarthost}\" does not advertise "
                    "the STARTTLS extension"
                )
            context = plan.ssl_context()
            try:
                _expect(session.starttls(context=context), SMTP_REPLY_READY)
                encrypted = True
                _hello(session, plan.hello)
            except _SESSION_ERRORS as exc:
                raise _step_error("send STARTTLS command", exc) from None

        if session.has_extn("auth"):
            chosen = choose_auth(plan, session.esmtp_features["auth"].strip(), encrypted)
            if chosen is not None:
                mechanism, initial, respond = chosen
                try:
                    _authenticate(session, mechanism, initial, respond)
                except _SESSION_ERRORS as exc:
                    raise _step_error(f"{_AUTH_TYPE_NAMES[mechanism]} auth", exc) from None

        mail_options = [
            option
            for extension, option in (("8bitmime", "BODY=8BITMIME"), ("smtputf8", "SMTPUTF8"))
            if session.has_extn(extension)
        ]
        try:
            _expect(session.mail(envelope_from, mail_options), SMTP_REPLY_OK)
        except _SESSION_ERRORS as exc:
            raise _step_error("send MAIL command", exc) from None
        for recipient in recipients:
            try:
                _expect(session.rcpt(recipient), SMTP_REPLY_OK, SMTP_REPLY_WILL_FORWARD)
            except _SESSION_ERRORS as exc:
                raise _step_error("send RCPT command", exc) from None
        try:
            # smtplib raises when DATA is not answered with 354 and returns the final reply.
            final_reply = session.data(message)
        except _SESSION_ERRORS as exc:
            raise _step_error("send DATA command", exc) from None
        try:
            _expect(final_reply, SMTP_REPLY_OK)
        except SmtpReplyError as exc:
            raise _step_error("send message", exc) from None
    finally:
        _quit_quietly(session)


def _quit_quietly(session: _Session) -> None:
    # As Alertmanager: try to say goodbye, and never let a failing QUIT decide the outcome.
    try:
        if session.sock is not None:
            session.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        session.close()


# ---------------------------------------------------------------------------------------
# The integration


def _local_hostname() -> str:
    try:
        return socket.gethostname() or FALLBACK_HOSTNAME
    except OSError:
        return FALLBACK_HOSTNAME


def _local_now() -> datetime:
    return datetime.now().astimezone()


class EmailIntegration:
    name = INTEGRATION_NAME

    def __init__(
        self,
        receiver_name: str,
        index: int,
        config: EmailConfig,
        templates: Templates,
        *,
        external_url: str = "",
        hostname: str | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = _local_now,
        implicit_tls: bool | None = None,
        socket_timeout: float = SMTP_SOCKET_TIMEOUT_SECONDS,
    ) -> None:
        self.receiver_name = receiver_name
        self.index = index
        self.config = config
        self.send_resolved = config.send_resolved
        self._templates = templates
        self._external_url = external_url
        self._hostname = hostname if hostname is not None else _local_hostname()
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock
        self._implicit_tls = config.port == IMPLICIT_TLS_PORT if implicit_tls is None else implicit_tls
        self._socket_timeout = socket_timeout
        self._limiter = trio.CapacityLimiter(MAX_CONCURRENT_SESSIONS)

    @classmethod
    def from_settings(
        cls,
        receiver_name: str,
        index: int,
        settings: Mapping[str, Any],
        templates: Templates,
        *,
        external_url: str = "",
    ) -> EmailIntegration:
        return cls(
            receiver_name, index, EmailConfig.from_mapping(settings), templates, external_url=external_url
        )

    def delivery_plan(self) -> DeliveryPlan:
        config = self.config
        return DeliveryPlan(
            host=config.host,
            port=config.port,
            hello=config.hello,
            implicit_tls=self._implicit_tls,
            require_tls=config.require_tls,
            tls_config=config.tls_config,
            auth_username=config.auth_username,
            auth_password=config.auth_password,
            auth_password_file=config.auth_password_file,
            auth_secret=config.auth_secret,
            auth_identity=config.auth_identity,
            timeout=self._socket_timeout,
        )

    def compose(self, ctx: FlushContext, alerts: Sequence[Alert]) -> tuple[RenderedEmail, bytes]:
        """Render and build the message for one notification (pure apart from the clock and
        the injected randomness)."""
        data = build_template_data(self.receiver_name, ctx.group_labels, alerts, self._external_url, ctx.now)
        rendered = render_email(self.config, self._templates, data)
        message = build_message(
            rendered,
            message_id=message_id(time.time_ns(), self._rng.getrandbits(64), self._hostname),
            date=self._clock(),
            boundary=self._rng.randbytes(BOUNDARY_RANDOM_BYTES).hex(),
        )
        return rendered, message

    async def send(self, ctx: FlushContext, alerts: Sequence[Alert]) -> None:
        rendered, message = self.compose(ctx, alerts)
        await trio.to_thread.run_sync(
            deliver,
            self.delivery_plan(),
            rendered.envelope_from,
            rendered.recipients,
            message,
            abandon_on_cancel=True,
            limiter=self._limiter,
        )


__all__ = [
    "DEFAULT_HTML_TEMPLATE",
    "DEFAULT_SUBJECT_TEMPLATE",
    "INTEGRATION_NAME",
    "MAX_CONCURRENT_SESSIONS",
    "SMTP_SOCKET_TIMEOUT_SECONDS",
    "DeliveryPlan",
    "EmailConfig",
    "EmailIntegration",
    "RenderedEmail",
    "build_message",
    "choose_auth",
    "deliver",
    "parse_address_list",
    "q_encode_header",
    "quoted_printable",
    "quoted_printable_bytewise",
    "render_email",
]
