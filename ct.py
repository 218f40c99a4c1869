#!/usr/bin/env python
"""Continuous training for this DVC project.

  python ct.py simulate --scenario sudden --steps 6     feed batches, retrain + release on drift
  python ct.py check                                    one real step on data/incoming (for cron)
  python ct.py status | history | runs                  where things stand
  python ct.py rollback [VERSION]                       put an earlier model back in production
  python ct.py lineage VERSION | compare V1 V2          audit model versions
  python ct.py predict --input FILE [--version V]       serve a model version

Exit codes: 0 success, 1 error (one line on stderr), 2 usage error, 75 another ct.py is running.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ctml.ct import commands
from ctml.ct.scenarios import SCENARIOS
from ctml.errors import run_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ct.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors and the final summary")
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail per step")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser("simulate", help="feed simulated or replayed batches through CT")
    sim.add_argument("--scenario", choices=SCENARIOS, default="none")
    sim.add_argument("--steps", type=int, default=5, help="batches to feed (default: %(default)s)")
    sim.add_argument("--batch-size", type=int, default=200, help="rows per batch (default: %(default)s)")
    sim.add_argument("--seed", type=int, default=None, help="simulation seed (default: params.yaml seed)")
    sim.add_argument("--data", help="replay: CSV or Parquet file streamed in row order")
    sim.add_argument("--target", help="replay: label column of --data")
    sim.add_argument("--no-commit", action="store_true", help="retrain in the working tree only: no commit, tag or push")
    sim.set_defaults(handler=commands.simulate)

    check = sub.add_parser("check", help="one CT step on data/incoming/batch.{parquet,csv}")
    check.add_argument("--no-commit", action="store_true", help="no commit, tag or push")
    check.set_defaults(handler=commands.check)

    sub.add_parser("status", help="production version, last drift score, threshold, last retrain").set_defaults(handler=commands.status)
    hist = sub.add_parser("history", help="the CT history, one row per step")
    hist.add_argument("--limit", type=int, default=20, help="newest rows shown (default: %(default)s)")
    hist.set_defaults(handler=commands.show_history)
    runs = sub.add_parser("runs", help="recent tracked runs, read from the offline Neptune files")
    runs.add_argument("--limit", type=int, default=20)
    runs.set_defaults(handler=commands.runs)

    back = sub.add_parser("rollback", help="put the previous (or the named) model version in production")
    back.add_argument("version", nargs="?", help="e.g. v1.1.0 (default: the version in production before the current one)")
    back.set_defaults(handler=commands.rollback)
    lin = sub.add_parser("lineage", help="which data, params and code made a model version")
    lin.add_argument("version")
    lin.add_argument("--json", action="store_true", help="machine-readable output")
    lin.set_defaults(handler=commands.lineage)
    cmp_ = sub.add_parser("compare", help="params and metrics of two versions side by side")
    cmp_.add_argument("old")
    cmp_.add_argument("new")
    cmp_.set_defaults(handler=commands.compare)

    pred = sub.add_parser("predict", help="predictions with probabilities from a model version")
    pred.add_argument("--input", required=True, help="CSV or Parquet rows to score")
    pred.add_argument("--version", help="model version (default: the one in production)")
    pred.add_argument("--output", help="CSV or Parquet file (default: CSV on stdout)")
    pred.set_defaults(handler=commands.predict)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.verbosity = 0 if args.quiet else (2 if args.verbose else 1)
    return args.handler(args) or 0


if __name__ == "__main__":
    sys.exit(run_main(main))
