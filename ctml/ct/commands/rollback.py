"""`ct.py rollback [VERSION]`: put the previous (or the named) model version back in production."""
from __future__ import annotations

import argparse

from ctml.ct import dvcdata, lock, registry
from ctml.ct.repo import commit_state, restore_state
from ctml.ct.session import open_context, start
from ctml.ct.step import RECORDS
from ctml.errors import UserError


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rollback", parents=[common], help="put the previous (or the named) model version in production")
    p.add_argument("version", nargs="?", help="e.g. v1.1.0 (default: the version in production before the current one)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ctx = open_context(args, commit=True)
    with lock.exclusive(ctx.root):
        start(ctx, workspace_data=False)  # the workspace's data is replaced, not needed
        current = registry.production_version(ctx.root)
        if current is None:
            raise UserError("no model in production yet; nothing to roll back")
        target = registry.resolve(ctx.root, args.version) if args.version else registry.previous_production(ctx.root)
        if target == current:
            raise UserError(f"{target} is already in production")
        dvcdata.ensure(ctx.root, registry.tag_of(target), target)  # before any change: refuse or fetch
        restore_state(ctx.root, registry.tag_of(target), keep=RECORDS)
        commit_state(ctx.root, f"ct: roll back production {current} -> {target}")
        tag = registry.assign_prod(ctx.root, target, f"rollback from {current}")
        ctx.say(f"production: {current} -> {target} ({tag}); model, preprocessing and metrics restored")
    return 0
