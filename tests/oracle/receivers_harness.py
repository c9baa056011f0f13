"""Differential harness for the templated receivers: the real Alertmanager 0.25 sends to one
recording sink; tocsin's integrations, built from the same config text by our loader and
`daemon.integrations`, send the same notifications to another; the requests must match.

The candidate side runs the integrations in-process (no tocsin daemon needed), fed with the
same alerts, the same group key and Alertmanager's own external URL, so every byte that
depends only on the receiver code can be compared. Routing, grouping and dedup are covered by
the daemon-level differential tests.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import trio

from daemon.config.loader import parse_config
from daemon.integrations import build_integrations, load_templates
from notify.context import FlushContext
from notify.model import Alert
from notify.pipeline import Integration
from tests.helpers.alerts_gen import PostableAlert
from tests.helpers.http_sink import HttpSink, RecordedRequest, ScriptedResponse
from tests.helpers.processes import DaemonProcess

SINK_PLACEHOLDER = "$SINK"
# group_wait/group_interval of 1s: a notification that has not arrived 20s later is missing.
NOTIFICATION_TIMEOUT_SECONDS = 20.0
HTTP_TIMEOUT_SECONDS = 10.0
# A firing alert posted without endsAt gets now + resolve_timeout; the candidate's stand-in.
FIRING_HORIZON = timedelta(minutes=5)
# Headers whose values the receivers decide (others are the HTTP stacks' business).
COMPARED_HEADERS = ("content-type", "user-agent", "authorization")
ROUTE = """\
route:
  receiver: {receiver}
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
"""

StartDaemon = Callable[[str], DaemonProcess]


@dataclasses.dataclass(frozen=True)
class Step:
    """Post these alerts, then expect this many more requests at the sink."""

    alerts: Sequence[PostableAlert]
    requests: int


@dataclasses.dataclass(frozen=True)
class Observed:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    @classmethod
    def of(cls, request: RecordedRequest, headers: Sequence[str] = COMPARED_HEADERS) -> Observed:
        """`headers` named `authorization` keep only a SigV4 header's algorithm, key id,
        region and service (the date and signature vary)."""
        content_type = request.headers.get("content-type", "")
        body: Any = request.body
        if request.body and "json" in content_type:
            body = json.loads(request.body)
        elif "x-www-form-urlencoded" in content_type:
            body = urllib.parse.parse_qs(request.body.decode(), keep_blank_values=True)
        return cls(
            method=request.method,
            path=request.path,
            query=urllib.parse.parse_qs(request.query, keep_blank_values=True),
            headers={
                name: _stable_header(name, request.headers[name])
                for name in headers
                if name in request.headers
            },
            body=body,
        )

    def sort_key(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=repr)


def _stable_header(name: str, value: str) -> str:
    if name == "authorization" and value.startswith("AWS4-HMAC-SHA256 "):
        credential = value.split("Credential=", 1)[1].split(",", 1)[0]
        key_id, _date, region, service, terminator = credential.split("/")
        return f"AWS4-HMAC-SHA256 Credential={key_id}/<date>/{region}/{service}/{terminator}"
    return value


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def to_model_alert(posted: PostableAlert, now: datetime) -> Alert:
    ends_at = _parse_time(posted["endsAt"]) if "endsAt" in posted else now + FIRING_HORIZON
    return Alert(
        labels=dict(posted["labels"]),
        annotations=dict(posted.get("annotations") or {}),
        starts_at=_parse_time(posted["startsAt"]),
        ends_at=ends_at,
        updated_at=now,
        generator_url=posted.get("generatorURL", ""),
    )


def sort_like_alertmanager(alerts: Sequence[Alert]) -> list[Alert]:
    """The dispatcher's order inside a group: job, instance, then the label set."""
    return sorted(
        alerts,
        key=lambda one: (
            one.labels.get("job", ""),
            one.labels.get("instance", ""),
            sorted(one.labels.items()),
        ),
    )


def group_key_for(labels: Mapping[str, str]) -> str:
    inner = ", ".join(f"{name}={json.dumps(labels[name])}" for name in sorted(labels))
    return "{}:{" + inner + "}"


@dataclasses.dataclass
class ReceiverScenario:
    """One receiver's config (YAML for `receivers:` items, `$SINK` for the sink's base URL)."""

    receiver: str
    receivers_yaml: str
    global_yaml: str = ""
    templates: Sequence[str] = ()
    # Per path, answers the sink must give (e.g. a token for WeChat's gettoken).
    responses: Mapping[str, ScriptedResponse] = dataclasses.field(default_factory=dict)
    # The request headers compared (SNS: the signature and the AWS SDK's User-Agent differ).
    compared_headers: Sequence[str] = COMPARED_HEADERS

    def config_text(self, sink_url: str) -> str:
        parts = []
        if self.global_yaml:
            parts.append("global:\n" + self.global_yaml)
        parts.append(ROUTE.format(receiver=self.receiver))
        parts.append("receivers:\n" + self.receivers_yaml)
        if self.templates:
            parts.append("templates:\n" + "".join(f"  - '{glob}'\n" for glob in self.templates))
        return "\n".join(parts).replace(SINK_PLACEHOLDER, sink_url)


