"""The daemon's side of high availability: silences and the notification log as replicated
states, and the peer built from the `--cluster.*` flags.

The cluster package knows nothing about silences or notification logs: it replicates opaque
`ReplicatedState`s (`snapshot() -> bytes`, `merge(bytes, now) -> changed`) under the keys
Alertmanager uses, "sil" and "nfl". This module supplies the two states, speaking
Alertmanager's protobuf (`daemon.wire`) so a mixed tocsin/Alertmanager cluster shares them:

    local silence change ──listener──► durable log (fsync before the API answers)
                                  └──► channel "sil".broadcast(MeshSilence)
    peer's MeshSilence ──► SilenceState.merge ──► Silences.merge (last writer wins)
                                                 └─► listener ─► durable log
    local nflog write ──► durable log + channel "nfl".broadcast(MeshEntry)
    peer's MeshEntry ──► NflogState.merge ──► NotificationLog.merge ─► durable log

The Replicator re-broadcasts whatever a merge took (epidemic fan-out), so the states do not.

Notification-log writes come in bursts (every group of a busy route flushes at once after a
restart or an outage). Gossip carries about a dozen entries per packet and interval, so 500
entries would need many seconds to reach the next replica, which would then send
duplicates after its position wait (Alertmanager 0.25 does exactly that). Writes are
therefore collected for one gossip interval, which costs no latency since gossip would not
leave before the next round anyway: a few entries are gossiped as before, a burst becomes
one multi-entry message that is oversized and goes to every member over TCP at once.
Alertmanager's nflog merges a stream of entries from one message, so mixed clusters
understand it.

Merged records are appended to the durable logs without waiting; the periodic commit in the
composition root makes them durable within a second.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Final

import trio

from cluster.peer import Peer, build_peer
from cluster.replication import Channel, Part, Replicator, encode_part, is_oversized
from daemon import wire
from daemon.api.alerts import ClusterStatus
from daemon.flags import Flags
from daemon.matchers import MatcherError, compile_anchored
from daemon.nflog import NotificationLog
from daemon.silences import (
    MATCH_TYPE_CODES,
    MATCH_TYPES_BY_CODE,
    Silence,
    SilenceChange,
    SilenceMatcher,
    Silences,
)
from daemon.storage import DurableLog

logger = logging.getLogger("tocsin.cluster")

SILENCES_CHANNEL = "sil"
NFLOG_CHANNEL = "nfl"
# How long local nflog writes are collected into one broadcast when no gossip interval is
# given: Alertmanager's default gossip interval (see the module docstring).
NFLOG_BATCH_WINDOW_SECONDS: Final = 0.2
# A batch is sent at once when it holds this many entries (about 40 KiB), so one TCP message
# never grows without bound in a flood.
NFLOG_BATCH_MAX_ENTRIES: Final = 500

_REGEX_TYPES = frozenset(code for kind, code in MATCH_TYPE_CODES.items() if kind.value.endswith("~"))


# --- silences <-> MeshSilence ---------------------------------------------------------------------


def silence_to_wire(silence: Silence, expires_at: datetime) -> wire.MeshSilence:
    return wire.MeshSilence(
        wire.WireSilence(
            id=silence.id,
            matchers=tuple(
                wire.WireMatcher(MATCH_TYPE_CODES[matcher.type], matcher.name, matcher.value)
                for matcher in silence.matchers
            ),
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            updated_at=silence.updated_at,
            created_by=silence.created_by,
            comment=silence.comment,
        ),
        expires_at,
    )


def silence_from_wire(message: wire.MeshSilence) -> tuple[Silence, datetime]:
    """Our silence for a peer's MeshSilence. Pre-0.16 silences carry their author and text in
    the deprecated comment list; the first comment is taken, as Alertmanager upgrades them.
    Raises ValueError for a matcher type we do not know."""
    remote = message.silence
    created_by, comment = remote.created_by, remote.comment
    if not comment and not created_by and remote.comments:
        created_by, comment = remote.comments[0].author, remote.comments[0].comment
    matchers = []
    for matcher in remote.matchers:
        kind = MATCH_TYPES_BY_CODE.get(matcher.type)
        if kind is None:
            raise ValueError(f"silence {remote.id}: unknown matcher type {matcher.type}")
        matchers.append(SilenceMatcher(matcher.name, kind, matcher.pattern))
    silence = Silence(
        id=remote.id,
        matchers=tuple(matchers),
        starts_at=remote.starts_at,
        ends_at=remote.ends_at,
        updated_at=remote.updated_at,
        created_by=created_by,
        comment=comment,
    )
    return silence, message.expires_at


def _bad_regex(message: wire.MeshSilence) -> str | None:
    for matcher in message.silence.matchers:
        if matcher.type in _REGEX_TYPES:
            try:
                compile_anchored(matcher.pattern)
            except (MatcherError, ValueError) as error:
                return f"{matcher.name}: {error}"
    return None


class SilenceState:
    """The "sil" channel's state: every silence as delimited MeshSilence records."""

    def __init__(self, silences: Silences) -> None:
        self.silences = silences
        self.rejected = 0

    def snapshot(self) -> bytes:
        return wire.encode_silences(silence_to_wire(silence, expiry) for silence, expiry in self.silences.snapshot())

    def merge(self, data: bytes, now: datetime) -> bool:
        """Last-writer-wins merge of a peer's silences; True when any was taken. A malformed
        stream raises ValueError; a single unusable silence is skipped and counted."""
        changed = False
        for message in wire.decode_silences(data):
            if message.expires_at < now or not message.silence.id:
                continue
            known = self.silences.get(message.silence.id)
            if known is not None and known.updated_at > message.silence.updated_at:
                continue  # stale: skip the conversion and regex check below
            # Silences are validated where they are created; a peer whose regex dialect
            # differs must not leave a pattern here that would fail at every flush.
            problem = _bad_regex(message)
            if problem is None:
                try:
                    silence, expires_at = silence_from_wire(message)
                except ValueError as error:
                    problem = str(error)
            if problem is not None:
                self.rejected += 1
                logger.warning("ignoring a gossiped silence", extra={"id": message.silence.id, "err": problem})
                continue
            changed = self.silences.merge(silence, expires_at, now) or changed
        return changed


