"""Replicated-state channels riding on gossip, as Alertmanager's cluster package does it.

Theory of operation
-------------------
The application registers named states (Alertmanager uses "sil" for silences and "nfl" for
the notification log). Each state is a `ReplicatedState`: it can serialise itself whole
(`snapshot`) and merge bytes from a peer (`merge`, answering whether anything changed).

On the wire every payload is wrapped in Alertmanager's protobuf envelope
(cluster/clusterpb): a broadcast is one `Part{key, data}`, and the push/pull user state is
a `FullState{parts: [Part, ...]}` holding every channel's snapshot. `Replicator` is the
core's `LocalState` delegate:

    local_state()          -> FullState of every channel (sent in push/pull)
    merge_remote_state(b)  -> each Part merged into its channel; unknown keys are ignored,
                              and a part that fails to merge stops the rest (as Alertmanager)
    notify_user_msg(b)     -> one Part, merged into its channel
    get_broadcasts(o, l)   -> the queued small Parts that fit, transmit-limited

A Part larger than half the gossip packet (`OVERSIZED_PART_BYTES`) would not fit beside the
membership traffic, so it is not gossiped: it waits in a bounded per-channel queue that the
peer drains by sending it over TCP to every other member (`take_oversized`), exactly like
Alertmanager's `Channel` with `SendReliable`. A merge that changed local state re-broadcasts
the same bytes (epidemic fan-out) unless they are oversized: oversized messages were already
sent to everybody directly.

The module also holds the few protobuf wire primitives these envelopes need; `daemon.wire`
builds Alertmanager's silence and nflog messages on them.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Final, Protocol

from cluster.core.broadcasts import BroadcastQueue
from cluster.core.codec import MAX_PUSH_STATE_BYTES

logger = logging.getLogger(__name__)

# Alertmanager's MaxGossipPacketSize: the UDP payload budget of one gossip packet.
MAX_GOSSIP_PACKET_BYTES: Final = 1400
# Alertmanager's OversizedMessage: a Part over half a packet goes over TCP instead.
OVERSIZED_PART_BYTES: Final = MAX_GOSSIP_PACKET_BYTES // 2
# Alertmanager's per-channel buffer of oversized messages waiting for TCP; when full, new
# ones are dropped (and counted), since the next push/pull repairs the loss anyway.
OVERSIZED_QUEUE_SLOTS: Final = 200
# Alertmanager retransmits user broadcasts max(3, peers/2) times per log10 of the size.
DEFAULT_RETRANSMIT_MULT: Final = 3
# memberlist's maxPushStateBytes; no single protobuf record we accept may exceed it.
MAX_RECORD_BYTES: Final = MAX_PUSH_STATE_BYTES

# --- protobuf wire primitives ----------------------------------------------------------------

WIRE_VARINT: Final = 0
WIRE_FIXED64: Final = 1
WIRE_LENGTH_DELIMITED: Final = 2
WIRE_FIXED32: Final = 5
_FIXED_SIZES: Final = {WIRE_FIXED64: 8, WIRE_FIXED32: 4}
# A varint encodes at most 64 bits in 10 bytes of 7 bits each.
MAX_VARINT_BYTES: Final = 10
_UINT64_LIMIT: Final = 1 << 64
# Field numbers are 29-bit in protobuf.
MAX_FIELD_NUMBER: Final = (1 << 29) - 1


class ProtobufError(ValueError):
    """The bytes are not the protobuf message we expected (the peer sent garbage)."""


def encode_varint(value: int) -> bytes:
    """Base-128 varint; negative numbers as 64-bit two's complement (protobuf int64)."""
    if value < 0:
        value += _UINT64_LIMIT
    if not 0 <= value < _UINT64_LIMIT:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it). Raises ProtobufError on truncation or overflow."""
    result = 0
    for index in range(MAX_VARINT_BYTES):
        if pos + index >= len(data):
            raise ProtobufError("unexpected EOF in varint")
        byte = data[pos + index]
        result |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            if result >= _UINT64_LIMIT:
                raise ProtobufError("integer overflow in varint")
            return result, pos + index + 1
    raise ProtobufError("integer overflow in varint")


def to_int64(value: int) -> int:
    """Reinterpret a decoded varint as a signed 64-bit integer."""
    return value - _UINT64_LIMIT if value >= 1 << 63 else value


def to_int32(value: int) -> int:
    """Reinterpret a decoded varint as protobuf int32 (negatives are sign-extended to 64)."""
    value = to_int64(value)
    if not -(1 << 31) <= value < 1 << 31:
        raise ProtobufError(f"int32 out of range: {value}")
    return value


def encode_tag(field: int, wire_type: int) -> bytes:
    return encode_varint(field << 3 | wire_type)


def encode_bytes_field(field: int, payload: bytes) -> bytes:
    return encode_tag(field, WIRE_LENGTH_DELIMITED) + encode_varint(len(payload)) + payload


def encode_varint_field(field: int, value: int) -> bytes:
    return encode_tag(field, WIRE_VARINT) + encode_varint(value)


def iter_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field of one message: an int for varints
    and fixed-width fields, bytes for length-delimited ones. Groups are refused."""
    pos = 0
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        field, wire_type = key >> 3, key & 0x7
        if not 1 <= field <= MAX_FIELD_NUMBER:
            raise ProtobufError(f"illegal field number {field}")
        value: int | bytes
        if wire_type == WIRE_VARINT:
            value, pos = decode_varint(data, pos)
        elif wire_type == WIRE_LENGTH_DELIMITED:
            size, pos = decode_varint(data, pos)
            if size > len(data) - pos:
                raise ProtobufError("unexpected EOF in length-delimited field")
            value, pos = data[pos : pos + size], pos + size
        elif wire_type in _FIXED_SIZES:
            width = _FIXED_SIZES[wire_type]
            if pos + width > len(data):
                raise ProtobufError("unexpected EOF in fixed-width field")
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        else:
            raise ProtobufError(f"illegal wire type {wire_type} for field {field}")
        yield field, wire_type, value


