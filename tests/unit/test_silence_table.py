"""The silence table (which indexed silences match which stored alert, kept current as
either side changes) must answer exactly what a scan over the indexed silences answers, for
any interleaving of alert and silence changes and any clock, including one stepping back;
and the silencer and the API must show its answers as the marker's statuses."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.aggregation import AggregationGroup
from daemon.alerts import AlertStore, AlertUpdate
from daemon.api.alerts import AlertsAPI, AlertsRuntime
from daemon.config.model import InhibitRule, RouteConfig
from daemon.dispatch import AlertGroupView
from daemon.inhibit import Inhibitor
from daemon.marker import ACTIVE_STATUS, STATE_SUPPRESSED, Marker
from daemon.matchers import Matcher, MatchType
from daemon.routing import Route
from daemon.silences import (
    NO_SILENCES,
    AlertSilenceTable,
    MatcherSpec,
    Silence,
    SilenceInvalid,
    SilenceMatcher,
    Silencer,
    SilenceRequest,
    Silences,
    SilenceState,
)
from notify.model import Alert, fingerprint

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def table_with_silences() -> tuple[Silences, AlertSilenceTable]:
    silences = Silences(rng=random.Random(11))
    return silences, AlertSilenceTable(silences)


def add_silence(silences: Silences, *specs: MatcherSpec, starts: datetime = T0, ends: datetime = T0 + HOUR) -> str:
    return silences.set(SilenceRequest("", tuple(specs), starts, ends), T0)


def equal(name: str, value: str) -> MatcherSpec:
    return MatcherSpec(name, MatchType.EQUAL, value)


def regex(name: str, value: str) -> MatcherSpec:
    return MatcherSpec(name, MatchType.REGEX, value)


def store_alert(table: AlertSilenceTable, **labels: str) -> int:
    alert_fingerprint = fingerprint(labels)
    table.alert_added(alert_fingerprint, labels)
    return alert_fingerprint


def scan(silences: Silences, labels: dict[str, str], now: datetime) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The answer without any index: every indexed silence, checked."""
    matching = [silence for silence in silences.indexed() if silence.matches(labels)]
    active = sorted(s.id for s in matching if s.state_at(now) is SilenceState.ACTIVE)
    pending = sorted(s.id for s in matching if s.state_at(now) is SilenceState.PENDING)
    return tuple(active), tuple(pending)


def answer(table: AlertSilenceTable, alert_fingerprint: int, now: datetime) -> tuple[tuple[str, ...], tuple[str, ...]]:
    result = table.result(alert_fingerprint, now)
    assert result is not None
    return result.active, result.pending


# ---------------------------------------------------------------------------- examples


def test_a_silence_created_after_the_alerts_finds_them_through_every_anchor_kind() -> None:
    silences, table = table_with_silences()
    web1 = store_alert(table, alertname="Down", instance="host-1:9100", env="prod")
    web2 = store_alert(table, alertname="Down", instance="host-2:9100", env="stage")
    other = store_alert(table, alertname="Up", instance="host-1:9100", env="prod")
    by_equality = add_silence(silences, equal("alertname", "Down"), equal("instance", "host-1:9100"))
    by_prefix = add_silence(silences, equal("alertname", "Down"), regex("instance", "host-2:.*"))
    by_alternation = add_silence(silences, regex("env", "prod|stage"), equal("alertname", "Up"))
    unanchored = add_silence(silences, regex("instance", ".*:9100"), MatcherSpec("env", MatchType.NOT_EQUAL, "prod"))
    assert answer(table, web1, T0) == ((by_equality,), ())
    assert answer(table, web2, T0) == (tuple(sorted([by_prefix, unanchored])), ())
    assert answer(table, other, T0) == ((by_alternation,), ())
    assert set(table.matched_fingerprints()) == {web1, web2, other}


