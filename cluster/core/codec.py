"""Encoding and decoding of memberlist's wire format.

Theory of operation
-------------------
A *message* is one type byte followed by one msgpack value. memberlist encodes with
hashicorp/go-msgpack 0.5 and a default `MsgpackHandle`, whose rules we reproduce:

* a struct is a map keyed by its Go field names, **sorted by name** (byte order), and fields
  tagged `omitempty` are left out when zero;
* strings and byte slices are both written in the old msgpack "raw" family (fixraw, raw16,
  raw32, never str8 or bin) because `WriteExt` is off; python-msgpack does the same with
  `use_bin_type=False`;
* integers use the smallest encoding of their value; a nil byte slice is msgpack nil;
* `Vsn` is a Go `[]uint8`, hence raw bytes, not an array.

The decoder is lenient where Go's is (str or bin for strings, nil for empty, unknown keys
ignored, missing keys zero) and strict about value types and ranges. Every malformed input
raises `CodecError`; nothing else escapes.

A *packet* (UDP) is a message, optionally wrapped: a `compound` message bundles several
messages with big-endian uint16 lengths; a `compress` message holds an LZW-compressed
message; a `hasCrc` prefix carries the CRC-32 (IEEE) of the rest. A *stream* (TCP) carries
one message, compressed as a whole when compression is on; a push/pull stream message is
the type byte, a header, `Nodes` node records and `UserStateLen` raw bytes of delegate state.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import msgpack

from cluster.core import lzw
from cluster.core.messages import (
    HAS_LABEL_TYPE,
    Ack,
    Alive,
    Compress,
    CompressionType,
    Dead,
    ErrResp,
    IndirectPing,
    MessageType,
    Nack,
    PacketMessage,
    Ping,
    PushNodeState,
    PushPull,
    PushPullHeader,
    StreamMessage,
    Suspect,
    UserMsgHeader,
    UserPacket,
    UserStream,
)

# memberlist's own accounting of framing bytes when it packs broadcasts into a packet: two
# bytes of compound header (type, count) and two bytes of length per part.
COMPOUND_HEADER_OVERHEAD: Final = 2
COMPOUND_OVERHEAD: Final = 2
# The one type byte memberlist adds in front of each user message it piggybacks.
USER_MSG_OVERHEAD: Final = 1
# A compound message counts its parts in one byte and their lengths in two.
MAX_COMPOUND_PARTS: Final = 255
MAX_COMPOUND_PART_BYTES: Final = 0xFFFF
# The largest push/pull state memberlist accepts from a peer (its `maxPushStateBytes`); also
# our bound for any single stream message and for what a decompression may expand to.
MAX_PUSH_STATE_BYTES: Final = 20 * 1024 * 1024
# A UDP datagram cannot exceed this, so neither can a decompressed packet.
MAX_PACKET_BYTES: Final = 65535
# compound/compress/CRC wrappers may nest; memberlist recurses without a bound, we stop here
# because no legitimate sender nests deeper than CRC > compress > compound > message.
MAX_PACKET_NESTING: Final = 4
CRC_HEADER_BYTES: Final = 5
LABEL_HEADER_BYTES: Final = 2
_UINT8_MAX: Final = 0xFF
_UINT16_MAX: Final = 0xFFFF
_UINT32_MAX: Final = 0xFFFFFFFF
_INT64_MAX: Final = (1 << 63) - 1


class CodecError(ValueError):
    """The peer sent bytes that are not a valid memberlist message."""


# ---------------------------------------------------------------------------------------
# Field tables: (Go field name, Python attribute, kind, omitempty), one table per struct.


class _Kind:
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    BYTES = "bytes"
    OPTIONAL_BYTES = "optional-bytes"
    VSN = "vsn"


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    go_name: str
    attribute: str
    kind: str
    omit_empty: bool = False


_T = TypeVar("_T")


def _table(*fields: _Field) -> tuple[_Field, ...]:
    # go-msgpack writes a struct's fields sorted by their encoded name.
    return tuple(sorted(fields, key=lambda f: f.go_name.encode()))


_PING_FIELDS = _table(
    _Field("SeqNo", "seq_no", _Kind.UINT32),
    _Field("Node", "node", _Kind.STRING),
    _Field("SourceAddr", "source_addr", _Kind.BYTES, omit_empty=True),
    _Field("SourcePort", "source_port", _Kind.UINT16, omit_empty=True),
    _Field("SourceNode", "source_node", _Kind.STRING, omit_empty=True),
)
_INDIRECT_PING_FIELDS = _table(
    _Field("SeqNo", "seq_no", _Kind.UINT32),
    _Field("Target", "target", _Kind.BYTES),
    _Field("Port", "port", _Kind.UINT16),
    _Field("Node", "node", _Kind.STRING),
    _Field("Nack", "nack", _Kind.BOOL),
    _Field("SourceAddr", "source_addr", _Kind.BYTES, omit_empty=True),
    _Field("SourcePort", "source_port", _Kind.UINT16, omit_empty=True),
    _Field("SourceNode", "source_node", _Kind.STRING, omit_empty=True),
)
_ACK_FIELDS = _table(
    _Field("SeqNo", "seq_no", _Kind.UINT32),
    _Field("Payload", "payload", _Kind.OPTIONAL_BYTES),
)
_NACK_FIELDS = _table(_Field("SeqNo", "seq_no", _Kind.UINT32))
_ERR_FIELDS = _table(_Field("Error", "error", _Kind.STRING))
_SUSPECT_DEAD_FIELDS = _table(
    _Field("Incarnation", "incarnation", _Kind.UINT32),
    _Field("Node", "node", _Kind.STRING),
    _Field("From", "from_node", _Kind.STRING),
)
_ALIVE_FIELDS = _table(
    _Field("Incarnation", "incarnation", _Kind.UINT32),
    _Field("Node", "node", _Kind.STRING),
    _Field("Addr", "addr", _Kind.BYTES),
    _Field("Port", "port", _Kind.UINT16),
    _Field("Meta", "meta", _Kind.OPTIONAL_BYTES),
    _Field("Vsn", "vsn", _Kind.VSN),
)
_COMPRESS_FIELDS = _table(
    _Field("Algo", "algo", _Kind.UINT8),
    _Field("Buf", "buf", _Kind.BYTES),
)
_PUSH_PULL_HEADER_FIELDS = _table(
    _Field("Nodes", "nodes", _Kind.INT),
    _Field("UserStateLen", "user_state_len", _Kind.INT),
    _Field("Join", "join", _Kind.BOOL),
)
_PUSH_NODE_STATE_FIELDS = _table(
    _Field("Name", "name", _Kind.STRING),
    _Field("Addr", "addr", _Kind.BYTES),
    _Field("Port", "port", _Kind.UINT16),
    _Field("Meta", "meta", _Kind.OPTIONAL_BYTES),
    _Field("Incarnation", "incarnation", _Kind.UINT32),
    _Field("State", "state", _Kind.INT),
    _Field("Vsn", "vsn", _Kind.VSN),
)
_USER_MSG_HEADER_FIELDS = _table(_Field("UserMsgLen", "user_msg_len", _Kind.INT))

_PACKET_TYPES: dict[type, tuple[MessageType, tuple[_Field, ...]]] = {
    Ping: (MessageType.PING, _PING_FIELDS),
    IndirectPing: (MessageType.INDIRECT_PING, _INDIRECT_PING_FIELDS),
    Ack: (MessageType.ACK, _ACK_FIELDS),
    Nack: (MessageType.NACK, _NACK_FIELDS),
    ErrResp: (MessageType.ERR, _ERR_FIELDS),
    Suspect: (MessageType.SUSPECT, _SUSPECT_DEAD_FIELDS),
    Alive: (MessageType.ALIVE, _ALIVE_FIELDS),
    Dead: (MessageType.DEAD, _SUSPECT_DEAD_FIELDS),
}
_DECODERS: dict[int, tuple[Callable[..., PacketMessage], tuple[_Field, ...]]] = {
    int(kind): (cls, fields) for cls, (kind, fields) in _PACKET_TYPES.items()
}


# ---------------------------------------------------------------------------------------
# msgpack values <-> Python values


def _go_string(text: str) -> bytes:
    # Go strings are arbitrary bytes; undecodable bytes survive a round trip as surrogates.
    return text.encode("utf-8", "surrogateescape")


def _is_empty(value: object) -> bool:
    return value in (0, "", b"", None, False, ())


def _to_wire(value: Any, kind: str) -> Any:
    if kind == _Kind.STRING:
        return _go_string(value)
    if kind == _Kind.VSN:
        return bytes(value)
    return value


def _pack_struct(obj: object, fields: tuple[_Field, ...]) -> bytes:
    wire: dict[bytes, Any] = {}
    for field in fields:
        value = getattr(obj, field.attribute)
        if field.omit_empty and _is_empty(value):
            continue
        wire[field.go_name.encode()] = _to_wire(value, field.kind)
    try:
        packed: bytes = msgpack.packb(wire, use_bin_type=False)
    except (ValueError, OverflowError, UnicodeEncodeError, TypeError) as error:
        raise CodecError(f"cannot encode {type(obj).__name__}: {error}") from error
    return packed


_INT_LIMITS = {
    _Kind.UINT8: _UINT8_MAX,
    _Kind.UINT16: _UINT16_MAX,
    _Kind.UINT32: _UINT32_MAX,
    _Kind.INT: _INT64_MAX,
}


def _from_wire(raw: Any, field: _Field) -> Any:
    kind = field.kind
    if kind in _INT_LIMITS:
        if raw is None:
            return 0
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= _INT_LIMITS[kind]:
            raise CodecError(f"field {field.go_name}: expected {kind}, got {raw!r:.40}")
        return raw
    if kind == _Kind.BOOL:
        if raw is None:
            return False
        if not isinstance(raw, bool):
            raise CodecError(f"field {field.go_name}: expected bool, got {raw!r:.40}")
        return raw
    if kind == _Kind.VSN:
        if raw is None:
            return ()
        if isinstance(raw, bytes):
            return tuple(raw)
        if isinstance(raw, list) and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _UINT8_MAX for v in raw
        ):
            return tuple(raw)
        raise CodecError(f"field {field.go_name}: expected bytes, got {raw!r:.40}")
    if raw is None:
        return None if kind == _Kind.OPTIONAL_BYTES else ("" if kind == _Kind.STRING else b"")
    if not isinstance(raw, bytes):
        raise CodecError(f"field {field.go_name}: expected {kind}, got {raw!r:.40}")
    if kind == _Kind.STRING:
        return raw.decode("utf-8", "surrogateescape")
    return raw


def _struct_from_map(value: Any, cls: Callable[..., _T], fields: tuple[_Field, ...]) -> _T:
    if not isinstance(value, dict):
        raise CodecError(f"expected a map for {getattr(cls, '__name__', cls)}, got {type(value).__name__}")
    by_name: dict[bytes, Any] = {k: v for k, v in value.items() if isinstance(k, bytes)}
    arguments = {f.attribute: _from_wire(by_name.get(f.go_name.encode()), f) for f in fields}
    return cls(**arguments)


def _new_unpacker(limit: int) -> msgpack.Unpacker:
    return msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=limit)


def _unpack_one(data: bytes) -> tuple[Any, int]:
    """The first msgpack value of `data` and how many bytes it took; Go ignores the rest."""
    unpacker = _new_unpacker(max(len(data), 1))
    unpacker.feed(data)
    try:
        value = unpacker.unpack()
    except msgpack.OutOfData as error:
        raise CodecError("truncated msgpack value") from error
    # msgpack raises a variety of ValueError subclasses, TypeError and others for garbage.
    except Exception as error:
        raise CodecError(f"invalid msgpack value: {error}") from error
    return value, unpacker.tell()


# ---------------------------------------------------------------------------------------
# Messages


def encode_message(message: PacketMessage) -> bytes:
    """One type byte plus the msgpack body, exactly as memberlist's `encode`."""
    kind, fields = _PACKET_TYPES[type(message)]
    return bytes((kind,)) + _pack_struct(message, fields)


