"""Entry point of the `daemon` console script."""

import sys


def main(argv: list[str] | None = None) -> int:
    from daemon.app import run_from_args

    return int(run_from_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
