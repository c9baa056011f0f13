"""Wire types of hashicorp/memberlist's gossip protocol, as value objects.

The numbers of `MessageType` are part of the protocol (memberlist numbers them in declaration
order and only ever appends), so they are spelled out here and never reordered. Field names
and field types follow memberlist's Go structs, because the msgpack encoding (see `codec`)
writes each struct as a map keyed by those Go field names.

Go `[]byte` fields that memberlist leaves nil in ordinary traffic (ack payloads, node meta)
are `bytes | None` here, so that a decoded message re-encodes to the same bytes.
"""

from __future__ import annotations

import dataclasses
import enum

# Protocol versions spoken, as in memberlist v0.5 (Alertmanager 0.25's vendored version):
# 1..5 understood, 2 spoken (the "version 2 compatible" default). Version 4 added nacks to
# indirect probes, version 5 the CRC prefix on packets.
PROTOCOL_VERSION_MIN = 1
PROTOCOL_VERSION_MAX = 5
PROTOCOL_VERSION_CURRENT = 2
PROTOCOL_VERSION_WITH_NACKS = 4
PROTOCOL_VERSION_WITH_CRC = 5
# Alertmanager sets no delegate protocol versions, so all three are zero.
DELEGATE_VERSION_MIN = 0
DELEGATE_VERSION_MAX = 0
DELEGATE_VERSION_CURRENT = 0
VSN_LENGTH = 6  # pmin, pmax, pcur, dmin, dmax, dcur

# Node meta data is capped by memberlist at 512 bytes; Alertmanager sends none.
META_MAX_SIZE = 512


class MessageType(enum.IntEnum):
    """The first byte of every packet and stream message. Append only: part of the protocol."""

    PING = 0
    INDIRECT_PING = 1
    ACK = 2
    SUSPECT = 3
    ALIVE = 4
    DEAD = 5
    PUSH_PULL = 6
    COMPOUND = 7
    USER = 8
    COMPRESS = 9
    ENCRYPT = 10
    NACK = 11
    HAS_CRC = 12
    ERR = 13


# memberlist >= 0.4 may prefix a packet or stream with a cluster label under this type byte.
# Alertmanager 0.25 sets no label, so it never sends one; we accept and strip it.
HAS_LABEL_TYPE = 244


class NodeStateType(enum.IntEnum):
    """memberlist's node states, as sent in push/pull node records."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


class CompressionType(enum.IntEnum):
    LZW = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    """A direct probe. `node` lets the target reject a ping meant for a previous owner of
    its address; the source fields tell it where to send the ack."""

    seq_no: int
    node: str
    source_addr: bytes = b""
    source_port: int = 0
    source_node: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class IndirectPing:
    """Asks a peer to probe `node` at `target`:`port` on our behalf."""

    seq_no: int
    target: bytes
    port: int
    node: str
    nack: bool
    source_addr: bytes = b""
    source_port: int = 0
    source_node: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Ack:
    seq_no: int
    payload: bytes | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Nack:
    """Sent by an indirect prober whose own ping went unanswered: proof that the requester
    itself is reachable, which feeds the requester's health awareness."""

    seq_no: int


@dataclasses.dataclass(frozen=True, slots=True)
class ErrResp:
    error: str


@dataclasses.dataclass(frozen=True, slots=True)
class Suspect:
    incarnation: int
    node: str
    from_node: str  # Go field `From`


@dataclasses.dataclass(frozen=True, slots=True)
class Alive:
    incarnation: int
    node: str
    addr: bytes
    port: int
    meta: bytes | None
    vsn: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Dead:
    """A death notice; when `node == from_node` the node announces its own graceful leave."""

    incarnation: int
    node: str
    from_node: str  # Go field `From`


@dataclasses.dataclass(frozen=True, slots=True)
class Compress:
    algo: int
    buf: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class PushPullHeader:
    nodes: int
    user_state_len: int
    join: bool


@dataclasses.dataclass(frozen=True, slots=True)
class PushNodeState:
    name: str
    addr: bytes
    port: int
    meta: bytes | None
    incarnation: int
    state: int
    vsn: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class UserMsgHeader:
    user_msg_len: int


# A message carried in a packet (after CRC, compression and compound framing are removed).
PacketMessage = Ping | IndirectPing | Ack | Nack | Suspect | Alive | Dead | ErrResp


@dataclasses.dataclass(frozen=True, slots=True)
class UserPacket:
    """A user (delegate) message: the bytes after the type byte, opaque to memberlist."""

    payload: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class PushPull:
    """A whole push/pull stream message: our node table and the delegate's state."""

    join: bool
    nodes: tuple[PushNodeState, ...]
    user_state: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class UserStream:
    """A user message sent reliably over a stream (memberlist's SendReliable)."""

    payload: bytes


StreamMessage = PushPull | UserStream | Ping | Ack | ErrResp
