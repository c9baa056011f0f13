"""Golden bytes for every memberlist wire message, produced by the real Go encoder
(hashicorp/go-msgpack 0.5 and compress/lzw; see golden_gen/main.go), plus round-trip and
garbage-resistance properties."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core import codec, lzw
from cluster.core.messages import (
    Ack,
    Alive,
    Dead,
    ErrResp,
    IndirectPing,
    Nack,
    Ping,
    PushNodeState,
    PushPull,
    Suspect,
    UserPacket,
    UserStream,
)

VSN = (1, 5, 2, 0, 0, 0)

# name -> (message, hex of what Go's memberlist encode() writes for it)
GOLDEN_MESSAGES = {
    "ping": (
        Ping(7, "node-b", bytes([127, 0, 0, 1]), 9094, "node-a"),
        "0085a44e6f6465a66e6f64652d62a55365714e6f07aa536f7572636541646472a47f000001aa536f757263654e6f6465a6"
        "6e6f64652d61aa536f75726365506f7274cd2386",
    ),
    "ping_bare": (Ping(300, ""), "0082a44e6f6465a0a55365714e6fcd012c"),
    "indirect_ping": (
        IndirectPing(70000, bytes([10, 0, 0, 2]), 9094, "node-c", True, bytes([10, 0, 0, 1]), 9094, "node-a"),
        "0188a44e61636bc3a44e6f6465a66e6f64652d63a4506f7274cd2386a55365714e6fce00011170aa536f7572636541646472"
        "a40a000001aa536f757263654e6f6465a66e6f64652d61aa536f75726365506f7274cd2386a6546172676574a40a000002",
    ),
    "ack_nil": (Ack(7, None), "0282a75061796c6f6164c0a55365714e6f07"),
    "ack_empty": (Ack(7, b""), "0282a75061796c6f6164a0a55365714e6f07"),
    "nack": (Nack(4294967295), "0b81a55365714e6fceffffffff"),
    "err": (ErrResp("boom"), "0d81a54572726f72a4626f6f6d"),
    "suspect": (
        Suspect(3, "node-b", "node-a"),
        "0383a446726f6da66e6f64652d61ab496e6361726e6174696f6e03a44e6f6465a66e6f64652d62",
    ),
    "alive": (
        Alive(1, "01GXYZ", bytes([192, 168, 1, 20]), 9094, b"", VSN),
        "0486a441646472a4c0a80114ab496e6361726e6174696f6e01a44d657461a0a44e6f6465a630314758595aa4506f7274"
        "cd2386a356736ea6010502000000",
    ),
    "alive_long_meta": (
        Alive(65536, "n", bytes(15) + b"\x01", 1, b"x" * 40, VSN),
        "0486a441646472b000000000000000000000000000000001ab496e6361726e6174696f6ece00010000a44d657461da0028"
        + "78" * 40
        + "a44e6f6465a16ea4506f727401a356736ea6010502000000",
    ),
    "dead": (
        Dead(2, "node-b", "node-b"),
        "0583a446726f6da66e6f64652d62ab496e6361726e6174696f6e02a44e6f6465a66e6f64652d62",
    ),
}

PUSH_PULL = PushPull(
    join=True,
    nodes=(
        PushNodeState("node-a", bytes([10, 0, 0, 1]), 9094, b"", 1, 0, VSN),
        PushNodeState("node-b", bytes([10, 0, 0, 2]), 9094, None, 5, 3, VSN),
    ),
    user_state=b"abc",
)
PUSH_PULL_HEX = (
    "0683a44a6f696ec3a54e6f64657302ac5573657253746174654c656e0387a441646472a40a000001ab496e6361726e6174"
    "696f6e01a44d657461a0a44e616d65a66e6f64652d61a4506f7274cd2386a5537461746500a356736ea60105020000008"
    "7a441646472a40a000002ab496e6361726e6174696f6e05a44d657461c0a44e616d65a66e6f64652d62a4506f7274cd23"
    "86a5537461746503a356736ea6010502000000616263"
)
PUSH_PULL_COMPRESSED_HEX = (
    "0982a4416c676f00a3427566da0097000d0c22a5e44d1a37c34a397943a6cc1c01acaacc2923670a9d3074ca3029e366c0"
    "215241c89091434a0100000156257133268c1c3718d3bc7113805493321741917212a64d19536e189669118614943772e8"
    "341b61a894458c65008cb232c78da90005049c04f031e4c8922705a864e912261d996e0ad8c41906d8ce9e3f83366c21c6"
    "2852a54c9d5ecc38606ad5ab59b78611332620"
)
COMPOUND_HEX = (
    "07020010001d0082a44e6f6465a162a55365714e6f010383a446726f6da161ab496e6361726e6174696f6e01a44e6f6465a162"
)
COMPRESSED_COMPOUND_HEX = (
    "0982a4416c676f00a3427566da0038000f080000014007008248397943a64c2831a5a69489b330c08041a48cc879d32654"
    "985549dc8c0923c74d183a69deb809a090a143310101"
)
CRC_PING_HEX = "0c04c039bb0082a44e6f6465a162a55365714e6f01"
USER_PAYLOAD = b"\x0a\x03sil\x12\x02hi"
USER_STREAM_HEX = "0881aa557365724d73674c656e090a0373696c12026869"


@pytest.mark.parametrize("name", sorted(GOLDEN_MESSAGES))
def test_message_encoding_matches_go(name: str) -> None:
    message, expected = GOLDEN_MESSAGES[name]
    assert codec.encode_message(message).hex() == expected


@pytest.mark.parametrize("name", sorted(GOLDEN_MESSAGES))
def test_message_decoding_of_go_bytes(name: str) -> None:
    message, encoded = GOLDEN_MESSAGES[name]
    assert codec.decode_message(bytes.fromhex(encoded)) == message


def test_compound_matches_go() -> None:
    parts = [codec.encode_message(Ping(1, "b")), codec.encode_message(Suspect(1, "b", "a"))]
    assert codec.make_compound(parts).hex() == COMPOUND_HEX
    decoded = codec.decode_packet(bytes.fromhex(COMPOUND_HEX))
    assert decoded.messages == (Ping(1, "b"), Suspect(1, "b", "a"))
    assert decoded.truncated == 0


def test_compress_matches_go() -> None:
    assert codec.compress_message(bytes.fromhex(COMPOUND_HEX)).hex() == COMPRESSED_COMPOUND_HEX
    decoded = codec.decode_packet(bytes.fromhex(COMPRESSED_COMPOUND_HEX))
    assert decoded.messages == (Ping(1, "b"), Suspect(1, "b", "a"))


def test_crc_prefix_matches_go_and_is_verified() -> None:
    ping = codec.encode_message(Ping(1, "b"))
    assert codec.add_crc(ping).hex() == CRC_PING_HEX
    assert codec.decode_packet(bytes.fromhex(CRC_PING_HEX)).messages == (Ping(1, "b"),)
    corrupted = bytearray.fromhex(CRC_PING_HEX)
    corrupted[-1] ^= 1
    with pytest.raises(codec.CodecError, match="invalid checksum"):
        codec.decode_packet(bytes(corrupted))


def test_user_packet_is_type_byte_and_payload() -> None:
    assert codec.encode_user_message(USER_PAYLOAD).hex() == "080a0373696c12026869"
    assert codec.decode_packet(bytes.fromhex("080a0373696c12026869")).messages == (UserPacket(USER_PAYLOAD),)


def test_truncated_compound_keeps_complete_parts() -> None:
    data = bytes.fromhex(COMPOUND_HEX)[:-3]
    decoded = codec.decode_packet(data)
    assert decoded.messages == (Ping(1, "b"),)
    assert decoded.truncated == 1


def test_push_pull_stream_matches_go() -> None:
    assert codec.encode_stream(PUSH_PULL, compress=False).hex() == PUSH_PULL_HEX
    assert codec.encode_stream(PUSH_PULL, compress=True).hex() == PUSH_PULL_COMPRESSED_HEX
    assert codec.decode_stream(bytes.fromhex(PUSH_PULL_HEX)) == PUSH_PULL
    assert codec.decode_stream(bytes.fromhex(PUSH_PULL_COMPRESSED_HEX)) == PUSH_PULL


def test_user_stream_matches_go() -> None:
    assert codec.encode_stream(UserStream(USER_PAYLOAD), compress=False).hex() == USER_STREAM_HEX
    assert codec.decode_stream(bytes.fromhex(USER_STREAM_HEX)) == UserStream(USER_PAYLOAD)


@pytest.mark.parametrize("hex_message", [PUSH_PULL_HEX, PUSH_PULL_COMPRESSED_HEX, USER_STREAM_HEX])
def test_stream_message_length_frames_exactly_one_message(hex_message: str) -> None:
    data = bytes.fromhex(hex_message)
    # Before the length is known the answer is None; after, it is always the full length.
    answers = {codec.stream_message_length(data[:cut]) for cut in range(len(data))}
    assert answers <= {None, len(data)}
    assert codec.stream_message_length(data[:1]) is None
    assert codec.stream_message_length(data + b"trailing bytes of the next message") == len(data)


def test_lzw_matches_go() -> None:
    assert lzw.compress(b"").hex() == "000302"
    assert lzw.compress(b"TOBEORNOTTOBEORTOBEORNOT#").hex() == "00a93c1152e48914274fa80824687061c18309470404"
    # 20000 bytes go through several table resets; Go's output has this CRC and length.
    big = bytes((i * 7919) % 251 for i in range(20000))
    compressed = lzw.compress(big)
    assert (f"{zlib.crc32(compressed):08x}", len(compressed)) == ("4bd3af23", 4219)
    assert lzw.decompress(compressed, len(big)) == big


def test_lzw_limit_stops_decompression_bombs() -> None:
    with pytest.raises(lzw.LzwError, match="exceeds the limit"):
        lzw.decompress(lzw.compress(bytes(10_000)), 1000)


def test_unknown_compression_algorithm_is_rejected() -> None:
    from cluster.core.messages import Compress

    packet = codec.encode_compress(Compress(algo=1, buf=b""))
    with pytest.raises(codec.CodecError, match="unknown algorithm 1"):
        codec.decode_packet(packet)


def test_wrong_field_types_are_rejected() -> None:
    # Ping whose SeqNo is a string.
    with pytest.raises(codec.CodecError, match="SeqNo"):
        codec.decode_message(bytes.fromhex("0081a55365714e6fa178"))
    # Port out of uint16 range.
    with pytest.raises(codec.CodecError, match="Port"):
        codec.decode_message(bytes.fromhex("0481a4506f7274ce00010000"))


def test_label_header_is_stripped() -> None:
    packet = bytes([244, 3]) + b"abc" + codec.encode_message(Ping(1, "b"))
    assert codec.decode_packet(packet).messages == (Ping(1, "b"),)


# --- properties -------------------------------------------------------------------------

names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 2**16 - 1)
blobs = st.binary(max_size=64)
vsns = st.tuples(*[st.integers(0, 255)] * 6)

packet_messages = st.one_of(
    st.builds(Ping, u32, names, blobs, u16, names),
    st.builds(IndirectPing, u32, blobs, u16, names, st.booleans(), blobs, u16, names),
    st.builds(Ack, u32, st.none() | blobs),
    st.builds(Nack, u32),
    st.builds(ErrResp, names),
    st.builds(Suspect, u32, names, names),
    st.builds(Alive, u32, names, blobs, u16, st.none() | blobs, vsns),
    st.builds(Dead, u32, names, names),
)


@given(packet_messages)
def test_message_round_trip(message: object) -> None:
    assert codec.decode_message(codec.encode_message(message)) == message  # type: ignore[arg-type]


@given(st.lists(packet_messages, min_size=1, max_size=8), st.booleans(), st.booleans())
def test_packet_round_trip(messages: list[object], compress: bool, crc: bool) -> None:
    parts = [codec.encode_message(m) for m in messages]  # type: ignore[arg-type]
    packet = codec.make_compound(parts) if len(parts) > 1 else parts[0]
    if compress:
        packet = codec.compress_message(packet)
    if crc:
        packet = codec.add_crc(packet)
    assert codec.decode_packet(packet).messages == tuple(messages)


push_node_states = st.builds(
    PushNodeState, names, blobs, u16, st.none() | blobs, u32, st.integers(0, 3), vsns
)


@given(
    st.builds(PushPull, st.booleans(), st.lists(push_node_states, max_size=5).map(tuple), blobs),
    st.booleans(),
)
def test_push_pull_round_trip(message: PushPull, compress: bool) -> None:
    data = codec.encode_stream(message, compress=compress)
    assert codec.stream_message_length(data + b"\x00") == len(data)
    assert codec.decode_stream(data) == message


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_decoders_reject_garbage_with_codec_error_only(data: bytes) -> None:
    for decode in (
        codec.decode_packet,
        codec.decode_stream,
        codec.stream_message_length,
        codec.decode_message,
    ):
        try:
            decode(data)
        except codec.CodecError:
            pass


@given(st.binary(max_size=2000))
def test_lzw_round_trip(data: bytes) -> None:
    assert lzw.decompress(lzw.compress(data), len(data)) == data


@given(st.binary(max_size=200))
def test_lzw_garbage_is_an_error_not_a_crash(data: bytes) -> None:
    try:
        lzw.decompress(data, 10_000)
    except lzw.LzwError:
        pass
