"""A Hypothesis state machine over a simulated 5-node cluster of real `cluster.core` nodes:
crash, restart, partition, heal, lose packets, write silences and let time pass in any
order. Invariants after every step: no node's incarnation goes backwards and every
datagram decodes (the simulator raises otherwise). At the end everything heals and the
cluster must converge (membership and replicated state) within the heal bound."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from simulations import checkers
from simulations.replicated import NFLOG, SILENCES
from simulations.scenarios import heal_bound_ms
from simulations.simulator import SimConfig, Simulator

NODES = 5
# Virtual time per step: from a packet's flight to a full suspicion timeout.
MAX_STEP_MS = 8_000
MAX_LOSS_WITHOUT_DEATHS = 0.05


class SimulatedCluster(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sim = Simulator(SimConfig(nodes=NODES, seed=11))
        self.sim.run_until(10_000)
        self.own_incarnations: dict[str, int] = {}
        self.writes = 0
        self.cut_since: int | None = None

    def _impair_all_from(self, start_ms: int) -> None:
        # Under this machine's faults nobody is "healthy"; deaths are expected.
        self.sim.impair(set(range(NODES)), start_ms, 10**12)

    @rule(ms=st.integers(1, MAX_STEP_MS))
    def advance(self, ms: int) -> None:
        self.sim.run_until(self.sim.now + ms)

    @precondition(lambda self: len(self.sim.topology.crashed) < NODES - 2)
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        index = data.draw(st.sampled_from(self.sim.up_nodes()))
        self.sim.crash(index)

    @precondition(lambda self: bool(self.sim.topology.crashed))
    @rule(data=st.data(), new_name=st.booleans())
    def restart(self, data: st.DataObject, new_name: bool) -> None:
        index = data.draw(st.sampled_from(sorted(self.sim.topology.crashed)))
        self.sim.restart(index, new_name=new_name)

    @rule(side=st.sets(st.integers(0, NODES - 1), min_size=1, max_size=NODES - 1), one_way=st.booleans())
    def partition(self, side: set[int], one_way: bool) -> None:
        self._impair_all_from(self.sim.now)
        self.sim.topology.heal_partitions()
        self.sim.topology.partition([sorted(side), sorted(set(range(NODES)) - side)], one_way)

    @rule()
    def heal(self) -> None:
        self.sim.topology.heal_partitions()

    @rule(loss=st.sampled_from([0.0, 0.05, 0.3]))
    def set_loss(self, loss: float) -> None:
        # Issue 7 promises no false deaths at 5% loss; beyond that they are allowed.
        if loss > MAX_LOSS_WITHOUT_DEATHS:
            self._impair_all_from(self.sim.now)
        self.sim.faults.loss = loss

    @precondition(lambda self: bool(self.sim.up_nodes()))
    @rule(data=st.data(), nflog=st.booleans())
    def write(self, data: st.DataObject, nflog: bool) -> None:
        index = data.draw(st.sampled_from(self.sim.up_nodes()))
        self.writes += 1
        key = f"group-{self.writes % 3}" if nflog else f"silence-{self.writes}"
        self.sim.write(index, NFLOG if nflog else SILENCES, key)

    @invariant()
    def incarnations_never_go_backwards(self) -> None:
        for index in self.sim.up_nodes():
            node = self.sim.nodes[index]
            own = node.membership.local.incarnation
            assert own >= self.own_incarnations.get(node.name, 0), node.name
            self.own_incarnations[node.name] = own

    def teardown(self) -> None:
        sim = self.sim
        sim.topology.heal_partitions()
        sim.faults.loss = 0.0
        for index in sorted(sim.topology.crashed):
            sim.restart(index)
        deadline = sim.now + heal_bound_ms(sim.config.core, NODES, sim.config.reconnect_interval_ms)
        while checkers.check_membership_converged(sim) or checkers.check_state_converged(sim):
            assert sim.now < deadline, [
                *checkers.check_membership_converged(sim),
                *checkers.check_state_converged(sim),
                *[f"t={t} {n}" for t, n in sim.trace.notes],
            ]
            sim.run_until(sim.now + 1_000)
        assert checkers.check_no_false_deaths(sim, grace_ms=60_000) == []


TestSimulatedCluster = SimulatedCluster.TestCase
TestSimulatedCluster.settings = settings(
    max_examples=12,
    derandomize=True,  # CI runs a fixed set; raise max_examples locally to explore
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
