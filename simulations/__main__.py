"""Command line: `python -m simulations SCENARIO --nodes N --seed S`, `sweep`, `figures`.

A failing run prints its violations, the seed and the exact command that reproduces it,
and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
import time

from simulations.scenarios import DEFAULT_FAULT_MS, SCENARIOS, Options, Result, run_scenario

SWEEP_SIZES = "3,10,30"


def _print_result(result: Result, elapsed_s: float) -> None:
    status = "ok" if result.ok else "FAILED"
    metrics = " ".join(f"{k}={v:.3g}" for k, v in sorted(result.metrics.items()))
    print(
        f"{result.scenario} nodes={result.options.nodes} seed={result.options.seed}: {status} "
        f"({elapsed_s:.1f} s) {metrics}"
    )
    if not result.ok:
        for violation in result.violations[:20]:
            print(f"  violation: {violation}")
        for when, note in result.notes[:20]:
            print(f"  t={when} {note}")
        print(f"  seed {result.options.seed} reproduces it: {result.command()}")


def _options(args: argparse.Namespace, nodes: int, seed: int) -> Options:
    warm = True if args.warm else False if args.cold else None
    return Options(
        nodes=nodes,
        seed=seed,
        fault_ms=int(args.fault_seconds * 1000),
        lifeguard=not args.no_lifeguard,
        compression=args.compression,
        loss=args.loss,
        warm_start=warm,
        suspicion_mult=args.suspicion_mult,
        suspicion_confirmations=args.suspicion_confirmations,
        suspicion_max_timeout_mult=args.suspicion_max_timeout_mult,
        memberlist_suspicion=args.memberlist_suspicion,
    )


def _run_one(name: str, options: Options) -> bool:
    started = time.monotonic()
    result = run_scenario(name, options)
    _print_result(result, time.monotonic() - started)
    return result.ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations", description=__doc__)
    parser.add_argument("scenario", choices=[*sorted(SCENARIOS), "sweep", "figures"])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=5, help="sweep: seeds per scenario and size")
    parser.add_argument("--sizes", default=SWEEP_SIZES, help="sweep, figures: comma-separated cluster sizes")
    parser.add_argument("--fault-seconds", type=float, default=DEFAULT_FAULT_MS / 1000)
    parser.add_argument("--loss", type=float, default=None, help="packet loss probability, 0..1")
    parser.add_argument("--no-lifeguard", action="store_true", help="plain SWIM suspicion and probing")
    parser.add_argument("--compression", action="store_true", help="LZW as memberlist (slow in Python)")
    parser.add_argument("--warm", action="store_true", help="start as an established cluster")
    parser.add_argument("--cold", action="store_true", help="replay the join even for big clusters")
    parser.add_argument(
        "--memberlist-suspicion", action="store_true", help="Alertmanager's suspicion timing, not tocsin's"
    )
    parser.add_argument("--suspicion-mult", type=float, default=None, help="SuspicionMult (may be fractional)")
    parser.add_argument(
        "--suspicion-confirmations", type=int, default=None, help="Lifeguard's k (default: mult - 2)"
    )
    parser.add_argument("--suspicion-max-timeout-mult", type=int, default=None, help="Lifeguard's max/min")
    parser.add_argument("--out", default="docs", help="figures: where docs/figures and results go")
    args = parser.parse_args(argv)

    if args.scenario == "figures":
        from simulations import experiments

        sizes = (
            experiments.SIZES if args.sizes == SWEEP_SIZES else tuple(int(s) for s in args.sizes.split(","))
        )
        experiments.main(args.out, sizes, tuple(n for n in experiments.LIFEGUARD_SIZES if n <= max(sizes)))
        return 0
    if args.scenario == "sweep":
        sweep_sizes = [int(s) for s in args.sizes.split(",")]
        failed = 0
        for name in sorted(SCENARIOS):
            for nodes in sweep_sizes:
                for seed in range(1, args.seeds + 1):
                    failed += not _run_one(name, _options(args, nodes, seed))
        print(f"sweep: {failed} failed")
        return 1 if failed else 0
    return 0 if _run_one(args.scenario, _options(args, args.nodes, args.seed)) else 1


if __name__ == "__main__":
    sys.exit(main())
