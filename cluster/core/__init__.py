"""The sans-IO gossip core: pure state machines fed with received bytes and `now` (integer
milliseconds), answering deadlines and messages to send. No I/O, no clocks, injected RNG.

Layout (each module may use the ones above it):
    messages     memberlist wire types and protocol constants
    lzw, codec   Go-compatible LZW; msgpack encodings, packet and stream framing
    config       tunables with the reason for each default
    suspicion,   Lifeguard maths (pure functions) and per-suspect bookkeeping
    awareness
    broadcasts   transmit-limited gossip queue
    members      the membership table and its precedence rules
    probe        probe-round bookkeeping
    node         the façade a transport shell drives
"""

from cluster.core.codec import CodecError as CodecError
from cluster.core.codec import stream_message_length as stream_message_length
from cluster.core.config import CoreConfig as CoreConfig
from cluster.core.config import alertmanager_defaults as alertmanager_defaults
from cluster.core.config import tocsin_defaults as tocsin_defaults
from cluster.core.config import with_peer_count as with_peer_count
from cluster.core.members import Address as Address
from cluster.core.members import EventKind as EventKind
from cluster.core.members import Member as Member
from cluster.core.members import MemberEvent as MemberEvent
from cluster.core.node import Event as Event
from cluster.core.node import LocalState as LocalState
from cluster.core.node import Node as Node
from cluster.core.node import Outgoing as Outgoing
from cluster.core.node import PacketOut as PacketOut
from cluster.core.node import PushPullCompleted as PushPullCompleted
from cluster.core.node import StreamOut as StreamOut

__all__ = [
    "Address",
    "CodecError",
    "CoreConfig",
    "Event",
    "EventKind",
    "LocalState",
    "Member",
    "MemberEvent",
    "Node",
    "Outgoing",
    "PacketOut",
    "PushPullCompleted",
    "StreamOut",
    "alertmanager_defaults",
    "stream_message_length",
    "tocsin_defaults",
    "with_peer_count",
]
