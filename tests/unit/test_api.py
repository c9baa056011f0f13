"""The alerts API handlers and the ASGI router, called directly (no sockets)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import trio
import trio.testing

from daemon.alerts import AlertStore
from daemon.api.alerts import (
    AlertsAPI,
    AlertsRuntime,
    ClusterStatus,
    GeneralAPI,
    convert_bool,
    is_request_uri,
    matches_filter_labels,
    parse_time,
)
from daemon.api.server import ApiApplication, Request, WebOptions
from daemon.config.model import RouteConfig
from daemon.marker import Marker
from daemon.matchers import parse_matcher
from daemon.metrics import Metrics
from daemon.routing import Route
from notify.model import fingerprint

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RESOLVE_TIMEOUT = timedelta(minutes=5)


class Fixture:
    def __init__(self, silenced: Mapping[str, str] | None = None) -> None:
        self.marker = Marker()
        self.store = AlertStore(self.marker)
        self.metrics = Metrics()
        self.silenced = silenced or {}
        route = Route.from_config(
            RouteConfig(
                receiver="default",
                routes=[
                    RouteConfig(receiver="team", matchers=[parse_matcher('team="db"')], continue_matching=True),
                    RouteConfig(receiver="other", matchers=[parse_matcher('team=~"d.*"')]),
                ],
            )
        )
        self.runtime = AlertsRuntime(
            route=route,
            resolve_timeout=RESOLVE_TIMEOUT,
            receiver_names=("default", "team", "other", "unused"),
            original_config="route:\n  receiver: default\n",
            set_alert_status=self._set_status,
            groups=lambda route_filter, alert_filter: ([], {}),
        )
        self.api = AlertsAPI(
            self.store,
            self.marker,
            lambda: self.runtime,
            received_total=self.metrics.alerts_received,
            invalid_total=self.metrics.alerts_invalid,
            clock=lambda: NOW,
        )

    def _set_status(self, alert_fingerprint: int, labels: Mapping[str, str], now: datetime) -> None:
        silence = self.silenced.get(labels.get("alertname", ""))
        self.marker.set_silenced(fingerprint(labels), [silence] if silence else [])

    async def post(self, *alerts: Any) -> tuple[int, Any]:
        response = await self.api.post(orjson.dumps(list(alerts)), "application/json")
        return response.status, orjson.loads(response.body) if response.body else None

    def get(self, **query: list[str]) -> list[dict[str, Any]]:
        response = self.api.get(query)
        assert response.status == 200
        result: list[dict[str, Any]] = orjson.loads(response.body)
        return result


async def test_post_fills_in_times_and_drops_empty_labels() -> None:
    fixture = Fixture()
    assert await fixture.post({"labels": {"alertname": "a", "gone": ""}}) == (200, None)
    (stored,) = list(fixture.store)
    assert stored.labels == {"alertname": "a"}
    assert (stored.starts_at, stored.ends_at, stored.updated_at) == (NOW, NOW + RESOLVE_TIMEOUT, NOW)
    assert stored.timeout


async def test_post_start_defaults_to_end_when_only_end_given() -> None:
    fixture = Fixture()
    end = "2024-05-01T11:00:00Z"
    assert (await fixture.post({"labels": {"a": "b"}, "endsAt": end}))[0] == 200
    (stored,) = list(fixture.store)
    assert stored.starts_at == stored.ends_at == datetime(2024, 5, 1, 11, tzinfo=UTC)
    assert not stored.timeout


async def test_valid_alerts_are_stored_even_when_others_fail() -> None:
    fixture = Fixture()
    status, message = await fixture.post({"labels": {"a-b": "x"}}, {"labels": {"ok": "1"}}, {"labels": {}})
    assert (status, message) == (400, 'invalid label set: invalid name "a-b"; at least one label pair required')
    assert [alert.labels for alert in fixture.store] == [{"ok": "1"}]
    exposition = fixture.metrics.exposition().decode()
    assert 'alertmanager_alerts_received_total{status="firing",version="v2"} 3.0' in exposition
    assert 'alertmanager_alerts_invalid_total{version="v2"} 2.0' in exposition


async def test_get_sorts_by_fingerprint_and_lists_route_receivers() -> None:
    fixture = Fixture()
    await fixture.post(*({"labels": {"alertname": name, "team": "db"}} for name in "abcdef"))
    listed = fixture.get()
    assert [alert["fingerprint"] for alert in listed] == sorted(alert["fingerprint"] for alert in listed)
    assert listed[0]["receivers"] == [{"name": "team"}, {"name": "other"}]
    assert listed[0]["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}


async def test_get_omits_resolved_alerts() -> None:
    fixture = Fixture()
    await fixture.post(
        {"labels": {"alertname": "old"}, "startsAt": "2024-05-01T10:00:00Z", "endsAt": "2024-05-01T11:00:00Z"},
        {"labels": {"alertname": "new"}},
    )
    assert [alert["labels"]["alertname"] for alert in fixture.get()] == ["new"]


async def test_get_filters_by_matchers_receiver_and_state() -> None:
    fixture = Fixture(silenced={"quiet": "c0e5f9a4-0000-4000-8000-000000000000"})
    await fixture.post({"labels": {"alertname": "quiet"}}, {"labels": {"alertname": "loud", "team": "db"}})
    names = lambda listed: sorted(alert["labels"]["alertname"] for alert in listed)  # noqa: E731
    assert names(fixture.get(filter=['alertname="loud"'])) == ["loud"]
    assert names(fixture.get(filter=['team=""'])) == ["quiet"]
    assert names(fixture.get(receiver=["oth.*"])) == ["loud"]
    assert names(fixture.get(receiver=["oth"])) == []
    assert names(fixture.get(silenced=["false"])) == ["loud"]
    assert names(fixture.get(active=["false"])) == ["quiet"]
    assert names(fixture.get(active=["maybe"])) == ["quiet"]
    (quiet,) = fixture.get(active=["false"])
    assert quiet["status"] == {
        "inhibitedBy": [], "silencedBy": ["c0e5f9a4-0000-4000-8000-000000000000"], "state": "suppressed",
    }


def test_filter_label_semantics_match_alertmanager() -> None:
    labels = {"a": "1"}
    assert matches_filter_labels([parse_matcher('b=""')], labels)
    assert matches_filter_labels([parse_matcher('a!=""')], labels)
    assert not matches_filter_labels([parse_matcher('a=""')], labels)
    assert matches_filter_labels([parse_matcher('b!~"x"')], labels)
    assert not matches_filter_labels([parse_matcher('a=~"2|3"')], labels)


@pytest.mark.parametrize(("word", "value"), [("true", True), ("TRUE", True), ("1", True), ("on", True),
                                             ("enabled", True), ("maybe", False), ("0", False), ("false", False)])
def test_convert_bool(word: str, value: bool) -> None:
    assert convert_bool(word) is value


@pytest.mark.parametrize(("text", "valid"), [("http://x/y", True), ("/path", True), ("mailto:a@b", True),
                                             ("::", False), ("relative/path", False), ("http://x/%zz", False),
                                             ("http://x y", False)])
def test_uri_format(text: str, valid: bool) -> None:
    assert is_request_uri(text) is valid


def test_parse_time_keeps_offset_and_handles_nanoseconds() -> None:
    assert parse_time("2024-01-02T03:04:05.123456789+02:00").isoformat() == "2024-01-02T03:04:05.123456+02:00"
    assert parse_time("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="month out of range"):
        parse_time("2020-13-01")


def test_status_and_receivers() -> None:
    fixture = Fixture()
    general = GeneralAPI(lambda: fixture.runtime, {"version": "0.25.0"}, NOW, ClusterStatus)
    status = orjson.loads(general.status().body)
    assert status == {
        "cluster": {"peers": [], "status": "disabled"},
        "config": {"original": "route:\n  receiver: default\n"},
        "uptime": "2024-05-01T12:00:00.000Z",
        "versionInfo": {"version": "0.25.0"},
    }
    assert orjson.loads(general.receivers().body) == [
        {"name": "default"}, {"name": "team"}, {"name": "other"}, {"name": "unused"},
    ]


# ---------------------------------------------------------------------------------------- router


def application(fixture: Fixture, **options: Any) -> ApiApplication:
    async def reload() -> str | None:
        return "boom"

    general = GeneralAPI(lambda: fixture.runtime, {"version": "0.25.0"}, NOW)
    return ApiApplication(WebOptions(**options), alerts=fixture.api, general=general, metrics=fixture.metrics,
                          reload=reload)


def request(method: str, path: str, **headers: str) -> Request:
    return Request(method, path, {}, {name.replace("_", "-"): value for name, value in headers.items()})


async def test_router_paths_and_methods() -> None:
    app = application(Fixture(), route_prefix="/am")
    root = await app.handle(request("GET", "/"))
    assert (root.status, dict(root.headers)["Location"]) == (302, "/am")
    healthy = await app.handle(request("HEAD", "/am/-/healthy"))
    assert (healthy.status, healthy.body) == (200, b"OK")
    reload = await app.handle(request("POST", "/am/-/reload"))
    assert (reload.status, reload.body) == (500, b"failed to reload config: boom\n")
    assert (await app.handle(request("GET", "/am/-/reload"))).status == 405
    assert (await app.handle(request("GET", "/am/api/v2/status/"))).status == 200
    missing = await app.handle(request("GET", "/am/api/v2/nope"))
    assert (missing.status, orjson.loads(missing.body)) == (404, {"code": 404, "message": "path /api/v2/nope was not found"})
    outside = await app.handle(request("GET", "/-/healthy"))
    assert (outside.status, outside.body) == (404, b"404 page not found\n")


async def test_cors_preflight_rejects_unlisted_methods() -> None:
    app = application(Fixture())
    denied = await app.handle(request("OPTIONS", "/api/v2/alerts", origin="http://ui",
                                      access_control_request_method="DELETE"))
    assert denied.status == 200
    assert "Access-Control-Allow-Origin" not in dict(denied.headers)


async def test_get_concurrency_limit_answers_503() -> None:
    fixture = Fixture()
    app = application(fixture, get_concurrency=1)
    release = trio.Event()
    original = fixture.api.get

    def slow_get(query: Mapping[str, list[str]]) -> Any:
        return original(query)

    async def blocking_route(req: Request) -> Any:
        await release.wait()
        return slow_get({})

    app._route = blocking_route  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(app.handle, request("GET", "/api/v2/alerts"))
        await trio.testing.wait_all_tasks_blocked()
        refused = await app.handle(request("GET", "/api/v2/alerts"))
        release.set()
    assert refused.status == 503
    assert refused.body == b"Limit of concurrent GET requests reached (1), try again later.\n"


async def test_web_timeout_answers_503(autojump_clock: trio.testing.MockClock) -> None:
    app = application(Fixture(), timeout=timedelta(seconds=2))

    async def never(req: Request) -> Any:
        await trio.sleep_forever()

    app._route = never  # type: ignore[method-assign]
    response = await app.handle(request("POST", "/api/v2/alerts"))
    assert (response.status, response.body) == (503, b"Exceeded configured timeout of 2s.\n")
