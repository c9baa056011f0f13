"""`--web.config.file`: prometheus/exporter-toolkit's web configuration, as Alertmanager 0.25
reads it (exporter-toolkit 0.8.2), plus the pieces that enforce it.

    tls_server_config:      # TLS for the HTTP listener; absent means plain HTTP
      cert_file, key_file   # both required once any TLS key is set
      client_auth_type      # NoClientCert (default), RequestClientCert, RequireAnyClientCert
                            # (alias RequireClientCert), VerifyClientCertIfGiven,
                            # RequireAndVerifyClientCert
      client_ca_file
      cipher_suites, curve_preferences, min_version (TLS12), max_version (TLS13),
      prefer_server_cipher_suites
    http_server_config:
      http2                 # default true; validated, but tocsin serves HTTP/1.1 only
                            # (ALPN offers http/1.1; every client falls back to it)
      headers               # a fixed list of security headers, some with fixed values
    basic_auth_users:       # user: bcrypt hash
      alice: $2y$10$...

Decoding is strict (yaml.v2 `UnmarshalStrict`, same error texts), relative paths are
relative to the file's directory, and validation gives exporter-toolkit's messages.

Like exporter-toolkit, the file is read again while serving: `WebConfigSource` re-reads it
when it or a file it names changes on disk, so certificates can be rotated and users added
without a restart. A file that became invalid makes requests fail with 500 (Go's behaviour)
until it is fixed.

Differences from Go's TLS stack, by necessity (OpenSSL underneath): curve preferences are
validated but OpenSSL's defaults apply; cipher suites apply to TLS 1.2 and below (Go ignores
them for 1.3 too); RequestClientCert and RequireAnyClientCert verify a presented client
certificate against `client_ca_file` (OpenSSL cannot accept a certificate it did not verify).
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import functools
import hashlib
import logging
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bcrypt
import trio

# exporter-toolkit's TLS version and client-auth names: the web and the cluster TLS configs
# are the same Go struct, so they share one table.
from cluster.tlsconfig import CLIENT_AUTH_TYPES, TLS_VERSIONS
from daemon.config.goyaml import (
    BOOL,
    STR,
    ConfigError,
    CustomError,
    Field,
    ListKind,
    MapKind,
    ScalarStrKind,
    SecretKind,
    StructKind,
    unmarshal_strict,
)

logger = logging.getLogger(__name__)

DEFAULT_MIN_VERSION = "TLS12"
DEFAULT_MAX_VERSION = "TLS13"

# Go's tls.CipherSuites() names (the secure suites Go accepts) and their OpenSSL names.
# The TLS 1.3 suites are accepted but, as in Go, not configurable.
GO_CIPHER_SUITES = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
GO_CURVES = ("CurveP256", "CurveP384", "CurveP521", "X25519")

# exporter-toolkit lets only these response headers be configured; a list restricts the value.
CONFIGURABLE_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}

# bcrypt's cost bounds (golang.org/x/crypto/bcrypt MinCost and MaxCost) and the shortest
# string that can be a bcrypt hash.
BCRYPT_MIN_COST = 4
BCRYPT_MAX_COST = 31
BCRYPT_MIN_HASH_LENGTH = 59
BCRYPT_MAJOR_VERSION = "2"
# Successful checks remembered, so a dashboard polling every few seconds costs one bcrypt
# (~50-100 ms of CPU at cost 10) per user and password instead of one per request.
AUTH_CACHE_SIZE = 100
# bcrypt runs in worker threads, one at a time (as exporter-toolkit serialises it): a flood of
# wrong passwords then burns one core, not all of them, and never blocks the event loop.
CONCURRENT_BCRYPT_CHECKS = 1
# Requests queued behind that one check; past this a client is refused at once instead of
# holding a connection and memory while an attacker keeps the queue full.
MAX_WAITING_BCRYPT_CHECKS = 64
# Unknown users are checked against this cost so that timing does not tell which users exist.
UNKNOWN_USER_HASH_COST = 10


class WebConfigError(ValueError):
    """An invalid web configuration file; the message is exporter-toolkit's text."""


@dataclasses.dataclass(frozen=True)
class TLSServerConfig:
    cert_file: str = ""
    key_file: str = ""
    client_auth_type: str = ""
    client_ca_file: str = ""
    cipher_suites: tuple[str, ...] = ()
    curve_preferences: tuple[str, ...] = ()
    min_version: str = DEFAULT_MIN_VERSION
    max_version: str = DEFAULT_MAX_VERSION
    prefer_server_cipher_suites: bool = True

    @property
    def enabled(self) -> bool:
        """exporter-toolkit's test for "no TLS config": none of the four file/auth keys set."""
        return bool(self.cert_file or self.key_file or self.client_auth_type or self.client_ca_file)


