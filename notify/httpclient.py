"""httpx clients built from an Alertmanager `http_config` mapping (prometheus/common's
HTTPClientConfig), and the JSON POST every HTTP integration shares.

Supported keys: `basic_auth` {username, password, password_file}, `authorization` {type
(default Bearer), credentials, credentials_file}, `bearer_token`, `bearer_token_file`,
`tls_config` {ca_file, cert_file, key_file, server_name, insecure_skip_verify, min_version,
max_version}, `proxy_url` (+ `proxy_connect_header`), `follow_redirects` (default true), `enable_http2` (default true;
ignored when the `h2` package is missing). Secret files are read at every request, as
prometheus/common does, so a rotated token is picked up without a reload. `oauth2` is not
supported yet and is refused with `UnsupportedHttpConfigError`.

Requests carry `User-Agent: Alertmanager/0.25.0` (receivers must not see a difference) and no
client-side timeout: like Alertmanager, the flush deadline bounds every request.
"""

from __future__ import annotations

import importlib.util
import ssl
from collections.abc import Collection, Generator, Mapping
from pathlib import Path
from typing import Any

import httpx

from notify.errors import check_status, redact, transport_error
from notify.transport import Http11Transport

USER_AGENT = "Alertmanager/0.25.0"
DEFAULT_AUTHORIZATION_TYPE = "Bearer"
# Connections kept open per client; a receiver talks to one or a few hosts.
MAX_KEEPALIVE_CONNECTIONS = 16

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


class UnsupportedHttpConfigError(ValueError):
    pass


def read_secret_file(path: str) -> str:
    # prometheus/common trims surrounding whitespace (the trailing newline editors add).
    return Path(path).read_text().strip()


class _SecretHeaderAuth(httpx.Auth):
    """Sets the Authorization header per request, reading the secret file each time."""

    def __init__(self, scheme: str, credentials: str | None, credentials_file: str | None) -> None:
        self._scheme = scheme
        self._credentials = credentials
        self._credentials_file = credentials_file

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        secret = self._credentials or ""
        if self._credentials_file:
            secret = read_secret_file(self._credentials_file)
        request.headers["Authorization"] = f"{self._scheme} {secret}"
        yield request


class _BasicFileAuth(httpx.Auth):
    def __init__(self, username: str, password: str | None, password_file: str | None) -> None:
        self._username = username
        self._password = password
        self._password_file = password_file

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        password = self._password or ""
        if self._password_file:
            password = read_secret_file(self._password_file)
        yield from httpx.BasicAuth(self._username, password).auth_flow(request)


def build_auth(http_config: Mapping[str, Any]) -> httpx.Auth | None:
    if http_config.get("oauth2"):
        raise UnsupportedHttpConfigError("http_config.oauth2 is not supported yet")
    basic = http_config.get("basic_auth")
    if basic:
        return _BasicFileAuth(basic.get("username") or "", basic.get("password"), basic.get("password_file"))
    authorization = http_config.get("authorization")
    if authorization:
        scheme = authorization.get("type") or DEFAULT_AUTHORIZATION_TYPE
        return _SecretHeaderAuth(scheme, authorization.get("credentials"), authorization.get("credentials_file"))
    if http_config.get("bearer_token") or http_config.get("bearer_token_file"):
        return _SecretHeaderAuth(
            DEFAULT_AUTHORIZATION_TYPE, http_config.get("bearer_token"), http_config.get("bearer_token_file")
        )
    return None


def build_ssl_context(tls_config: Mapping[str, Any] | None) -> ssl.SSLContext:
    tls = tls_config or {}
    context = ssl.create_default_context(cafile=tls.get("ca_file") or None)
    if tls.get("cert_file"):
        context.load_cert_chain(tls["cert_file"], tls.get("key_file") or None)
    if tls.get("insecure_skip_verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    for key, attribute in (("min_version", "minimum_version"), ("max_version", "maximum_version")):
        name = tls.get(key)
        if name:
            if name not in TLS_VERSIONS:
                raise UnsupportedHttpConfigError(f"unknown TLS version: {name}")
            setattr(context, attribute, TLS_VERSIONS[name])
    return context


class _ServerNameTransport(httpx.AsyncBaseTransport):
    """Sends `tls_config.server_name` as SNI (and verifies the certificate against it)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, server_name: str) -> None:
        self._inner = inner
        self._server_name = server_name

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions = {**request.extensions, "sni_hostname": self._server_name}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _proxy(config: Mapping[str, Any]) -> httpx.Proxy | None:
    url = config.get("proxy_url")
    if not url:
        return None
    connect_headers = config.get("proxy_connect_header") or {}
    # prometheus/common sends each header's values joined, as Go's http.Header does on the wire.
    headers = {name: ", ".join(values) for name, values in connect_headers.items()}
    return httpx.Proxy(url, headers=headers or None)


def http2_available() -> bool:
    return importlib.util.find_spec("h2") is not None


def build_client(
    http_config: Mapping[str, Any] | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient configured like Alertmanager's client for this `http_config`.
    `transport` replaces the network (tests pass an in-memory one)."""
    config = http_config or {}
    tls_config = config.get("tls_config") or {}
    http2 = bool(config.get("enable_http2", True)) and http2_available()
    if transport is None:
        proxy = _proxy(config)
        network = httpx.AsyncHTTPTransport(
            verify=build_ssl_context(tls_config),
            http2=http2,
            proxy=proxy,
            limits=httpx.Limits(max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS),
        )
        transport = network
        if tls_config.get("server_name"):
            transport = _ServerNameTransport(network, tls_config["server_name"])
        if proxy is None:
            # Plain http:// without a proxy takes the lean pool (notify.transport: httpcore's
            # costs ~0.5 ms a request); TLS and HTTP/2 stay with httpx's transport.
            transport = Http11Transport(transport)
    return httpx.AsyncClient(
        auth=build_auth(config),
        transport=transport,
        follow_redirects=bool(config.get("follow_redirects", True)),
        headers={"User-Agent": USER_AGENT},
        timeout=None,
    )


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    extra_retry_codes: Collection[int] = (),
    headers: Mapping[str, str] | None = None,
) -> None:
    """POST a JSON body and raise the classified `notify.errors` error on failure."""
    request_headers = {"Content-Type": "application/json"}
    if headers:
        request_headers.update(headers)
    try:
        response = await client.post(url, content=body, headers=request_headers)
    except (httpx.HTTPError, OSError) as exc:
        raise transport_error("POST", RuntimeError(redact(str(exc), url))) from None
    check_status(response.status_code, response.content, extra_retry_codes, response.headers)


__all__ = [
    "USER_AGENT",
    "UnsupportedHttpConfigError",
    "build_auth",
    "build_client",
    "build_ssl_context",
    "http2_available",
    "post_json",
    "read_secret_file",
]
