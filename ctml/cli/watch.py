"""`ct.py watch`: a long-running loop over the inboxes (the logic: ctml.ct.intake.watcher)."""
from __future__ import annotations

import argparse

from ctml import layout


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("watch", parents=[common], help=f"process {layout.INCOMING}/ and {layout.LABELS}/ every ct.watch_interval_s",
                       description="Check the inboxes every ct.watch_interval_s seconds, holding the lock only during a "
                                   "round; SIGTERM or SIGINT stops after the current step (exit 0).")
    p.add_argument("--no-commit", action="store_true", help="no commit, tag or push")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct.intake.watcher import watch

    return watch(args)
