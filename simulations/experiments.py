"""The measurements behind docs/simulations.md: `python -m simulations figures`.

Per cluster size: failure-detection time, broadcast reach, and bytes per node per second;
Lifeguard on and off with CPU-starved members; the issue's N = 100, 5%-loss numbers. The
results go to `docs/figures/results.json` and the plots next to it. (This module reads the
process's CPU clock to report how long runs take; the simulator itself never does.)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import pathlib
import random
import time
from typing import Any, Final

from cluster.core import CoreConfig, alertmanager_defaults
from cluster.core.broadcasts import transmit_limit
from cluster.core.config import tocsin_defaults
from cluster.core.suspicion import suspicion_window
from simulations import checkers
from simulations.replicated import SILENCES
from simulations.scenarios import Options, detection_bound_ms, lifeguard_off, run_scenario
from simulations.simulator import SimConfig, Simulator

SIZES: Final = (3, 10, 30, 100, 300, 1000)
# Detection with Alertmanager's suspicion timing is measured beside tocsin's up to this size.
MEMBERLIST_COMPARISON_MAX_NODES: Final = 300
# Seeds per size: small clusters are cheap and noisy, big ones expensive and smooth.
SEEDS_PER_SIZE: Final = {3: 5, 10: 5, 30: 3, 100: 3, 300: 1, 1000: 1}
WARM_UP_MS: Final = 5_000
BROADCASTS: Final = 40
BROADCAST_EVERY_MS: Final = 500
# The load is measured over one minute of steady running (broadcasts included).
LOAD_WINDOW_MS: Final = 60_000
LIFEGUARD_SIZES: Final = (10, 30, 100)
LIFEGUARD_SEEDS: Final = 3
LIFEGUARD_RUN_MS: Final = 120_000
# A tenth of the members are starved of CPU, as in the Lifeguard paper's experiments.
SLOW_FRACTION: Final = 0.1
SLOW_DELAY_MS: Final = 1_500
# Gossip misses: a write every 300 ms, judged against the 2 s reach target of issue 7.
GOSSIP_MISS_SIZES: Final = (4, 9, 10, 30)
GOSSIP_MISS_WRITE_EVERY_MS: Final = 300
GOSSIP_MISS_BOUND_MS: Final = 2_000


def _core(lifeguard: bool, memberlist: bool = False) -> CoreConfig:
    """tocsin's defaults (or Alertmanager's suspicion timing), without LZW (see Hotspots)."""
    base = alertmanager_defaults() if memberlist else tocsin_defaults()
    core = dataclasses.replace(base, enable_compression=False)
    return core if lifeguard else lifeguard_off(core)


def measure_size(nodes: int, seed: int) -> dict[str, Any]:
    """Steady load and broadcast reach for a minute, then one crash until detected."""
    started = time.process_time()
    core = _core(True)
    sim = Simulator(SimConfig(nodes, seed, core, warm_start=True))
    rng = random.Random(seed)
    for number in range(BROADCASTS):
        when = WARM_UP_MS + number * BROADCAST_EVERY_MS
        sim.at(when, functools.partial(sim.write, rng.randrange(nodes), SILENCES, f"silence-{number}"))
    sim.run_until(WARM_UP_MS)
    bytes_before = sum(sim.trace.bytes_sent)
    streams_before = sum(sim.trace.stream_bytes_sent)
    sim.run_until(WARM_UP_MS + LOAD_WINDOW_MS)
    seconds = LOAD_WINDOW_MS / 1000
    stream_bytes = sum(sim.trace.stream_bytes_sent) - streams_before
    packet_bytes = sum(sim.trace.bytes_sent) - bytes_before - stream_bytes
    victim = rng.randrange(nodes)
    sim.crash(victim)
    sim.run_until(sim.now + detection_bound_ms(core, nodes))
    reach = [t for t in checkers.reach_times(sim, 0, sim.now) if t is not None]
    detection = [v for d in checkers.detections(sim) for v in d.latencies.values() if v is not None]
    return {
        "nodes": nodes,
        "seed": seed,
        "cpu_s": time.process_time() - started,
        "virtual_s": sim.now / 1000,
        "packet_bytes_per_node_s": packet_bytes / nodes / seconds,
        "stream_bytes_per_node_s": stream_bytes / nodes / seconds,
        "reach_ms": reach,
        "reached_all": len(reach),
        "detection_ms": detection,
        "first_suspicion_ms": checkers.first_suspicion_latencies(sim),
        "false_suspicions": len(checkers.false_suspicions(sim)),
        "false_deaths": len(checkers.false_deaths(sim, grace_ms=None)),
        "user_transmits_per_node": transmit_limit(core.user_retransmit_mult, core.user_min_transmits, nodes),
        "min_suspicion_ms": suspicion_window(core, nodes).min_ms,
    }


def measure_detection(nodes: int, seed: int, memberlist: bool) -> dict[str, Any]:
    """One crash in a quiet warm cluster: how long until every survivor declares it dead."""
    core = _core(True, memberlist)
    sim = Simulator(SimConfig(nodes, seed, core, warm_start=True))
    sim.run_until(WARM_UP_MS)
    sim.crash(random.Random(seed).randrange(nodes))
    sim.run_until(sim.now + detection_bound_ms(core, nodes))
    detection = [v for d in checkers.detections(sim) for v in d.latencies.values() if v is not None]
    return {"nodes": nodes, "seed": seed, "memberlist": memberlist, "detection_ms": detection}


def measure_lifeguard(nodes: int, seed: int, lifeguard: bool) -> dict[str, Any]:
    """CPU-starved members for two minutes: who gets suspected and declared dead."""
    sim = Simulator(SimConfig(nodes, seed, _core(lifeguard), warm_start=True))
    rng = random.Random(seed)
    slow = set(rng.sample(range(nodes), max(1, round(nodes * SLOW_FRACTION))))
    for index in slow:
        sim.topology.slow[index] = SLOW_DELAY_MS
    sim.run_until(LIFEGUARD_RUN_MS)
    slow_names = {sim.name_of(i) for i in slow}
    suspicions = checkers.false_suspicions(sim)
    deaths = checkers.false_deaths(sim, grace_ms=None)
    return {
        "nodes": nodes,
        "seed": seed,
        "lifeguard": lifeguard,
        "healthy_suspected": sum(1 for _, _, name in suspicions if name not in slow_names),
        "healthy_declared_dead": sum(1 for _, _, name in deaths if name not in slow_names),
        "slow_suspected": sum(1 for _, _, name in suspicions if name in slow_names),
        "slow_declared_dead": sum(1 for _, _, name in deaths if name in slow_names),
    }


def measure_gossip_misses(nodes: int, seeds: int = 3, writes: int = 100) -> tuple[int, int]:
    """(writes that took gossip more than 2 s to spread to everybody, writes): how often
    push/pull had to repair what memberlist's user-message retransmits missed."""
    late = total = 0
    for seed in range(1, seeds + 1):
        sim = Simulator(SimConfig(nodes, seed, _core(True), warm_start=True))
        rng = random.Random(seed)
        for number in range(writes):
            when = WARM_UP_MS + number * GOSSIP_MISS_WRITE_EVERY_MS
            sim.at(when, functools.partial(sim.write, rng.randrange(nodes), SILENCES, f"silence-{number}"))
        sim.run_until(
            WARM_UP_MS + writes * GOSSIP_MISS_WRITE_EVERY_MS + tocsin_defaults().push_pull_interval_ms
        )
        reach = checkers.reach_times(sim, 0, sim.now)
        late += sum(1 for t in reach if t is None or t > GOSSIP_MISS_BOUND_MS)
        total += len(reach)
    return late, total