def encode_user_message(payload: bytes) -> bytes:
    return bytes((MessageType.USER,)) + payload


def decode_message_body(kind: int, body: bytes) -> PacketMessage:
    """Decode the body of a packet message whose type byte was `kind`."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise CodecError(f"msg type ({kind}) not supported")
    value, _ = _unpack_one(body)
    cls, fields = decoder
    return _struct_from_map(value, cls, fields)


def decode_message(data: bytes) -> PacketMessage:
    if not data:
        raise CodecError("empty message")
    return decode_message_body(data[0], data[1:])


# ---------------------------------------------------------------------------------------
# Packet framing: compound, CRC, compression, label


def make_compound(messages: Sequence[bytes]) -> bytes:
    if len(messages) > MAX_COMPOUND_PARTS:
        raise CodecError(f"a compound message holds at most {MAX_COMPOUND_PARTS} parts")
    lengths = []
    for message in messages:
        if len(message) > MAX_COMPOUND_PART_BYTES:
            raise CodecError(f"a compound part is at most {MAX_COMPOUND_PART_BYTES} bytes")
        lengths.append(struct.pack(">H", len(message)))
    return bytes((MessageType.COMPOUND, len(messages))) + b"".join(lengths) + b"".join(messages)


def split_compound(body: bytes) -> tuple[list[bytes], int]:
    """The parts of a compound message body (after its type byte) and the number of parts
    cut off by truncation, which memberlist tolerates and only logs."""
    if not body:
        raise CodecError("missing compound length byte")
    count = body[0]
    if len(body) < 1 + 2 * count:
        raise CodecError("truncated len slice")
    lengths = struct.unpack(f">{count}H", body[1 : 1 + 2 * count])
    position = 1 + 2 * count
    parts: list[bytes] = []
    for index, length in enumerate(lengths):
        if len(body) - position < length:
            return parts, count - index
        parts.append(body[position : position + length])
        position += length
    return parts, 0


def add_crc(packet: bytes) -> bytes:
    return bytes((MessageType.HAS_CRC,)) + struct.pack(">I", zlib.crc32(packet)) + packet


def compress_message(message: bytes) -> bytes:
    """Wrap `message` (type byte included) in a `compress` message."""
    return encode_compress(Compress(algo=CompressionType.LZW, buf=lzw.compress(message)))


def encode_compress(wrapper: Compress) -> bytes:
    return bytes((MessageType.COMPRESS,)) + _pack_struct(wrapper, _COMPRESS_FIELDS)


def _decompress(wrapper: Compress, limit: int) -> bytes:
    if wrapper.algo != CompressionType.LZW:
        raise CodecError(f"Cannot decompress unknown algorithm {wrapper.algo}")
    try:
        return lzw.decompress(wrapper.buf, limit)
    except lzw.LzwError as error:
        raise CodecError(str(error)) from error


def decompress_body(body: bytes, limit: int = MAX_PACKET_BYTES) -> bytes:
    """The message inside a `compress` message body (after its type byte)."""
    value, _ = _unpack_one(body)
    return _decompress(_struct_from_map(value, Compress, _COMPRESS_FIELDS), limit)


def strip_label(data: bytes) -> tuple[bytes, bytes]:
    """Remove a memberlist cluster-label header if present: (label, rest)."""
    if not data or data[0] != HAS_LABEL_TYPE:
        return b"", data
    if len(data) < LABEL_HEADER_BYTES or len(data) < LABEL_HEADER_BYTES + data[1]:
        raise CodecError("truncated label header")
    size = data[1]
    return data[LABEL_HEADER_BYTES : LABEL_HEADER_BYTES + size], data[LABEL_HEADER_BYTES + size :]


@dataclasses.dataclass(frozen=True, slots=True)
class DecodedPacket:
    """Everything one packet carried, in order. `errors` lists parts that could not be
    decoded (memberlist logs and skips those); `truncated` counts compound parts cut off."""

    messages: tuple[PacketMessage | UserPacket, ...]
    errors: tuple[str, ...] = ()
    truncated: int = 0


def decode_packet(data: bytes) -> DecodedPacket:
    """Unwrap label, CRC, compression and compound framing and decode every message.

    Raises CodecError when the packet as a whole is unusable (bad CRC, bad compression);
    a bad part inside a compound message is reported in `errors` and the rest still count.
    """
    _, data = strip_label(data)
    if len(data) >= CRC_HEADER_BYTES and data[0] == MessageType.HAS_CRC:
        expected = struct.unpack(">I", data[1:CRC_HEADER_BYTES])[0]
        data = data[CRC_HEADER_BYTES:]
        if zlib.crc32(data) != expected:
            raise CodecError("Got invalid checksum for UDP packet")
    messages: list[PacketMessage | UserPacket] = []
    errors: list[str] = []
    truncated = _decode_command(data, messages, errors, depth=0)
    return DecodedPacket(tuple(messages), tuple(errors), truncated)


def _decode_command(
    data: bytes, messages: list[PacketMessage | UserPacket], errors: list[str], depth: int
) -> int:
    if depth > MAX_PACKET_NESTING:
        raise CodecError("packet wrappers nested too deeply")
    if not data:
        raise CodecError("empty message")
    kind, body = data[0], data[1:]
    if kind == MessageType.COMPOUND:
        parts, truncated = split_compound(body)
        for part in parts:
            try:
                truncated += _decode_command(part, messages, errors, depth + 1)
            except CodecError as error:
                errors.append(str(error))
        return truncated
    if kind == MessageType.COMPRESS:
        return _decode_command(decompress_body(body), messages, errors, depth + 1)
    if kind == MessageType.USER:
        messages.append(UserPacket(body))
        return 0
    messages.append(decode_message_body(kind, body))
    return 0


# ---------------------------------------------------------------------------------------
# Streams (TCP): push/pull, reliable user messages, TCP pings


def encode_push_pull(message: PushPull) -> bytes:
    header = PushPullHeader(
        nodes=len(message.nodes), user_state_len=len(message.user_state), join=message.join
    )
    parts = [bytes((MessageType.PUSH_PULL,)), _pack_struct(header, _PUSH_PULL_HEADER_FIELDS)]
    parts.extend(_pack_struct(node, _PUSH_NODE_STATE_FIELDS) for node in message.nodes)
    parts.append(message.user_state)
    return b"".join(parts)


def encode_user_stream(payload: bytes) -> bytes:
    header = _pack_struct(UserMsgHeader(len(payload)), _USER_MSG_HEADER_FIELDS)
    return bytes((MessageType.USER,)) + header + payload


def encode_stream(message: StreamMessage, compress: bool) -> bytes:
    """A whole stream message; memberlist compresses streams unconditionally when
    compression is on (unlike packets, where it keeps the smaller form)."""
    if isinstance(message, PushPull):
        raw = encode_push_pull(message)
    elif isinstance(message, UserStream):
        raw = encode_user_stream(message.payload)
    else:
        raw = encode_message(message)
    return compress_message(raw) if compress else raw


def _stream_payload(data: bytes) -> bytes:
    """The stream message with label and compression removed."""
    _, data = strip_label(data)
    if not data:
        raise CodecError("empty stream")
    if data[0] == MessageType.ENCRYPT:
        raise CodecError("Remote state is encrypted and encryption is not configured")
    if data[0] == MessageType.COMPRESS:
        data = decompress_body(data[1:], MAX_PUSH_STATE_BYTES)
        if not data:
            raise CodecError("empty compressed stream")
    return data


def decode_stream(data: bytes) -> StreamMessage:
    """Decode one complete stream message (see `stream_message_length` for framing)."""
    data = _stream_payload(data)
    kind, body = data[0], data[1:]
    if kind == MessageType.PUSH_PULL:
        return _decode_push_pull(body)
    if kind == MessageType.USER:
        value, used = _unpack_one(body)
        header = _struct_from_map(value, UserMsgHeader, _USER_MSG_HEADER_FIELDS)
        payload = body[used : used + header.user_msg_len]
        if len(payload) != header.user_msg_len:
            raise CodecError(f"Failed to read full user message ({len(payload)} / {header.user_msg_len})")
        return UserStream(payload)
    if kind in (MessageType.PING, MessageType.ACK, MessageType.ERR):
        message = decode_message_body(kind, body)
        assert isinstance(message, Ping | Ack | ErrResp)
        return message
    raise CodecError(f"Received invalid msgType ({kind})")


def _decode_push_pull(body: bytes) -> PushPull:
    unpacker = _new_unpacker(max(len(body), 1))
    unpacker.feed(body)
    try:
        header = _struct_from_map(unpacker.unpack(), PushPullHeader, _PUSH_PULL_HEADER_FIELDS)
        if header.nodes > len(body):
            raise CodecError(f"push/pull header announces {header.nodes} nodes in {len(body)} bytes")
        nodes = tuple(
            _struct_from_map(unpacker.unpack(), PushNodeState, _PUSH_NODE_STATE_FIELDS)
            for _ in range(header.nodes)
        )
    except CodecError:
        raise
    except msgpack.OutOfData as error:
        raise CodecError("truncated push/pull state") from error
    except Exception as error:
        raise CodecError(f"invalid push/pull state: {error}") from error
    used = unpacker.tell()
    user_state = body[used : used + header.user_state_len]
    if len(user_state) != header.user_state_len:
        raise CodecError(f"Failed to read full user state ({len(user_state)} / {header.user_state_len})")
    return PushPull(join=header.join, nodes=nodes, user_state=user_state)


def stream_message_length(data: bytes) -> int | None:
    """How many bytes the stream message starting at `data` occupies (possibly more than
    `len(data)`: the caller then reads on), or None when more bytes are needed to tell. Lets a transport read exactly one message from a connection
    whose peer keeps it open waiting for our answer. Raises CodecError for garbage or for a
    message larger than MAX_PUSH_STATE_BYTES."""
    offset = 0
    if data[:1] == bytes((HAS_LABEL_TYPE,)):
        if len(data) < LABEL_HEADER_BYTES:
            return None
        offset = LABEL_HEADER_BYTES + data[1]
    if len(data) <= offset:
        return None
    kind = data[offset]
    body_start = offset + 1
    unpacker = _new_unpacker(MAX_PUSH_STATE_BYTES)
    unpacker.feed(data[body_start : body_start + MAX_PUSH_STATE_BYTES])
    length: int
    try:
        if kind == MessageType.COMPRESS or kind in _DECODERS:
            unpacker.skip()
            length = body_start + unpacker.tell()
        elif kind == MessageType.PUSH_PULL:
            header = _struct_from_map(unpacker.unpack(), PushPullHeader, _PUSH_PULL_HEADER_FIELDS)
            for _ in range(header.nodes):
                unpacker.skip()
                if unpacker.tell() > MAX_PUSH_STATE_BYTES:
                    break
            length = body_start + unpacker.tell() + header.user_state_len
        elif kind == MessageType.USER:
            user_header = _struct_from_map(unpacker.unpack(), UserMsgHeader, _USER_MSG_HEADER_FIELDS)
            length = body_start + unpacker.tell() + user_header.user_msg_len
        elif kind == MessageType.ENCRYPT:
            if len(data) < body_start + 4:
                return None
            length = body_start + 4 + int(struct.unpack(">I", data[body_start : body_start + 4])[0])
        else:
            raise CodecError(f"Received invalid msgType ({kind})")
    except msgpack.OutOfData:
        if len(data) > MAX_PUSH_STATE_BYTES:
            raise CodecError(f"Remote node state is larger than limit ({MAX_PUSH_STATE_BYTES})") from None
        return None
    except CodecError:
        raise
    except Exception as error:
        raise CodecError(f"invalid stream message: {error}") from error
    if length > MAX_PUSH_STATE_BYTES:
        raise CodecError(f"Remote node state is larger than limit ({MAX_PUSH_STATE_BYTES})")
    return length
