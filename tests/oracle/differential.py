"""Run one scenario through the real Alertmanager and tocsin side by side and compare.

Each daemon gets its own recording sink; the config is written once with `$SINK` where the
sink's base URL goes, so both run the same routing tree. Alerts are posted to both in the
same batch, with explicit start times (so the bodies are deterministic), and what each side's
receivers get and what each API answers is compared after normalising only what must differ:

- `externalURL` (it carries the host name and the daemon's own port; checked separately),
- `updatedAt` (the moment of the POST; checked to be recent),
- an `endsAt` that is exactly `updatedAt + resolve_timeout` (the server-filled end time),
- the sink URLs inside `config.original` (each side has its own sink port),
- `uptime` in `/api/v2/status`.

Set `TOCSIN_ORACLE_CANDIDATE=alertmanager` to run Alertmanager against itself: that checks
the scenarios and the normalisation are deterministic before blaming tocsin for a diff.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from tests.helpers.alerts_gen import PostableAlert
from tests.helpers.processes import DaemonKind, DaemonProcess
from tests.helpers.sink_for_oracle import RecordedRequest, RecordingSink

SINK_PLACEHOLDER = "$SINK"
CANDIDATE_ENV = "TOCSIN_ORACLE_CANDIDATE"
# Both daemons use 1s group_wait/group_interval in the scenarios; a notification that is
# not there 15 intervals later is missing, not late.
NOTIFICATION_TIMEOUT_SECONDS = 15.0
# After the last expected notification, how long to watch for unexpected extra ones: one
# group_interval of the scenarios plus scheduling slack on a shared 2-core machine.
QUIET_WINDOW_SECONDS = 2.0
# The server-side clock must be close to ours; updatedAt further off than this is a bug.
UPDATED_AT_TOLERANCE = timedelta(seconds=60)
DEFAULT_RESOLVE_TIMEOUT = timedelta(minutes=5)
HTTP_TIMEOUT_SECONDS = 10.0


def candidate_kind() -> DaemonKind:
    return "alertmanager" if os.environ.get(CANDIDATE_ENV) == "alertmanager" else "tocsin"


def parse_api_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------------ normalisation


def normalise_notification(body: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(body))
    copy["externalURL"] = "<externalURL>"
    return copy


def normalise_api_alert(
    alert: dict[str, Any],
    resolve_timeout: timedelta = DEFAULT_RESOLVE_TIMEOUT,
    silence_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(alert))
    updated_at = parse_api_time(copy["updatedAt"])
    drift = abs(datetime.now(UTC) - updated_at)
    assert drift < UPDATED_AT_TOLERANCE, f"updatedAt {copy['updatedAt']} is {drift} away from now"
    if parse_api_time(copy["endsAt"]) == updated_at + resolve_timeout:
        copy["endsAt"] = "<updatedAt + resolve_timeout>"
    copy["updatedAt"] = "<updatedAt>"
    if silence_names is not None:
        # Silence IDs are random UUIDs; name them by the scenario's silence they belong to.
        status = copy["status"]
        status["silencedBy"] = [
            silence_names.get(one, f"<unknown silence {one}>") for one in status["silencedBy"]
        ]
    return copy


def normalise_api_alerts(
    alerts: list[dict[str, Any]], silence_names: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    return [normalise_api_alert(alert, silence_names=silence_names) for alert in alerts]


def normalise_groups(
    groups: list[dict[str, Any]], silence_names: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    return [{**group, "alerts": normalise_api_alerts(group["alerts"], silence_names)} for group in groups]


def json_shape(value: Any) -> Any:
    """The structure of a JSON value: keys and types, not contents (lists by their first item)."""
    if isinstance(value, dict):
        return {key: json_shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [json_shape(value[0])] if value else []
    return type(value).__name__


def notification_sort_key(request: RecordedRequest) -> tuple[str, str, str, str]:
    body = request.json()
    return (request.path, body.get("groupKey", ""), body.get("status", ""), json.dumps(body, sort_keys=True))


# ------------------------------------------------------------------ the pair


@dataclass
class Side:
    name: str
    daemon: DaemonProcess
    sink: RecordingSink
    silence_names: dict[str, str] = field(default_factory=dict)
    # The route prefix (from --web.route-prefix or the external URL's path), e.g. "/am".
    prefix: str = ""

    @property
    def url(self) -> str:
        return self.daemon.base_url + self.prefix

    def get(self, path: str, params: Any = None) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=HTTP_TIMEOUT_SECONDS)

    def post_alerts(self, alerts: Sequence[PostableAlert]) -> httpx.Response:
        return httpx.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=HTTP_TIMEOUT_SECONDS)

    def post_silence(self, silence: dict[str, Any], name: str) -> str:
        response = httpx.post(f"{self.url}/api/v2/silences", json=silence, timeout=HTTP_TIMEOUT_SECONDS)
        assert response.status_code == 200, (
            f"{self.name}: POST /api/v2/silences -> {response.status_code} {response.text}"
        )
        silence_id: str = response.json()["silenceID"]
        self.silence_names[silence_id] = f"<silence {name}>"
        return silence_id

    def notifications(self) -> list[RecordedRequest]:
        return sorted(self.sink.requests, key=notification_sort_key)


@dataclass
class OraclePair:
    """The oracle (real Alertmanager) and the candidate (tocsin), each with its own sink."""

    oracle: Side
    candidate: Side

    @property
    def sides(self) -> tuple[Side, Side]:
        return (self.oracle, self.candidate)

    def post_alerts(self, alerts: Sequence[PostableAlert]) -> None:
        for side in self.sides:
            response = side.post_alerts(alerts)
            assert response.status_code == 200, (
                f"{side.name}: POST /api/v2/alerts -> {response.status_code} {response.text}"
            )

    def post_silence(self, silence: dict[str, Any], name: str) -> None:
        for side in self.sides:
            side.post_silence(silence, name)

    def post_raw(self, path: str, body: str) -> tuple[httpx.Response, httpx.Response]:
        """`body` POSTed as JSON, unchecked, to both: (the oracle's answer, the candidate's)."""
        oracle, candidate = (
            httpx.post(
                f"{side.url}{path}",
                content=body.encode(),
                headers={"content-type": "application/json"},
                timeout=HTTP_TIMEOUT_SECONDS,
            )
            for side in self.sides
        )
        return oracle, candidate

    def wait_for_notifications(self, total: int, timeout: float = NOTIFICATION_TIMEOUT_SECONDS) -> None:
        """Wait until each sink has `total` requests (the oracle first: it defines the truth)."""
        for side in self.sides:
            side.sink.wait_for(
                lambda seen: len(seen) >= total, timeout, what=f"{side.name}: {total} notifications"
            )

    def assert_quiet(self, expected_total: int, window: float = QUIET_WINDOW_SECONDS) -> None:
        """Nothing beyond the expected notifications arrives on either side within the window."""
        time.sleep(window)
        counts = {side.name: len(side.sink.requests) for side in self.sides}
        assert counts == {side.name: expected_total for side in self.sides}, counts

    def compare_notifications(self) -> list[dict[str, Any]]:
        """Compare every recorded notification (sorted, normalised); returns the oracle's."""
        oracle = [(r.path, normalise_notification(r.json())) for r in self.oracle.notifications()]
        candidate = [(r.path, normalise_notification(r.json())) for r in self.candidate.notifications()]
        assert candidate == oracle
        for request in self.candidate.sink.requests:
            assert request.headers.get("content-type") == "application/json"
            assert request.headers.get("user-agent") == "Alertmanager/0.25.0"
        return [body for _, body in oracle]

    def compare_api(self, alert_queries: Sequence[dict[str, Any]] = ({},)) -> None:
        """GET /alerts (with each query), /alerts/groups (likewise) and /receivers agree."""
        for params in alert_queries:
            answers = [side.get("/api/v2/alerts", params) for side in self.sides]
            assert [answer.status_code for answer in answers] == [200, 200], params
            oracle_alerts = normalise_api_alerts(answers[0].json(), self.oracle.silence_names)
            assert normalise_api_alerts(answers[1].json(), self.candidate.silence_names) == oracle_alerts, (
                params
            )
            groups = [side.get("/api/v2/alerts/groups", params) for side in self.sides]
            assert [answer.status_code for answer in groups] == [200, 200], params
            oracle_groups = normalise_groups(groups[0].json(), self.oracle.silence_names)
            assert normalise_groups(groups[1].json(), self.candidate.silence_names) == oracle_groups, params
        receivers = [side.get("/api/v2/receivers").json() for side in self.sides]
        assert receivers[1] == receivers[0]

    def compare_status(self) -> dict[str, Any]:
        statuses: list[dict[str, Any]] = [side.get("/api/v2/status").json() for side in self.sides]
        oracle, candidate = statuses
        assert json_shape(candidate) == json_shape(oracle)
        assert candidate["cluster"] == oracle["cluster"]
        originals = [
            status["config"]["original"].replace(side.sink.url(""), SINK_PLACEHOLDER)
            for status, side in zip(statuses, self.sides, strict=True)
        ]
        assert originals[1] == originals[0]
        assert candidate["versionInfo"]["version"].startswith("0.25.")
        assert set(candidate["versionInfo"]) == set(oracle["versionInfo"])
        return oracle

    def assert_external_urls(self) -> None:
        """Without --web.external-url it is http://<hostname>:<listen port>, no trailing slash."""
        hostname = socket.gethostname()
        for side in self.sides:
            for request in side.sink.requests:
                assert request.json()["externalURL"] == f"http://{hostname}:{side.daemon.port}"


class PairStarter(Protocol):
    """The `oracle_pair` fixture: start both daemons on one config template."""

    def __call__(
        self, config_template: str, extra_args: Sequence[str] = (), prefix: str = ""
    ) -> OraclePair: ...


def start_pair(
    daemon_factory: Any,
    config_template: str,
    sinks: Iterator[RecordingSink],
    extra_args: Sequence[str] = (),
    prefix: str = "",
) -> OraclePair:
    """Start the oracle and the candidate concurrently, each pointed at a fresh sink."""
    oracle_sink, candidate_sink = next(sinks), next(sinks)
    oracle_config = config_template.replace(SINK_PLACEHOLDER, oracle_sink.url(""))
    candidate_config = config_template.replace(SINK_PLACEHOLDER, candidate_sink.url(""))
    oracle_daemon, candidate_daemon = daemon_factory.start_many(
        [("alertmanager", oracle_config), (candidate_kind(), candidate_config)], extra_args=extra_args
    )
    return OraclePair(
        oracle=Side("alertmanager", oracle_daemon, oracle_sink, prefix=prefix),
        candidate=Side(candidate_kind(), candidate_daemon, candidate_sink, prefix=prefix),
    )