def expect_bytes(field: int, wire_type: int, value: int | bytes) -> bytes:
    if wire_type != WIRE_LENGTH_DELIMITED or not isinstance(value, bytes):
        raise ProtobufError(f"wrong wire type {wire_type} for field {field}")
    return value


def expect_int(field: int, wire_type: int, value: int | bytes) -> int:
    if wire_type != WIRE_VARINT or not isinstance(value, int):
        raise ProtobufError(f"wrong wire type {wire_type} for field {field}")
    return value


def expect_string(field: int, wire_type: int, value: int | bytes) -> str:
    raw = expect_bytes(field, wire_type, value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtobufError(f"field {field}: invalid UTF-8") from error


def encode_delimited(records: Iterable[bytes]) -> bytes:
    """Records each prefixed by its varint length (pbutil.WriteDelimited, as Alertmanager
    writes broadcasts, push/pull parts and snapshot files)."""
    return b"".join(encode_varint(len(record)) + record for record in records)


def split_delimited(data: bytes) -> list[bytes]:
    """The records of a varint-length-delimited stream. Raises ProtobufError."""
    records = []
    pos = 0
    while pos < len(data):
        size, pos = decode_varint(data, pos)
        if size > MAX_RECORD_BYTES:
            raise ProtobufError(f"record of {size} bytes exceeds the limit {MAX_RECORD_BYTES}")
        if size > len(data) - pos:
            raise ProtobufError("unexpected EOF in delimited record")
        records.append(data[pos : pos + size])
        pos += size
    return records


# --- the Part / FullState envelope -------------------------------------------------------------

PART_KEY_FIELD: Final = 1
PART_DATA_FIELD: Final = 2
FULL_STATE_PARTS_FIELD: Final = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Part:
    key: str
    data: bytes


def encode_part(part: Part) -> bytes:
    out = b""
    if part.key:
        out += encode_bytes_field(PART_KEY_FIELD, part.key.encode())
    if part.data:
        out += encode_bytes_field(PART_DATA_FIELD, part.data)
    return out


def decode_part(data: bytes) -> Part:
    key, payload = "", b""
    for field, wire_type, value in iter_fields(data):
        if field == PART_KEY_FIELD:
            key = expect_string(field, wire_type, value)
        elif field == PART_DATA_FIELD:
            payload = expect_bytes(field, wire_type, value)
    return Part(key, payload)


def encode_full_state(parts: Iterable[Part]) -> bytes:
    # FullState.parts is non-nullable in gogoproto: every part is written, even an empty one.
    return b"".join(encode_bytes_field(FULL_STATE_PARTS_FIELD, encode_part(p)) for p in parts)


def decode_full_state(data: bytes) -> list[Part]:
    return [
        decode_part(expect_bytes(field, wire_type, value))
        for field, wire_type, value in iter_fields(data)
        if field == FULL_STATE_PARTS_FIELD
    ]


def is_oversized(message: bytes) -> bool:
    return len(message) > OVERSIZED_PART_BYTES


# --- channels ---------------------------------------------------------------------------------


class ReplicatedState(Protocol):
    """A state the application replicates (silences, notification log)."""

    def snapshot(self) -> bytes:
        """The whole state as the `data` of its Part (Alertmanager: delimited records)."""
        ...

    def merge(self, data: bytes, now: datetime) -> bool:
        """Merge a peer's bytes; True when local state changed. Raises ValueError on
        malformed data."""
        ...


@dataclasses.dataclass(slots=True)
class ChannelCounters:
    """Alertmanager's per-key oversize counters and our merge statistics."""

    oversized_queued: int = 0
    oversized_dropped: int = 0
    merges: int = 0
    merge_errors: int = 0
    # Merges that changed our state and were gossiped on (Alertmanager's
    # `alertmanager_{silences,nflog}_gossip_messages_propagated_total`).
    propagated: int = 0


# The `msg_type` values of Alertmanager's cluster message counters: a push/pull state
# exchange, and a gossiped (or directly sent) Part.
FULL_STATE = "full_state"
UPDATE = "update"
MESSAGE_TYPES = (FULL_STATE, UPDATE)


@dataclasses.dataclass(slots=True)
class MessageCounters:
    """Alertmanager's `alertmanager_cluster_messages_*` counts, kept as plain integers so
    `cluster` stays free of metrics libraries; `daemon.metrics` reads them at scrape time."""

    received: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(MESSAGE_TYPES, 0))
    received_bytes: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(MESSAGE_TYPES, 0))
    sent: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(MESSAGE_TYPES, 0))
    sent_bytes: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(MESSAGE_TYPES, 0))
    # Broadcasts dropped because the queue was over its bound.
    pruned: int = 0

    def count_received(self, message_type: str, size: int) -> None:
        self.received[message_type] += 1
        self.received_bytes[message_type] += size

    def count_sent(self, message_type: str, size: int) -> None:
        self.sent[message_type] += 1
        self.sent_bytes[message_type] += size


