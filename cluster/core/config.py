"""Tunables of the gossip core, in integer milliseconds.

`alertmanager_defaults()` is memberlist's `DefaultLANConfig` with the overrides Alertmanager
0.25 applies from its flags' defaults, so a tocsin replica behaves like its Go neighbours in
a mixed cluster. Each default says why it has that value.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class CoreConfig:
    # Probe one member per second: a failed member is noticed within a few seconds on a LAN
    # while the probe traffic stays O(1) per member (Alertmanager --cluster.probe-interval).
    probe_interval_ms: int = 1000
    # Half a second is a generous LAN round trip; after it we ask others to probe for us
    # (Alertmanager --cluster.probe-timeout).
    probe_timeout_ms: int = 500
    # Piggybacked broadcasts go out five times a second, so a silence reaches every replica
    # within a few hundred milliseconds (Alertmanager --cluster.gossip-interval).
    gossip_interval_ms: int = 200
    # Full state exchange once a minute repairs anything gossip lost, cheaply for the small
    # clusters Alertmanager runs (Alertmanager --cluster.pushpull-interval).
    push_pull_interval_ms: int = 60_000
    # A stream (push/pull, reliable user message) may take up to 10 s on a loaded network
    # before we give up on it (Alertmanager --cluster.tcp-timeout).
    tcp_timeout_ms: int = 10_000
    # Three helpers for an indirect probe: enough that one lossy path does not condemn a
    # healthy member (memberlist default).
    indirect_checks: int = 3
    # Each membership broadcast is sent 4 * ceil(log10(n + 1)) times: reaches everyone with
    # high probability under gossip fan-out 3 (memberlist default).
    retransmit_mult: int = 4
    # Suspicion lasts 4 * max(1, log10(n)) probe intervals before a member is declared dead,
    # leaving it time to refute (memberlist default).
    suspicion_mult: int = 4
    # Without independent confirmations the suspicion timeout starts 6 times longer and
    # shrinks as others confirm (Lifeguard; memberlist default).
    suspicion_max_timeout_mult: int = 6
    # An unhealthy node stretches its probe interval up to 8x, so its own slowness does not
    # get healthy peers declared dead (Lifeguard; memberlist default).
    awareness_max_multiplier: int = 8
    # Gossip to three random members per round (memberlist default; Alertmanager uses
    # max(3, number of --cluster.peer / 2), which the shell passes in).
    gossip_nodes: int = 3
    # Keep gossiping to a dead member for 30 s so it learns it was declared dead and can
    # refute (memberlist default, same as its push/pull interval).
    gossip_to_the_dead_time_ms: int = 30_000
    # User broadcasts (silences, nflog entries) use Alertmanager's own queue whose retransmit
    # multiplier is max(3, number of --cluster.peer / 2); the shell passes it in.
    user_retransmit_mult: int = 3
    # Keep datagrams under a 1500-byte Ethernet MTU with room for IP/UDP headers; this is
    # Alertmanager's MaxGossipPacketSize.
    udp_buffer_size: int = 1400
    # memberlist compresses by default; Go peers accept both forms.
    enable_compression: bool = True
    # Alertmanager 0.25 runs memberlist without DisableTcpPings: a probe that fails over UDP
    # is retried over TCP before suspicion, which avoids flapping when only UDP is lossy.
    enable_tcp_pings: bool = True


def alertmanager_defaults() -> CoreConfig:
    """memberlist's LAN defaults with Alertmanager 0.25's flag defaults applied."""
    return CoreConfig()


def with_peer_count(config: CoreConfig, known_peers: int) -> CoreConfig:
    """Alertmanager scales gossip fan-out and its user retransmits with the configured peers."""
    scaled = max(3, known_peers // 2)
    return dataclasses.replace(config, gossip_nodes=scaled, user_retransmit_mult=scaled)