def measure_issue_numbers(seeds: int = 3, memberlist: bool = False) -> list[dict[str, Any]]:
    """Issue 7: N = 100, 5% loss, probe 1 s, timeout 500 ms (the `loss` scenario)."""
    found = []
    for seed in range(1, seeds + 1):
        options = Options(nodes=100, seed=seed, fault_ms=60_000, memberlist_suspicion=memberlist)
        result = run_scenario("loss", options)
        found.append({"seed": seed, "ok": result.ok, "violations": result.violations, **result.metrics})
    return found


def time_big_run(nodes: int = 1000, virtual_ms: int = 120_000) -> dict[str, float]:
    """Issue 7: a 1,000-node, 120-virtual-second run must take under 5 minutes on one core."""
    started = time.process_time()
    sim = Simulator(SimConfig(nodes, 1, _core(True), warm_start=True))
    built = time.process_time()
    sim.run_until(virtual_ms)
    return {
        "nodes": nodes,
        "virtual_s": virtual_ms / 1000,
        "build_cpu_s": built - started,
        "run_cpu_s": time.process_time() - built,
    }


def run_all(sizes: tuple[int, ...], lifeguard_sizes: tuple[int, ...]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "sizes": [],
        "memberlist_detection": [],
        "lifeguard": [],
        "issue": [],
        "issue_memberlist": [],
        "big_run": None,
    }
    for nodes in sizes:
        for seed in range(1, SEEDS_PER_SIZE.get(nodes, 1) + 1):
            entry = measure_size(nodes, seed)
            print(f"size {nodes} seed {seed}: cpu {entry['cpu_s']:.1f} s", flush=True)
            results["sizes"].append(entry)
            if nodes <= MEMBERLIST_COMPARISON_MAX_NODES:
                results["memberlist_detection"].append(measure_detection(nodes, seed, memberlist=True))
    for nodes in lifeguard_sizes:
        for seed in range(1, LIFEGUARD_SEEDS + 1):
            for lifeguard in (True, False):
                results["lifeguard"].append(measure_lifeguard(nodes, seed, lifeguard))
        print(f"lifeguard {nodes} done", flush=True)
    results["gossip_misses"] = {str(n): measure_gossip_misses(n) for n in GOSSIP_MISS_SIZES}
    if 100 in sizes:
        results["issue"] = measure_issue_numbers()
        results["issue_memberlist"] = measure_issue_numbers(memberlist=True)
    if 1000 in sizes:
        results["big_run"] = time_big_run()
    return results


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Per size: pooled percentiles over seeds."""
    table: dict[str, Any] = {}
    for nodes in sorted({e["nodes"] for e in results["sizes"]}):
        entries = [e for e in results["sizes"] if e["nodes"] == nodes]
        reach = [t for e in entries for t in e["reach_ms"]]
        detection = [t for e in entries for t in e["detection_ms"]]
        suspicion = [t for e in entries for t in e["first_suspicion_ms"]]
        table[str(nodes)] = {
            "runs": len(entries),
            "reach_p50_ms": checkers.percentile(reach, 0.5),
            "reach_p99_ms": checkers.percentile(reach, 0.99),
            "reached_all": f"{sum(e['reached_all'] for e in entries)}/{BROADCASTS * len(entries)}",
            "detection_p50_s": checkers.percentile(detection, 0.5) / 1000,
            "detection_p99_s": checkers.percentile(detection, 0.99) / 1000,
            "first_suspicion_p50_s": checkers.percentile(suspicion, 0.5) / 1000,
            "packet_bytes_per_node_s": sum(e["packet_bytes_per_node_s"] for e in entries) / len(entries),
            "stream_bytes_per_node_s": sum(e["stream_bytes_per_node_s"] for e in entries) / len(entries),
            "false_deaths": sum(e["false_deaths"] for e in entries),
            "false_suspicions": sum(e["false_suspicions"] for e in entries),
            "user_transmits_per_node": entries[0]["user_transmits_per_node"],
            "min_suspicion_s": entries[0]["min_suspicion_ms"] / 1000,
            "cpu_s_per_run": sum(e["cpu_s"] for e in entries) / len(entries),
        }
        memberlist = [
            t
            for e in results.get("memberlist_detection", [])
            if e["nodes"] == nodes
            for t in e["detection_ms"]
        ]
        if memberlist:
            table[str(nodes)]["am_detection_p50_s"] = checkers.percentile(memberlist, 0.5) / 1000
            table[str(nodes)]["am_detection_p99_s"] = checkers.percentile(memberlist, 0.99) / 1000
    guard: dict[str, Any] = {}
    for nodes in sorted({e["nodes"] for e in results["lifeguard"]}):
        for lifeguard in (True, False):
            entries = [e for e in results["lifeguard"] if e["nodes"] == nodes and e["lifeguard"] == lifeguard]
            keys = ("healthy_suspected", "healthy_declared_dead", "slow_suspected", "slow_declared_dead")
            guard[f"{nodes} {'lifeguard' if lifeguard else 'swim'}"] = {
                k: sum(e[k] for e in entries) for k in keys
            }
    return {"by_size": table, "lifeguard": guard}


def plot(results: dict[str, Any], summary: dict[str, Any], out: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary["by_size"]
    sizes = [int(n) for n in table]

    def series(key: str) -> list[float]:
        return [table[str(n)][key] for n in sizes]

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(sizes, series("detection_p50_s"), "o-", label="declared dead by all, p50")
    axis.plot(sizes, series("detection_p99_s"), "s--", label="declared dead by all, p99")
    axis.plot(sizes, series("first_suspicion_p50_s"), "^-", label="first suspicion, p50")
    axis.plot(sizes, series("min_suspicion_s"), ":", color="grey", label="suspicion floor")
    compared = [n for n in sizes if "am_detection_p50_s" in table[str(n)]]
    axis.plot(
        compared,
        [table[str(n)]["am_detection_p50_s"] for n in compared],
        "x:",
        color="black",
        label="Alertmanager's suspicion timing, p50",
    )
    axis.set(
        xscale="log",
        xlabel="cluster size N",
        ylabel="seconds after the crash",
        title="Failure detection (tocsin defaults)",
    )
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "detection.png", dpi=120)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(sizes, series("reach_p50_ms"), "o-", label="p50")
    axis.plot(sizes, series("reach_p99_ms"), "s--", label="p99")
    scale = table[str(sizes[0])]["reach_p50_ms"] / max(1.0, math.log2(sizes[0]))
    axis.plot(sizes, [scale * math.log2(n) for n in sizes], ":", color="grey", label="c * log2 N")
    axis.set(
        xscale="log",
        yscale="log",
        xlabel="cluster size N",
        ylabel="ms until every node has it",
        title="Silence broadcast reach",
    )
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "broadcast.png", dpi=120)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(sizes, series("packet_bytes_per_node_s"), "o-", label="datagrams (probes + gossip)")
    axis.plot(sizes, series("stream_bytes_per_node_s"), "s--", label="streams (push/pull)")
    axis.set(
        xscale="log",
        yscale="log",
        xlabel="cluster size N",
        ylabel="bytes sent per node per second",
        title="Load per member",
    )
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "load.png", dpi=120)
    plt.close(figure)

    guard = summary["lifeguard"]
    labels = sorted({key.split()[0] for key in guard}, key=int)
    figure, axes = plt.subplots(1, 2, figsize=(9, 4))
    width = 0.38
    for axis, metric, title in (
        (axes[0], "healthy_suspected", "healthy members suspected"),
        (axes[1], "healthy_declared_dead", "healthy members declared dead"),
    ):
        for offset, mode in ((-width / 2, "swim"), (width / 2, "lifeguard")):
            values = [guard[f"{n} {mode}"][metric] for n in labels]
            axis.bar([i + offset for i in range(len(labels))], values, width, label=mode)
        axis.set_xticks(range(len(labels)), [f"N={n}" for n in labels])
        axis.set_title(title)
        axis.legend()
    figure.suptitle(f"10% of members CPU-starved (+0-{SLOW_DELAY_MS} ms), {LIFEGUARD_SEEDS} seeds x 120 s")
    figure.tight_layout()
    figure.savefig(out / "lifeguard.png", dpi=120)
    plt.close(figure)


def main(
    out_dir: str, sizes: tuple[int, ...] = SIZES, lifeguard_sizes: tuple[int, ...] = LIFEGUARD_SIZES
) -> None:
    out = pathlib.Path(out_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    results = run_all(sizes, lifeguard_sizes)
    summary = summarize(results)
    raw = {k: v for k, v in results.items() if k != "sizes"}
    raw["sizes"] = [{k: v for k, v in e.items() if not k.endswith("_ms")} for e in results["sizes"]]
    (out / "results.json").write_text(json.dumps({"summary": summary, "raw": raw}, indent=1, sort_keys=True))
    plot(results, summary, out)
    print(json.dumps(summary, indent=1))
