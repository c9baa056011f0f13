"""The pair a silence is filed under: the two-anchor shortcut chooses as the general rule does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from daemon.silences import _EXACT, _Anchor, _pair_of


def reference_pair(anchors: list[_Anchor]) -> tuple[object, object] | None:
    """The general rule: singles ordered exact-first then by name, the first two names that differ."""
    singles = sorted((a for a in anchors if len(a.values) == 1), key=lambda a: (a.is_prefix, a.name))
    for position, first in enumerate(singles):
        for second in singles[position + 1 :]:
            if second.name != first.name:
                low, high = sorted((first, second), key=lambda a: a.name)
                shape = (
                    low.name,
                    len(low.values[0]) if low.is_prefix else _EXACT,
                    high.name,
                    len(high.values[0]) if high.is_prefix else _EXACT,
                )
                return shape, (low.values[0], high.values[0])
    return None


anchors = st.builds(
    _Anchor,
    st.sampled_from(["alertname", "instance", "job"]),
    st.lists(st.sampled_from(["a", "bb", "host-1:"]), min_size=1, max_size=2).map(tuple),
    st.booleans(),
)


@given(st.lists(anchors, max_size=4))
def test_pair_matches_the_general_rule(chosen: list[_Anchor]) -> None:
    pair = _pair_of(chosen)
    expected = reference_pair(chosen)
    assert (None if pair is None else (pair.shape, pair.key)) == expected