def test_an_alert_stored_while_silences_exist_is_matched_when_first_asked() -> None:
    silences, table = table_with_silences()
    silence = add_silence(silences, equal("job", "api"))
    late = store_alert(table, job="api", instance="a")
    unmatched = store_alert(table, job="db")
    assert answer(table, late, T0) == ((silence,), ())
    assert table.result(unmatched, T0) is NO_SILENCES
    assert table.result(fingerprint({"job": "unknown"}), T0) is None  # not a stored alert


def test_results_follow_time_both_ways_and_updates_in_place() -> None:
    silences, table = table_with_silences()
    alert = store_alert(table, job="api")
    silence = add_silence(silences, equal("job", "api"), starts=T0 + HOUR, ends=T0 + 2 * HOUR)
    assert answer(table, alert, T0) == ((), (silence,))
    assert answer(table, alert, T0 + HOUR) == ((silence,), ())
    assert answer(table, alert, T0 + 2 * HOUR) == ((silence,), ())  # the end itself is active
    assert answer(table, alert, T0 + 2 * HOUR + timedelta(microseconds=1)) == ((), ())
    assert answer(table, alert, T0 + HOUR / 2) == ((), (silence,))  # the clock stepped back
    # Same matchers, new end: updated in place, the table keeps the match and follows the end.
    silences.set(SilenceRequest(silence, (equal("job", "api"),), T0 + HOUR, T0 + 5 * HOUR), T0)
    assert answer(table, alert, T0 + 3 * HOUR) == ((silence,), ())
    silences.expire(silence, T0 + 3 * HOUR)
    assert answer(table, alert, T0 + 3 * HOUR + HOUR) == ((), ())


def test_a_merged_version_with_other_matchers_moves_the_matches() -> None:
    silences, table = table_with_silences()
    api = store_alert(table, job="api")
    db = store_alert(table, job="db")
    first = Silence("peer-1", (SilenceMatcher("job", MatchType.EQUAL, "api"),), T0, T0 + HOUR, T0)
    silences.merge(first, T0 + 2 * HOUR, T0)
    assert answer(table, api, T0) == (("peer-1",), ())
    moved = Silence("peer-1", (SilenceMatcher("job", MatchType.EQUAL, "db"),), T0, T0 + HOUR, T0 + HOUR / 2)
    silences.merge(moved, T0 + 2 * HOUR, T0)
    assert answer(table, api, T0) == ((), ())
    assert answer(table, db, T0) == (("peer-1",), ())


def test_gc_and_removed_alerts_leave_nothing_behind() -> None:
    silences, table = table_with_silences()
    alerts = [store_alert(table, job="api", instance=str(index)) for index in range(5)]
    silence = add_silence(silences, equal("job", "api"))
    assert all(answer(table, alert, T0) == ((silence,), ()) for alert in alerts)
    silences.gc(T0 + 2 * HOUR)  # expired: out of the index
    assert all(table.result(alert, T0) is NO_SILENCES for alert in alerts)
    add_silence(silences, regex("instance", "[0-9]"))
    for alert in alerts:
        table.alert_removed(alert)
    assert len(table) == 0
    assert not table.matched_fingerprints()
    assert not table._alerts_of and not table._results and not table._unmatched
    assert all(not by_value for by_value in table._alerts_by_label.values())


def test_the_store_reports_its_fingerprints_to_the_table() -> None:
    silences, table = table_with_silences()
    store = AlertStore()
    early = Alert(labels={"job": "api"}, starts_at=T0, ends_at=T0 + 2 * HOUR, updated_at=T0)
    store.merge_in([early], T0)
    store.add_observer(table)  # replays what is stored
    silence = add_silence(silences, equal("job", "api"))
    late = Alert(labels={"job": "api", "x": "y"}, starts_at=T0, ends_at=T0 + HOUR / 2, updated_at=T0)
    store.merge_in([late], T0)
    assert answer(table, early.fingerprint(), T0) == ((silence,), ())
    assert answer(table, late.fingerprint(), T0) == ((silence,), ())
    store.gc(T0 + HOUR)  # `late` has resolved
    assert late.fingerprint() not in table
    assert early.fingerprint() in table


