"""The HTTP surface: a thin router over the plain handlers, served by `daemon.api.http1`.
It only translates: parsed requests into handler arguments; every decision about status
codes and bodies lives in the handlers, which return `Response` values.

Layout, as Alertmanager 0.25 mounts it (reference §2.1, §2.3):
- `<prefix>/api/v2/...`: the OpenAPI handler, wrapped in rs/cors' defaults. Unknown paths
  and wrong methods answer go-openapi's JSON errors; a trailing slash is tolerated.
- everything else on the common router under `<prefix>`: `/-/healthy`, `/-/ready` (GET and
  HEAD), `POST /-/reload`, `/metrics`, the web UI (`/` and `/lib/*`, see `daemon.ui`); a
  known path with a trailing slash is redirected (301), unknown paths get Go's
  `404 page not found`.
- `GET /` redirects to the prefix when the prefix is not `/`.
- Both are wrapped in the GET concurrency limit and the `--web.timeout` limit.

In front of all of it, per request (exporter-toolkit's order): the `--web.config.file`
(`daemon.webconfig`: 500 while it is broken, basic auth 401, configured headers on every
answer), then the body limits (413 per endpoint, 408 for a body that does not arrive).
The HTTP/1.1 framing, TLS, the header-size limit and the read timeouts are
`daemon.api.http1`'s; `serve` binds the listeners and hands each connection to it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import trio

from daemon.api.alerts import AlertsAPI, GeneralAPI
from daemon.api.http1 import RequestBody, RequestHead, listen_socket, serve_connection, socket_url
from daemon.api.response import Response, framework_error
from daemon.flags import format_go_duration
from daemon.metrics import EXPOSITION_CONTENT_TYPE, Metrics
from daemon.ui import load_assets
from daemon.webconfig import BasicAuthenticator, TooManyAuthChecks, WebConfig, WebConfigError, WebConfigSource

logger = logging.getLogger(__name__)

TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
# Alertmanager's floor for the GET concurrency limit when the flag is 0 or negative.
MIN_DEFAULT_GET_CONCURRENCY = 8
# Go's net/http has no body limit; these bounds keep one request from exhausting memory.
# Alerts: far above the largest batch Prometheus sends (a few MiB) and a 10,000-alert import.
MAX_ALERTS_BODY_BYTES = 64 * 1024 * 1024
# Every other POST (silences, reload) carries a few KiB; 1 MiB leaves room for silences
# with long regular expressions.
MAX_REQUEST_BODY_BYTES = 1024 * 1024
# A client that announced a body but sends it slower than this is holding a connection and a
# buffer for nothing (slowloris); Prometheus sends its batches in milliseconds.
REQUEST_BODY_TIMEOUT_SECONDS = 60.0
# Pending connections the kernel queues for us; Go's listener takes the system's maximum.
LISTEN_BACKLOG = socket.SOMAXCONN

# rs/cors defaults.
CORS_ALLOWED_METHODS = frozenset({"GET", "POST", "HEAD"})
CORS_ALLOWED_HEADERS = frozenset({"origin", "accept", "content-type", "x-requested-with"})

NO_CACHE_HEADERS = [
    ("Cache-Control", "no-cache, no-store, must-revalidate"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
]
# The UI loads only its own files and talks only to its own API: anything injected into a
# page (say, through a label value) could not load or send anything elsewhere.
UI_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'self'"
)
UI_HEADERS = [
    *NO_CACHE_HEADERS,
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", UI_CONTENT_SECURITY_POLICY),
]

SilencesHandlers = Any  # daemon.api.silences.SilencesAPI (kept loose so the router does not pin it)
Reload = Callable[[], Awaitable[str | None]]


@functools.lru_cache(maxsize=8)
def _alerts_paths(prefix: str) -> frozenset[str]:
    """The paths (without trailing slashes) alert batches are POSTed to under `prefix`."""
    alerts_path = ("" if prefix == "/" else prefix) + "/api/v2/alerts"
    return frozenset({alerts_path, alerts_path.replace("/v2/", "/v1/")})


def body_limit(method: str, path: str, prefix: str) -> int:
    """The body size limit for one request, known before the body is read."""
    if method == "POST" and path.rstrip("/") in _alerts_paths(prefix):
        return MAX_ALERTS_BODY_BYTES
    return MAX_REQUEST_BODY_BYTES


def _apply_configured_headers(response: Response, configured: Mapping[str, str]) -> None:
    """`http_server_config.headers` win over the handler's headers of the same name."""
    if not configured:
        return
    lowered = {name.lower() for name in configured}
    response.headers = [(name, value) for name, value in response.headers if name.lower() not in lowered]
    response.headers.extend(configured.items())


