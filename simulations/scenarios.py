"""Named scenarios: a warm-up, a fault phase, then a heal phase in which the cluster must
converge within a bound, all on the simulator's virtual clock.

Timeline of every scenario:

    0 ── warm-up ──► fault_start ── faults + workload ──► heal_at ── heal ──► converged? ──► probes
                                                                  (bound)                 (reach)

The workload (silences and nflog entries written at random running nodes) runs from the
warm-up to `heal_at`. After healing, the checkers demand: the same replicated state and the
same membership everywhere within the heal bound; then a burst of probe writes must reach
every node within the reach bound. Throughout: incarnations never go backwards and no node
is declared dead while it runs and no node is impaired (see `checkers.false_deaths`). A
scenario that crashes nodes also demands that every unimpaired survivor declares them dead
within the detection bound.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
from collections.abc import Callable
from typing import Final

from cluster.core import CoreConfig, alertmanager_defaults
from cluster.core.config import tocsin_defaults
from cluster.core.node import push_pull_scale_ms
from cluster.core.suspicion import suspicion_window
from simulations import checkers
from simulations.faults import DelayModel, Flapping, LinkFaults
from simulations.replicated import NFLOG, SILENCES
from simulations.simulator import SimConfig, Simulator

# Clusters up to this size replay the real join (seed peers, push/pull, gossip of the
# news); bigger ones start warm, since the join storm costs O(N^2) decodes in Python.
COLD_START_MAX_NODES: Final = 100
# A cold start needs time for the rollout (2 s), push/pulls with the seeds and the gossip
# of everybody's arrival; a warm one only for the staggered timers to start.
COLD_WARM_UP_MS: Final = 20_000
WARM_WARM_UP_MS: Final = 5_000
DEFAULT_FAULT_MS: Final = 60_000
# The workload: Alertmanager clusters see far fewer silences than notifications.
SILENCE_EVERY_MS: Final = 2_000
NFLOG_EVERY_MS: Final = 500
# Notifications go to a few dozen groups, so different nodes overwrite the same keys.
NFLOG_KEYS: Final = 24
# After healing, probe writes every PROBE_EVERY_MS for PROBE_WINDOW_MS measure reach: 100
# writes, so the nearest-rank p99 is the second slowest (over 40 it was the slowest).
PROBE_EVERY_MS: Final = 250
PROBE_WINDOW_MS: Final = 25_000
# A silence must reach every replica within 2 s (issue 7, at N = 100 with 5% loss), p99 over
# the probe writes. Enforced at every size where only loss is injected: tocsin's user
# broadcast transmits (at least 10 per member) make gossip alone deliver whp from N = 2 up.
REACH_BOUND_MS: Final = 2_000
# Convergence is looked for this often during the heal phase.
CONVERGENCE_POLL_MS: Final = 1_000
# A CPU-starved node answers up to this late: three probe timeouts, so it misses acks.
SLOW_EXTRA_DELAY_MS: Final = 1_500
# Gossip needs a few seconds to spread a death after the suspicion ends.
DISSEMINATION_SLACK_MS: Final = 10_000


def lifeguard_off(config: CoreConfig) -> CoreConfig:
    """SWIM without Lifeguard's local health and dynamic suspicion: the probe interval never
    stretches and a suspicion always lasts the minimum timeout. (The third refinement,
    sending the accusation along with the probe of a suspect, has no switch in the core.)"""
    return dataclasses.replace(config, awareness_max_multiplier=1, suspicion_max_timeout_mult=1)


def max_suspicion_ms(config: CoreConfig, nodes: int) -> int:
    window = suspicion_window(config, nodes)
    return max(window.max_ms, window.min_ms)


def detection_bound_ms(config: CoreConfig, nodes: int) -> int:
    """Probe (a round plus the timeout), the longest suspicion, then dissemination."""
    return 2 * config.probe_interval_ms + max_suspicion_ms(config, nodes) + DISSEMINATION_SLACK_MS


def anti_entropy_bound_ms(config: CoreConfig, nodes: int) -> int:
    """What gossip missed, push/pull repairs: an epidemic of one exchange per node per
    (scaled) interval reaches everybody in about log2(N) + 2 intervals."""
    rounds = math.ceil(math.log2(max(2, nodes))) + 2
    return rounds * push_pull_scale_ms(config.push_pull_interval_ms, nodes)


def heal_bound_ms(config: CoreConfig, nodes: int, reconnect_ms: int) -> int:
    """Nodes declared dead come back at the next reconnect; state written on the other
    side of a cut spreads by push/pull, an epidemic of one exchange per node per interval,
    so log2(N) + 2 intervals. Lingering suspicions may end in a death (and a reconnect)
    up to a detection bound after healing."""
    return detection_bound_ms(config, nodes) + reconnect_ms + anti_entropy_bound_ms(config, nodes)


@dataclasses.dataclass(slots=True)
class Options:
    nodes: int
    seed: int
    fault_ms: int = DEFAULT_FAULT_MS
    lifeguard: bool = True
    compression: bool = False
    loss: float | None = None  # overrides the scenario's loss
    warm_start: bool | None = None  # default: cold up to COLD_START_MAX_NODES
    # Suspicion tuning (None: tocsin's defaults), for the sweep in simulations.tuning.
    suspicion_mult: float | None = None
    suspicion_confirmations: int | None = None
    suspicion_max_timeout_mult: int | None = None
    # Alertmanager's suspicion (memberlist's k = mult - 2 rule, multiplier 4) instead of tocsin's.
    memberlist_suspicion: bool = False

    def core(self) -> CoreConfig:
        """The core configuration these options describe."""
        core = alertmanager_defaults() if self.memberlist_suspicion else tocsin_defaults()
        if self.suspicion_mult is not None:
            core = dataclasses.replace(core, suspicion_mult=self.suspicion_mult)
        if self.suspicion_confirmations is not None:
            core = dataclasses.replace(core, suspicion_confirmations=self.suspicion_confirmations)
        if self.suspicion_max_timeout_mult is not None:
            core = dataclasses.replace(core, suspicion_max_timeout_mult=self.suspicion_max_timeout_mult)
        if not self.lifeguard:
            core = lifeguard_off(core)
        return dataclasses.replace(core, enable_compression=self.compression)


@dataclasses.dataclass(slots=True)
class Result:
    scenario: str
    options: Options
    violations: list[str]
    metrics: dict[str, float]
    notes: list[tuple[int, str]]
    sim: Simulator | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    def command(self) -> str:
        o = self.options
        flags = f" --fault-seconds {o.fault_ms // 1000}" if o.fault_ms != DEFAULT_FAULT_MS else ""
        flags += "" if o.lifeguard else " --no-lifeguard"
        flags += " --compression" if o.compression else ""
        flags += f" --loss {o.loss}" if o.loss is not None else ""
        if o.warm_start is not None:
            flags += " --warm" if o.warm_start else " --cold"
        flags += " --memberlist-suspicion" if o.memberlist_suspicion else ""
        if o.suspicion_mult is not None:
            flags += f" --suspicion-mult {o.suspicion_mult:g}"
        if o.suspicion_confirmations is not None:
            flags += f" --suspicion-confirmations {o.suspicion_confirmations}"
        if o.suspicion_max_timeout_mult is not None:
            flags += f" --suspicion-max-timeout-mult {o.suspicion_max_timeout_mult}"
        return f"python -m simulations {self.scenario} --nodes {o.nodes} --seed {o.seed}{flags}"


class Run:
    """One scenario run: builds the simulator, schedules the workload, checks at the end."""

    def __init__(self, options: Options, faults: LinkFaults | None = None) -> None:
        core = options.core()
        warm = options.warm_start if options.warm_start is not None else options.nodes > COLD_START_MAX_NODES
        self.options = options
        self.sim = Simulator(SimConfig(options.nodes, options.seed, core, warm_start=warm), faults)
        self.rng = random.Random(self.sim.workload_rng.getrandbits(64))
        self.fault_start = WARM_WARM_UP_MS if warm else COLD_WARM_UP_MS
        self.heal_at = self.fault_start + options.fault_ms
        self.violations: list[str] = []
        self.metrics: dict[str, float] = {}
        self.detect_crashes = False
        self.forbid_suspicions = False
        # Enforced by the scenarios whose faults leave gossip alone able to deliver.
        self.reach_p99_bound_ms: int | None = None
        # Nodes that must be running at the end (restart what a scenario crashed).
        self.to_restart: list[int] = []
        self._silences = 0
        self._schedule_workload(0)

    @property
    def config(self) -> CoreConfig:
        return self.sim.config.core

    def _schedule_workload(self, start_ms: int) -> None:
        for when in range(start_ms + SILENCE_EVERY_MS, self.heal_at, SILENCE_EVERY_MS):
            self.sim.at(when, self.write_silence)
        for when in range(start_ms + NFLOG_EVERY_MS, self.heal_at, NFLOG_EVERY_MS):
            self.sim.at(when, self.write_nflog)

    def random_running(self) -> int | None:
        up = self.sim.up_nodes()
        return self.rng.choice(up) if up else None

    def write_silence(self) -> None:
        index = self.random_running()
        if index is not None:
            self._silences += 1
            self.sim.write(index, SILENCES, f"silence-{self._silences}")

    def write_nflog(self) -> None:
        index = self.random_running()
        if index is not None:
            self.sim.write(index, NFLOG, f"group-{self.rng.randrange(NFLOG_KEYS)}:receiver/webhook/0")

    def pick(self, count: int, exclude: set[int] | None = None) -> list[int]:
        pool = [i for i in range(self.options.nodes) if i not in (exclude or set())]
        return sorted(self.rng.sample(pool, min(count, len(pool))))

    # --- the run -------------------------------------------------------------------------

    def execute(self) -> Result:
        sim = self.sim
        n = self.options.nodes
        grace = detection_bound_ms(self.config, n)
        heal_bound = heal_bound_ms(self.config, n, sim.config.reconnect_interval_ms)
        monitor = checkers.IncarnationMonitor(sim, until_ms=self.heal_at + heal_bound + PROBE_WINDOW_MS)
        sim.run_until(self.heal_at)
        if self.detect_crashes:
            self.violations += checkers.check_detection(sim, detection_bound_ms(self.config, n))
        for index in self.to_restart:
            sim.restart(index)
        converged_ms = self._await_convergence(heal_bound)
        self.metrics["heal_convergence_s"] = (
            (converged_ms - self.heal_at) / 1000 if converged_ms is not None else float("nan")
        )
        probes_from = sim.now
        probes_to = probes_from + PROBE_WINDOW_MS
        for when in range(probes_from, probes_to, PROBE_EVERY_MS):
            sim.at(when, self.write_silence)
        sim.run_until(probes_to + REACH_BOUND_MS)
        self._await_reach(probes_from, probes_to, anti_entropy_bound_ms(self.config, n))
        reach = checkers.reach_times(sim, probes_from, probes_to)
        p99 = checkers.percentile([t if t is not None else 10**9 for t in reach], 0.99)
        if self.reach_p99_bound_ms is not None and p99 > self.reach_p99_bound_ms:
            self.violations.append(f"silence reach p99 {p99:.0f} ms exceeds {self.reach_p99_bound_ms} ms")
        self.violations += monitor.violations
        self.violations += checkers.check_no_false_deaths(sim, grace)
        if self.forbid_suspicions:
            self.violations += [
                f"t={t} {sim.name_of(o)} suspected {name} on a healthy network"
                for t, o, name in checkers.false_suspicions(sim)
            ][:10]
        self._collect_metrics(probes_from)
        return Result(self.name, self.options, self.violations, self.metrics, sim.trace.notes, sim)

    name = "custom"

    def _await_convergence(self, bound_ms: int) -> int | None:
        sim = self.sim
        deadline = sim.now + bound_ms
        while True:
            membership = checkers.check_membership_converged(sim)
            state = checkers.check_state_converged(sim)
            if not membership and not state:
                return sim.now
            if sim.now >= deadline:
                self.violations += [f"not converged {bound_ms} ms after healing:", *membership, *state]
                return None
            sim.run_until(min(deadline, sim.now + CONVERGENCE_POLL_MS))

    def _await_reach(self, probes_from: int, probes_to: int, bound_ms: int) -> None:
        """Gossip may miss a node; push/pull must then repair it within `bound_ms`."""
        sim = self.sim
        deadline = probes_to + bound_ms
        while None in checkers.reach_times(sim, probes_from, probes_to):
            if sim.now >= deadline:
                self.violations.append(f"a probe write did not reach every node within {bound_ms} ms")
                return
            sim.run_until(min(deadline, sim.now + CONVERGENCE_POLL_MS))

    def _collect_metrics(self, probes_from: int) -> None:
        sim = self.sim
        detection = [v for d in checkers.detections(sim) for v in d.latencies.values() if v is not None]
        first_suspicion = checkers.first_suspicion_latencies(sim)
        if first_suspicion:
            self.metrics["first_suspicion_p50_s"] = checkers.median(first_suspicion) / 1000
        if detection:
            self.metrics["detection_p50_s"] = checkers.median(detection) / 1000
            self.metrics["detection_max_s"] = max(detection) / 1000
        reach = [
            t for t in checkers.reach_times(sim, probes_from, probes_from + PROBE_WINDOW_MS) if t is not None
        ]
        if reach:
            self.metrics["reach_p50_ms"] = checkers.percentile(reach, 0.5)
            self.metrics["reach_p99_ms"] = checkers.percentile(reach, 0.99)
        self.metrics["false_suspicions"] = len(checkers.false_suspicions(sim))
        self.metrics["false_deaths"] = len(checkers.false_deaths(sim, grace_ms=None))
        seconds = max(1, sim.now) / 1000
        self.metrics["bytes_per_node_s"] = sum(sim.trace.bytes_sent) / self.options.nodes / seconds


# --- the scenarios ----------------------------------------------------------------------------

ScenarioSetup = Callable[[Run], None]
SCENARIOS: dict[str, tuple[str, ScenarioSetup]] = {}


def scenario(name: str, description: str) -> Callable[[ScenarioSetup], ScenarioSetup]:
    def register(setup: ScenarioSetup) -> ScenarioSetup:
        SCENARIOS[name] = (description, setup)
        return setup

    return register


@scenario("steady", "no faults beyond a LAN's delay: nothing may be suspected or lost")
def _steady(run: Run) -> None:
    run.forbid_suspicions = True
    run.reach_p99_bound_ms = REACH_BOUND_MS


def crash_nodes(run: Run, victims: list[int]) -> None:
    sim = run.sim
    for index in victims:
        sim.at(run.fault_start, functools.partial(sim.crash, index))
    run.to_restart += victims
    run.detect_crashes = True


@scenario("crash", "a tenth of the nodes crash; survivors must declare them dead, restarts rejoin")
def _crash(run: Run) -> None:
    crash_nodes(run, run.pick(max(1, run.options.nodes // 10)))


def _halves(run: Run) -> list[list[int]]:
    nodes = list(range(run.options.nodes))
    run.rng.shuffle(nodes)
    half = len(nodes) // 2
    return [sorted(nodes[:half]), sorted(nodes[half:])]


def partition_window(run: Run, sides: list[list[int]], one_way: bool, start: int, end: int) -> None:
    sim = run.sim

    def cut() -> None:
        sim.topology.partition(sides, one_way)
        sim.note(f"partition one_way={one_way}: {sides}")

    def heal() -> None:
        sim.topology.heal_partitions()
        sim.note("heal partition")

    sim.at(start, cut)
    sim.at(end, heal)
    sim.impair(frozenset(i for side in sides for i in side), start, end)


@scenario("partition", "the cluster splits in two halves, then heals")
def _partition(run: Run) -> None:
    partition_window(run, _halves(run), False, run.fault_start, run.heal_at)


@scenario("asymmetric", "one half cannot send to the other, which still reaches it")
def _asymmetric(run: Run) -> None:
    partition_window(run, _halves(run), True, run.fault_start, run.heal_at)


@scenario("isolate", "a single node is cut off from everybody")
def _isolate(run: Run) -> None:
    victim = run.pick(1)
    partition_window(
        run,
        [victim, [i for i in range(run.options.nodes) if i not in victim]],
        False,
        run.fault_start,
        run.heal_at,
    )


@scenario("flap", "a few nodes' links go down 2 s out of every 5 s")
def _flap(run: Run) -> None:
    sim = run.sim
    victims = run.pick(max(1, run.options.nodes // 20))
    for index in victims:
        flap = Flapping(period_ms=5_000, down_ms=2_000, phase_ms=run.rng.randrange(5_000))
        sim.at(run.fault_start, functools.partial(sim.topology.flapping.__setitem__, index, flap))
        sim.at(run.heal_at, functools.partial(sim.topology.flapping.pop, index, None))
    sim.impair(frozenset(victims), run.fault_start, run.heal_at)


@scenario("loss", "5% packet loss everywhere and one crash: detection < 5 s median, no false deaths")
def _loss(run: Run) -> None:
    if run.options.loss is None:
        run.sim.faults.loss = 0.05
    crash_nodes(run, run.pick(1))
    run.reach_p99_bound_ms = REACH_BOUND_MS


@scenario("skew", "wall clocks skewed by up to 2 min and jumping by up to an hour")
def _skew(run: Run) -> None:
    sim = run.sim
    for index in range(run.options.nodes):
        sim.wall_offset_ms[index] = run.rng.randint(-120_000, 120_000)
    for index in run.pick(max(1, run.options.nodes // 5)):
        when = run.rng.randrange(run.fault_start, run.heal_at)
        jump = run.rng.choice([-1, 1]) * run.rng.randint(1_000, 3_600_000)

        def jump_clock(i: int = index, by: int = jump) -> None:
            sim.wall_offset_ms[i] += by
            sim.note(f"{sim.name_of(i)} wall clock jumps {by} ms")

        sim.at(when, jump_clock)


@scenario("slow", "a few nodes answer up to 1.5 s late (CPU starved), the load Lifeguard targets")
def _slow(run: Run) -> None:
    sim = run.sim
    victims = run.pick(max(1, run.options.nodes // 20))
    for index in victims:
        sim.at(run.fault_start, functools.partial(sim.topology.slow.__setitem__, index, SLOW_EXTRA_DELAY_MS))
        sim.at(run.heal_at, functools.partial(sim.topology.slow.pop, index, None))
    sim.impair(frozenset(victims), run.fault_start, run.heal_at)


@scenario("swarm", "a fault mix drawn from the seed")
def _swarm(run: Run) -> None:
    sim, rng = run.sim, run.rng
    mix: list[str] = []
    if rng.random() < 0.5:
        sim.faults.loss = rng.choice([0.01, 0.05, 0.1])
        mix.append(f"loss={sim.faults.loss}")
    if rng.random() < 0.5:
        sim.faults.delay = DelayModel(
            min_ms=1, median_ms=rng.choice([2, 10, 50]), sigma=rng.choice([0.3, 1.0])
        )
        mix.append(f"delay={sim.faults.delay}")
    if rng.random() < 0.3:
        sim.faults.duplicate = 0.05
        mix.append("duplicate")
    if rng.random() < 0.3:
        sim.faults.reorder = 0.1
        mix.append("reorder")
    choices = ["partition", "asymmetric", "isolate", "flap", "crash", "skew", "slow"]
    for name in rng.sample(choices, rng.randint(1, 3)):
        SCENARIOS[name][1](run)
        mix.append(name)
    sim.note("swarm mix: " + ", ".join(mix))


def run_scenario(name: str, options: Options) -> Result:
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    run = Run(options)
    run.name = name
    if options.loss is not None:
        run.sim.faults.loss = options.loss
    SCENARIOS[name][1](run)
    return run.execute()
