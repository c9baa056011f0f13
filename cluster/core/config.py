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
    # leaving it time to refute (memberlist default). May be fractional (tocsin extension).
    suspicion_mult: float = 4
    # Lifeguard's k: independent confirmations that shrink a suspicion to its minimum. None
    # is memberlist's rule, suspicion_mult - 2 (so 2 by default).
    suspicion_confirmations: int | None = None
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
    # A floor under the user broadcast transmit count (0: memberlist's formula alone).
    user_min_transmits: int = 0
    # None: a queued user broadcast waits for the next gossip round (memberlist), up to a
    # gossip interval. A number: it goes out in a gossip round of its own at once, or this
    # many milliseconds after the previous round if that was more recent (tocsin extension).
    eager_gossip_spacing_ms: int | None = None
    # Keep datagrams under a 1500-byte Ethernet MTU with room for IP/UDP headers; this is
    # Alertmanager's MaxGossipPacketSize.
    udp_buffer_size: int = 1400
    # memberlist compresses by default; Go peers accept both forms.
    enable_compression: bool = True
    # Alertmanager 0.25 runs memberlist without DisableTcpPings: a probe that fails over UDP
    # is retried over TCP before suspicion, which avoids flapping when only UDP is lossy.
    enable_tcp_pings: bool = True


# tocsin's suspicion tuning (--cluster.suspicion-multiplier), chosen from the sweep in
# docs/simulations.md ("Suspicion tuning"): multiplier 1 with Lifeguard's k kept at
# memberlist's 2 detects a crash at N = 100 in about 4 s instead of 10 s, while a suspicion
# nobody confirms still lasts 6 times longer, so healthy members under loss or next to a slow
# one are not declared dead more often than with Alertmanager's 4. The flag moves only the
# floor of a suspicion, never k; with 4, tocsin matches Alertmanager from 4 members on (in
# smaller clusters it also waits for the other members' confirmations, see suspicion.py).
TOCSIN_SUSPICION_MULT = 1.0
TOCSIN_SUSPICION_CONFIRMATIONS = 2
# Bounds of the flag. Below one probe interval (x log10 N) an accused member's refutation
# must travel two gossip hops in well under a second; above 60 a crashed replica would stay
# in the cluster for many minutes (6 x 60 x log10 N probe intervals without confirmations).
MIN_SUSPICION_MULT = 1.0
MAX_SUSPICION_MULT = 60.0
# tocsin sends each user broadcast (silence, nflog entry) 5 * ceil(log10(N + 1)) times per
# member where Alertmanager sends it 3 * ceil(...) times. Every member re-sends what it
# learns, so a member receives about k (1 - loss) copies of a write and misses all of them
# with probability about e^(-k (1 - loss)); a missed write waits for push/pull (minutes at
# N = 100). At 5 % loss the share of writes some member misses, N e^(-0.95 k), is then 1.9 %
# (multiplier 3) but 0.006 % (5) at N = 100, 1.1 % but 0.0006 % at N = 1000, and at most
# 0.22 % from N = 10 on, so "a silence reaches everybody within 2 s, p99" can hold; the cost is
# 5/3 of the user broadcast bytes (docs/simulations.md, "Silence reach").
TOCSIN_USER_RETRANSMIT_MULT = 5
# ...and at least 10 times: ceil(log10(N + 1)) is 1 up to N = 9, where 5 copies leave a
# member of 5-9 missing about one write in twenty. The floor stops at two copies per other
# member (`broadcasts.transmit_limit`), so clusters of 3-4, whose every gossip round reaches
# every member, keep the formula's 5.
TOCSIN_USER_MIN_TRANSMITS = 10
# tocsin gossips a new silence or nflog entry at once instead of at the next round, which is
# on average half a gossip interval (100 ms) away, and so is every re-broadcast by a member that
# learns it: a write reaches a 3-replica cluster in about a round trip instead of ~100 ms. The
# copies each member sends are as many as before (the transmit limit is unchanged), only
# sooner; extra rounds come at most every 50 ms (a quarter of the gossip interval), so a burst
# of writes costs at most five rounds per interval instead of one, each carrying what is queued.
TOCSIN_EAGER_GOSSIP_SPACING_MS = 50
# Alertmanager's lower bound on gossip fan-out and user retransmits.
MIN_SCALED_FAN_OUT = 3


def alertmanager_defaults() -> CoreConfig:
    """memberlist's LAN defaults with Alertmanager 0.25's flag defaults applied."""
    return CoreConfig()


def tocsin_defaults() -> CoreConfig:
    """What the daemon runs by default: Alertmanager's defaults with tocsin's suspicion tuning,
    user broadcast retransmits and eager user gossip."""
    config = dataclasses.replace(
        alertmanager_defaults(),
        user_retransmit_mult=TOCSIN_USER_RETRANSMIT_MULT,
        user_min_transmits=TOCSIN_USER_MIN_TRANSMITS,
        eager_gossip_spacing_ms=TOCSIN_EAGER_GOSSIP_SPACING_MS,
    )
    return with_suspicion_multiplier(config, TOCSIN_SUSPICION_MULT)


def with_suspicion_multiplier(config: CoreConfig, multiplier: float) -> CoreConfig:
    """The --cluster.suspicion-multiplier setting: the suspicion floor is multiplier x
    max(1, log10 N) probe intervals, with Lifeguard's k fixed at memberlist's 2."""
    if not MIN_SUSPICION_MULT <= multiplier <= MAX_SUSPICION_MULT:
        raise ValueError(
            f"suspicion multiplier must be between {MIN_SUSPICION_MULT:g} and {MAX_SUSPICION_MULT:g}, "
            f"got {multiplier:g}"
        )
    return dataclasses.replace(
        config, suspicion_mult=multiplier, suspicion_confirmations=TOCSIN_SUSPICION_CONFIRMATIONS
    )


def with_peer_count(config: CoreConfig, known_peers: int) -> CoreConfig:
    """Alertmanager scales gossip fan-out and its user retransmits with the configured peers
    (max(3, peers / 2)); a larger user multiplier in `config` is kept."""
    scaled = max(MIN_SCALED_FAN_OUT, known_peers // 2)
    return dataclasses.replace(
        config, gossip_nodes=scaled, user_retransmit_mult=max(config.user_retransmit_mult, scaled)
    )
