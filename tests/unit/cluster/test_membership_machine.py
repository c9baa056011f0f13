"""Hypothesis state machine: any sequence of alive/suspect/dead news and suspicion expiry,
in any order, keeps memberlist's precedence invariants."""

from __future__ import annotations

import random

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cluster.core.awareness import Awareness
from cluster.core.broadcasts import BroadcastQueue
from cluster.core.config import CoreConfig
from cluster.core.members import MemberEvent, Membership
from cluster.core.messages import Alive, Dead, NodeStateType, Suspect

LOCAL = "local"
PEERS = ("a", "b", "c")
VSN = (1, 5, 2, 0, 0, 0)
ADDRESSES = {name: bytes([10, 0, 0, i + 1]) for i, name in enumerate((LOCAL, *PEERS))}

peer_names = st.sampled_from(PEERS)
any_names = st.sampled_from((LOCAL, *PEERS))
incarnations = st.integers(0, 6)


class MembershipMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[MemberEvent] = []
        self.membership = Membership(
            CoreConfig(), LOCAL, 9094, random.Random(0), Awareness(8), BroadcastQueue(4), self.events.append
        )
        self.membership.incarnation = 1
        self.membership.alive(Alive(1, LOCAL, ADDRESSES[LOCAL], 9094, b"", VSN), 0, bootstrap=True)
        self.now = 0
        self.highest_seen: dict[str, int] = {}
        self.previous: dict[str, tuple[NodeStateType, int]] = {}

    def _remember(self) -> None:
        self.previous = {n.name: (n.state, n.incarnation) for n in self.membership.nodes}

    @rule(name=peer_names, incarnation=incarnations)
    def alive(self, name: str, incarnation: int) -> None:
        self._remember()
        self.membership.alive(Alive(incarnation, name, ADDRESSES[name], 9094, b"", VSN), self.now)
        self._check_transition(name, incarnation, "alive")

    @rule(name=any_names, incarnation=incarnations, accuser=peer_names)
    def suspect(self, name: str, incarnation: int, accuser: str) -> None:
        self._remember()
        self.membership.suspect(Suspect(incarnation, name, accuser), self.now)
        self._check_transition(name, incarnation, "suspect")

    @rule(name=any_names, incarnation=incarnations, by_itself=st.booleans())
    def dead(self, name: str, incarnation: int, by_itself: bool) -> None:
        self._remember()
        self.membership.dead(Dead(incarnation, name, name if by_itself else "a"), self.now)
        self._check_transition(name, incarnation, "dead")

    @rule(step=st.integers(1, 30_000))
    def time_passes(self, step: int) -> None:
        self.now += step
        self.membership.expire_suspicions(self.now)

    def _check_transition(self, name: str, incarnation: int, kind: str) -> None:
        node = self.membership.by_name.get(name)
        before = self.previous.get(name)
        if node is None or before is None:
            return
        state_before, incarnation_before = before
        if name == LOCAL and kind in ("suspect", "dead") and incarnation >= incarnation_before:
            # Refutation: our new incarnation beats the accusation.
            assert node.incarnation > incarnation
        if incarnation < incarnation_before and name != LOCAL:
            # Older news never changes anything about a peer.
            assert (node.state, node.incarnation) == before
        if kind == "alive" and state_before in (NodeStateType.DEAD, NodeStateType.SUSPECT):
            if node.state == NodeStateType.ALIVE and name != LOCAL:
                assert incarnation > incarnation_before

    @invariant()
    def incarnations_never_decrease(self) -> None:
        for node in self.membership.nodes:
            assert node.incarnation >= self.highest_seen.get(node.name, 0)
            self.highest_seen[node.name] = node.incarnation

    @invariant()
    def we_never_believe_ourselves_failed(self) -> None:
        assert self.membership.local.state == NodeStateType.ALIVE

    @invariant()
    def our_incarnation_beats_every_accusation_we_saw(self) -> None:
        assert self.membership.local.incarnation == self.membership.incarnation

    @invariant()
    def only_suspects_have_timers(self) -> None:
        for name in self.membership.suspicions:
            assert self.membership.by_name[name].state == NodeStateType.SUSPECT


MembershipMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestMembershipMachine = MembershipMachine.TestCase
