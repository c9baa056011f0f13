"""The silence index files a regex under its literal prefix: which prefixes are sure, and
that indexed matching still agrees with a scan over every silence for prefix-heavy regexes.
The silencer's per-alert cache in the marker: reused while the silences are unchanged,
following time, and always agreeing with a fresh scan."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.marker import Marker
from daemon.matchers import MatcherError, MatchType, compile_anchored
from daemon.silences import (
    MatcherSpec,
    SilenceInvalid,
    SilenceMatcher,
    Silencer,
    SilenceRequest,
    Silences,
    SilenceState,
    _literal_prefix,
)
from notify.model import fingerprint

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("host-17:.*", "host-17:"),
        ("web-[0-9]+", "web-"),
        ("ab+", "ab"),  # `+`: at least one b
        ("ab*", "a"),  # `*`, `?` and `{` make the last literal optional
        ("ab?c", "a"),
        ("ab{0,2}", "a"),
        ("a.*|b", ""),  # any alternation: no single prefix is sure
        ("(a|b)c.*", ""),
        ("(?i)abc.*", ""),  # flags come first: nothing literal before them
        ("^abc.*", ""),
        (".*abc", ""),
        ("a\\.b.*", "a"),  # an escape is not a plain literal: stop before it
    ],
)
def test_literal_prefix(pattern: str, prefix: str) -> None:
    assert _literal_prefix(pattern) == prefix


def make_silences() -> Silences:
    return Silences(rng=random.Random(7))


def add(silences: Silences, *specs: MatcherSpec) -> str:
    return silences.set(SilenceRequest("", tuple(specs), T0, T0 + HOUR), T0)


def test_prefix_filed_silences_are_found_and_only_for_their_prefix() -> None:
    silences = make_silences()
    host_17 = add(
        silences,
        MatcherSpec("alertname", MatchType.EQUAL, "A"),
        MatcherSpec("instance", MatchType.REGEX, "host-17:.*"),
    )
    host_1 = add(silences, MatcherSpec("instance", MatchType.REGEX, "host-1.*"))
    assert silences.matching({"alertname": "A", "instance": "host-17:9100"}, T0)[0] == sorted(
        [host_17, host_1]
    )
    assert silences.matching({"alertname": "A", "instance": "host-18:9100"}, T0)[0] == [host_1]
    assert silences.matching({"alertname": "A", "instance": "host-"}, T0)[0] == []
    assert silences.matching({"alertname": "A"}, T0)[0] == []
    silences.expire(host_1, T0)
    silences.gc(T0 + HOUR / 2)  # drops the expired silence from the index
    assert silences.matching({"alertname": "A", "instance": "host-17:9100"}, T0 + HOUR / 2)[0] == [host_17]


def test_a_prefix_anchor_is_preferred_to_a_crowded_equality_bucket() -> None:
    silences = make_silences()
    for index in range(50):
        add(
            silences,
            MatcherSpec("alertname", MatchType.EQUAL, "A"),
            MatcherSpec("instance", MatchType.REGEX, f"host-{index:03d}:.*"),
        )
    # Each alert now meets one candidate, not all 50 silences filed under alertname="A".
    assert len(silences._index.candidates({"alertname": "A", "instance": "host-007:1"})) <= 2


PIECES = ["x", "y", "xy", ".*", ".+", "[xy]", "x*", "y?", "x+", "x{0,2}", "(?i)", "(x|y)", "|", "\\.", "-"]
regexes = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join)
matcher_specs = st.builds(
    MatcherSpec,
    st.sampled_from(["a", "b"]),
    st.sampled_from([MatchType.REGEX, MatchType.REGEX, MatchType.EQUAL, MatchType.NOT_REGEX]),
    regexes,
)
label_values = st.text(alphabet="xyXY.-", max_size=5)
label_sets = st.dictionaries(st.sampled_from(["a", "b", "c"]), label_values, max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(matcher_specs, min_size=1, max_size=2), max_size=10),
    st.lists(label_sets, min_size=1, max_size=10),
)
def test_prefix_indexed_matching_agrees_with_a_scan(
    silence_specs: list[list[MatcherSpec]], alerts: list[dict[str, str]]
) -> None:
    silences = make_silences()
    for specs in silence_specs:
        try:
            add(silences, *specs)
        except SilenceInvalid:
            continue
    for labels in alerts:
        scan = sorted(
            s.id for s in silences.all() if s.state_at(T0) is SilenceState.ACTIVE and s.matches(labels)
        )
        assert silences.matching(labels, T0)[0] == scan


# -- the silencer's cache in the marker


class CountingSilences(Silences):
    """Counts full evaluations (index lookups plus matcher checks)."""

    def __init__(self) -> None:
        super().__init__(rng=random.Random(3))
        self.full_evaluations = 0

    def matching(self, labels: Mapping[str, str], now: datetime) -> tuple[list[str], list[str]]:
        self.full_evaluations += 1
        return super().matching(labels, now)


def test_silencer_reuses_the_marker_while_silences_are_unchanged_but_follows_time() -> None:
    silences = CountingSilences()
    marker = Marker()
    silencer = Silencer(silences, marker)
    labels = {"alertname": "A", "instance": "host-1:9100"}
    pending = silences.set(
        SilenceRequest(
            "", (MatcherSpec("instance", MatchType.REGEX, "host-1:.*"),), T0 + HOUR, T0 + 3 * HOUR
        ),
        T0,
    )
    assert silencer.silenced_by(labels, T0) == []
    assert marker.status(fingerprint(labels)).pending_silences == (pending,)
    assert silences.full_evaluations == 1
    # Same silences, later times: the cached IDs change state, without a new evaluation.
    assert silencer.silenced_by(labels, T0 + 2 * HOUR) == [pending]
    assert marker.status(fingerprint(labels)).silenced_by == (pending,)
    assert silencer.silenced_by(labels, T0 + 4 * HOUR) == []
    assert marker.status(fingerprint(labels)).silenced_by == ()
    assert silences.full_evaluations == 1
    # Any change to the silences invalidates every cached result.
    other = silences.set(
        SilenceRequest("", (MatcherSpec("alertname", MatchType.EQUAL, "A"),), T0, T0 + HOUR), T0
    )
    assert silencer.silenced_by(labels, T0) == [other]
    assert silences.full_evaluations == 2
    silences.expire(other, T0 + HOUR / 2)
    # Expired at that instant is still active in the store's view (as in Alertmanager).
    assert silencer.silenced_by(labels, T0 + HOUR / 2 + timedelta(seconds=1)) == []
    assert silences.full_evaluations == 3


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.lists(matcher_specs, min_size=1, max_size=2), st.integers(-2, 2)), max_size=8),
    st.lists(st.tuples(label_sets, st.integers(0, 2), st.booleans()), min_size=1, max_size=12),
)
def test_cached_silencing_agrees_with_a_fresh_scan(
    silence_specs: list[tuple[list[MatcherSpec], int]], steps: list[tuple[dict[str, str], int, bool]]
) -> None:
    silences = make_silences()
    silencer = Silencer(silences, Marker())
    pending_specs = list(silence_specs)
    # Time only moves forward (as the daemon's clock does between evaluations): a silence the
    # cache saw expire cannot become active again without a change, which bumps the version.
    at_hours = -3
    for labels, hours_later, add_one in steps:
        at_hours += hours_later
        if add_one and pending_specs:
            specs, start = pending_specs.pop()
            try:
                silences.set(SilenceRequest("", tuple(specs), T0 + start * HOUR, T0 + (start + 2) * HOUR), T0)
            except SilenceInvalid:
                pass
        now = T0 + at_hours * HOUR
        expected = sorted(
            s.id for s in silences.all() if s.state_at(now) is SilenceState.ACTIVE and s.matches(labels)
        )
        assert silencer.silenced_by(labels, now) == expected


@settings(max_examples=400, deadline=None)
@given(regexes, label_values, st.sampled_from([MatchType.REGEX, MatchType.NOT_REGEX]))
def test_the_prefix_shortcut_agrees_with_re2(pattern: str, value: str, kind: MatchType) -> None:
    try:
        regex = compile_anchored(pattern)
    except MatcherError:
        return
    found = regex.search(value) is not None
    assert SilenceMatcher("a", kind, pattern).matches(value) is (
        found if kind is MatchType.REGEX else not found
    )