def _script(sink: HttpSink, responses: Mapping[str, ScriptedResponse], count: int) -> None:
    for path, response in responses.items():
        sink.script(path, *([response] * count))


def run_oracle(
    start_alertmanager: StartDaemon, scenario: ReceiverScenario, steps: Sequence[Step]
) -> tuple[list[list[Observed]], str]:
    """Requests Alertmanager made after each step, and its external URL."""
    with HttpSink() as sink:
        _script(sink, scenario.responses, count=64)
        daemon = start_alertmanager(scenario.config_text(sink.base_url))
        seen = 0
        per_step: list[list[Observed]] = []
        for step in steps:
            response = httpx.post(
                f"{daemon.base_url}/api/v2/alerts", json=list(step.alerts), timeout=HTTP_TIMEOUT_SECONDS
            )
            assert response.status_code == 200, response.text
            recorded = sink.wait_for(seen + step.requests, timeout=NOTIFICATION_TIMEOUT_SECONDS)
            per_step.append(
                sorted(
                    (Observed.of(r, scenario.compared_headers) for r in recorded[seen:]),
                    key=Observed.sort_key,
                )
            )
            seen += step.requests
        return per_step, f"http://{socket.gethostname()}:{daemon.port}"


def build_candidate(
    scenario: ReceiverScenario, sink: HttpSink, external_url: str, config_dir: Path
) -> list[Integration]:
    config = parse_config(scenario.config_text(sink.base_url), str(config_dir))
    (receiver,) = [one for one in config.receivers if one.name == scenario.receiver]
    return build_integrations(receiver, external_url, sink.transport(), load_templates(config))


def run_candidate(
    scenario: ReceiverScenario, steps: Sequence[Step], external_url: str, config_dir: Path
) -> list[list[Observed]]:
    """The same steps through tocsin's integrations, in-process (all of them, concurrently, as
    the pipeline fans out)."""
    with HttpSink() as sink:
        _script(sink, scenario.responses, count=64)
        integrations = build_candidate(scenario, sink, external_url, config_dir)
        per_step: list[list[Observed]] = []

        async def deliver(alerts: list[Alert], now: datetime) -> None:
            group_labels = {"alertname": alerts[0].labels["alertname"]}
            ctx = FlushContext(
                group_key=group_key_for(group_labels),
                receiver=scenario.receiver,
                group_labels=group_labels,
                repeat_interval=timedelta(hours=1),
                mute_time_intervals=(),
                active_time_intervals=(),
                now=now,
            )
            async with trio.open_nursery() as nursery:
                for integration in integrations:
                    if alerts_only_resolved(alerts, now) and not integration.send_resolved:
                        continue
                    nursery.start_soon(integration.send, ctx, alerts)

        seen = 0
        for step in steps:
            now = datetime.now(UTC)
            alerts = sort_like_alertmanager([to_model_alert(one, now) for one in step.alerts])
            trio.run(deliver, alerts, now)
            recorded = sink.requests()
            per_step.append(
                sorted(
                    (Observed.of(r, scenario.compared_headers) for r in recorded[seen:]),
                    key=Observed.sort_key,
                )
            )
            seen = len(recorded)
        return per_step


def alerts_only_resolved(alerts: Sequence[Alert], now: datetime) -> bool:
    return all(one.resolved_at(now) for one in alerts)


def compare(
    start_alertmanager: StartDaemon, scenario: ReceiverScenario, steps: Sequence[Step], config_dir: Path
) -> list[list[Observed]]:
    """Run both sides; assert the requests match step by step; return the oracle's."""
    oracle, external_url = run_oracle(start_alertmanager, scenario, steps)
    candidate = run_candidate(scenario, steps, external_url, config_dir)
    for index, (want, got) in enumerate(zip(oracle, candidate, strict=True)):
        assert len(got) == len(want), f"step {index}: {len(got)} requests, Alertmanager made {len(want)}"
        for one_want, one_got in zip(want, got, strict=True):
            assert one_got == one_want, f"step {index}"
    return oracle


