"""Safety and liveness checkers. They only *read* a finished (or paused) simulation: the
trace it recorded and the nodes' public views. Nothing here is shared with the code under
test, so a bug in the core cannot hide itself by also bending the judge.

Safety
    * incarnations never go backwards (a node's own, and any observer's view of a member
      while it keeps that member in its table);
    * a live, connected node is never declared dead by a connected observer;
    * after healing, every running node holds the same replicated state and sees exactly
      the running nodes as members.
Liveness
    * a crashed node is declared dead by every running node within a bound;
    * a write (a silence, an nflog entry) reaches every running node within a bound.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from typing import Final

from cluster.core import EventKind
from cluster.core.messages import NodeStateType
from simulations.replicated import Version
from simulations.simulator import Simulator

# The incarnation monitor looks at every node's view in clusters up to this size, and at a
# fixed sample of this many observers beyond it (N^2 reads a second would dominate a run).
MAX_OBSERVERS: Final = 64
# Incarnations are sampled this often; a sample interval shorter than the 30 s a dead member
# stays in the table means a reaped-and-relearned member is never mistaken for regression.
INCARNATION_SAMPLE_MS: Final = 1_000


class IncarnationMonitor:
    """Samples incarnations once a second and records any that went backwards."""

    def __init__(self, sim: Simulator, until_ms: int) -> None:
        self.sim = sim
        self.until_ms = until_ms
        count = sim.config.nodes
        if count <= MAX_OBSERVERS:
            self.observers = list(range(count))
        else:
            self.observers = sorted(sim.workload_rng.sample(range(count), MAX_OBSERVERS))
        self._own: dict[str, int] = {}
        self._views: dict[tuple[str, str], tuple[int, int]] = {}
        self.violations: list[str] = []
        sim.at(sim.now, self._sample)

    def _sample(self) -> None:
        sim = self.sim
        for index in range(sim.config.nodes):
            if not sim.is_up(index):
                continue
            node = sim.nodes[index]
            own = node.membership.local.incarnation
            before = self._own.get(node.name, 0)
            if own < before:
                self.violations.append(
                    f"t={sim.now} {node.name}'s own incarnation went from {before} to {own}"
                )
            self._own[node.name] = own
        for index in self.observers:
            if not sim.is_up(index):
                continue
            observer = sim.nodes[index]
            for state in observer.membership.nodes:
                key = (observer.name, state.name)
                previous = self._views.get(key)
                if previous is not None:
                    incarnation, kind = previous
                    forgotten_and_relearned = kind in (NodeStateType.DEAD, NodeStateType.LEFT)
                    if state.incarnation < incarnation and not forgotten_and_relearned:
                        self.violations.append(
                            f"t={sim.now} {observer.name} saw {state.name}'s incarnation go from "
                            f"{incarnation} to {state.incarnation}"
                        )
                self._views[key] = (state.incarnation, state.state)
        if sim.now + INCARNATION_SAMPLE_MS <= self.until_ms:
            sim.at(sim.now + INCARNATION_SAMPLE_MS, self._sample)


def _any_impaired(sim: Simulator, start_ms: int, end_ms: int) -> bool:
    return any(s <= end_ms and start_ms <= e for s, e, _ in sim.trace.impaired)


def node_impaired(sim: Simulator, node: int, start_ms: int, end_ms: int) -> bool:
    return any(node in nodes and s <= end_ms and start_ms <= e for s, e, nodes in sim.trace.impaired)


def _running(sim: Simulator, name: str, at_ms: int) -> bool:
    created, crashed = sim.trace.lifetimes[name]
    assert created is not None
    return created <= at_ms and (crashed is None or at_ms < crashed)


def false_deaths(sim: Simulator, grace_ms: int | None) -> list[tuple[int, str, str]]:
    """(time, observer, member) for each running member declared dead. With `grace_ms`,
    only those declared while no node at all was impaired in the preceding `grace_ms`.

    Why "no node at all": a Dead message is authoritative in SWIM. One badly connected
    node (flapping, slow, cut off) whose suspicion of a healthy member runs out broadcasts
    its death, and every healthy node applies it until the member refutes. That is the
    protocol working as designed, so under such faults deaths are counted, not failed."""
    found = []
    for when, observer, kind, name, _ in sim.trace.member_events:
        if kind != EventKind.DEAD or not _running(sim, name, when):
            continue
        if grace_ms is not None and _any_impaired(sim, when - grace_ms, when):
            continue
        found.append((when, sim.nodes[observer].name, name))
    return found


def false_suspicions(sim: Simulator) -> list[tuple[int, int, str]]:
    """Suspicions raised against a member that was running (impaired or not)."""
    return [(t, o, name) for t, o, name in sim.trace.suspicions if _running(sim, name, t)]


def check_no_false_deaths(sim: Simulator, grace_ms: int) -> list[str]:
    return [
        f"t={when} {observer} declared {name} dead although both were running and connected"
        for when, observer, name in false_deaths(sim, grace_ms)
    ]


def check_state_converged(sim: Simulator) -> list[str]:
    digests: dict[str, list[str]] = defaultdict(list)
    for index in sim.up_nodes():
        digests[sim.replicas[index].digest()].append(sim.name_of(index))
    if len(digests) <= 1:
        return []
    groups = sorted(digests.values(), key=len, reverse=True)
    shown = "; ".join(f"{len(g)} nodes like {g[0]}" for g in groups[:4])
    return [f"t={sim.now} replicated state differs: {len(groups)} versions ({shown})"]


def check_membership_converged(sim: Simulator) -> list[str]:
    running = {sim.name_of(i) for i in sim.up_nodes()}
    problems = []
    for index in sim.up_nodes():
        seen = {m.name for m in sim.nodes[index].members()}
        if seen != running:
            missing, extra = sorted(running - seen), sorted(seen - running)
            problems.append(
                f"t={sim.now} {sim.name_of(index)} sees {len(seen)} members, missing {missing[:5]} extra {extra[:5]}"
            )
    return problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])


@dataclasses.dataclass(slots=True)
class Detection:
    member: str
    crashed_ms: int
    # per observer that stayed up: ms from crash to its DEAD event (None: never)
    latencies: dict[str, int | None]

    def complete_within(self, bound_ms: int) -> bool:
        return all(v is not None and v <= bound_ms for v in self.latencies.values())


def detections(sim: Simulator) -> list[Detection]:
    """For each crash: how long each node still running took to declare it dead."""
    first_dead: dict[tuple[int, str], int] = {}
    for when, observer, kind, name, _ in sim.trace.member_events:
        if kind == EventKind.DEAD:
            first_dead.setdefault((observer, name), when)
    found = []
    for crashed_ms, _, name in sim.trace.crashes:
        latencies: dict[str, int | None] = {}
        for index in sim.up_nodes():
            observer_name = sim.name_of(index)
            if not _running(sim, observer_name, crashed_ms):
                continue  # started (or restarted) after the crash
            declared = first_dead.get((index, name))
            in_time = declared is not None and declared >= crashed_ms
            latencies[observer_name] = declared - crashed_ms if declared is not None and in_time else None
        found.append(Detection(name, crashed_ms, latencies))
    return found


def first_suspicion_latencies(sim: Simulator) -> list[int]:
    """For each crash: ms until the first node suspected the crashed member."""
    latencies = []
    for crashed_ms, _, name in sim.trace.crashes:
        first = next((t for t, _, n in sim.trace.suspicions if n == name and t >= crashed_ms), None)
        if first is not None:
            latencies.append(first - crashed_ms)
    return latencies


def check_detection(sim: Simulator, bound_ms: int) -> list[str]:
    """Observers cut off or slowed themselves are exempt: Lifeguard deliberately makes an
    unhealthy node probe up to 8 times less often, so it may take far longer."""
    problems = []
    for detection in detections(sim):
        window = (detection.crashed_ms, detection.crashed_ms + bound_ms)
        late = {
            o: v
            for o, v in detection.latencies.items()
            if (v is None or v > bound_ms) and not node_impaired(sim, sim.name_index[o], *window)
        }
        if late:
            example = sorted(late.items())[:3]
            problems.append(
                f"{detection.member} (crashed t={detection.crashed_ms}) not declared dead within "
                f"{bound_ms} ms by {len(late)} nodes, e.g. {example}"
            )
    return problems


def reach_times(sim: Simulator, from_ms: int, to_ms: int) -> list[int | None]:
    """For each write made in [from_ms, to_ms]: ms until every node that ran throughout held
    it or something newer (None: some node never did)."""
    applied: dict[tuple[int, str, str], tuple[list[int], list[Version]]] = {}
    for when, index, channel, key, version in sim.trace.applied:
        times, versions = applied.setdefault((index, channel, key), ([], []))
        times.append(when)
        versions.append(version)
    up = sim.up_nodes()
    found: list[int | None] = []
    for written_ms, _, channel, key, version in sim.trace.writes:
        if not from_ms <= written_ms <= to_ms:
            continue
        worst: int | None = 0
        for index in up:
            if not _running(sim, sim.name_of(index), written_ms):
                continue
            times, versions = applied.get((index, channel, key), ([], []))
            # Something newer may have arrived first (a skewed clock stamped it later).
            arrival = next((t for t, v in zip(times, versions, strict=True) if v >= version), None)
            if arrival is None:
                worst = None
                break
            assert worst is not None
            worst = max(worst, arrival - written_ms)
        found.append(worst)
    return found


def check_reach(sim: Simulator, from_ms: int, to_ms: int, bound_ms: int) -> list[str]:
    times = reach_times(sim, from_ms, to_ms)
    late = [t for t in times if t is None or t > bound_ms]
    if not late:
        return []
    return [f"{len(late)} of {len(times)} writes did not reach every node within {bound_ms} ms"]


def percentile(values: list[int], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: every value reported was observed)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return float(ordered[rank])


def median(values: list[int]) -> float:
    return float(statistics.median(values)) if values else float("nan")
