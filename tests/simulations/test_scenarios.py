"""A short fixed set of seeds through the scenarios (the full sweep: `python -m simulations
sweep`), plus tests that the simulator's fault knobs and checkers can fail."""

from __future__ import annotations

import dataclasses
import random

import pytest

from cluster.core import alertmanager_defaults
from simulations import checkers
from simulations.faults import DelayModel, Flapping, Topology
from simulations.replicated import SILENCES
from simulations.scenarios import SCENARIOS, Options, run_scenario
from simulations.simulator import SimConfig, Simulator

CI_SEEDS = {
    "steady": [(5, 1), (12, 2)],
    "crash": [(6, 1), (10, 3)],
    "partition": [(6, 1), (9, 4)],
    "asymmetric": [(6, 2)],
    "isolate": [(7, 1)],
    "flap": [(8, 1)],
    # N = 100 is issue 7's reach number (p99 <= 2 s with 5% loss); about 10 s of CPU.
    "loss": [(10, 1), (100, 3)],
    "skew": [(6, 5)],
    "slow": [(8, 2)],
    "swarm": [(6, 1), (8, 2), (10, 3)],
}
# Faults last 30 virtual seconds in CI: long enough to be declared dead, short enough to
# keep the whole file well under a minute.
CI_FAULT_MS = 30_000


@pytest.mark.parametrize(
    ("name", "nodes", "seed"), [(name, n, s) for name, runs in CI_SEEDS.items() for n, s in runs]
)
def test_scenario_holds(name: str, nodes: int, seed: int) -> None:
    result = run_scenario(name, Options(nodes=nodes, seed=seed, fault_ms=CI_FAULT_MS))
    assert result.ok, "\n".join([*result.violations, result.command()])


def test_every_scenario_has_a_ci_seed() -> None:
    assert set(CI_SEEDS) == set(SCENARIOS)


def test_a_seed_reproduces_a_run_exactly() -> None:
    first = run_scenario("swarm", Options(nodes=6, seed=7, fault_ms=10_000))
    second = run_scenario("swarm", Options(nodes=6, seed=7, fault_ms=10_000))
    assert first.sim is not None and second.sim is not None
    assert first.sim.trace.member_events == second.sim.trace.member_events
    assert first.sim.trace.bytes_sent == second.sim.trace.bytes_sent
    assert first.metrics == second.metrics


def test_crash_is_detected_and_reported_with_its_seed() -> None:
    result = run_scenario("crash", Options(nodes=5, seed=3, fault_ms=30_000))
    assert result.ok
    # 5 nodes, tocsin's defaults: the 2 s floor once two others confirm, after a probe round.
    assert 2 <= result.metrics["detection_p50_s"] <= 8
    assert result.command() == "python -m simulations crash --nodes 5 --seed 3 --fault-seconds 30"


def test_a_partition_without_healing_fails_the_convergence_check() -> None:
    sim = Simulator(SimConfig(nodes=6, seed=1))
    sim.run_until(20_000)
    assert checkers.check_membership_converged(sim) == []
    sim.topology.partition([[0, 1, 2], [3, 4, 5]])
    sim.write(0, SILENCES, "only-on-one-side")
    sim.run_until(60_000)
    assert checkers.check_membership_converged(sim)
    assert checkers.check_state_converged(sim)
    sim.topology.heal_partitions()
    sim.run_until(60_000 + 60_000)  # reconnect every 10 s re-joins the other side
    assert checkers.check_membership_converged(sim) == []
    assert checkers.check_state_converged(sim) == []


def test_death_of_a_running_unimpaired_node_is_a_violation() -> None:
    sim = Simulator(SimConfig(nodes=4, seed=2))
    sim.run_until(10_000)
    # Cut node 3 off without telling the checker: its death must be flagged.
    sim.topology.isolate(3, group_number=9)
    sim.run_until(40_000)
    flagged = checkers.check_no_false_deaths(sim, grace_ms=30_000)
    assert any("node-0003" in line for line in flagged)
    # Declared as impaired, the same deaths are expected behaviour.
    sim.impair({3}, 10_000, 40_000)
    assert checkers.check_no_false_deaths(sim, grace_ms=30_000) == []


def test_total_udp_loss_is_survived_only_through_tcp_pings() -> None:
    with_tcp = Simulator(SimConfig(nodes=4, seed=3))
    with_tcp.faults.loss = 1.0
    with_tcp.run_until(30_000)
    # Probes fail over UDP, the TCP fallback reaches the target: nobody is even suspected.
    assert with_tcp.trace.suspicions == []
    udp_only = alertmanager_defaults()
    udp_only = dataclasses.replace(udp_only, enable_tcp_pings=False)
    without_tcp = Simulator(SimConfig(nodes=4, seed=3, core=udp_only))
    without_tcp.faults.loss = 1.0
    without_tcp.run_until(30_000)
    assert without_tcp.trace.suspicions
    assert checkers.false_deaths(without_tcp, grace_ms=None)


def test_topology_rules() -> None:
    topology = Topology()
    topology.partition([[0], [1]], one_way=True)
    assert not topology.can_reach(0, 1, 0) and topology.can_reach(1, 0, 0)
    assert topology.can_reach(2, 0, 0) is True  # group 0 is not part of the split
    topology.heal_partitions()
    topology.flapping[4] = Flapping(period_ms=1000, down_ms=300, phase_ms=100)
    assert not topology.can_reach(4, 0, 150) and topology.can_reach(4, 0, 450)
    topology.crashed.add(0)
    assert not topology.can_reach(1, 0, 0)


def test_delay_model_has_its_median_and_bounds() -> None:
    rng = random.Random(1)
    draws = sorted(DelayModel(min_ms=1, median_ms=20, sigma=1.0).draw(rng) for _ in range(2001))
    assert 17 <= draws[1000] <= 23
    assert draws[0] >= 1
    assert DelayModel(min_ms=3, median_ms=3).draw(rng) == 3


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert checkers.percentile(values, 0.99) == 99
    assert checkers.percentile(values, 0.5) == 50
    assert checkers.percentile([7], 0.99) == 7
