"""go_json's orjson fast path must write exactly what the reference encoder (checked byte for
byte against Alertmanager's bodies) writes, for any text."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from notify.receivers.base import _go_json_reference, go_json

# Every character class the two encoders treat differently, plus ordinary text.
TRICKY = st.sampled_from(
    [
        '"',
        "\\",
        "\b",
        "\f",
        "\n",
        "\r",
        "\t",
        "\x00",
        "\x1f",
        "\x7f",
        "<",
        ">",
        "&",
        "\u2028",
        "\u2029",
        "\ud800",
        "\udfff",
        "é",
        "😀",
        "b",
        "f",
        "u",
    ]
)
TEXT = st.lists(st.one_of(TRICKY, st.text(max_size=3)), max_size=12).map("".join)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), TEXT),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(TEXT, children, max_size=4),
    ),
    max_leaves=12,
)


@given(VALUES, st.booleans())
def test_fast_path_writes_the_reference_bytes(value: Any, newline: bool) -> None:
    assert go_json(value, trailing_newline=newline) == _go_json_reference(value, newline)


def test_known_go_escapes() -> None:
    assert go_json({"a": "<b>&\u2028\b\f\\b"}) == b'{"a":"\\u003cb\\u003e\\u0026\\u2028\\u0008\\u000c\\\\b"}'
    assert go_json(["\ud800"], trailing_newline=True) == b'["\\ufffd"]\n'