def test_the_silencer_records_the_table_answer_in_the_marker() -> None:
    silences, table = table_with_silences()
    marker = Marker()
    silencer = Silencer(silences, marker, table)
    labels = {"job": "api"}
    alert = store_alert(table, **labels)
    quiet = store_alert(table, job="db")
    silence = add_silence(silences, equal("job", "api"), starts=T0 + HOUR, ends=T0 + 2 * HOUR)
    assert silencer.silenced_by(labels, T0) == []
    assert marker.status(alert).pending_silences == (silence,)
    silencer.update_status(alert, labels, T0 + HOUR)
    assert marker.status(alert).silenced_by == (silence,)
    assert marker.status(alert).state == STATE_SUPPRESSED
    silencer.update_status(quiet, {"job": "db"}, T0)
    assert marker.status(quiet) is ACTIVE_STATUS
    # An alert the table does not hold (dropped by the store, still in a group) is scanned.
    assert silencer.silenced_by({"job": "api", "gone": "yes"}, T0 + HOUR) == [silence]


# ---------------------------------------------------------------------------- property

LABEL_NAMES = ("a", "b", "c")
LABEL_VALUES = ("x", "y", "xy", "x-1", "x-2")
MATCHER_VALUES = ("x", "y", "", "x|y", "x.*", "x-.*", "xy|z", ".+", "x-[0-9]")

label_sets = st.dictionaries(st.sampled_from(LABEL_NAMES), st.sampled_from(LABEL_VALUES), min_size=1, max_size=3)
matcher_specs = st.builds(
    MatcherSpec, st.sampled_from(LABEL_NAMES), st.sampled_from(list(MatchType)), st.sampled_from(MATCHER_VALUES)
)


@dataclass(frozen=True)
class Step:
    kind: str  # "alert+", "alert-", "silence+", "update", "load", "expire", "gc", "ask"
    labels: dict[str, str]
    matchers: tuple[MatcherSpec, ...]
    hours: int  # a start offset, an end length, or the time asked at (may go back)
    pick: int


steps = st.builds(
    Step,
    st.sampled_from(["alert+", "alert+", "alert-", "silence+", "silence+", "update", "load", "expire", "gc", "ask"]),
    label_sets,
    st.lists(matcher_specs, min_size=1, max_size=3).map(tuple),
    st.integers(-3, 4),
    st.integers(0, 1000),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, min_size=1, max_size=30))
def test_the_table_agrees_with_a_scan_of_the_indexed_silences(plan: list[Step]) -> None:
    silences, table = table_with_silences()
    marker = Marker()
    silencer = Silencer(silences, marker, table)
    stored: dict[int, dict[str, str]] = {}
    for step in plan:
        now = T0 + step.hours * HOUR
        ids = sorted(silence.id for silence in silences.all())
        if step.kind == "alert+":
            stored[store_alert(table, **step.labels)] = step.labels
        elif step.kind == "alert-" and stored:
            gone = sorted(stored)[step.pick % len(stored)]
            table.alert_removed(gone)
            del stored[gone]
        elif step.kind == "silence+":
            try:
                add_silence(silences, *step.matchers, starts=now, ends=now + abs(step.hours) * HOUR)
            except SilenceInvalid:
                pass
        elif step.kind == "update" and ids:
            # A peer's version: new matchers and/or times, unvalidated (merges skip validation).
            chosen = silences.get(ids[step.pick % len(ids)])
            assert chosen is not None
            matchers = tuple(SilenceMatcher(m.name, m.type, m.value) for m in step.matchers)
            newer = Silence(chosen.id, matchers, now, now + HOUR, chosen.updated_at + HOUR)
            silences.merge(newer, T0 + 48 * HOUR, T0)
        elif step.kind == "load":
            # Start-up's bulk merge (filed in the index lazily): a new silence, and a newer
            # version of a held one, so that a filed silence is replaced by an unfiled one.
            matchers = tuple(SilenceMatcher(m.name, m.type, m.value) for m in step.matchers)
            loaded = [Silence(f"loaded-{step.pick}", matchers, now, now + HOUR, T0)]
            if ids:
                chosen = silences.get(ids[step.pick % len(ids)])
                assert chosen is not None
                loaded.append(dataclasses.replace(chosen, matchers=matchers, updated_at=chosen.updated_at + HOUR))
            silences.load([(silence, T0 + 48 * HOUR) for silence in loaded], T0)
        elif step.kind == "expire" and ids:
            silences.expire(ids[step.pick % len(ids)], now)
        elif step.kind == "gc":
            silences.gc(now)
        for alert_fingerprint, labels in stored.items():
            # The table first: it must file loaded silences itself, before the scan does.
            answered = answer(table, alert_fingerprint, now)
            expected = scan(silences, labels, now)
            assert answered == expected
            assert tuple(silencer.silenced_by(labels, now)) == expected[0]
            assert marker.status(alert_fingerprint).pending_silences == expected[1]
        matched = table.matched_fingerprints()
        for alert_fingerprint, labels in stored.items():
            any_match = any(silence.matches(labels) for silence in silences.indexed())
            assert (alert_fingerprint in matched) is any_match


