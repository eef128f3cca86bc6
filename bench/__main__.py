"""`python -m bench [--quick]`, from the repository root: the benchmark and fault harness.

Exits 1 when a message was lost, duplicated or delivered out of order; never on speed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.plans import ALL_FAULTS
from bench.runner import Options, run_bench

PARTS = ("ack", "steady", "throughput", "scale")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short CI run (under 3 minutes)")
    parser.add_argument(
        "--out", default="bench-results", help="where results go (default: %(default)s/)"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*PARTS, *ALL_FAULTS],
        help="run only these parts (repeatable); the warm-up always runs",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="also put the report into docs/benchmarks.md and the plot into docs/",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_bench(
        Options(
            quick=args.quick,
            out=Path(args.out),
            scenarios=tuple(args.scenario or ()),
            write_docs=args.write_docs,
        )
    )


raise SystemExit(main())