class NflogState:
    """The "nfl" channel's state; entries taken from peers also go to the durable log."""

    def __init__(self, nflog: NotificationLog, durable: DurableLog | None = None) -> None:
        self.nflog = nflog
        self.durable = durable

    def snapshot(self) -> bytes:
        return self.nflog.snapshot()

    def merge(self, data: bytes, now: datetime) -> bool:
        changed = self.nflog.merge(data, now)
        logger.debug("merged notification log entries", extra={"bytes": len(data), "changed": len(changed)})
        if self.durable is not None:
            for record in changed:
                self.durable.append(record)
        return bool(changed)


class NflogBroadcaster:
    """Collects local nflog writes for a short window and broadcasts them together."""

    def __init__(self, channel: Channel, window_seconds: float = NFLOG_BATCH_WINDOW_SECONDS) -> None:
        self.channel = channel
        self.window_seconds = window_seconds
        self._pending: list[bytes] = []
        self._arrived = trio.Event()

    def add(self, record: bytes) -> None:
        self._pending.append(record)
        if len(self._pending) >= NFLOG_BATCH_MAX_ENTRIES:
            self.flush()
        else:
            self._arrived.set()

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        logger.debug("broadcasting notification log entries", extra={"entries": len(batch)})
        joined = b"".join(batch)
        if is_oversized(encode_part(Part(self.channel.key, joined))):
            self.channel.broadcast(joined)  # over TCP to every member at once
            return
        # Small enough for gossip: one message per entry, as Alertmanager sends them (it
        # re-gossips a merged message once per entry it took, so batches would multiply).
        for record in batch:
            self.channel.broadcast(record)

    async def run(self) -> None:
        try:
            while True:
                await self._arrived.wait()
                self._arrived = trio.Event()
                await trio.sleep(self.window_seconds)
                self.flush()
        finally:
            self.flush()  # queued for the leave's last gossip rounds


# --- the cluster as the application sees it ----------------------------------------------------------


