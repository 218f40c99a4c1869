"""`ct.py check`: one CT step on the batch in data/incoming (for cron)."""
from __future__ import annotations

import argparse
import time

from ctml import layout


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("check", parents=[common], help=f"one CT step on {layout.INCOMING}/batch.{{parquet,csv}}")
    p.add_argument("--no-commit", action="store_true", help="no commit, tag or push")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct import lock
    from ctml.ct.session import ensure_data, open_context, start

    ctx = open_context(args, commit=not args.no_commit)
    with lock.exclusive(ctx.root):
        start(ctx)
        if layout.find_batch(ctx.path(layout.INCOMING)) is None:  # cron's usual case: no work, no imports, no run
            ctx.say(f"check: nothing in {layout.INCOMING} to check")
            return 0
        ensure_data(ctx)
        return _step(ctx)


def _step(ctx) -> int:
    from ctml import tracking
    from ctml.ct import history
    from ctml.ct.batches import read_incoming
    from ctml.ct.release import ensure_baseline
    from ctml.ct.report import progress_line
    from ctml.ct.repo import commit_state
    from ctml.ct.step import record_step, redraw_timeline, run_step

    with tracking.stage_run("ct", ctx.params, section="ct", pipeline=ctx.pipeline_id) as run_log:
        ctx.log = run_log
        ensure_baseline(ctx)
        step = history.next_step(ctx.path(layout.HISTORY))
        tick = time.perf_counter()
        record = run_step(ctx, step, "check", read_incoming(ctx))
        record_step(ctx, record)
        redraw_timeline(ctx)
        if ctx.commit:
            commit_state(ctx.root, f"ct: record step {step} (check)")
        ctx.say(progress_line(1, 1, record, time.perf_counter() - tick))
    return 0
