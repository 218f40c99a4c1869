"""`ct.py history`: the CT history, one row per step."""
from __future__ import annotations

import argparse

from ctml import layout
from ctml.cli import non_negative
from ctml.ct.records import COLUMNS


SHOWN = ("step", "time", "scenario", "status", "drift_score", "threshold", "batch_accuracy", "batch_rmse", "retrained",
         "model_version", "note")


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("history", parents=[common], help="the CT history, one row per step")
    p.add_argument("--limit", type=non_negative, default=20, help="newest steps shown (default: %(default)s)")
    p.add_argument("--json", action="store_true", help=f"a JSON list of step records ({', '.join(COLUMNS)})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct import history
    from ctml.ct.repo.vcs import project_root
    from ctml.ct.reporting.console import print_json, table

    past = history.read(project_root() / layout.HISTORY)
    shown = past[len(past) - args.limit:] if args.limit else []
    if args.json:
        print_json([r.as_json() for r in shown])
        return 0
    if not past:
        print("no CT steps recorded yet; run `python ct.py simulate`")
        return 0
    # a regressor's steps have an RMSE, a classifier's an accuracy: the column of a task with no step is left out
    hidden = "batch_rmse" if all(r.batch_rmse is None for r in shown) else \
        "batch_accuracy" if all(r.batch_accuracy is None for r in shown) else None
    columns = [n for n in SHOWN if n != hidden]
    table(f"CT history ({len(shown)} of {len(past)} steps)", columns, [[getattr(r, name) for name in columns] for r in shown])
    return 0