@dataclasses.dataclass
class ClusterGlue:
    """The peer plus the two channels, wired to the application's state."""

    peer: Peer
    replicator: Replicator
    silences_channel: Channel
    nflog_channel: Channel
    silence_state: SilenceState
    nflog_state: NflogState
    nflog_broadcaster: NflogBroadcaster

    def status(self) -> ClusterStatus:
        shown = self.peer.status()
        peers = shown.get("peers") or []
        assert isinstance(peers, list)
        return ClusterStatus(
            status=str(shown["status"]),
            name=str(shown["name"]),
            peers=tuple((str(p["name"]), str(p["address"])) for p in peers),
        )

    def peer_wait_seconds(self, peer_timeout_seconds: float) -> float:
        """The wait stage's delay for this replica: position × --cluster.peer-timeout."""
        try:
            return self.peer.position() * peer_timeout_seconds
        except RuntimeError:  # not running (yet, or any more): behave like position 0
            return 0.0


def connect_states(
    replicator: Replicator,
    silences: Silences,
    nflog: NotificationLog,
    *,
    silences_log: DurableLog | None = None,
    nflog_log: DurableLog | None = None,
    batch_window_seconds: float = NFLOG_BATCH_WINDOW_SECONDS,
) -> tuple[Channel, Channel, SilenceState, NflogState, NflogBroadcaster]:
    """Register the "sil" and "nfl" channels and hook local changes to broadcasts.

    The nflog's `on_local_write` is replaced by one that appends to `nflog_log` (when given)
    and hands it to the returned broadcaster (whose `run` must be running); silence changes
    made here are broadcast by a new listener (the durable log has its own listener)."""
    silence_state = SilenceState(silences)
    nflog_state = NflogState(nflog, nflog_log)
    silences_channel = replicator.add_channel(SILENCES_CHANNEL, silence_state)
    nflog_channel = replicator.add_channel(NFLOG_CHANNEL, nflog_state)

    def broadcast_silence(change: SilenceChange) -> None:
        if change.local:  # merged ones are re-broadcast by the replicator
            silences_channel.broadcast(wire.encode_silences([silence_to_wire(change.silence, change.expires_at)]))

    silences.add_listener(broadcast_silence)

    broadcaster = NflogBroadcaster(nflog_channel, batch_window_seconds)

    def write_entry(record: bytes) -> None:
        if nflog_log is not None:
            nflog_log.append(record)
        broadcaster.add(record)

    nflog.on_local_write = write_entry
    return silences_channel, nflog_channel, silence_state, nflog_state, broadcaster


def build_cluster(
    flags: Flags,
    silences: Silences,
    nflog: NotificationLog,
    *,
    clock: Callable[[], datetime],
    silences_log: DurableLog | None = None,
    nflog_log: DurableLog | None = None,
) -> ClusterGlue:
    """The peer for the `--cluster.*` flags, with the silences and nflog channels connected.
    Raises PeerError, TLSConfigError or SecurityError (cluster package) for bad settings."""
    replicator = Replicator(wall_clock=clock)
    silences_channel, nflog_channel, silence_state, nflog_state, broadcaster = connect_states(
        replicator,
        silences,
        nflog,
        silences_log=silences_log,
        nflog_log=nflog_log,
        batch_window_seconds=flags.cluster_gossip_interval.total_seconds(),
    )
    peer = build_peer(
        listen_address=flags.cluster_listen_address,
        advertise_address=flags.cluster_advertise_address,
        known_peers=flags.cluster_peers,
        name=flags.cluster_peer_name,
        gossip_interval=flags.cluster_gossip_interval,
        push_pull_interval=flags.cluster_pushpull_interval,
        tcp_timeout=flags.cluster_tcp_timeout,
        probe_timeout=flags.cluster_probe_timeout,
        probe_interval=flags.cluster_probe_interval,
        settle_timeout=flags.cluster_settle_timeout,
        reconnect_interval=flags.cluster_reconnect_interval,
        reconnect_timeout=flags.cluster_reconnect_timeout,
        allow_insecure_public_advertise=flags.cluster_allow_insecure_public_advertise_address_discovery,
        tls_config_file=flags.cluster_tls_config,
        key_file=flags.cluster_key_file,
        replicator=replicator,
        suspicion_multiplier=flags.cluster_suspicion_multiplier,
    )
    return ClusterGlue(peer, replicator, silences_channel, nflog_channel, silence_state, nflog_state, broadcaster)


__all__ = [
    "NFLOG_CHANNEL",
    "SILENCES_CHANNEL",
    "ClusterGlue",
    "NflogBroadcaster",
    "NflogState",
    "SilenceState",
    "build_cluster",
    "connect_states",
    "silence_from_wire",
    "silence_to_wire",
]