def default_get_concurrency(configured: int) -> int:
    if configured >= 1:
        return configured
    return max(os.cpu_count() or 1, MIN_DEFAULT_GET_CONCURRENCY)


def _text(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, text.encode(), TEXT_CONTENT_TYPE, [("X-Content-Type-Options", "nosniff"), *(headers or [])])


def _too_large(limit: int) -> Response:
    return _text(413, f"Request body too large: the limit for this endpoint is {limit} bytes.\n")


def _not_found() -> Response:
    return _text(404, "404 page not found\n")


def _method_not_allowed(allowed: str) -> Response:
    return _text(405, "Method Not Allowed\n", [("Allow", allowed)])


def _redirect(status: int, location: str) -> Response:
    body = f'<a href="{location}">{"Moved Permanently" if status == 301 else "Found"}</a>.\n\n'
    return Response(status, body.encode(), "text/html; charset=utf-8", [("Location", location)])


def _openapi_method_not_allowed(method: str, allowed: tuple[str, ...]) -> Response:
    listed = ",".join(allowed)
    response = framework_error(405, 405, f"method {method} is not allowed, but [{listed}] are")
    response.headers.append(("Allow", listed))
    return response


@dataclasses.dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes = b""


@dataclasses.dataclass
class WebOptions:
    route_prefix: str = "/"
    get_concurrency: int = 0
    timeout: timedelta = timedelta(0)
    # --web.config.file; loaded by `serve`, which fails with WebConfigError when it is invalid.
    config_file: str = ""


