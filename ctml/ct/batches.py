"""Batches in: read, typed like the training data, held to the schema; the bad ones quarantined."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from ctml import layout
from ctml.ct.context import Context
from ctml.ct.records import Batch
from ctml.data import cast_to_kinds
from ctml.errors import UserError
from ctml.io import read_json, read_table, write_parquet
from ctml.schema import check_frame, recorded_kinds

MAX_DUPLICATE_SHARE = 0.5  # a batch mostly made of repeated rows is a feed fault, not production data


def prepare_batch(frame: pd.DataFrame, ctx: Context, source: Path | None = None) -> Batch:
    """Type a batch by the kinds the schema recorded, as the drift stage does, and hold it to the
    schema; labels are optional. A value that does not parse as its column's kind leaves that
    column as given, which the schema check reports with the value."""
    schema = read_json(ctx.path(layout.SCHEMA))
    typed, _ = cast_to_kinds(frame, recorded_kinds(schema), label=schema["target"])
    problems = check_frame(typed, schema, ctx.params.validate_, require_target=False) or duplicate_problem(typed)
    return Batch(source, frame, None if problems else typed, problems)


def duplicate_problem(frame: pd.DataFrame) -> list[str]:
    """The duplicate-rows rule, as a problem list (empty when the batch passes)."""
    share = float(frame.duplicated().mean())
    return [f"{share:.0%} of rows are duplicates (rule: at most half)"] if share > MAX_DUPLICATE_SHARE else []


def read_incoming(ctx: Context) -> Batch:
    """The user-fed batch in data/incoming (batch.parquet or batch.csv), read and checked."""
    path = layout.find_batch(ctx.path(layout.INCOMING))
    if path is None:
        raise UserError(f"{ctx.path(layout.INCOMING)}: no {' or '.join(layout.BATCH_NAMES)} to check")
    try:
        frame = read_table(path)
    except UserError as exc:
        return Batch(path, None, None, [str(exc)])
    return prepare_batch(frame, ctx, source=path)


def quarantine(ctx: Context, step: int, batch: Batch) -> Path:
    """Move a bad batch aside with a reason file; training data never sees it."""
    folder = ctx.path(layout.QUARANTINE)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"step-{step:04d}"
    (folder / f"{stem}.reason.txt").write_text("\n".join(batch.problems) + "\n")  # first: a moved batch always has its reason
    if batch.source is not None and batch.source.exists():
        dest = folder / f"{stem}{batch.source.suffix}"
        shutil.move(str(batch.source), dest)
    else:
        dest = folder / f"{stem}.parquet"
        if batch.raw is not None:
            write_parquet(dest, batch.raw)
    return dest
