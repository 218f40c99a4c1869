"""`ct.py rollback [VERSION]`: put the previous (or the named) model version back in production."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rollback", parents=[common], help="put the previous (or the named) model version in production")
    p.add_argument("version", nargs="?", help="e.g. v1.1.0 (default: the version in production before the current one)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct.repo import lock
    from ctml.ct.release.promotion import rollback
    from ctml.ct.intake.session import open_context, start

    ctx = open_context(args, commit=True)
    with lock.exclusive(ctx.root):
        start(ctx)
        current, target, tag = rollback(ctx, args.version)
        ctx.say(f"production: {current} -> {target} ({tag}); model, preprocessing and metrics restored")
    return 0
