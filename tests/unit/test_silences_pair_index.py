"""The silence index files a silence with single-value anchors on two labels under the pair:
only alerts carrying both values are its candidates. Indexed matching must still agree with
a scan over every silence, with any number of pair shapes (past the bound, silences fall
back to one anchor), and removing silences must leave nothing behind."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon import silences as silences_module
from daemon.matchers import MatchType
from daemon.silences import MatcherSpec, SilenceInvalid, SilenceRequest, Silences, SilenceState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
NAMES = 10
HOSTS = 5


def make() -> Silences:
    return Silences(rng=random.Random(5))


def add(silences: Silences, *specs: MatcherSpec) -> str:
    return silences.set(SilenceRequest("", tuple(specs), T0, T0 + HOUR), T0)


def bench_shaped(silences: Silences) -> None:
    """As bench_silences builds them: each silences one alert of a name x host grid, half
    with an equality on the instance, half with a regex on its prefix."""
    for serial in range(NAMES * HOSTS):
        alertname = MatcherSpec("alertname", MatchType.EQUAL, f"A{serial % NAMES}")
        host = serial // NAMES
        if serial % 2 == 0:
            instance = MatcherSpec("instance", MatchType.EQUAL, f"host-{host}:9100")
        else:
            instance = MatcherSpec("instance", MatchType.REGEX, f"host-{host}:.*")
        add(silences, alertname, instance)


def test_each_alert_meets_only_the_silences_filed_under_both_its_values() -> None:
    silences = make()
    bench_shaped(silences)
    for name in range(NAMES):
        for host in range(HOSTS + 2):
            labels = {"alertname": f"A{name}", "instance": f"host-{host}:9100", "job": "node"}
            candidates = silences._index.candidates(labels)
            matching = [s.id for s in silences.all() if s.matches(labels)]
            assert sorted(candidates) == sorted(matching)
            assert len(candidates) == (1 if host < HOSTS else 0)


def test_past_the_shape_bound_silences_are_filed_under_one_anchor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(silences_module, "MAX_PAIR_SHAPES", 1)
    silences = make()
    paired = add(silences, MatcherSpec("a", MatchType.EQUAL, "x"), MatcherSpec("b", MatchType.EQUAL, "y"))
    single = add(silences, MatcherSpec("a", MatchType.EQUAL, "x"), MatcherSpec("c", MatchType.EQUAL, "z"))
    assert set(silences._index.candidates({"a": "x", "b": "y"})) == {paired, single}
    assert silences.matching({"a": "x", "c": "z"}, T0)[0] == [single]
    # The bound counts shapes in use: once the first shape is gone, another may take its place.
    silences.expire(paired, T0)
    silences.gc(T0 + HOUR / 2)
    assert not silences._index._by_pair
    later = add(silences, MatcherSpec("a", MatchType.EQUAL, "q"), MatcherSpec("c", MatchType.EQUAL, "z"))
    assert silences._index.candidates({"a": "q", "c": "z"}) == {later}


LABEL_NAMES = ["a", "b", "c"]
LABEL_VALUES = ["x", "y", "xy", "x-1", "y-2"]
matcher_specs = st.builds(
    MatcherSpec,
    st.sampled_from(LABEL_NAMES),
    st.sampled_from([MatchType.EQUAL, MatchType.EQUAL, MatchType.REGEX, MatchType.NOT_EQUAL, MatchType.NOT_REGEX]),
    st.sampled_from(["x", "y", "xy", "x-.*", "y-[0-9]", "x|y", "x.*", ".*", ""]),
)
label_sets = st.dictionaries(st.sampled_from(LABEL_NAMES), st.sampled_from(LABEL_VALUES), max_size=3)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(matcher_specs, min_size=1, max_size=3), max_size=14),
    st.lists(label_sets, min_size=1, max_size=8),
    st.sampled_from([0, 1, 2, 32]),
)
def test_pair_indexed_matching_agrees_with_a_scan(
    silence_specs: list[list[MatcherSpec]], alerts: list[dict[str, str]], shape_bound: int
) -> None:
    original = silences_module.MAX_PAIR_SHAPES
    silences_module.MAX_PAIR_SHAPES = shape_bound
    try:
        silences = make()
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
        for silence in silences.all():
            silences.expire(silence.id, T0)
        silences.gc(T0 + HOUR)
        index = silences._index
        assert not index.filed()
        assert not (index._by_label or index._by_prefix or index._by_pair or index._unanchored)
    finally:
        silences_module.MAX_PAIR_SHAPES = original
