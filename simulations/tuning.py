"""The suspicion-tuning sweep behind tocsin's default (docs/simulations.md, "Suspicion tuning"):
`python -m simulations.tuning --sizes 3,10,30,100 --seeds 3 --out results.json`.

Each run is a scenario's fault phase only (no heal phase: healing does not depend on how
long a suspicion lasts), with the faults of the named scenario plus uniform loss:

    crash   a member crashes every CRASH_SPACING_MS: detection time
    slow    a twentieth of the members answer up to 1.5 s late: false suspicions and deaths
    flap    a twentieth of the members lose their links 2 s out of every 5 s
    steady  nothing but loss and a LAN's delay

Counted per run: detection latencies (every unimpaired observer, from the crash to its
`dead` event), suspicion episodes and death episodes of running members (one per member and
incarnation, whoever raised it), split into healthy members and impaired ones, and the
scenario checker's verdict on false deaths (a death while no node at all was impaired).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import pathlib
import statistics
import sys
import time
from typing import Any, Final

from cluster.core import EventKind
from simulations import checkers
from simulations.scenarios import SCENARIOS, Options, Run, detection_bound_ms

CRASH_SPACING_MS: Final = 20_000
# Up to three crashes per run, one per five members, so a small cluster keeps a majority.
CRASHES_PER_RUN: Final = 3
MEMBERS_PER_CRASH: Final = 5
# Long enough for every crash to be detected and for slow members to be accused many times.
FAULT_MS: Final = 60_000
LOSSES: Final = (0.0, 0.05, 0.1)


@dataclasses.dataclass(frozen=True, slots=True)
class Knobs:
    mult: float
    confirmations: int | None = None  # None: memberlist's mult - 2
    max_timeout_mult: int = 6

    @property
    def label(self) -> str:
        k = "k=m-2" if self.confirmations is None else f"k={self.confirmations}"
        return f"mult={self.mult:g} {k} max={self.max_timeout_mult}"


# memberlist's rule first, then Lifeguard with an explicit k and a shorter minimum.
CANDIDATES: Final = (
    Knobs(4),
    Knobs(3),
    Knobs(2),
    Knobs(1),
    Knobs(2, 2),
    Knobs(1.5, 2),
    Knobs(1, 2),
    Knobs(1, 3),
    Knobs(1, 2, 10),
)


def _episode_counts(run: Run) -> dict[str, int]:
    sim = run.sim
    impaired_windows = sim.trace.impaired

    def impaired(name: str, when: int) -> bool:
        index = sim.name_index[name]
        return any(index in nodes and s <= when <= e for s, e, nodes in impaired_windows)

    def running(name: str, when: int) -> bool:
        created, crashed = sim.trace.lifetimes[name]
        return created is not None and created <= when and (crashed is None or when < crashed)

    counts = {"suspected_healthy": 0, "suspected_impaired": 0, "dead_healthy": 0, "dead_impaired": 0}
    for (name, _), when in sim.trace.accusations.items():
        if running(name, when):
            counts["suspected_impaired" if impaired(name, when) else "suspected_healthy"] += 1
    deaths: dict[tuple[str, int], int] = {}
    for when, _, kind, name, incarnation in sim.trace.member_events:
        if kind == EventKind.DEAD and running(name, when):
            deaths.setdefault((name, incarnation), when)
    for (name, _), when in deaths.items():
        counts["dead_impaired" if impaired(name, when) else "dead_healthy"] += 1
    return counts


def measure(scenario: str, nodes: int, seed: int, loss: float, knobs: Knobs) -> dict[str, Any]:
    started = time.process_time()
    options = Options(
        nodes=nodes,
        seed=seed,
        fault_ms=FAULT_MS,
        loss=loss,
        warm_start=True,
        suspicion_mult=knobs.mult,
        suspicion_confirmations=knobs.confirmations,
        suspicion_max_timeout_mult=knobs.max_timeout_mult,
        memberlist_suspicion=knobs.confirmations is None,
    )
    run = Run(options)
    sim = run.sim
    sim.faults.loss = loss
    bound = detection_bound_ms(run.config, nodes)
    end = run.heal_at
    if scenario == "crash":
        victims = run.pick(max(1, min(CRASHES_PER_RUN, nodes // MEMBERS_PER_CRASH)))
        for number, index in enumerate(victims):
            sim.at(run.fault_start + number * CRASH_SPACING_MS, functools.partial(sim.crash, index))
        end = max(end, run.fault_start + (len(victims) - 1) * CRASH_SPACING_MS + bound)
    elif scenario != "steady":
        SCENARIOS[scenario][1](run)
    sim.run_until(end)
    detection = [
        v
        for d in checkers.detections(sim)
        for o, v in d.latencies.items()
        if v is not None
        and not checkers.node_impaired(sim, sim.name_index[o], d.crashed_ms, d.crashed_ms + bound)
    ]
    undetected = sum(1 for d in checkers.detections(sim) for v in d.latencies.values() if v is None)
    return {
        "scenario": scenario,
        "nodes": nodes,
        "seed": seed,
        "loss": loss,
        "knobs": knobs.label,
        "detection_ms": detection,
        "undetected": undetected,
        "first_suspicion_ms": checkers.first_suspicion_latencies(sim),
        "checker_false_deaths": len(checkers.false_deaths(sim, grace_ms=bound)),
        "cpu_s": time.process_time() - started,
        **_episode_counts(run),
    }


def summarize(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (knobs, scenario, nodes, loss), pooled over seeds."""
    groups: dict[tuple[str, str, int, float], list[dict[str, Any]]] = {}
    for entry in entries:
        key = (entry["knobs"], entry["scenario"], entry["nodes"], entry["loss"])
        groups.setdefault(key, []).append(entry)
    rows = []
    for (knobs, scenario, nodes, loss), group in groups.items():
        detection = [v for e in group for v in e["detection_ms"]]
        row: dict[str, Any] = {"knobs": knobs, "scenario": scenario, "nodes": nodes, "loss": loss}
        row["runs"] = len(group)
        if detection:
            row["detection_p50_s"] = checkers.percentile(detection, 0.5) / 1000
            row["detection_p99_s"] = checkers.percentile(detection, 0.99) / 1000
            per_run = [checkers.percentile(e["detection_ms"], 0.5) / 1000 for e in group if e["detection_ms"]]
            row["detection_p50_by_seed_s"] = per_run
            row["detection_p50_median_of_runs_s"] = statistics.median(per_run)
        for counter in (
            "undetected",
            "suspected_healthy",
            "dead_healthy",
            "suspected_impaired",
            "dead_impaired",
            "checker_false_deaths",
        ):
            row[counter] = sum(e[counter] for e in group)
        row["cpu_s"] = sum(e["cpu_s"] for e in group)
        rows.append(row)
    return rows