class ApiApplication:
    """The application behind the HTTP server: limits, web config, routing."""

    def __init__(
        self,
        options: WebOptions,
        *,
        alerts: AlertsAPI,
        general: GeneralAPI,
        metrics: Metrics,
        reload: Reload,
        silences: SilencesHandlers | None = None,
    ) -> None:
        self._prefix = "/" + options.route_prefix.strip("/")
        self._api_root = ("" if self._prefix == "/" else self._prefix) + "/api/v2/"
        self._limit = default_get_concurrency(options.get_concurrency)
        self._in_flight = 0
        self._timeout_seconds = options.timeout.total_seconds() if options.timeout > timedelta(0) else math.inf
        self._timeout_text = f"Exceeded configured timeout of {format_go_duration(options.timeout)}.\n"
        self.alerts = alerts
        self.general = general
        self.metrics = metrics
        self.silences = silences
        self._reload = reload
        self._ui_assets = load_assets(self._prefix)
        self.config_file = options.config_file
        self.web_config: WebConfigSource | None = None
        self._authenticator = BasicAuthenticator()

    # ------------------------------------------------------------------ entry

    async def respond(self, head: RequestHead, body_reader: RequestBody) -> Response:
        """The answer to one request (the server leaves out the body of a HEAD answer)."""
        headers = head.headers
        web_config: WebConfig | None = None
        if self.web_config is not None:
            try:
                web_config = self.web_config.current()
            except WebConfigError:
                # exporter-toolkit answers every request this way while the file is broken.
                return _text(500, "Internal Server Error\n")
            refusal = await self.authorize(web_config, headers)
            if refusal is not None:
                _apply_configured_headers(refusal, web_config.headers)
                return refusal
        method, path = head.method, head.path
        body, refusal = await self._read_body(body_reader, headers, body_limit(method, path, self._prefix))
        if refusal is not None:
            response = refusal
        else:
            query = parse_qs(head.query_string, keep_blank_values=True) if head.query_string else {}
            response = await self.handle(Request(method, path, query, headers, body))
        if web_config is not None:
            _apply_configured_headers(response, web_config.headers)
        return response

    async def authorize(self, web_config: WebConfig | None, headers: Mapping[str, str]) -> Response | None:
        """None when the request may proceed, else the refusal (401 with a Basic challenge)."""
        if web_config is None or not web_config.users:
            return None
        try:
            if await self._authenticator.check(web_config.users, headers.get("authorization")):
                return None
        except TooManyAuthChecks:
            return _text(503, "Too many authentication attempts in progress, try again later.\n")
        return _text(401, "Unauthorized\n", [("WWW-Authenticate", "Basic")])

    async def _read_body(
        self, body_reader: RequestBody, headers: Mapping[str, str], limit: int
    ) -> tuple[bytes, Response | None]:
        """The whole body, or a refusal: 413 past `limit` (announced or actual size), 408
        when the client takes longer than REQUEST_BODY_TIMEOUT_SECONDS to send it."""
        announced = headers.get("content-length", "")
        if announced.isdigit() and int(announced) > limit:
            return b"", _too_large(limit)
        if announced == "0" or (not announced and "transfer-encoding" not in headers):
            return b"", None
        arrived = body_reader.complete_body()
        if arrived is not None:
            return arrived, None
        chunks: list[bytes] = []
        size = 0
        with trio.move_on_after(REQUEST_BODY_TIMEOUT_SECONDS):
            while chunk := await body_reader.receive():
                size += len(chunk)
                if size > limit:
                    return b"", _too_large(limit)
                chunks.append(chunk)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks), None
        return b"", _text(408, f"Request body not received within {REQUEST_BODY_TIMEOUT_SECONDS:g}s.\n")

    # ------------------------------------------------------------------ limits

    async def handle(self, request: Request) -> Response:
        """Concurrency limit for GETs, then the timeout, then routing."""
        if request.method != "GET":
            if self._timeout_seconds == math.inf:
                return await self._route(request)
            return await self._with_timeout(request)
        if self._in_flight >= self._limit:
            self.metrics.http_concurrency_limit_exceeded.inc()
            return _text(503, f"Limit of concurrent GET requests reached ({self._limit}), try again later.\n")
        self._in_flight += 1
        self.metrics.http_requests_in_flight.inc()
        try:
            return await self._with_timeout(request)
        finally:
            self._in_flight -= 1
            self.metrics.http_requests_in_flight.dec()

    async def _with_timeout(self, request: Request) -> Response:
        if self._timeout_seconds == math.inf:
            return await self._route(request)
        with trio.move_on_after(self._timeout_seconds):
            return await self._route(request)
        return Response(503, self._timeout_text.encode(), TEXT_CONTENT_TYPE)

    # ------------------------------------------------------------------ routing

    async def _route(self, request: Request) -> Response:
        path = request.path
        if path.startswith(self._api_root):
            return await self._cors(request, path[len(self._api_root) - len("/api/v2/") :])
        if self._prefix != "/":
            if path == "/" and request.method == "GET":
                return _redirect(302, self._prefix)
            if path == self._prefix:
                path = "/"
            elif path.startswith(self._prefix + "/"):
                path = path[len(self._prefix) :]
            else:
                return _not_found()
        return await self._router(request, path)

    async def _router(self, request: Request, path: str) -> Response:
        method = request.method
        if path in ("/-/healthy", "/-/ready"):
            if method in ("GET", "HEAD"):
                return Response(200, b"OK", TEXT_CONTENT_TYPE)
            if method == "OPTIONS":
                return Response(200, headers=[("Allow", "GET, HEAD, OPTIONS")])
            return _method_not_allowed("GET, HEAD, OPTIONS")
        if path == "/-/reload":
            if method == "POST":
                return await self._timed("/-/reload", method, self._reload_response)
            if method == "OPTIONS":
                return Response(200, headers=[("Allow", "OPTIONS, POST")])
            return _method_not_allowed("OPTIONS, POST")
        if path == "/metrics":
            if method == "GET":
                return await self._timed("/metrics", method, self._metrics_response)
            return _method_not_allowed("GET, OPTIONS")
        asset = self._ui_assets.get(path)
        if asset is not None:
            if method in ("GET", "HEAD"):
                return Response(200, asset.body, asset.content_type, list(UI_HEADERS))
            return _method_not_allowed("GET, HEAD, OPTIONS")
        if path.endswith("/") and path.rstrip("/") in ("/-/healthy", "/-/ready", "/-/reload", "/metrics"):
            target = (self._prefix.rstrip("/")) + path.rstrip("/")
            return _redirect(301 if method == "GET" else 307, target)
        return _not_found()

    async def _timed(self, handler: str, method: str, produce: Callable[[], Awaitable[Response]]) -> Response:
        started = trio.current_time()
        response = await produce()
        labels = (handler, method.lower())
        self.metrics.http_request_duration.labels(*labels).observe(trio.current_time() - started)
        self.metrics.http_response_size.labels(*labels).observe(len(response.body))
        return response

    async def _reload_response(self) -> Response:
        error = await self._reload()
        if error is not None:
            return _text(500, f"failed to reload config: {error}\n")
        return Response(200)

    async def _metrics_response(self) -> Response:
        return Response(200, self.metrics.exposition(), EXPOSITION_CONTENT_TYPE)

    # ------------------------------------------------------------------ API v2

    async def _cors(self, request: Request, api_path: str) -> Response:
        """rs/cors `Default()` around the OpenAPI handler."""
        origin = request.headers.get("origin", "")
        requested_method = request.headers.get("access-control-request-method", "")
        if request.method == "OPTIONS" and requested_method:
            headers = [
                ("Vary", "Origin"),
                ("Vary", "Access-Control-Request-Method"),
                ("Vary", "Access-Control-Request-Headers"),
            ]
            requested_headers = [
                name.strip() for name in request.headers.get("access-control-request-headers", "").split(",") if name.strip()
            ]
            if (
                origin
                and requested_method.upper() in CORS_ALLOWED_METHODS
                and all(name.lower() in CORS_ALLOWED_HEADERS for name in requested_headers)
            ):
                headers.append(("Access-Control-Allow-Origin", "*"))
                headers.append(("Access-Control-Allow-Methods", requested_method.upper()))
                if requested_headers:
                    headers.append(
                        ("Access-Control-Allow-Headers", ", ".join(name.title() for name in requested_headers))
                    )
            return Response(200, headers=headers)
        response = await self._api_v2(request, api_path)
        response.headers.append(("Vary", "Origin"))
        if origin and request.method in CORS_ALLOWED_METHODS:
            response.headers.append(("Access-Control-Allow-Origin", "*"))
        return response

    async def _api_v2(self, request: Request, api_path: str) -> Response:
        method = request.method
        path = api_path.rstrip("/") if api_path != "/api/v2/" else api_path
        if path == "/api/v2/alerts":
            if method == "GET":
                return self.alerts.get(request.query)
            if method == "POST":
                return await self.alerts.post(request.body, request.headers.get("content-type"))
            return _openapi_method_not_allowed(method, ("POST", "GET"))
        if path == "/api/v2/alerts/groups":
            if method == "GET":
                return self.alerts.groups(request.query)
            return _openapi_method_not_allowed(method, ("GET",))
        if path == "/api/v2/status":
            if method == "GET":
                return self.general.status()
            return _openapi_method_not_allowed(method, ("GET",))
        if path == "/api/v2/receivers":
            if method == "GET":
                return self.general.receivers()
            return _openapi_method_not_allowed(method, ("GET",))
        if self.silences is not None:
            if path == "/api/v2/silences":
                if method == "GET":
                    response: Response = await self.silences.list(request.query)
                    return response
                if method == "POST":
                    created: Response = await self.silences.create(request.body, request.headers.get("content-type"))
                    return created
                return _openapi_method_not_allowed(method, ("POST", "GET"))
            if path.startswith("/api/v2/silence/") and path.count("/") == 4:
                silence_id = path[len("/api/v2/silence/") :]
                if method == "GET":
                    found: Response = await self.silences.get(silence_id)
                    return found
                if method == "DELETE":
                    deleted: Response = await self.silences.delete(silence_id)
                    return deleted
                return _openapi_method_not_allowed(method, ("DELETE", "GET"))
        return framework_error(404, 404, f"path {api_path} was not found")