def _replace_text(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_text(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: _replace_text(item, old, new) for key, item in value.items()}
    return value


def without_external_url(steps: list[list[Observed]], external_url: str) -> list[list[Observed]]:
    """The daemons listen on different ports, so their external URLs differ."""
    return [
        sorted(
            (
                dataclasses.replace(one, body=_replace_text(one.body, external_url, "<externalURL>"))
                for one in step
            ),
            key=Observed.sort_key,
        )
        for step in steps
    ]


def compare_daemons(
    start_oracle: StartDaemon, start_candidate: StartDaemon, scenario: ReceiverScenario, steps: Sequence[Step]
) -> list[list[Observed]]:
    """Both whole daemons (routing, grouping, dedup and the receivers), each with its own
    sink; returns the oracle's requests (external URL normalised)."""
    oracle, oracle_url = run_oracle(start_oracle, scenario, steps)
    candidate, candidate_url = run_oracle(start_candidate, scenario, steps)
    oracle, candidate = (
        without_external_url(oracle, oracle_url),
        without_external_url(candidate, candidate_url),
    )
    for index, (want, got) in enumerate(zip(oracle, candidate, strict=True)):
        assert len(got) == len(want), f"step {index}: {len(got)} requests, Alertmanager made {len(want)}"
        for one_want, one_got in zip(want, got, strict=True):
            assert one_got == one_want, f"step {index}"
    return oracle


class InterceptingProxy:
    """An HTTP proxy on 127.0.0.1 that answers CONNECT itself, terminates TLS with a
    certificate from a test CA for the requested host, and pipes the decrypted request to a
    sink. Alertmanager reaches endpoints it does not let users configure (Pushover, PagerDuty
    v1) through it, via `http_config.proxy_url` and `tls_config.ca_file`."""

    # Bytes per read while piping; requests here are a few KiB.
    CHUNK_BYTES = 65536

    def __init__(self, sink_port: int, hosts: Sequence[str], directory: Path) -> None:
        import ssl

        import trustme

        self._sink_port = sink_port
        authority = trustme.CA()
        self.ca_path = directory / "proxy-ca.pem"
        authority.cert_pem.write_to_path(str(self.ca_path))
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert(*hosts).configure_cert(self._tls)
        self._server: Any = None
        self._sockets: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(self.CHUNK_BYTES):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for one in (source, target):
                try:
                    one.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def start(self) -> InterceptingProxy:
        import http.server
        import threading

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_CONNECT(self) -> None:
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                secure = proxy._tls.wrap_socket(self.connection, server_side=True)
                upstream = socket.create_connection(("127.0.0.1", proxy._sink_port))
                proxy._sockets += [secure, upstream]
                threading.Thread(target=proxy._pipe, args=(upstream, secure), daemon=True).start()
                proxy._pipe(secure, upstream)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for one in self._sockets:
            try:
                one.close()
            except OSError:
                pass
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def run_oracle_through_proxy(
    start_alertmanager: StartDaemon,
    scenario: ReceiverScenario,
    steps: Sequence[Step],
    hosts: Sequence[str],
    directory: Path,
) -> tuple[list[list[Observed]], str]:
    """Like run_oracle, for fixed endpoints: `$PROXY` and `$CA` in the scenario's YAML become
    the intercepting proxy's URL and CA file."""
    with HttpSink() as sink:
        _script(sink, scenario.responses, count=64)
        proxy = InterceptingProxy(sink.port, hosts, directory).start()
        try:
            text = (
                scenario.config_text(sink.base_url)
                .replace("$PROXY", proxy.url)
                .replace("$CA", str(proxy.ca_path))
            )
            daemon = start_alertmanager(text)
            seen = 0
            per_step: list[list[Observed]] = []
            for step in steps:
                response = httpx.post(
                    f"{daemon.base_url}/api/v2/alerts", json=list(step.alerts), timeout=HTTP_TIMEOUT_SECONDS
                )
                assert response.status_code == 200, response.text
                recorded = sink.wait_for(seen + step.requests, timeout=NOTIFICATION_TIMEOUT_SECONDS)
                per_step.append(
                    sorted(
                        (Observed.of(r, scenario.compared_headers) for r in recorded[seen:]),
                        key=Observed.sort_key,
                    )
                )
                seen += step.requests
            return per_step, f"http://{socket.gethostname()}:{daemon.port}"
        finally:
            proxy.stop()


def compare_through_proxy(
    start_alertmanager: StartDaemon,
    scenario: ReceiverScenario,
    steps: Sequence[Step],
    hosts: Sequence[str],
    config_dir: Path,
) -> list[list[Observed]]:
    oracle, external_url = run_oracle_through_proxy(start_alertmanager, scenario, steps, hosts, config_dir)
    # The candidate's in-memory transport stands in for proxy and TLS alike.
    candidate_scenario = dataclasses.replace(
        scenario,
        receivers_yaml=scenario.receivers_yaml.replace("$PROXY", "http://127.0.0.1:9").replace("$CA", ""),
    )
    candidate = run_candidate(candidate_scenario, steps, external_url, config_dir)
    for index, (want, got) in enumerate(zip(oracle, candidate, strict=True)):
        assert len(got) == len(want), f"step {index}: {len(got)} requests, Alertmanager made {len(want)}"
        for one_want, one_got in zip(want, got, strict=True):
            assert one_got == one_want, f"step {index}"
    return oracle