class Channel:
    """One named state's sending side: what the application calls after a local change."""

    def __init__(self, key: str, state: ReplicatedState, replicator: Replicator) -> None:
        self.key = key
        self.state = state
        self.counters = ChannelCounters()
        self._replicator = replicator
        self._oversized: collections.deque[bytes] = collections.deque()

    def broadcast(self, data: bytes) -> None:
        """Gossip `data` (for Alertmanager peers: delimited records of this state)."""
        message = encode_part(Part(self.key, data))
        if not is_oversized(message):
            self._replicator.queue_broadcast(message)
            return
        if len(self._oversized) >= OVERSIZED_QUEUE_SLOTS:
            self.counters.oversized_dropped += 1
            logger.debug("oversized gossip channel full", extra={"key": self.key})
            return
        self._oversized.append(message)
        self.counters.oversized_queued += 1
        self._replicator.wakeup()

    def take_oversized(self) -> list[bytes]:
        taken = list(self._oversized)
        self._oversized.clear()
        return taken


def _no_wakeup() -> None:
    return None


class Replicator:
    """The core's `LocalState` delegate: routes Parts to channels, queues broadcasts.

    `wall_clock` gives the time merges compare expiry against; `cluster_size` sizes the
    retransmit limit. The peer sets `wakeup` to learn when oversized messages wait, and
    `broadcast_queued` to learn when a gossip round has something to send.
    """

    def __init__(
        self,
        wall_clock: Callable[[], datetime],
        cluster_size: Callable[[], int] = lambda: 1,
        retransmit_mult: int = DEFAULT_RETRANSMIT_MULT,
    ) -> None:
        self._wall_clock = wall_clock
        self._cluster_size = cluster_size
        self._channels: dict[str, Channel] = {}
        self._queue = BroadcastQueue(retransmit_mult)
        self.wakeup: Callable[[], None] = _no_wakeup
        # Called after every queued broadcast: the peer wakes for the next gossip round,
        # which it skips while nothing is queued (`has_broadcasts`).
        self.broadcast_queued: Callable[[], None] = _no_wakeup
        self.unknown_keys = 0
        self.decode_errors = 0
        self.messages = MessageCounters()

    def add_channel(self, key: str, state: ReplicatedState) -> Channel:
        if key in self._channels:
            raise ValueError(f"channel {key!r} is already registered")
        channel = Channel(key, state, self)
        self._channels[key] = channel
        return channel

    @property
    def channels(self) -> dict[str, Channel]:
        return dict(self._channels)

    def set_cluster_size(self, cluster_size: Callable[[], int]) -> None:
        self._cluster_size = cluster_size

    def queue_broadcast(self, message: bytes) -> None:
        before = len(self._queue)
        self._queue.queue(message)
        # Unnamed messages never replace each other, so any shortfall was pruned.
        self.messages.pruned += before + 1 - len(self._queue)
        self.broadcast_queued()

    def has_broadcasts(self) -> bool:
        """Whether `get_broadcasts` has anything to hand out (the core's `BroadcastAware`)."""
        return len(self._queue) > 0

    @property
    def queued_broadcasts(self) -> int:
        return len(self._queue)

    @property
    def retransmit_mult(self) -> int:
        """Each broadcast goes out retransmit_mult * ceil(log10(N + 1)) times (the core's
        `user_retransmit_mult`, which the peer passes in)."""
        return self._queue.retransmit_mult

    @retransmit_mult.setter
    def retransmit_mult(self, mult: int) -> None:
        self._queue.retransmit_mult = mult

    @property
    def min_transmits(self) -> int:
        """...but at least this many times (the core's `user_min_transmits`)."""
        return self._queue.min_transmits

    @min_transmits.setter
    def min_transmits(self, count: int) -> None:
        self._queue.min_transmits = count

    def take_oversized(self) -> list[bytes]:
        """Oversized Parts (already encoded) to send over TCP to every other member."""
        taken: list[bytes] = []
        for channel in self._channels.values():
            taken.extend(channel.take_oversized())
        return taken

    def take_oversized_by_key(self) -> list[tuple[str, bytes]]:
        """`take_oversized`, each message with its channel key (for the per-key send metrics)."""
        return [(key, message) for key, channel in self._channels.items() for message in channel.take_oversized()]

    # --- LocalState -----------------------------------------------------------------------

    def local_state(self) -> bytes:
        state = encode_full_state(Part(key, ch.state.snapshot()) for key, ch in self._channels.items())
        self.messages.count_sent(FULL_STATE, len(state))
        return state

    def merge_remote_state(self, data: bytes) -> None:
        self.messages.count_received(FULL_STATE, len(data))
        try:
            parts = decode_full_state(data)
        except ProtobufError as error:
            self.decode_errors += 1
            logger.warning("merge remote state: %s", error)
            return
        now = self._wall_clock()
        for part in parts:
            channel = self._channels.get(part.key)
            if channel is None:
                self.unknown_keys += 1
                logger.warning("received unknown state key %r (%d bytes)", part.key, len(data))
                continue
            if not self._merge(channel, part.data, now):
                return

    def notify_user_msg(self, data: bytes) -> None:
        self.messages.count_received(UPDATE, len(data))
        try:
            part = decode_part(data)
        except ProtobufError as error:
            self.decode_errors += 1
            logger.warning("decode broadcast: %s", error)
            return
        channel = self._channels.get(part.key)
        if channel is None:
            self.unknown_keys += 1
            return
        self._merge(channel, part.data, self._wall_clock())

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        messages = self._queue.take(overhead, limit, self._cluster_size())
        for message in messages:
            self.messages.count_sent(UPDATE, len(message))
        return messages

    def _merge(self, channel: Channel, data: bytes, now: datetime) -> bool:
        """Merge into one channel; False when the merge failed."""
        try:
            changed = channel.state.merge(data, now)
        except ValueError as error:
            channel.counters.merge_errors += 1
            logger.warning("merge %s state: %s", channel.key, error)
            return False
        channel.counters.merges += 1
        # Epidemic fan-out: news we had not seen goes on to others (a small push/pull part
        # too, as Alertmanager does). Oversized data was sent to every member directly.
        if changed and not is_oversized(data):
            channel.broadcast(data)
            channel.counters.propagated += 1
        return True
