"""Golden bytes for Alertmanager's protobuf payloads, produced by Alertmanager 0.25's own
generated Go types (see golden_gen/main.go), plus round-trip and garbage properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster import replication
from cluster.replication import Part
from daemon import wire
from daemon.wire import (
    GO_ZERO_TIME,
    MeshEntry,
    MeshSilence,
    WireComment,
    WireEntry,
    WireMatcher,
    WireReceiver,
    WireSilence,
)

T0 = datetime(2023, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)

SILENCE = MeshSilence(
    WireSilence(
        id="4f1a2b3c-0000-4000-8000-000000000001",
        matchers=(
            WireMatcher(wire.MATCHER_EQUAL, "alertname", "HighLatency"),
            WireMatcher(wire.MATCHER_NOT_REGEXP, "instance", "db-.*"),
        ),
        starts_at=T0,
        ends_at=T0 + timedelta(hours=2),
        updated_at=T0,
        created_by="alice",
        comment="maintenance ☃",
    ),
    expires_at=T0 + timedelta(hours=122),
)
LEGACY_SILENCE = MeshSilence(
    WireSilence(
        id="x",
        matchers=(WireMatcher(wire.MATCHER_REGEXP, "a", ""),),
        comments=(WireComment("bob", "old style", T0),),
    ),
    expires_at=datetime(1970, 1, 1, tzinfo=UTC),
)
ENTRY = MeshEntry(
    WireEntry(
        group_key=b'{}/{env="prod"}:{alertname="HighLatency"}',
        receiver=WireReceiver("team-x", "webhook", 2),
        timestamp=T0,
        firing_alerts=(1, 2**64 - 1, 300),
        resolved_alerts=(7,),
    ),
    expires_at=T0 + timedelta(hours=10),
)
OLD_ENTRY = MeshEntry(
    WireEntry(
        group_key=b"k",
        receiver=WireReceiver("r", "email"),
        timestamp=T0,
        group_hash=b"\x01\x02\x03",
        resolved=True,
    ),
    expires_at=T0,
)

GOLDEN = {
    "mesh_silence": "0a97010a2434663161326233632d303030302d343030302d383030302d303030303030303030303031121812"
    "09616c6572746e616d651a0b486967684c6174656e6379121308031208696e7374616e63651a0564622d2e2a1a0c08a6"
    "9cc2a00610a8c7c4ff01220c08c6d4c2a00610a8c7c4ff012a0c08a69cc2a00610a8c7c4ff014205616c6963654a0f6d"
    "61696e74656e616e636520e29883120c08c683dda00610a8c7c4ff01",
    "mesh_silence_legacy_zero_times": "0a510a0178120508011201611a0b088092b8c398feffffff01220b088092b8c398f"
    "effffff012a0b088092b8c398feffffff013a1e0a03626f6212096f6c64207374796c651a0c08a69cc2a00610a8c7c4ff"
    "011200",
    "mesh_entry": "0a600a297b7d2f7b656e763d2270726f64227d3a7b616c6572746e616d653d22486967684c6174656e6379"
    "227d12130a067465616d2d781207776562686f6f6b18022a0c08a69cc2a00610a8c7c4ff01320d01ffffffffffffffff"
    "ff01ac023a0107120c08c6b5c4a00610a8c7c4ff01",
    "mesh_entry_deprecated_fields": "0a240a016b120a0a01721205656d61696c1a0301020320012a0c08a69cc2a00610a"
    "8c7c4ff01120c08a69cc2a00610a8c7c4ff01",
    "memberlist_message": "0a0676302e312e3010011a0e3132372e302e302e313a3930393422020203",
}


def test_mesh_silence_golden_bytes() -> None:
    assert wire.encode_mesh_silence(SILENCE).hex() == GOLDEN["mesh_silence"]
    assert wire.decode_mesh_silence(bytes.fromhex(GOLDEN["mesh_silence"])) == SILENCE


def test_legacy_silence_with_comments_and_zero_times() -> None:
    golden = GOLDEN["mesh_silence_legacy_zero_times"]
    assert wire.encode_mesh_silence(LEGACY_SILENCE).hex() == golden
    decoded = wire.decode_mesh_silence(bytes.fromhex(golden))
    assert decoded == LEGACY_SILENCE
    assert decoded.silence.starts_at == GO_ZERO_TIME
    assert decoded.silence.comments[0].author == "bob"


def test_mesh_entry_golden_bytes() -> None:
    for name, message in (("mesh_entry", ENTRY), ("mesh_entry_deprecated_fields", OLD_ENTRY)):
        assert wire.encode_mesh_entry(message).hex() == GOLDEN[name]
        assert wire.decode_mesh_entry(bytes.fromhex(GOLDEN[name])) == message


def test_delimited_records_as_broadcasts_and_snapshots_use_them() -> None:
    # pbutil.WriteDelimited as Alertmanager writes a broadcast and each snapshot record.
    assert wire.encode_silences([SILENCE]).hex() == "a801" + GOLDEN["mesh_silence"]
    assert wire.encode_entries([ENTRY]).hex() == "70" + GOLDEN["mesh_entry"]
    stream = wire.encode_silences([SILENCE, LEGACY_SILENCE])
    assert wire.decode_silences(stream) == [SILENCE, LEGACY_SILENCE]
    assert wire.decode_entries(wire.encode_entries([ENTRY, OLD_ENTRY])) == [ENTRY, OLD_ENTRY]
    assert wire.decode_silences(b"") == []


def test_part_and_full_state_golden_bytes() -> None:
    sil = wire.encode_silences([SILENCE])
    part = Part("sil", sil)
    assert replication.encode_part(part).hex() == "0a0373696c12aa01" + sil.hex()
    full = [
        Part("nfl", wire.encode_entries([ENTRY])),
        Part("sil", wire.encode_silences([SILENCE, LEGACY_SILENCE])),
        Part("empty", b""),
    ]
    encoded = replication.encode_full_state(full)
    expected = (
        "0a780a036e666c1271"
        + wire.encode_entries([ENTRY]).hex()
        + "0a88020a0373696c128002"
        + wire.encode_silences([SILENCE, LEGACY_SILENCE]).hex()
        + "0a070a05656d707479"
    )
    assert encoded.hex() == expected
    assert replication.decode_full_state(encoded) == full


def test_unpacked_repeated_alerts_and_unknown_fields_are_accepted() -> None:
    # A non-packed encoding of firing_alerts (each value its own field 6), plus an unknown
    # field 15, as an older or newer writer might produce.
    entry = bytes.fromhex("0a016b") + bytes.fromhex("3001") + bytes.fromhex("3002") + bytes.fromhex("7805")
    message = bytes.fromhex("0a") + bytes([len(entry)]) + entry
    decoded = wire.decode_mesh_entry(message)
    assert decoded.entry.firing_alerts == (1, 2)
    assert decoded.entry.receiver is None


@pytest.mark.parametrize(
    ("hex_data", "message"),
    [
        ("1200", "without a silence"),
        ("0a05", "unexpected EOF"),
        ("0aff", "unexpected EOF"),
        ("08", "unexpected EOF"),
        ("0b", "illegal wire type"),
        ("0a02080a", "wrong wire type"),
        ("0a0412020801", ""),
    ],
)
def test_malformed_silences_raise_wire_error(hex_data: str, message: str) -> None:
    data = bytes.fromhex(hex_data)
    if not message:
        # Field 2 (a matcher) with a varint inside is fine; an empty id is the app's problem.
        assert wire.decode_mesh_silence(data).silence.matchers == (WireMatcher(1, "", ""),)
        return
    with pytest.raises(wire.WireError, match=message):
        wire.decode_mesh_silence(data)


def test_timestamp_out_of_range_is_an_error_not_a_crash() -> None:
    too_late = bytes.fromhex("08") + replication.encode_varint(400_000_000_000)  # year ~14700
    silence = replication.encode_bytes_field(3, too_late)  # starts_at
    with pytest.raises(wire.WireError, match="out of range"):
        wire.decode_mesh_silence(replication.encode_bytes_field(1, silence))
    with pytest.raises(wire.WireError, match="nanos"):
        wire.decode_timestamp(bytes.fromhex("10") + replication.encode_varint(2_000_000_000))


_times = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
)
_text = st.text(max_size=20)
_silences = st.builds(
    MeshSilence,
    st.builds(
        WireSilence,
        id=_text,
        matchers=st.lists(
            st.builds(WireMatcher, st.integers(0, 3), _text, _text), max_size=4
        ).map(tuple),
        starts_at=_times,
        ends_at=_times,
        updated_at=_times,
        comments=st.lists(st.builds(WireComment, _text, _text, _times), max_size=2).map(tuple),
        created_by=_text,
        comment=_text,
    ),
    _times,
)
_entries = st.builds(
    MeshEntry,
    st.builds(
        WireEntry,
        group_key=st.binary(max_size=40),
        receiver=st.none() | st.builds(WireReceiver, _text, _text, st.integers(0, 2**32 - 1)),
        timestamp=_times,
        firing_alerts=st.lists(st.integers(0, 2**64 - 1), max_size=5).map(tuple),
        resolved_alerts=st.lists(st.integers(0, 2**64 - 1), max_size=5).map(tuple),
        group_hash=st.binary(max_size=8),
        resolved=st.booleans(),
    ),
    _times,
)


@given(st.lists(_silences, max_size=4))
@settings(max_examples=200)
def test_silences_round_trip(messages: list[MeshSilence]) -> None:
    assert wire.decode_silences(wire.encode_silences(messages)) == messages


@given(st.lists(_entries, max_size=4))
@settings(max_examples=200)
def test_entries_round_trip(messages: list[MeshEntry]) -> None:
    assert wire.decode_entries(wire.encode_entries(messages)) == messages


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_decoders_reject_garbage_with_wire_error_only(data: bytes) -> None:
    for decode in (wire.decode_silences, wire.decode_entries, replication.decode_full_state):
        try:
            decode(data)
        except wire.WireError:
            pass
