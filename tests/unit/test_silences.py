"""Silence state rules (Alertmanager 0.25 silence/silence.go semantics) and the index."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.marker import Marker
from daemon.matchers import MatchType
from daemon.silences import (
    DEFAULT_RETENTION,
    MatcherSpec,
    Silence,
    SilenceInvalid,
    SilenceMatcher,
    SilenceNotFound,
    Silencer,
    SilenceRequest,
    Silences,
    SilenceState,
    decode_silence,
    encode_silence,
    load_records,
)
from notify.model import fingerprint

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def spec(name: str = "job", value: str = "api", kind: MatchType = MatchType.EQUAL) -> MatcherSpec:
    return MatcherSpec(name, kind, value)


def request(
    *matchers: MatcherSpec,
    starts: datetime = T0,
    ends: datetime = T0 + HOUR,
    silence_id: str = "",
) -> SilenceRequest:
    return SilenceRequest(
        id=silence_id,
        matchers=matchers or (spec(),),
        starts_at=starts,
        ends_at=ends,
        created_by="me",
        comment="why",
    )


def make(seed: int = 1) -> Silences:
    return Silences(rng=random.Random(seed))


# -- create


def test_create_assigns_uuid4_and_clamps_a_past_start_to_now() -> None:
    silences = make()
    silence_id = silences.set(request(starts=T0 - HOUR), T0)
    silence = silences.get(silence_id)
    assert silence is not None
    assert len(silence_id) == 36 and silence_id[14] == "4"
    assert silence.starts_at == T0
    assert silence.updated_at == T0
    assert silences.expires_at(silence_id) == T0 + HOUR + DEFAULT_RETENTION


def test_create_keeps_a_future_start() -> None:
    silences = make()
    silence_id = silences.set(request(starts=T0 + HOUR, ends=T0 + 2 * HOUR), T0)
    silence = silences.get(silence_id)
    assert silence is not None and silence.starts_at == T0 + HOUR
    assert silence.state_at(T0) is SilenceState.PENDING


def test_unknown_id_is_not_found() -> None:
    with pytest.raises(SilenceNotFound, match=r"^silence not found$"):
        make().set(request(silence_id="nope"), T0)


def test_states_at_the_edges() -> None:
    silence = Silence("x", (SilenceMatcher("a", MatchType.EQUAL, "b"),), T0, T0 + HOUR, T0)
    assert silence.state_at(T0 - MINUTE) is SilenceState.PENDING
    assert silence.state_at(T0) is SilenceState.ACTIVE
    assert silence.state_at(T0 + HOUR) is SilenceState.ACTIVE  # the store: end inclusive
    assert silence.api_state_at(T0 + HOUR) is SilenceState.EXPIRED  # the API: end exclusive
    assert silence.state_at(T0 + HOUR + MINUTE) is SilenceState.EXPIRED


# -- validation, in Alertmanager's order and words


@pytest.mark.parametrize(
    ("matchers", "message"),
    [
        ((), "silence invalid: at least one matcher required"),
        ((spec("a:b"),), 'silence invalid: invalid label matcher 0: invalid label name "a:b"'),
        ((spec(), spec("a b")), 'silence invalid: invalid label matcher 1: invalid label name "a b"'),
        (
            (spec("a", "(", MatchType.REGEX),),
            'silence invalid: invalid label matcher 0: invalid regular expression "(": '
            "error parsing regexp: missing closing ): `(`",
        ),
        (
            (spec("a", "a**", MatchType.REGEX),),
            'silence invalid: invalid label matcher 0: invalid regular expression "a**": '
            "error parsing regexp: invalid nested repetition operator: `**`",
        ),
        (
            (spec("a", ".*", MatchType.REGEX), spec("b", "")),
            "silence invalid: at least one matcher must not match the empty string",
        ),
        ((spec("a", "a|", MatchType.REGEX),), "silence invalid: at least one matcher must not match the empty string"),
    ],
)
def test_validation_messages(matchers: tuple[MatcherSpec, ...], message: str) -> None:
    silences = make()
    req = SilenceRequest("", matchers, T0, T0 + HOUR)
    with pytest.raises(SilenceInvalid) as caught:
        silences.set(req, T0)
    assert str(caught.value) == message
    assert len(silences) == 0


def test_not_equal_empty_is_a_valid_only_matcher() -> None:
    # `!=""` does not "match the empty string" in Alertmanager's check.
    silences = make()
    silences.set(request(spec("a", "", MatchType.NOT_EQUAL)), T0)
    assert len(silences) == 1


# -- update


def test_update_in_place_when_active_and_start_unchanged() -> None:
    silences = make()
    silence_id = silences.set(request(), T0)
    later = T0 + MINUTE
    same = silences.set(request(silence_id=silence_id, ends=T0 + 2 * HOUR), later)
    assert same == silence_id
    silence = silences.get(silence_id)
    assert silence is not None and silence.ends_at == T0 + 2 * HOUR and silence.updated_at == later
    assert len(silences) == 1


def test_active_update_tolerates_sub_second_start_change() -> None:
    silences = make()
    silence_id = silences.set(request(), T0)
    moved = T0 + timedelta(milliseconds=300)
    assert silences.set(request(silence_id=silence_id, starts=moved), T0 + MINUTE) == silence_id


def test_changed_matchers_expire_the_old_and_create_a_new() -> None:
    silences = make()
    old_id = silences.set(request(), T0)
    now = T0 + MINUTE
    new_id = silences.set(request(spec("job", "db"), silence_id=old_id, starts=T0 - HOUR), now)
    assert new_id != old_id
    old, new = silences.get(old_id), silences.get(new_id)
    assert old is not None and new is not None
    assert old.ends_at == now and old.updated_at == now
    assert new.starts_at == now  # clamped
    assert new.matchers == (SilenceMatcher("job", MatchType.EQUAL, "db"),)


def test_changed_start_on_active_silence_creates_new() -> None:
    silences = make()
    old_id = silences.set(request(), T0)
    new_id = silences.set(request(silence_id=old_id, starts=T0 + 2 * MINUTE), T0 + MINUTE)
    assert new_id != old_id


def test_active_update_with_end_in_the_past_is_not_in_place() -> None:
    # The API refuses such requests first; the store expires the old silence and then
    # fails to create the replacement (its clamped start is after its end).
    silences = make()
    old_id = silences.set(request(), T0)
    with pytest.raises(SilenceInvalid, match="end time must not be before start time"):
        silences.set(request(silence_id=old_id, ends=T0 + MINUTE), T0 + 2 * MINUTE)
    old = silences.get(old_id)
    assert old is not None and old.ends_at == T0 + 2 * MINUTE


def test_pending_update_in_place_only_with_future_start() -> None:
    silences = make()
    pending_id = silences.set(request(starts=T0 + HOUR, ends=T0 + 2 * HOUR), T0)
    assert silences.set(request(silence_id=pending_id, starts=T0 + 30 * MINUTE, ends=T0 + 3 * HOUR), T0) == pending_id
    moved = silences.set(request(silence_id=pending_id, starts=T0 - MINUTE, ends=T0 + 3 * HOUR), T0)
    assert moved != pending_id
    old = silences.get(pending_id)
    assert old is not None and old.starts_at == T0 and old.ends_at == T0  # pending expiry


def test_posting_an_expired_silence_id_creates_a_new_one_and_leaves_the_old() -> None:
    silences = make()
    old_id = silences.set(request(), T0)
    silences.expire(old_id, T0 + MINUTE)
    before = silences.get(old_id)
    new_id = silences.set(request(silence_id=old_id, ends=T0 + 3 * HOUR), T0 + 2 * MINUTE)
    assert new_id != old_id
    assert silences.get(old_id) == before


def test_invalid_update_still_expires_the_old_silence_like_alertmanager() -> None:
    silences = make()
    old_id = silences.set(request(), T0)
    with pytest.raises(SilenceInvalid):
        silences.set(request(spec("a:b"), silence_id=old_id), T0 + MINUTE)
    old = silences.get(old_id)
    assert old is not None and old.ends_at == T0 + MINUTE


# -- expire


def test_expire_active_pending_expired_and_unknown() -> None:
    silences = make()
    active = silences.set(request(), T0)
    pending = silences.set(request(starts=T0 + HOUR, ends=T0 + 2 * HOUR), T0)
    now = T0 + MINUTE
    silences.expire(active, now)
    silences.expire(pending, now)
    a, p = silences.get(active), silences.get(pending)
    assert a is not None and (a.starts_at, a.ends_at, a.updated_at) == (T0, now, now)
    assert p is not None and (p.starts_at, p.ends_at) == (now, now)
    version = silences.version
    silences.expire(active, now + MINUTE)  # already expired: no-op
    assert silences.version == version
    with pytest.raises(SilenceNotFound):
        silences.expire("unknown", now)


# -- GC, listeners, merge


def test_gc_after_retention() -> None:
    silences = Silences(retention=HOUR, rng=random.Random(3))
    silence_id = silences.set(request(), T0)
    assert silences.gc(T0 + 2 * HOUR - MINUTE) == 0
    assert silences.gc(T0 + 2 * HOUR) == 1  # expiry at or before now
    assert silence_id not in silences


def test_listeners_see_every_local_change() -> None:
    silences = make()
    seen = []
    silences.add_listener(seen.append)
    silence_id = silences.set(request(), T0)
    silences.expire(silence_id, T0 + MINUTE)
    assert [(c.silence.id, c.silence.ends_at, c.local) for c in seen] == [
        (silence_id, T0 + HOUR, True),
        (silence_id, T0 + MINUTE, True),
    ]


def test_merge_last_writer_wins_and_ignores_expired_entries() -> None:
    silences = make()
    matcher = (SilenceMatcher("a", MatchType.EQUAL, "b"),)
    older = Silence("s1", matcher, T0, T0 + HOUR, T0)
    newer = Silence("s1", matcher, T0, T0 + 2 * HOUR, T0 + MINUTE)
    assert silences.merge(newer, T0 + 3 * HOUR, T0)
    assert not silences.merge(older, T0 + 3 * HOUR, T0)
    assert silences.get("s1") == newer
    assert not silences.merge(Silence("s2", matcher, T0, T0, T0), T0 - MINUTE, T0)


def test_encoding_round_trip() -> None:
    silence = Silence(
        "id-1",
        (SilenceMatcher("a", MatchType.REGEX, "x|y"), SilenceMatcher("b", MatchType.NOT_EQUAL, "é\n")),
        T0,
        T0 + HOUR + timedelta(microseconds=5),
        T0,
        "me",
        "c",
    )
    assert decode_silence(encode_silence(silence, T0 + 2 * HOUR)) == (silence, T0 + 2 * HOUR)
    with pytest.raises(ValueError, match="malformed"):
        decode_silence(b"\x93garbage")


def test_load_records_replays_snapshot_then_log_and_counts_garbage() -> None:
    source = make()
    silence_id = source.set(request(), T0)
    records = [encode_silence(s, e) for s, e in source.snapshot()]
    source.expire(silence_id, T0 + MINUTE)
    records += [encode_silence(s, e) for s, e in source.snapshot()]
    records.append(b"junk")
    target = make()
    assert load_records(target, records, T0 + 2 * MINUTE) == 1
    assert target.get(silence_id) == source.get(silence_id)


# -- muting


def test_silencer_mutes_active_only_and_records_in_marker() -> None:
    silences = make()
    marker = Marker()
    silencer = Silencer(silences, marker)
    active = silences.set(request(spec("job", "api")), T0)
    pending = silences.set(request(spec("job", "api"), starts=T0 + HOUR, ends=T0 + 2 * HOUR), T0)
    labels = {"job": "api", "instance": "x"}
    assert silencer.mutes(labels, T0)
    status = marker.status(fingerprint(labels))
    assert status.silenced_by == (active,)
    assert status.pending_silences == (pending,)
    assert not silencer.mutes({"job": "db"}, T0)
    assert not silencer.mutes(labels, T0 + HOUR + HOUR + MINUTE)


def test_unanchored_and_regex_silences_are_found() -> None:
    silences = make()
    negative = silences.set(request(spec("job", "api", MatchType.NOT_EQUAL)), T0)
    alternation = silences.set(request(spec("env", "prod|stage", MatchType.REGEX)), T0)
    general = silences.set(request(spec("host", "web-[0-9]+", MatchType.REGEX)), T0)
    assert silences.matching({"job": "db"}, T0)[0] == [negative]
    assert silences.matching({"job": "api", "env": "stage"}, T0)[0] == [alternation]
    assert silences.matching({"job": "api", "host": "web-12"}, T0)[0] == [general]


# -- properties

LABEL_NAMES = ["a", "b", "c"]
LABEL_VALUES = ["", "x", "y", "xy"]

matcher_specs = st.builds(
    MatcherSpec,
    st.sampled_from(LABEL_NAMES),
    st.sampled_from(list(MatchType)),
    st.sampled_from(["x", "y", "", "x|y", "x.*", "xy|z", ".+"]),
)
label_sets = st.dictionaries(st.sampled_from(LABEL_NAMES), st.sampled_from(LABEL_VALUES[1:]), max_size=3)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.lists(matcher_specs, min_size=1, max_size=3), st.integers(-2, 2), st.integers(1, 3)), max_size=12),
    st.lists(label_sets, min_size=1, max_size=8),
    st.integers(-3, 6),
)
def test_indexed_matching_agrees_with_a_scan(
    silence_specs: list[tuple[list[MatcherSpec], int, int]], alerts: list[dict[str, str]], at_hours: int
) -> None:
    silences = make()
    for matchers, start_offset, length in silence_specs:
        try:
            silences.set(request(*matchers, starts=T0 + start_offset * HOUR, ends=T0 + (start_offset + length) * HOUR), T0)
        except SilenceInvalid:
            continue
    now = T0 + at_hours * HOUR
    silences.gc(now)  # also prunes expired silences from the index
    for labels in alerts:
        scan_active = sorted(
            s.id for s in silences.all() if s.state_at(now) is SilenceState.ACTIVE and s.matches(labels)
        )
        scan_pending = sorted(
            s.id for s in silences.all() if s.state_at(now) is SilenceState.PENDING and s.matches(labels)
        )
        assert silences.matching(labels, now) == (scan_active, scan_pending)


versions = st.builds(
    lambda index, end, updated: Silence(
        f"s{index}", (SilenceMatcher("a", MatchType.EQUAL, "b"),), T0, T0 + end * HOUR, T0 + updated * MINUTE
    ),
    st.integers(0, 2),
    st.integers(1, 3),
    st.integers(0, 2),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(versions, max_size=8), st.randoms(use_true_random=False))
def test_merge_is_order_independent_and_idempotent(updates: list[Silence], shuffler: random.Random) -> None:
    def final_state(order: list[Silence]) -> dict[str, Silence]:
        silences = make()
        for silence in order + order:  # merging twice changes nothing
            silences.merge(silence, silence.ends_at + DEFAULT_RETENTION, T0)
        return {s.id: s for s in silences.all()}

    shuffled = list(updates)
    shuffler.shuffle(shuffled)
    assert final_state(updates) == final_state(shuffled)


def test_query_by_ids_states_and_labels() -> None:
    silences = make()
    active = silences.set(request(spec("job", "api")), T0)
    pending = silences.set(request(spec("job", "api"), starts=T0 + HOUR, ends=T0 + 2 * HOUR), T0)
    expired = silences.set(request(spec("job", "api")), T0)
    silences.expire(expired, T0 + MINUTE)
    later = T0 + 2 * MINUTE
    silences.gc(later)  # prunes the expired one from the index, not from the state
    by_labels = {s.id for s in silences.query(later, labels={"job": "api"})}
    assert by_labels == {active, pending, expired}
    can_mute = {s.id for s in silences.query(later, labels={"job": "api"}, states=[SilenceState.ACTIVE, SilenceState.PENDING])}
    assert can_mute == {active, pending}
    assert [s.id for s in silences.query(later, ids=[expired, "nope"])] == [expired]
    assert silences.count_by_state(later) == {SilenceState.ACTIVE: 1, SilenceState.PENDING: 1, SilenceState.EXPIRED: 1}


def test_a_peer_silence_with_a_broken_regex_mutes_nothing() -> None:
    silences = make()
    broken = Silence("peer", (SilenceMatcher("a", MatchType.REGEX, "("),), T0, T0 + HOUR, T0)
    assert silences.merge(broken, T0 + 2 * HOUR, T0)
    assert silences.matching({"a": "("}, T0) == ([], [])


@settings(max_examples=150, deadline=None)
@given(st.lists(versions, max_size=8), st.lists(label_sets, min_size=1, max_size=4), st.integers(0, 4))
def test_bulk_load_ends_like_merging_one_by_one(
    updates: list[Silence], alerts: list[dict[str, str]], gc_hours: int
) -> None:
    merged, loaded = make(), make()
    expiries = [(silence, silence.ends_at + DEFAULT_RETENTION) for silence in updates]
    taken = sum(merged.merge(silence, expires_at, T0) for silence, expires_at in expiries)
    assert loaded.load(expiries, T0) == taken
    now = T0 + gc_hours * HOUR
    # gc before anything files the loaded silences: the expired ones must not be filed later.
    assert loaded.gc(now) == merged.gc(now)
    assert {s.id: s for s in loaded.all()} == {s.id: s for s in merged.all()}
    assert sorted(s.id for s in loaded.indexed()) == sorted(s.id for s in merged.indexed())
    for labels in alerts:
        assert loaded.matching(labels, now) == merged.matching(labels, now)


def test_loaded_silences_are_filed_on_first_use_and_a_later_change_replaces_them() -> None:
    silences = make()
    loaded = Silence("s1", (SilenceMatcher("job", MatchType.EQUAL, "api"),), T0, T0 + HOUR, T0)
    assert silences.load([(loaded, T0 + 2 * HOUR)], T0) == 1
    assert silences.has_indexed()
    assert silences.get("s1") == loaded
    assert silences.matching({"job": "api"}, T0) == (["s1"], [])
    silences.expire("s1", T0 + MINUTE)
    assert silences.matching({"job": "api"}, T0 + 2 * MINUTE) == ([], [])


@pytest.mark.parametrize("kind", list(MatchType))
def test_silence_matcher_of_equals_the_constructed_one(kind: MatchType) -> None:
    built = SilenceMatcher.of("instance", kind, "host-1:.*")
    constructed = SilenceMatcher("instance", kind, "host-1:.*")
    assert type(built) is SilenceMatcher
    assert (built == constructed, hash(built) == hash(constructed)) == (True, True)
    assert vars(built) == vars(constructed)
    assert [built.matches(value) for value in ("host-1:9100", "host-2:9100", "")] == [
        constructed.matches(value) for value in ("host-1:9100", "host-2:9100", "")
    ]