@dataclasses.dataclass(frozen=True)
class WebConfig:
    tls: TLSServerConfig = TLSServerConfig()
    http2: bool = True
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    users: Mapping[str, str] = dataclasses.field(default_factory=dict)


# ------------------------------------------------------------------------------ decoding


def _one_of(choices: Any, what: str) -> Any:
    def convert(text: str) -> str:
        if text not in choices:
            raise CustomError(f"unknown {what}: {text}")
        return text

    return convert


_TLS_KIND = StructKind(
    "web.TLSConfig",
    [
        Field("cert_file", STR),
        Field("key_file", STR),
        Field("client_auth_type", STR),
        Field("client_ca_file", STR),
        Field("cipher_suites", ListKind(ScalarStrKind(_one_of(GO_CIPHER_SUITES, "cipher")), go_type="[]web.Cipher")),
        Field("curve_preferences", ListKind(ScalarStrKind(_one_of(GO_CURVES, "curve")), go_type="[]web.Curve")),
        Field("min_version", ScalarStrKind(_one_of(TLS_VERSIONS, "TLS version"), zero=DEFAULT_MIN_VERSION)),
        Field("max_version", ScalarStrKind(_one_of(TLS_VERSIONS, "TLS version"), zero=DEFAULT_MAX_VERSION)),
        Field("prefer_server_cipher_suites", BOOL),
    ],
    defaults=lambda: {"min_version": DEFAULT_MIN_VERSION, "max_version": DEFAULT_MAX_VERSION,
                      "prefer_server_cipher_suites": True},
    pointer=False,
    custom_unmarshaler=False,
)
_HTTP_KIND = StructKind(
    "web.HTTPConfig",
    [Field("http2", BOOL), Field("headers", MapKind(STR))],
    defaults=lambda: {"http2": True},
    pointer=False,
    custom_unmarshaler=False,
)
_CONFIG_KIND = StructKind(
    "web.Config",
    [
        Field("tls_server_config", _TLS_KIND),
        Field("http_server_config", _HTTP_KIND),
        Field("basic_auth_users", MapKind(SecretKind(), go_type="map[string]config.Secret")),
    ],
    pointer=False,
    custom_unmarshaler=False,
)


def _join_dir(directory: Path, path: str) -> str:
    """prometheus/common's JoinDir: empty and absolute paths stay as they are."""
    if not path or os.path.isabs(path):
        return path
    return str(directory / path)


def _go_quote_list(values: tuple[str, ...]) -> str:
    """Go's `%q` of a []string: `["deny" "sameorigin"]`."""
    return "[" + " ".join(f'"{value}"' for value in values) + "]"


