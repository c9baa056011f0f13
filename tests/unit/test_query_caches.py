"""The caches behind fast GETs must never show stale data: each test changes exactly one input
of a cached result and checks the answer follows.

Caches covered: the alert store's fingerprint order, each aggregation group's alert order,
the marker's unchanged-status identity, the API's per-alert JSON fragment (on the Alert
object) and the memoised API time strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from daemon.aggregation import AggregationGroup, alert_sort_key, flush_snapshot
from daemon.alerts import AlertStore, AlertUpdate
from daemon.api.alerts import AlertsAPI, AlertsRuntime, alert_parts, gettable_alert, render_alert
from daemon.config.model import RouteConfig
from daemon.marker import ACTIVE_STATUS, STATE_ACTIVE, UNPROCESSED_STATUS, Marker
from daemon.routing import Route
from notify.model import Alert, format_api_time

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def alert(updated: datetime = NOW, annotation: str = "", **labels: str) -> Alert:
    return Alert(
        labels=dict(labels),
        annotations={"summary": annotation} if annotation else {},
        starts_at=NOW - HOUR,
        ends_at=NOW + HOUR,
        updated_at=updated,
    )


class Api:
    """The alerts handlers over a real store and marker; statuses come from `silenced`."""

    def __init__(self) -> None:
        self.marker = Marker()
        self.store = AlertStore(self.marker)
        self.silenced: dict[str, str] = {}
        self.runtime = AlertsRuntime(
            route=Route.from_config(RouteConfig(receiver="default")),
            resolve_timeout=timedelta(minutes=5),
            receiver_names=("default",),
            original_config="",
            set_alert_status=self._set_status,
            groups=lambda route_filter, alert_filter: ([], {}),
        )
        self.api = AlertsAPI(self.store, self.marker, lambda: self.runtime, clock=lambda: NOW)

    def _set_status(self, fingerprint: int, labels: Mapping[str, str], now: datetime) -> None:
        silence = self.silenced.get(labels["alertname"])
        self.marker.set_silenced(fingerprint, [silence] if silence else [])

    def get(self) -> list[dict[str, Any]]:
        response = self.api.get({})
        assert response.status == 200
        listed: list[dict[str, Any]] = orjson.loads(response.body)
        return listed


# ---------------------------------------------------------------------------- store order


async def test_store_order_follows_added_and_collected_alerts() -> None:
    store = AlertStore()
    await store.put([alert(alertname=f"a{index}") for index in range(20)], NOW)
    _, order = store.sorted_view()
    assert order == sorted(update.fingerprint for update in store.items())
    added = alert(alertname="late")
    await store.put([added], NOW)
    assert added.fingerprint() in store.sorted_view()[1]
    assert store.sorted_view()[1] == sorted(update.fingerprint for update in store.items())
    gone = dataclasses.replace(alert(alertname="a3"), ends_at=NOW - HOUR)
    await store.put([gone], NOW)
    store.gc(NOW)
    _, order = store.sorted_view()
    assert gone.fingerprint() not in order
    assert order == sorted(update.fingerprint for update in store.items())
    assert [update.fingerprint for update in store.sorted_items()] == order


# ---------------------------------------------------------------------------- group order


def new_group() -> AggregationGroup:
    return AggregationGroup(Route.from_config(RouteConfig(receiver="r", group_by=["alertname"])), {}, 0.0)


def add(group: AggregationGroup, stored: Alert) -> None:
    group.insert(AlertUpdate(stored.fingerprint(), stored), NOW, 0.0)


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 5)), min_size=1, max_size=12))
def test_group_order_matches_a_full_sort_after_every_insert(pairs: list[tuple[str, int]]) -> None:
    group = new_group()
    for job, instance in pairs:
        add(group, alert(alertname="x", job=job, instance=str(instance)))
        assert group.sorted_alerts() == sorted(group.alerts.values(), key=alert_sort_key)


def test_group_order_keeps_replaced_alerts_and_their_new_content() -> None:
    group = new_group()
    for instance in "cab":
        add(group, alert(alertname="x", instance=instance))
    before = group.sorted_fingerprints()
    newer = alert(updated=NOW + HOUR, annotation="changed", alertname="x", instance="a")
    assert len(group.sorted_updates()) == 3  # cached now
    add(group, newer)
    assert group.sorted_fingerprints() == before
    assert newer in group.sorted_alerts()
    assert any(update.alert is newer for update in group.sorted_updates())
    snapshot = flush_snapshot(group.sorted_updates(), NOW, presorted=True)
    assert snapshot == flush_snapshot(list(group.sorted_updates())[::-1], NOW)


async def test_group_order_forgets_alerts_dropped_after_a_flush() -> None:
    group = new_group()
    keep, drop = alert(alertname="x", instance="a"), alert(alertname="x", instance="b")
    drop = dataclasses.replace(drop, ends_at=NOW - HOUR)
    add(group, keep)
    add(group, drop)
    assert len(group.sorted_fingerprints()) == 2

    class Accepting:
        async def notify(self, ctx: object, alerts: object) -> bool:
            return True

    assert await group.flush(Accepting(), lambda: NOW, 10.0)  # type: ignore[arg-type]
    assert group.sorted_fingerprints() == [keep.fingerprint()]
    assert group.sorted_alerts() == [keep]


# ---------------------------------------------------------------------------- marker identity


def test_marker_keeps_the_status_object_while_nothing_changes() -> None:
    marker = Marker()
    assert marker.status(1) is UNPROCESSED_STATUS
    marker.set_active_or_silenced(1, [], [], 3)
    first = marker.status(1)
    assert first.state == STATE_ACTIVE
    marker.set_active_or_silenced(1, [], [], 3)
    marker.set_inhibited(1, [])
    assert marker.status(1) is first
    marker.set_active_or_silenced(1, ["s1"], [], 3)
    assert marker.status(1) is not first and marker.status(1).silenced_by == ("s1",)
    silenced = marker.status(1)
    marker.set_inhibited(1, ["00000000000000ff"])
    assert marker.status(1) is not silenced and marker.status(1).inhibited_by == ("00000000000000ff",)
    marker.set_active_or_silenced(1, ["s1"], [], 4)
    assert marker.status(1).silences_version == 4


def test_marker_silence_results_and_unmuted_alerts_share_statuses() -> None:
    marker = Marker()
    active: tuple[str, ...] = ("s1",)
    silenced = marker.set_silences(1, active, ())
    assert silenced.silenced_by is active and silenced.state == "suppressed"
    assert marker.set_silences(1, active, ()) is silenced  # same tuples: untouched
    assert marker.set_silences(2, (), ()) is ACTIVE_STATUS
    marker.set_inhibited(3, ["00000000000000ff"])
    assert marker.any_inhibited()
    assert marker.set_silences(3, (), ()).inhibited_by == ("00000000000000ff",)
    marker.set_unmuted([1, 3, 4])
    assert all(marker.status(fingerprint) is ACTIVE_STATUS for fingerprint in (1, 3, 4))
    assert not marker.any_inhibited()
    marker.set_inhibited(5, ["00000000000000ff"])
    marker.delete(5)
    assert not marker.any_inhibited()
    # An uninhibited, processed status stays the same object when told "not inhibited".
    marker.set_inhibited(1, [])
    assert marker.status(1) is ACTIVE_STATUS
    assert marker.status(6) is UNPROCESSED_STATUS
    marker.set_inhibited(6, [])
    assert marker.status(6).state == STATE_ACTIVE


# ---------------------------------------------------------------------------- API fragments


def test_fragment_is_the_gettable_alert_encoded() -> None:
    stored = alert(annotation="<&>", alertname="x", job="j")
    stored.generator_url = "http://prometheus/graph"
    fingerprint = stored.fingerprint()
    status = Marker().status(fingerprint)
    receivers = ["default"]
    fragment = render_alert(fingerprint, stored, receivers, status)
    assert fragment == orjson.dumps(gettable_alert(fingerprint, stored, receivers, status.to_api()))
    # The parts around the status are cached on the alert, for these receivers.
    prefix, suffix = alert_parts(fingerprint, stored, receivers)
    assert alert_parts(fingerprint, stored, receivers)[0] is prefix
    assert alert_parts(fingerprint, stored, ["default"])[1] is suffix
    assert render_alert(fingerprint, stored, ["other"], status) != fragment
    assert dataclasses.replace(stored).api_rendering is None
    # The status part is encoded once per status object.
    assert status.json() is status.json()
    assert orjson.loads(status.json()) == status.to_api()


def test_fragments_keep_each_time_zone_of_equal_instants() -> None:
    plus_two = timezone(timedelta(hours=2))
    utc_alert = alert(alertname="x")
    zoned = dataclasses.replace(utc_alert, starts_at=utc_alert.starts_at.astimezone(plus_two))
    assert zoned.starts_at == utc_alert.starts_at  # the same instant
    status = Marker().status(1)
    for stored in (utc_alert, zoned, utc_alert):
        stored.api_rendering = None
        fingerprint = stored.fingerprint()
        assert render_alert(fingerprint, stored, ["r"], status) == orjson.dumps(
            gettable_alert(fingerprint, stored, ["r"], status.to_api())
        )
    assert b'"startsAt":"2024-05-01T13:00:00.000+02:00"' in render_alert(zoned.fingerprint(), zoned, ["r"], status)


def test_fragment_of_an_alert_without_annotations_or_generator() -> None:
    stored = alert(alertname='quote"and\\slash', job="j")
    fingerprint = stored.fingerprint()
    status = Marker().status(fingerprint)
    assert render_alert(fingerprint, stored, ["a", "b"], status) == orjson.dumps(
        gettable_alert(fingerprint, stored, ["a", "b"], status.to_api())
    )


async def test_get_follows_status_receiver_and_content_changes() -> None:
    api = Api()
    await api.store.put([alert(alertname="x"), alert(alertname="y")], NOW)
    first = api.get()
    assert [shown["status"]["state"] for shown in first] == ["active", "active"]
    assert api.get() == first

    api.silenced["x"] = "silence-1"
    by_name = {shown["labels"]["alertname"]: shown for shown in api.get()}
    assert by_name["x"]["status"] == {"inhibitedBy": [], "silencedBy": ["silence-1"], "state": "suppressed"}
    assert by_name["y"]["status"]["state"] == "active"

    await api.store.put([alert(updated=NOW + HOUR, annotation="new text", alertname="y")], NOW)
    by_name = {shown["labels"]["alertname"]: shown for shown in api.get()}
    assert by_name["y"]["annotations"] == {"summary": "new text"}
    assert by_name["y"]["updatedAt"] == "2024-05-01T13:00:00.000Z"

    api.runtime = dataclasses.replace(
        api.runtime, route=Route.from_config(RouteConfig(receiver="replacement")), receivers_cache={}
    )
    assert {receiver["name"] for shown in api.get() for receiver in shown["receivers"]} == {"replacement"}


# ---------------------------------------------------------------------------- time strings


def test_api_time_memo_keeps_offsets_apart() -> None:
    instant = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert format_api_time(instant) == "2024-05-01T12:00:00.123Z"
    same_instant_elsewhere = instant.astimezone(timezone(timedelta(hours=2)))
    assert same_instant_elsewhere == instant
    assert format_api_time(same_instant_elsewhere) == "2024-05-01T14:00:00.123+02:00"
    zero_offset_not_utc = instant.astimezone(timezone(timedelta(0), "other"))
    assert format_api_time(zero_offset_not_utc) == "2024-05-01T12:00:00.123+00:00"
    assert format_api_time(instant) == "2024-05-01T12:00:00.123Z"