def format_row(row: dict[str, Any]) -> str:
    detection = (
        f"det p50/p99 {row['detection_p50_s']:5.2f}/{row['detection_p99_s']:5.2f} s"
        if "detection_p50_s" in row
        else "det -"
    )
    return (
        f"{row['knobs']:<22} {row['scenario']:<6} N={row['nodes']:<4} loss={row['loss']:<4} {detection} "
        f"healthy susp/dead {row['suspected_healthy']}/{row['dead_healthy']} "
        f"impaired susp/dead {row['suspected_impaired']}/{row['dead_impaired']} "
        f"checker {row['checker_false_deaths']} undetected {row['undetected']} cpu {row['cpu_s']:.0f} s"
    )


def parse_knobs(text: str) -> Knobs:
    """`mult[,k[,max]]`, k `-` for memberlist's rule: `4`, `1,2`, `1.5,2,6`."""
    parts = text.split(",")
    confirmations = None if len(parts) < 2 or parts[1] == "-" else int(parts[1])
    return Knobs(float(parts[0]), confirmations, int(parts[2]) if len(parts) > 2 else 6)


def load(paths: list[str]) -> list[dict[str, Any]]:
    """Raw entries from JSON-lines files; a later file's run replaces an earlier one's."""
    found: dict[tuple[str, str, int, int, float], dict[str, Any]] = {}
    for path in paths:
        for line in pathlib.Path(path).read_text().splitlines():
            entry = json.loads(line)
            found[(entry["knobs"], entry["scenario"], entry["nodes"], entry["seed"], entry["loss"])] = entry
    return list(found.values())


