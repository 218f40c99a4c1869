"""`ct.py simulate`: feed simulated or replayed batches through CT."""
from __future__ import annotations

import argparse
from itertools import islice
from typing import TYPE_CHECKING, Iterator

from ctml import layout
from ctml.ct.records import SCENARIOS, StepRecord
from ctml.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from ctml.ct.context import Context


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("simulate", parents=[common], help="feed simulated or replayed batches through CT")
    p.add_argument("--scenario", choices=SCENARIOS, default="none")
    p.add_argument("--steps", type=int, default=5, help="batches to feed (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=200, help="rows per batch (default: %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="simulation seed (default: params.yaml seed)")
    p.add_argument("--data", help="replay: CSV or Parquet file streamed in row order")
    p.add_argument("--target", help="replay: label column of --data")
    p.add_argument("--no-commit", action="store_true", help="retrain in the working tree only: no commit, tag or push")
    p.set_defaults(run=run)


def _frames(args: argparse.Namespace, ctx: Context, seed: int) -> Iterator[pd.DataFrame]:
    """One frame per step: simulated from the source data as ingest types it, or the replayed file's rows.

    The source, not the training data: once a retrain has folded a shifted batch in, the training data
    holds shifted rows, so batches drawn from it were shifted too: `--scenario none` after a `sudden`
    retrain drifted (12 of 30 features) and retrained again, and a persisting shift was applied twice."""
    from ctml.ct.intake import scenarios
    from ctml.data.tables import drop_unlabelled, load_source, normalize
    from ctml.io import read_json, read_table
    from ctml.data.task import recorded_task

    data = ctx.params.data
    if args.scenario == "replay":
        yield from scenarios.replay_batches(read_table(args.data, data.csv.model_dump()), ctx.params.ct.reference_rows, args.batch_size)
        return
    reference, _ = drop_unlabelled(normalize(load_source(data.source, data.csv.model_dump()), data.target, data.date_formats),
                                   data.target)
    task = recorded_task(read_json(ctx.path(layout.SCHEMA)))
    for i in range(1, args.steps + 1):
        yield scenarios.make_batch(reference, ctx.params.data.target, args.scenario, i, args.steps,
                                   args.batch_size, seed, ctx.params.ct, task)


def run(args: argparse.Namespace) -> int:
    from ctml.ct.intake.batches import prepare_batch
    from ctml.ct.intake.loop import run_command, run_steps
    from ctml.ct.intake.replay import use_replay_source
    from ctml.ct.intake.session import open_context
    from ctml.ct.repo import lock
    from ctml.ct.step.run import run_step

    if args.steps < 1 or args.batch_size < 1:
        raise UserError("--steps and --batch-size must be at least 1")
    if args.scenario == "replay" and not (args.data and args.target):
        raise UserError("--scenario replay needs --data FILE and --target COLUMN")
    ctx = open_context(args, commit=not args.no_commit)
    seed = ctx.params.seed if args.seed is None else args.seed

    def prepare() -> tuple[str, ...]:
        return use_replay_source(ctx, args.data, args.target) if args.scenario == "replay" else ()

    def steps() -> list[StepRecord]:
        work = (lambda step, frame=frame: run_step(ctx, step, args.scenario, prepare_batch(frame, ctx))
                for frame in islice(_frames(args, ctx, seed), args.steps))
        return run_steps(ctx, work, args.steps)

    with lock.exclusive(ctx.root):
        return run_command(ctx, args.scenario, steps, prepare=prepare)
