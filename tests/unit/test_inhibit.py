"""Inhibition rules: equal labels, missing labels, self-inhibition, resolved sources, index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.config.model import InhibitRule
from daemon.inhibit import Inhibitor
from daemon.marker import Marker
from daemon.matchers import Matcher, MatchType
from notify.model import Alert, fingerprint

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def eq(name: str, value: str) -> Matcher:
    return Matcher(name, MatchType.EQUAL, value)


def firing(**labels: str) -> Alert:
    return Alert(labels=dict(labels), starts_at=NOW - timedelta(minutes=5), ends_at=LATER)


CRITICAL_SILENCES_WARNING = InhibitRule(
    source_matchers=[eq("severity", "critical")],
    target_matchers=[eq("severity", "warning")],
    equal=["cluster", "alertname"],
)


def test_target_inhibited_by_source_with_equal_labels() -> None:
    marker = Marker()
    inhibitor = Inhibitor([CRITICAL_SILENCES_WARNING], marker)
    source = firing(alertname="Down", severity="critical", cluster="eu")
    inhibitor.observe(source)
    target = {"alertname": "Down", "severity": "warning", "cluster": "eu"}
    assert inhibitor.inhibited_by(target, NOW) == [f"{source.fingerprint():016x}"]
    assert marker.status(fingerprint(target)).inhibited_by == (f"{source.fingerprint():016x}",)
    assert not inhibitor.mutes({"alertname": "Down", "severity": "warning", "cluster": "us"}, NOW)
    assert not inhibitor.mutes({"alertname": "Down", "severity": "info", "cluster": "eu"}, NOW)
    assert marker.status(fingerprint({"alertname": "Down", "severity": "info", "cluster": "eu"})).inhibited_by == ()


def test_label_missing_on_both_sides_counts_as_equal() -> None:
    inhibitor = Inhibitor([CRITICAL_SILENCES_WARNING])
    inhibitor.observe(firing(alertname="Down", severity="critical"))
    assert inhibitor.mutes({"alertname": "Down", "severity": "warning"}, NOW)
    assert not inhibitor.mutes({"alertname": "Down", "severity": "warning", "cluster": "eu"}, NOW)


def test_resolved_sources_do_not_inhibit_and_are_collected() -> None:
    inhibitor = Inhibitor([CRITICAL_SILENCES_WARNING])
    inhibitor.observe(firing(alertname="Down", severity="critical"))
    target = {"alertname": "Down", "severity": "warning"}
    assert inhibitor.mutes(target, NOW)
    assert not inhibitor.mutes(target, LATER)  # ends_at reached: resolved
    assert inhibitor.gc(LATER) == 1 and inhibitor.source_count() == 0


def test_updated_source_replaces_the_old_version() -> None:
    inhibitor = Inhibitor([CRITICAL_SILENCES_WARNING])
    source = firing(alertname="Down", severity="critical")
    inhibitor.observe(source)
    inhibitor.observe(Alert(labels=source.labels, starts_at=source.starts_at, ends_at=NOW - timedelta(seconds=1)))
    assert not inhibitor.mutes({"alertname": "Down", "severity": "warning"}, NOW)
    assert inhibitor.source_count() == 1


def test_an_alert_does_not_inhibit_itself_or_its_peers() -> None:
    # Both sides match `team=db`: an alert matching both must not be muted by another
    # alert that also matches both, but is muted by a source that is not a target.
    rule = InhibitRule(source_matchers=[eq("team", "db")], target_matchers=[eq("team", "db")], equal=["cluster"])
    inhibitor = Inhibitor([rule])
    peer = firing(team="db", cluster="eu", alertname="A")
    inhibitor.observe(peer)
    assert not inhibitor.mutes(peer.labels, NOW)
    assert not inhibitor.mutes({"team": "db", "cluster": "eu", "alertname": "B"}, NOW)

    two_sided = InhibitRule(
        source_matchers=[eq("severity", "critical")],
        target_matchers=[Matcher("severity", MatchType.REGEX, "critical|warning")],
        equal=[],
    )
    inhibitor = Inhibitor([two_sided])
    inhibitor.observe(firing(severity="critical", alertname="X"))
    assert inhibitor.mutes({"severity": "warning"}, NOW)
    assert not inhibitor.mutes({"severity": "critical", "alertname": "Y"}, NOW)


def test_first_matching_rule_and_earliest_source_are_reported() -> None:
    inhibitor = Inhibitor([CRITICAL_SILENCES_WARNING])
    first = firing(alertname="Down", severity="critical", instance="1")
    second = firing(alertname="Down", severity="critical", instance="2")
    inhibitor.observe(first)
    inhibitor.observe(second)
    assert inhibitor.inhibited_by({"alertname": "Down", "severity": "warning"}, NOW) == [f"{first.fingerprint():016x}"]
    inhibitor.forget(first.fingerprint())
    assert inhibitor.inhibited_by({"alertname": "Down", "severity": "warning"}, NOW) == [f"{second.fingerprint():016x}"]


NAMES = ["severity", "cluster", "job"]
VALUES = ["critical", "warning", "a", "b"]
label_sets = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), max_size=3)
matchers = st.lists(
    st.builds(Matcher, st.sampled_from(NAMES), st.sampled_from([MatchType.EQUAL, MatchType.NOT_EQUAL]), st.sampled_from(VALUES)),
    max_size=2,
)
rules = st.builds(InhibitRule, matchers, matchers, st.lists(st.sampled_from(NAMES), max_size=2))


def naive_inhibited(rules_: list[InhibitRule], sources: list[Alert], labels: dict[str, str], now: datetime) -> bool:
    def matches(ms: list[Matcher], ls: dict[str, str]) -> bool:
        return all(m.matches(ls.get(m.name, "")) for m in ms)

    for rule in rules_:
        if not matches(rule.target_matchers, labels):
            continue
        two_sided = matches(rule.source_matchers, labels)
        for source in sources:
            if source.resolved_at(now) or not matches(rule.source_matchers, source.labels):
                continue
            if any(source.labels.get(n, "") != labels.get(n, "") for n in rule.equal):
                continue
            if two_sided and matches(rule.target_matchers, source.labels):
                continue
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(st.lists(rules, max_size=3), st.lists(st.tuples(label_sets, st.booleans()), max_size=8), st.lists(label_sets, max_size=6))
def test_indexed_inhibitor_agrees_with_a_scan(
    rules_: list[InhibitRule], source_specs: list[tuple[dict[str, str], bool]], targets: list[dict[str, str]]
) -> None:
    latest: dict[int, Alert] = {}
    inhibitor = Inhibitor(rules_)
    for labels, resolved in source_specs:
        alert = Alert(labels=labels, starts_at=NOW - timedelta(hours=1), ends_at=NOW - timedelta(seconds=1) if resolved else LATER)
        inhibitor.observe(alert)
        latest[alert.fingerprint()] = alert
    for target in targets:
        assert inhibitor.mutes(target, NOW) == naive_inhibited(rules_, list(latest.values()), target, NOW)