async def serve(
    app: ApiApplication,
    listen_addresses: list[str],
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; reports the bound addresses (`http://host:port`, or `https://`
    with TLS) once listening. Raises before reporting when a bind fails (OSError) or the web
    config file is invalid (WebConfigError, exporter-toolkit's message). Cancellation ends
    every connection at once: the composition root bounds shutdown, not the server."""
    if app.config_file:
        app.web_config = WebConfigSource(app.config_file)
    ssl_context = None
    if app.web_config is not None and app.web_config.initial.tls.enabled:
        ssl_context = app.web_config.server_context()
    sockets: list[socket.socket] = []
    try:
        for address in listen_addresses:
            sockets.append(listen_socket(address, LISTEN_BACKLOG))
    except BaseException:
        for bound in sockets:
            bound.close()
        raise
    scheme = "https" if ssl_context is not None else "http"
    for listening_socket in sockets:
        # exporter-toolkit's line, which operators grep for to confirm TLS is on. HTTP/2 is not
        # served (nor offered through ALPN), whatever the web config's http2 says.
        logger.info(
            "TLS is enabled." if ssl_context is not None else "TLS is disabled.",
            extra={"http2": "false", "address": socket_url(listening_socket, scheme).split("://", 1)[1]},
        )
    urls = [socket_url(listening_socket, scheme) for listening_socket in sockets]
    listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(bound)) for bound in sockets]

    async def handle_connection(stream: trio.SocketStream) -> None:
        await serve_connection(stream, app.respond, ssl_context)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle_connection, listeners)
        task_status.started(urls)
