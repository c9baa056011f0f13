"""Bookkeeping for failure detection: our own probe round and the indirect probes we run
on behalf of others. Plain data; `node.Node` drives it."""

from __future__ import annotations

import dataclasses

from cluster.core.members import Address


@dataclasses.dataclass(slots=True)
class ProbeRound:
    """One probe of `target`: direct ping, after `indirect_at_ms` indirect pings (and a TCP
    ping), at `deadline_ms` (the awareness-scaled probe interval) suspicion."""

    seq_no: int
    target: str
    target_incarnation: int
    started_ms: int
    indirect_at_ms: int
    deadline_ms: int
    indirect_sent: bool = False
    expected_nacks: int = 0
    nacks: int = 0
    tcp_contacted: bool = False


@dataclasses.dataclass(slots=True)
class RelayedProbe:
    """An indirect ping we forward: an ack for `local_seq_no` is relayed to `requester`
    under `requester_seq_no`; without one by `deadline_ms` we send a nack if asked to."""

    requester: Address
    requester_name: str
    requester_seq_no: int
    deadline_ms: int
    send_nack: bool


def awareness_delta_after_failure(expected_nacks: int, nacks: int) -> int:
    """Lifeguard: missing nacks from helpers that should have answered mean *we* are the
    problem; without nack-capable helpers any failed probe counts once against us."""
    if expected_nacks > 0:
        return max(expected_nacks - nacks, 0)
    return 1