# ---------------------------------------------------------------------------- the API


class WiredApi:
    """Store, marker, silences, table, silencer, inhibitor and the alerts API, wired as the
    app wires them."""

    def __init__(self, *, rules: Sequence[InhibitRule] = ()) -> None:
        self.marker = Marker()
        self.store = AlertStore(self.marker)
        self.silences, self.table = table_with_silences()
        self.store.add_observer(self.table)
        self.silencer = Silencer(self.silences, self.marker, self.table)
        self.inhibitor = Inhibitor(rules, self.marker)
        self.now = T0
        self.evaluated: list[int] = []

        def set_alert_status(alert_fingerprint: int, labels: Mapping[str, str], now: datetime) -> None:
            self.evaluated.append(alert_fingerprint)
            if rules or self.marker.status(alert_fingerprint).inhibited_by:
                self.inhibitor.update_status(alert_fingerprint, labels, now)
            self.silencer.update_status(alert_fingerprint, labels, now)

        def maybe_muted() -> Container[int] | None:
            if self.marker.any_inhibited() or self.inhibitor.source_count():
                return None
            return self.table.matched_fingerprints()

        # One group holding every stored alert plus those in `self.grouped_only` (dropped by
        # the store, still held by their group).
        self.grouped_only: list[AlertUpdate] = []
        route = Route.from_config(RouteConfig(receiver="default"))

        def groups(route_filter: Any, alert_filter: Any) -> tuple[list[AlertGroupView], dict[int, list[str]]]:
            group = AggregationGroup(route, {}, 0.0)
            held = [*self.store.sorted_items(), *self.grouped_only]
            kept = [update for update in held if alert_filter(update, self.now)]
            return [AlertGroupView(group, kept)], {update.fingerprint: ["default"] for update in kept}

        runtime = AlertsRuntime(
            route=route,
            resolve_timeout=HOUR,
            receiver_names=("default",),
            original_config="",
            set_alert_status=set_alert_status,
            groups=groups,
            maybe_muted=maybe_muted,
        )
        self.api = AlertsAPI(self.store, self.marker, lambda: runtime, clock=lambda: self.now)

    async def put(self, ends: datetime = T0 + 24 * HOUR, **labels: str) -> int:
        alert = Alert(labels=labels, starts_at=T0, ends_at=ends, updated_at=T0)
        await self.store.put([alert], T0)
        self.inhibitor.observe(alert)  # the app feeds it from a store subscription
        return alert.fingerprint()

    def get(self, query: Mapping[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
        self.evaluated.clear()
        response = self.api.get(query or {})
        assert response.status == 200
        return {shown["labels"]["job"]: shown["status"] for shown in orjson.loads(response.body)}


async def test_get_evaluates_only_alerts_a_silence_matches_and_marks_the_rest_active() -> None:
    wired = WiredApi()
    api = await wired.put(job="api")
    db = await wired.put(job="db")
    assert wired.marker.status(db).state == "unprocessed"
    silence = add_silence(wired.silences, equal("job", "api"), starts=T0 + HOUR, ends=T0 + 2 * HOUR)
    shown = wired.get()
    assert wired.evaluated == [api]
    assert shown["db"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    assert wired.marker.status(db) is ACTIVE_STATUS
    assert shown["api"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    wired.now = T0 + HOUR
    assert wired.get()["api"] == {"inhibitedBy": [], "silencedBy": [silence], "state": "suppressed"}
    assert wired.get({"silenced": ["false"]}).keys() == {"db"}
    # The silence ends early: the alert is matched by nothing now, and shown active again.
    wired.silences.expire(silence, T0 + HOUR)
    wired.silences.gc(T0 + HOUR + HOUR / 2)
    wired.now = T0 + HOUR + HOUR / 2
    assert wired.get()["api"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    assert wired.evaluated == []
    assert wired.marker.status(api) is ACTIVE_STATUS


async def test_groups_evaluate_like_get_and_check_alerts_the_store_dropped() -> None:
    wired = WiredApi()
    api = await wired.put(job="api")
    await wired.put(job="db")
    gone_labels = {"job": "api", "instance": "gone"}
    gone = Alert(labels=gone_labels, starts_at=T0, ends_at=T0 + 24 * HOUR, updated_at=T0)
    wired.grouped_only.append(AlertUpdate(gone.fingerprint(), gone))
    silence = add_silence(wired.silences, equal("job", "api"))
    wired.evaluated.clear()
    response = wired.api.groups({})
    assert response.status == 200
    shown = {
        shown_alert["labels"].get("instance", shown_alert["labels"]["job"]): shown_alert["status"]
        for group in orjson.loads(response.body)
        for shown_alert in group["alerts"]
    }
    assert shown["api"]["silencedBy"] == [silence]
    assert shown["gone"]["silencedBy"] == [silence]  # not in the table: evaluated by a scan
    assert shown["db"]["state"] == "active"
    assert sorted(wired.evaluated) == sorted([api, gone.fingerprint()])


async def test_get_evaluates_every_alert_while_an_inhibition_source_exists() -> None:
    critical_inhibits_warning = InhibitRule(
        source_matchers=[Matcher("severity", MatchType.EQUAL, "critical")],
        target_matchers=[Matcher("severity", MatchType.EQUAL, "warning")],
        equal=["cluster"],
    )
    wired = WiredApi(rules=[critical_inhibits_warning])
    api = await wired.put(job="api", severity="warning", cluster="a")
    db = await wired.put(job="db", severity="warning", cluster="b")
    # Rules, but no source alert: nothing can be inhibited, nothing is evaluated.
    assert wired.get()["api"]["state"] == "active"
    assert wired.evaluated == []
    source = await wired.put(job="lb", severity="critical", cluster="a", ends=T0 + HOUR)
    shown = wired.get()
    assert sorted(wired.evaluated) == sorted([api, db, source])
    assert shown["api"] == {"inhibitedBy": [f"{source:016x}"], "silencedBy": [], "state": "suppressed"}
    assert shown["db"]["state"] == "active"
    # The source resolves and is collected: the inhibited alert is evaluated once more, to
    # clear its status, and then nothing needs evaluating again.
    wired.now = T0 + 2 * HOUR
    wired.inhibitor.gc(wired.now)
    wired.store.gc(wired.now)
    assert wired.get()["api"]["state"] == "active"
    assert sorted(wired.evaluated) == sorted([api, db])
    assert not wired.marker.any_inhibited()
    wired.get()
    assert wired.evaluated == []
