"""`ct.py runs`: recent tracked runs, read from the offline Neptune files."""
from __future__ import annotations

import argparse

from ctml.ct.commands._args import non_negative
from ctml.ct.report import print_json
from ctml.ct.repo import project_root


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("runs", parents=[common], help="recent tracked runs, read from the offline Neptune files")
    p.add_argument("--limit", type=non_negative, default=20, help="newest runs shown (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="a JSON list of runs, newest first")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.tracking import offline

    root = project_root()
    if args.json:
        print_json([offline.summary(r) for r in offline.offline_runs(root, args.limit)])
        return 0
    offline.print_runs(root, args.limit)
    return 0
