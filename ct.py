#!/usr/bin/env python
"""Continuous training for this DVC project.

  python ct.py simulate --scenario sudden --steps 6     feed batches, retrain + release on drift
  python ct.py check                                    one real step on data/incoming (for cron)
  python ct.py status | history | runs [--json]         where things stand (runs --show ID: one run in full)
  python ct.py export-runs | runs --prune --keep N      tracked runs into MLflow; bound .neptune
  python ct.py rollback [VERSION]                       put an earlier model back in production
  python ct.py promote EXPERIMENT                       a `dvc exp` experiment's params into production
  python ct.py lineage VERSION | compare V1 V2          audit model versions
  python ct.py predict --input FILE [--version V]       serve a model version
  python ct.py report [--output FILE]                   what happened, as one offline HTML page

-q / -v go before or after the command. Exit codes: 0 success, 1 error (one line on stderr),
2 usage error, 75 another ct.py is running.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ctml.cpu import passive_openmp_waits, prefer_avx2_on_zen4
from ctml.cli import (check, compare, export_runs, history, lineage, predict, promote, report, rollback, runs, serve,
                      simulate, status, watch)
from ctml.errors import run_main

COMMANDS = (simulate, check, watch, status, history, runs, export_runs, rollback, promote, lineage, compare, predict, serve, report)


def _verbosity(default: object) -> argparse.ArgumentParser:
    """-q/-v; the copy given to each command has no defaults, so it keeps what came before the command."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-q", "--quiet", action="store_true", default=default, help="only errors and the final summary")
    p.add_argument("-v", "--verbose", action="store_true", default=default, help="more detail per step")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ct.py", description=__doc__, parents=[_verbosity(False)],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _verbosity(argparse.SUPPRESS)
    for command in COMMANDS:
        command.add_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    prefer_avx2_on_zen4()  # before any command imports NumPy or scikit-learn (ctml/cpu.py)
    passive_openmp_waits()
    args = build_parser().parse_args(argv)
    args.verbosity = 0 if args.quiet else (2 if args.verbose else 1)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(run_main(main))
