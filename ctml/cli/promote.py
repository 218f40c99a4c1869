"""`ct.py promote EXPERIMENT`: release what a `dvc exp run` experiment's params give, through the gates."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("promote", parents=[common], help="release an experiment's params through the gates (`dvc exp show`)")
    p.add_argument("experiment", help="experiment name, as `dvc exp show` lists it")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml import tracking
    from ctml.ct.release import experiments
    from ctml.ct.repo import lock
    from ctml.ct.release import tags  # experiments pulls pandas (via ctml.data.task): only when promoting
    from ctml.ct.release.production import current_version
    from ctml.ct.intake.session import ensure_data, open_context, start

    ctx = open_context(args, commit=True)
    with lock.exclusive(ctx.root), tracking.stage_run("ct", ctx.params, section="ct") as run_log:
        ctx.log = run_log
        exp = experiments.find(ctx.root, args.experiment)  # a bad name changes nothing, not even a recovery
        start(ctx)
        ensure_data(ctx)
        before = current_version(ctx)
        version = experiments.promote(ctx, exp)
        ctx.say(f"production: {before or 'none'} -> {version} (experiment {args.experiment}; tagged {tags.tag_of(version)})")
        run_log.log("ct/promote", {"experiment": args.experiment, "version": version})
    return 0