def markdown_report(entries: list[dict[str, Any]]) -> str:
    """Two tables: detection per size and loss, then deaths per size over every scenario."""
    knobs_order = list(dict.fromkeys(e["knobs"] for e in entries))
    sizes = sorted({e["nodes"] for e in entries})
    losses = sorted({e["loss"] for e in entries})
    lines = [
        "Detection, median s (p99) over every observer of every crash, by loss "
        + " / ".join(f"{x:.0%}" for x in losses),
        "",
        "| knobs | " + " | ".join(f"N = {n}" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for knobs in knobs_order:
        cells = []
        for nodes in sizes:
            parts = []
            for loss in losses:
                detection = [
                    v
                    for e in entries
                    if (e["knobs"], e["scenario"], e["nodes"], e["loss"]) == (knobs, "crash", nodes, loss)
                    for v in e["detection_ms"]
                ]
                parts.append(
                    f"{checkers.percentile(detection, 0.5) / 1000:.1f} "
                    f"({checkers.percentile(detection, 0.99) / 1000:.1f})"
                    if detection
                    else "-"
                )
            cells.append(" / ".join(parts))
        lines.append(f"| {knobs} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Deaths of running members, seeds and losses pooled: healthy / slow-or-flapping members, "
        "in the `slow` scenario · in the `flap` scenario",
        "",
        "| knobs | " + " | ".join(f"N = {n}" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for knobs in knobs_order:
        cells = []
        for nodes in sizes:
            parts = []
            for scenario in ("slow", "flap"):
                group = [
                    e for e in entries if (e["knobs"], e["scenario"], e["nodes"]) == (knobs, scenario, nodes)
                ]
                dead_healthy = sum(e["dead_healthy"] for e in group)
                dead_impaired = sum(e["dead_impaired"] for e in group)
                parts.append(f"{dead_healthy}/{dead_impaired}" if group else "-")
            cells.append(" · ".join(parts))
        lines.append(f"| {knobs} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Refutations lost: healthy members declared dead / suspected (episodes), every scenario pooled",
        "",
        "| knobs | " + " | ".join(f"N = {n}" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for knobs in knobs_order:
        cells = []
        for nodes in sizes:
            group = [e for e in entries if (e["knobs"], e["nodes"]) == (knobs, nodes)]
            suspected = sum(e["suspected_healthy"] for e in group)
            dead = sum(e["dead_healthy"] for e in group)
            cells.append(f"{dead}/{suspected} ({dead / suspected:.0%})" if suspected else "-")
        lines.append(f"| {knobs} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["report"]:
        print(markdown_report(load(argv[1:])), end="")
        return 0
    parser = argparse.ArgumentParser(prog="python -m simulations.tuning", description=__doc__)
    parser.add_argument("--sizes", default="3,10,30,100")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--losses", default=",".join(str(x) for x in LOSSES))
    parser.add_argument("--scenarios", default="crash,slow,flap")
    parser.add_argument(
        "--knobs", action="append", default=None, help="mult[,k[,max]] (repeatable; default: the candidates)"
    )
    parser.add_argument("--out", default=None, help="append raw results (JSON lines) to this file")
    args = parser.parse_args(argv)
    candidates = [parse_knobs(k) for k in args.knobs] if args.knobs else list(CANDIDATES)
    entries = []
    out = pathlib.Path(args.out) if args.out else None
    for scenario in args.scenarios.split(","):
        for nodes in (int(n) for n in args.sizes.split(",")):
            for loss in (float(x) for x in args.losses.split(",")):
                for knobs in candidates:
                    group = [measure(scenario, nodes, seed, loss, knobs) for seed in range(1, args.seeds + 1)]
                    entries += group
                    if out is not None:
                        with out.open("a") as sink:
                            for entry in group:
                                sink.write(json.dumps(entry) + "\n")
                    print(format_row(summarize(group)[0]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
