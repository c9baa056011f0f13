"""`--web.config.file`: decoding and validation with exporter-toolkit's messages (the texts
were checked against Alertmanager 0.25's "Listen error" log, see test_webconfig_oracle.py),
the TLS context, and basic auth without blocking the event loop."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import bcrypt
import pytest
import trio
import trio.testing
import trustme

from daemon import webconfig
from daemon.webconfig import (
    BasicAuthenticator,
    WebConfigError,
    WebConfigSource,
    bcrypt_cost,
    build_ssl_context,
    parse_basic_authorization,
    parse_web_config,
)

# Cost 4 (bcrypt's minimum) keeps the tests fast; the daemon accepts any valid cost.
HASH = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    authority = trustme.CA()
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(directory / "server.pem"))
    authority.cert_pem.write_to_path(str(directory / "ca.pem"))
    return directory


def error_of(text: str, directory: Path = Path("/")) -> str:
    with pytest.raises(WebConfigError) as raised:
        parse_web_config(text, directory)
    return str(raised.value)


def test_empty_file_means_plain_http_without_users() -> None:
    config = parse_web_config("", Path("/etc"))
    assert (config.tls.enabled, config.http2, dict(config.users), dict(config.headers)) == (False, True, {}, {})
    assert (config.tls.min_version, config.tls.max_version) == ("TLS12", "TLS13")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo: 1", "yaml: unmarshal errors:\n  line 1: field foo not found in type web.Config"),
        ("tls_server_config: {key_file: x}", "missing cert_file"),
        ("tls_server_config: {cert_file: x}", "missing key_file"),
        ("tls_server_config: {client_auth_type: RequireAndVerifyClientCert}", "missing cert_file"),
        ("tls_server_config: {cert_file: /nope.pem, key_file: /nope.pem}",
         "failed to load X509KeyPair: open /nope.pem: no such file or directory"),
        ("http_server_config: {headers: {X-Frame-Options: foo}}",
         'invalid value for X-Frame-Options. Expected one of: ["deny" "sameorigin"], but got: "foo"'),
        ("http_server_config: {headers: {Server: x}}", 'HTTP header "Server" can not be configured'),
        ("basic_auth_users: {a: notahash}", "crypto/bcrypt: hashedSecret too short to be a bcrypted password"),
        ("tls_server_config: {min_version: TLS9}", "unknown TLS version: TLS9"),
        ("tls_server_config: {cipher_suites: [TLS_FOO]}", "unknown cipher: TLS_FOO"),
        ("tls_server_config: {curve_preferences: [P1]}", "unknown curve: P1"),
        ("http_server_config: {http2: maybe}",
         "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `maybe` into bool"),
    ],
)
def test_invalid_files_fail_with_exporter_toolkits_message(text: str, message: str) -> None:
    assert error_of(text) == message


def test_tls_policy_errors(certificates: Path) -> None:
    base = "tls_server_config: {cert_file: server.pem, key_file: server.pem"
    assert error_of(base + ", client_ca_file: ca.pem}", certificates) == (
        "Client CA's have been configured without a Client Auth Policy"
    )
    assert error_of(base + ", client_auth_type: Foo}", certificates) == "Invalid ClientAuth: Foo"
    assert error_of(base + ", client_auth_type: RequireAndVerifyClientCert, client_ca_file: no.pem}", certificates) == (
        f"open {certificates / 'no.pem'}: no such file or directory"
    )


def test_relative_paths_are_relative_to_the_file_and_build_a_server_context(certificates: Path) -> None:
    config = parse_web_config(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.pem\n  client_ca_file: ca.pem\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS13\n"
        "http_server_config:\n  http2: false\n",
        certificates,
    )
    assert config.tls.cert_file == str(certificates / "server.pem")
    context = build_ssl_context(config)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize(
    ("hashed", "message"),
    [
        ("x" * 60, "crypto/bcrypt: bcrypt hashes must start with '$', but hashedSecret started with 'x'"),
        ("$3" + HASH[2:], "crypto/bcrypt: bcrypt algorithm version '3' requested is newer than current version '2'"),
        (HASH[:4] + "03" + HASH[6:], "crypto/bcrypt: cost 3 is outside allowed range (4,31)"),
    ],
)
def test_bcrypt_hashes_are_checked_like_go(hashed: str, message: str) -> None:
    with pytest.raises(WebConfigError) as raised:
        bcrypt_cost(hashed)
    assert str(raised.value) == message
    assert bcrypt_cost(HASH) == 4


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_authorization_header_parsing() -> None:
    assert parse_basic_authorization(basic("alice", "a:b")) == ("alice", "a:b")
    assert parse_basic_authorization("bAsIc " + base64.b64encode(b"u:p").decode()) == ("u", "p")
    assert parse_basic_authorization("Bearer abc") is None
    assert parse_basic_authorization("Basic !!!") is None
    assert parse_basic_authorization("Basic " + base64.b64encode(b"nocolon").decode()) is None
    assert parse_basic_authorization(None) is None


async def test_basic_auth_checks_cache_only_successes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = webconfig._bcrypt_matches

    def counting(hashed: bytes, password: bytes) -> bool:
        calls.append(password)
        return real(hashed, password)

    monkeypatch.setattr(webconfig, "_bcrypt_matches", counting)
    authenticator = BasicAuthenticator()
    users = {"alice": HASH}
    assert await authenticator.check(users, basic("alice", "secret"))
    assert await authenticator.check(users, basic("alice", "secret"))
    assert calls == [b"secret"]  # the second check came from the cache
    assert not await authenticator.check(users, basic("alice", "wrong"))
    assert not await authenticator.check(users, basic("alice", "wrong"))
    assert calls == [b"secret", b"wrong", b"wrong"]  # failures are never cached
    # An unknown user still costs a bcrypt check (no timing oracle for user names).
    assert not await authenticator.check(users, basic("mallory", "secret"))
    assert len(calls) == 4
    # A changed hash for the same user invalidates the cached success.
    assert not await authenticator.check({"alice": bcrypt.hashpw(b"other", bcrypt.gensalt(4)).decode()}, basic("alice", "secret"))
    assert not await authenticator.check(users, None)


async def test_bcrypt_runs_off_the_event_loop() -> None:
    """While a slow bcrypt check runs, other tasks keep running on the loop."""
    slow_hash = bcrypt.hashpw(b"secret", bcrypt.gensalt(12)).decode()
    authenticator = BasicAuthenticator()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0.005)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        assert await authenticator.check({"alice": slow_hash}, basic("alice", "secret"))
        nursery.cancel_scope.cancel()
    assert ticks >= 5


async def test_too_many_waiting_checks_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webconfig, "MAX_WAITING_BCRYPT_CHECKS", 2)
    authenticator = BasicAuthenticator()
    release = trio.Event()
    outcomes: list[str] = []

    def blocking(hashed: bytes, password: bytes) -> bool:
        trio.from_thread.run(release.wait)
        return False

    monkeypatch.setattr(webconfig, "_bcrypt_matches", blocking)

    async def attempt() -> None:
        try:
            await authenticator.check({"alice": HASH}, basic("alice", "x"))
            outcomes.append("checked")
        except webconfig.TooManyAuthChecks:
            outcomes.append("refused")

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(attempt)
            await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert sorted(outcomes) == ["checked", "checked", "checked", "refused"]


def test_source_rereads_a_changed_file_and_reports_a_broken_one(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("")
    source = WebConfigSource(str(path))
    assert dict(source.current().users) == {}
    path.write_text(f"basic_auth_users:\n  alice: {HASH}\n")
    assert dict(source.current().users) == {"alice": HASH}
    path.write_text("basic_auth_users: [")
    with pytest.raises(WebConfigError):
        source.current()
    path.write_text("http_server_config: {headers: {X-Content-Type-Options: nosniff}}\n")
    assert dict(source.current().headers) == {"X-Content-Type-Options": "nosniff"}


def test_missing_file_fails_at_startup(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match=r"^open .*/absent\.yml: no such file or directory$"):
        WebConfigSource(str(tmp_path / "absent.yml"))