def validate_headers(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if name not in CONFIGURABLE_HEADERS:
            raise WebConfigError(f'HTTP header "{name}" can not be configured')
        allowed = CONFIGURABLE_HEADERS[name]
        if allowed and value not in allowed:
            raise WebConfigError(
                f'invalid value for {name}. Expected one of: {_go_quote_list(allowed)}, but got: "{value}"'
            )


def bcrypt_cost(hashed: str) -> int:
    """The cost of a bcrypt hash, rejecting what golang.org/x/crypto/bcrypt's Cost rejects."""
    if len(hashed) < BCRYPT_MIN_HASH_LENGTH:
        raise WebConfigError("crypto/bcrypt: hashedSecret too short to be a bcrypted password")
    if hashed[0] != "$":
        raise WebConfigError(
            f"crypto/bcrypt: bcrypt hashes must start with '$', but hashedSecret started with '{hashed[0]}'"
        )
    if hashed[1] > BCRYPT_MAJOR_VERSION:
        raise WebConfigError(
            f"crypto/bcrypt: bcrypt algorithm version '{hashed[1]}' requested is newer than current "
            f"version '{BCRYPT_MAJOR_VERSION}'"
        )
    rest = hashed[3:] if hashed[2] == "$" else hashed[4:]
    try:
        cost = int(rest[:2])
    except ValueError:
        raise WebConfigError(f'strconv.Atoi: parsing "{rest[:2]}": invalid syntax') from None
    if not BCRYPT_MIN_COST <= cost <= BCRYPT_MAX_COST:
        raise WebConfigError(
            f"crypto/bcrypt: cost {cost} is outside allowed range ({BCRYPT_MIN_COST},{BCRYPT_MAX_COST})"
        )
    return cost


def parse_web_config(text: str, directory: Path) -> WebConfig:
    """Decode and validate the file's text; raises WebConfigError with exporter-toolkit's text."""
    try:
        decoded = unmarshal_strict(text, _CONFIG_KIND) or _CONFIG_KIND.empty()
    except ConfigError as error:
        raise WebConfigError(str(error)) from None
    http = decoded["http_server_config"] or _HTTP_KIND.empty()
    validate_headers(http["headers"])
    raw_tls = decoded["tls_server_config"] or _TLS_KIND.empty()
    tls = TLSServerConfig(
        cert_file=_join_dir(directory, raw_tls["cert_file"]),
        key_file=_join_dir(directory, raw_tls["key_file"]),
        client_auth_type=raw_tls["client_auth_type"],
        client_ca_file=_join_dir(directory, raw_tls["client_ca_file"]),
        cipher_suites=tuple(raw_tls["cipher_suites"]),
        curve_preferences=tuple(raw_tls["curve_preferences"]),
        min_version=raw_tls["min_version"],
        max_version=raw_tls["max_version"],
        prefer_server_cipher_suites=raw_tls["prefer_server_cipher_suites"],
    )
    users = dict(decoded["basic_auth_users"])
    for hashed in users.values():
        bcrypt_cost(hashed)
    config = WebConfig(tls=tls, http2=http["http2"], headers=dict(http["headers"]), users=users)
    if tls.enabled:
        build_ssl_context(config)  # the same checks Go's ConfigToTLSConfig makes at startup
    return config


def load_web_config(path: str) -> WebConfig:
    try:
        text = Path(path).read_text("utf-8")
    except OSError as error:
        raise WebConfigError(go_path_error("open", path, error)) from None
    return parse_web_config(text, Path(path).parent)


def go_path_error(operation: str, path: str, error: OSError) -> str:
    """Go's *PathError text: `open /x: no such file or directory`."""
    reason = error.strerror or str(error)
    return f"{operation} {path}: {reason[:1].lower()}{reason[1:]}"


# ------------------------------------------------------------------------------ TLS


def build_ssl_context(config: WebConfig) -> ssl.SSLContext:
    """The server context for the HTTP listener, checked as Go's ConfigToTLSConfig checks."""
    tls = config.tls
    if not tls.cert_file:
        raise WebConfigError("missing cert_file")
    if not tls.key_file:
        raise WebConfigError("missing key_file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except OSError as error:
        if isinstance(error, ssl.SSLError):
            reason = f"tls: {error.reason or error}".lower().replace("_", " ")
        else:
            reason = go_path_error("open", error.filename or tls.cert_file, error)
        raise WebConfigError(f"failed to load X509KeyPair: {reason}") from None
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    # TLS compression leaks secrets (CRIME); Go never enables it either.
    context.options |= ssl.OP_NO_COMPRESSION
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    openssl_ciphers = [name for suite in tls.cipher_suites if (name := GO_CIPHER_SUITES[suite])]
    if openssl_ciphers:
        context.set_ciphers(":".join(openssl_ciphers))
    if tls.client_ca_file:
        try:
            context.load_verify_locations(tls.client_ca_file)
        except ssl.SSLError:
            pass  # Go's AppendCertsFromPEM skips what it cannot parse; no client then verifies.
        except OSError as error:
            raise WebConfigError(go_path_error("open", tls.client_ca_file, error)) from None
    if tls.client_auth_type not in CLIENT_AUTH_TYPES:
        raise WebConfigError(f"Invalid ClientAuth: {tls.client_auth_type}")
    verify_mode = CLIENT_AUTH_TYPES[tls.client_auth_type]
    if tls.client_ca_file and verify_mode == ssl.CERT_NONE:
        raise WebConfigError("Client CA's have been configured without a Client Auth Policy")
    context.verify_mode = verify_mode
    # The API server speaks HTTP/1.1 only, so that is all ALPN offers, whatever `http2` says.
    context.set_alpn_protocols(["http/1.1"])
    return context


# ------------------------------------------------------------------------------ live file


@dataclasses.dataclass(frozen=True)
class _FileStamp:
    modified_ns: int
    size: int
    inode: int


def _stamp(path: str) -> _FileStamp | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return _FileStamp(status.st_mtime_ns, status.st_size, status.st_ino)


class WebConfigSource:
    """The web config file as it is now: re-read when it, or a certificate, key or client CA
    file it names, changes on disk (Go re-reads all of them at every request and handshake;
    a stat per request gives the same result for a fraction of the cost).

    `current()` raises WebConfigError while the file is invalid (requests then get 500);
    `server_context()` is the listener's TLS context, which switches each new handshake to
    the newest certificates (the client-auth policy is the one the listener started with)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._config: WebConfig = load_web_config(path)
        self._stamps = self._read_stamps(self._config)
        self._error: WebConfigError | None = None
        self._ssl_context = build_ssl_context(self._config) if self._config.tls.enabled else None

    def _read_stamps(self, config: WebConfig) -> tuple[_FileStamp | None, ...]:
        tls = config.tls
        return tuple(_stamp(path) for path in (self.path, tls.cert_file, tls.key_file, tls.client_ca_file) if path)

    def _refresh(self) -> None:
        stamps = self._read_stamps(self._config)
        if stamps == self._stamps and None not in stamps:
            return
        self._stamps = stamps
        try:
            config = load_web_config(self.path)
            context = build_ssl_context(config) if config.tls.enabled else self._ssl_context
        except WebConfigError as error:
            if self._error is None or str(self._error) != str(error):
                logger.error("Unable to parse configuration", extra={"err": str(error)})
            self._error = error
            return
        self._config, self._ssl_context, self._error = config, context, None
        self._stamps = self._read_stamps(config)

    def current(self) -> WebConfig:
        self._refresh()
        if self._error is not None:
            raise self._error
        return self._config

    @property
    def initial(self) -> WebConfig:
        return self._config

    def server_context(self) -> ssl.SSLContext:
        """The listener's context; each handshake switches to the newest certificates."""
        listener_context = self._ssl_context
        assert listener_context is not None, "TLS is not configured"

        def pick_context(connection: Any, server_name: str | None, _: ssl.SSLContext) -> int | None:
            try:
                self.current()
            except WebConfigError:
                # Go re-reads the file for each handshake and fails it while the file is broken.
                return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
            newest = self._ssl_context
            if newest is not None and newest is not connection.context:
                connection.context = newest
            return None

        listener_context.sni_callback = pick_context
        return listener_context


# ------------------------------------------------------------------------------ basic auth


def parse_basic_authorization(header: str | None) -> tuple[str, str] | None:
    """Go's Request.BasicAuth: `Basic base64(user:password)`, the scheme case-insensitive."""
    prefix = "basic "
    if header is None or len(header) < len(prefix) or header[: len(prefix)].lower() != prefix:
        return None
    try:
        decoded = base64.b64decode(header[len(prefix) :], validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        return None
    user, separator, password = decoded.partition(":")
    if not separator:
        return None
    return user, password


@functools.cache
def _unknown_user_hash() -> bytes:
    # A hash of a random secret nobody knows: checking against it costs what a real check costs.
    return bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(UNKNOWN_USER_HASH_COST))


def _bcrypt_matches(hashed: bytes, password: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:
        return False


class TooManyAuthChecks(Exception):
    """More password checks are queued than MAX_WAITING_BCRYPT_CHECKS."""


class BasicAuthenticator:
    """Checks `Authorization: Basic` against the configured bcrypt hashes without blocking
    the event loop; successful checks are cached (keyed by a digest, never the password)."""

    def __init__(self) -> None:
        self._successes: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._limiter = trio.CapacityLimiter(CONCURRENT_BCRYPT_CHECKS)

    async def check(self, users: Mapping[str, str], authorization: str | None) -> bool:
        credentials = parse_basic_authorization(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = users.get(user)
        key = hashlib.sha256(b"\0".join(part.encode("utf-8", "surrogateescape") for part in (user, hashed or "", password))).digest()
        if hashed is not None and key in self._successes:
            self._successes.move_to_end(key)
            return True
        if self._limiter.statistics().tasks_waiting >= MAX_WAITING_BCRYPT_CHECKS:
            raise TooManyAuthChecks
        expected = hashed.encode() if hashed is not None else None
        encoded_password = password.encode("utf-8", "surrogateescape")

        def compare() -> bool:
            matched = _bcrypt_matches(expected if expected is not None else _unknown_user_hash(), encoded_password)
            return matched and expected is not None

        matched = await trio.to_thread.run_sync(compare, limiter=self._limiter)
        if matched:
            self._successes[key] = None
            while len(self._successes) > AUTH_CACHE_SIZE:
                self._successes.popitem(last=False)
        return matched
