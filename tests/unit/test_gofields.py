"""daemon.api.gofields: object keys matched to struct fields as Go 1.19's encoding/json does.

The reference below is a second, deliberately plain statement of Go's rule (compare the key
with each name character by character; ASCII letters match either case, U+212A matches a
k and U+017F an s), used to check the fast implementation on arbitrary keys.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.api.gofields import (
    MAX_REMEMBERED_KEYS,
    DocumentOrderDict,
    GoFields,
    KeyOrderLost,
    decode_keeping_key_order,
    go_fold,
)
from daemon.api.gojson import decode_go_json

ALERT_NAMES = ("annotations", "endsAt", "startsAt", "generatorURL", "labels")
SILENCE_NAMES = ("id", "comment", "createdBy", "endsAt", "startsAt", "matchers")
KELVIN = "\u212a"
LONG_S = "\u017f"


def reference_field(key: str, names: tuple[str, ...]) -> str | None:
    if key in names:
        return key
    for name in names:
        if len(name) == len(key) and all(map(_same_letter, name, key)):
            return name
    return None


def _same_letter(name_char: str, key_char: str) -> bool:
    if name_char == key_char:
        return True
    if key_char.isascii():
        return name_char.lower() == key_char.lower()
    return (key_char == KELVIN and name_char in "kK") or (key_char == LONG_S and name_char in "sS")


def test_keys_that_all_name_fields_come_back_as_they_are() -> None:
    fields = GoFields(ALERT_NAMES)
    element = {"labels": {"a": "b"}, "startsAt": "x", "generatorURL": "u"}
    assert fields.items(element) == element.items()
    assert fields.rekeyed(element) is element


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("Labels", "labels"),
        ("LABELS", "labels"),
        ("labelS", "labels"),
        (f"label{LONG_S}", "labels"),
        (f"LABEL{LONG_S}", "labels"),
        (f"{LONG_S}tartsAt", "startsAt"),
        (f"end{LONG_S}At", "endsAt"),
        ("GeneratorUrl", "generatorURL"),
        ("generatorurl", "generatorURL"),
        # Go 1.19 folds no other non-ASCII letter to an ASCII one (checked: Alertmanager
        # 0.25 ignores both keys).
        ("annotat\u0130ons", None),
        ("annotat\u0131ons", None),
        ("label", None),
        ("labelss", None),
        ("labels ", None),
        ("status", None),
    ],
)
def test_which_field_a_key_fills(key: str, field: str | None) -> None:
    assert GoFields(ALERT_NAMES).field_of(key) == field


def test_kelvin_sign_matches_a_k() -> None:
    fields = GoFields(("isOk", "kind"))
    assert fields.field_of(f"iso{KELVIN}") == "isOk"
    assert fields.field_of(f"{KELVIN}IND") == "kind"
    # ...but only where the name has a k.
    assert GoFields(("labels",)).field_of(f"{KELVIN}abels") is None


def test_unknown_keys_are_left_out_and_folded_ones_renamed_in_document_order() -> None:
    element = orjson.loads('{"status": 1, "Labels": {"a": "b"}, "ENDSAT": "e", "fingerprint": "f"}')
    fields = GoFields(ALERT_NAMES)
    assert list(fields.items(element)) == [("labels", {"a": "b"}), ("endsAt", "e")]
    assert fields.rekeyed(element) == {"status": 1, "labels": {"a": "b"}, "endsAt": "e", "fingerprint": "f"}


def test_unknown_keys_alone_need_no_new_object() -> None:
    element = {"labels": {}, "status": "x"}
    assert GoFields(ALERT_NAMES).rekeyed(element) is element


def test_the_last_key_naming_a_field_wins() -> None:
    fields = GoFields(SILENCE_NAMES)
    body = b'{"comment": "a", "Comment": "b", "COMMENT": "c", "createdBy": "me"}'
    assert fields.rekeyed(decode_keeping_key_order(body)) == {"comment": "c", "createdBy": "me"}
    # A plain dict cannot show whether a key was repeated, so two keys for one field are refused.
    with pytest.raises(KeyOrderLost):
        fields.rekeyed(orjson.loads(body))


def test_first_field_in_struct_order_wins_when_two_names_fold_alike() -> None:
    assert GoFields(("ab", "AB")).field_of("Ab") == "ab"
    assert GoFields(("AB", "ab")).field_of("Ab") == "AB"
    assert GoFields(("AB", "ab")).field_of("ab") == "ab"  # an exact name still comes first


def test_a_plain_dict_that_lost_the_order_of_a_repeated_key_is_refused() -> None:
    # Go applies a=1, A=2, a=3 and ends with 3; the dict says {"a": 3, "A": 2}.
    body = b'{"comment": 1, "Comment": 2, "comment": 3}'
    document = orjson.loads(body)
    assert document == {"comment": 3, "Comment": 2}
    fields = GoFields(SILENCE_NAMES)
    with pytest.raises(KeyOrderLost) as raised:
        fields.items(document)
    assert raised.value.field == "comment"
    with pytest.raises(KeyOrderLost):
        fields.rekeyed(document)
    again = decode_keeping_key_order(body)
    assert list(fields.items(again)) == [("comment", 1), ("comment", 2), ("comment", 3)]
    assert fields.rekeyed(again) == {"comment": 3}


def test_decoding_keeping_key_order_keeps_repeated_keys_everywhere() -> None:
    document = decode_keeping_key_order(b' \n[{"a": {"x": 1, "x": 2}, "a": 3}] trailing')
    assert isinstance(document[0], DocumentOrderDict)
    assert document[0].pairs == [("a", {"x": 2}), ("a", 3)]
    assert document[0]["a"] == 3
    assert document[0].pairs[0][1].pairs == [("x", 1), ("x", 2)]


@pytest.mark.parametrize(
    "body",
    [
        b'[{"labels": {"a": "b"}, "x": [1, 2.5, -3e2, true, false, null]}]',
        b'  {"\\ud800": "\\udc00x", "k": ["\\ud83d\\ude00"]}  ',
        b'["\xff\xfeok", {"\xc3": 1}]',
        b'{"a": 1} {"b": 2}',
        b"null",
    ],
)
def test_decoding_keeping_key_order_gives_what_the_go_decoder_gives(body: bytes) -> None:
    assert decode_keeping_key_order(body) == decode_go_json(body)


def test_the_memo_of_unknown_keys_is_bounded() -> None:
    fields = GoFields(ALERT_NAMES)
    for number in range(MAX_REMEMBERED_KEYS * 2 + 1):
        assert fields.field_of(f"key{number}") is None
    assert len(fields._field_of_key) <= MAX_REMEMBERED_KEYS
    assert fields.field_of("LABELS") == "labels"


def test_field_names_must_be_ascii() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        GoFields(("na\u00efve",))


def test_go_fold() -> None:
    assert go_fold("StartsAt") == "startsat"
    assert go_fold(f"{LONG_S}TARTS{KELVIN}") == "startsk"
    assert go_fold("caf\u00e9") is None


# ------------------------------------------------------------------ properties

_NAME_LETTERS = st.sampled_from("abcdefklmnoprstuvxyzKLMS_AU0")
_KEY_LETTERS = st.sampled_from(f"abcdeklmnorstuvzKLMSU_0 {KELVIN}{LONG_S}\u0130\u0131\u00e9")
field_names = st.lists(st.text(_NAME_LETTERS, min_size=1, max_size=6), min_size=1, max_size=6, unique=True)


@given(field_names, st.text(_KEY_LETTERS, max_size=7))
def test_field_of_agrees_with_the_plain_statement_of_gos_rule(names: list[str], key: str) -> None:
    assert GoFields(names).field_of(key) == reference_field(key, tuple(names))


@st.composite
def spelled_like(draw: st.DrawFn, name: str) -> str:
    """`name` with each letter in either case, or the non-ASCII letter Go folds to it."""
    spelled = []
    for char in name:
        choices = [char, char.swapcase()]
        if char in "kK":
            choices.append(KELVIN)
        if char in "sS":
            choices.append(LONG_S)
        spelled.append(draw(st.sampled_from(choices)))
    return "".join(spelled)


@given(st.data())
def test_any_spelling_of_an_alert_field_fills_it(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(ALERT_NAMES))
    assert GoFields(ALERT_NAMES).field_of(data.draw(spelled_like(name))) == name


@st.composite
def objects_in_document_order(draw: st.DrawFn) -> list[tuple[str, int]]:
    """Keys: spellings of silence fields and unknown words, repeats allowed."""
    keys = st.one_of(
        st.sampled_from(SILENCE_NAMES).flatmap(spelled_like),
        st.sampled_from(["status", "x", "Labels", "comments"]),
    )
    pairs = draw(st.lists(keys, max_size=8))
    return [(key, number) for number, key in enumerate(pairs)]


@given(objects_in_document_order())
def test_rekeyed_is_go_filling_a_struct_of_scalars(pairs: list[tuple[str, int]]) -> None:
    body = "{" + ",".join(f"{json.dumps(key)}: {value}" for key, value in pairs) + "}"
    go_struct: dict[str, Any] = {}
    for key, value in pairs:
        field = reference_field(key, SILENCE_NAMES)
        if field is not None:
            go_struct[field] = value
    fields = GoFields(SILENCE_NAMES)
    try:
        rekeyed = fields.rekeyed(orjson.loads(body))
    except KeyOrderLost:
        rekeyed = fields.rekeyed(decode_keeping_key_order(body.encode()))
    assert {name: value for name, value in rekeyed.items() if name in SILENCE_NAMES} == go_struct
    # Keys Go skips are kept, with their last value.
    skipped = {key: value for key, value in pairs if reference_field(key, SILENCE_NAMES) is None}
    assert {name: value for name, value in rekeyed.items() if name not in SILENCE_NAMES} == skipped


@given(objects_in_document_order())
def test_items_lists_every_filled_field_in_document_order(pairs: list[tuple[str, int]]) -> None:
    expected = [(field, value) for key, value in pairs if (field := reference_field(key, SILENCE_NAMES))]
    body = "{" + ",".join(f"{json.dumps(key)}: {value}" for key, value in pairs) + "}"
    assert list(GoFields(SILENCE_NAMES).items(decode_keeping_key_order(body.encode()))) == expected
