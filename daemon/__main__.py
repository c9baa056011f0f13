"""Entry point of the `daemon` console script."""

import gc
import sys

# httpx imports its command-line client, and with it click, rich and pygments (tens of
# milliseconds of every start-up), whenever those happen to be installed, as they are next
# to the test tools. The daemon never runs that client; a None entry makes httpx skip it.
_UNUSED_MODULES = ("httpx._main",)


def main(argv: list[str] | None = None) -> int:
    for name in _UNUSED_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "skip this module"
    # Importing creates tens of thousands of objects that live as long as the process: cyclic
    # collections meanwhile, and every full one after, would only traverse them again and
    # again (a twentieth of the imports' time). Paused, then frozen out of the collector.
    collecting = gc.isenabled()
    gc.disable()
    try:
        from daemon.app import run_from_args
    finally:
        gc.freeze()
        if collecting:
            gc.enable()

    return int(run_from_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
