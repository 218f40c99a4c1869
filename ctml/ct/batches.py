"""Batches in: read, typed like the training data, held to production's schema; the bad ones quarantined,
or only their broken rows (`validate.bad_rows: drop_rows`)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from typing import Any

from ctml import layout
from ctml.config import ValidateParams
from ctml.ct.context import Context
from ctml.ct.records import Batch
from ctml.data import cast_to_kinds
from ctml.errors import UserError
from ctml.io import read_json, read_table, write_csv, write_parquet
from ctml.schema import check_frame, recorded_date_formats, recorded_kinds, row_faults

MAX_DUPLICATE_SHARE = 0.5  # a batch mostly made of repeated rows is a feed fault, not production data


def prepare_batch(frame: pd.DataFrame, ctx: Context, source: Path | None = None) -> Batch:
    """Type a batch by the kinds the schema recorded, as the drift stage does, and hold it to the
    schema of the production model (its ranges are those of production's training data); labels
    are optional. A value that does not parse as its column's kind leaves that column as given,
    which the schema check reports with the value. Under `validate.bad_rows: drop_rows` the broken
    rows are split off first (unless they are more than `validate.max_bad_row_share`) and the rest
    is checked."""
    schema = read_json(layout.serving_schema(ctx.path(layout.PRODUCTION), ctx.path(layout.SCHEMA)))
    vp = ctx.params.validate_
    kept, dropped, problems = (split_broken_rows(frame, schema, vp) if vp.bad_rows == "drop_rows"
                               else (frame, None, []))
    typed, _ = cast_to_kinds(kept, recorded_kinds(schema), label=schema["target"], date_formats=recorded_date_formats(schema))
    problems = problems + check_frame(typed, schema, vp, require_target=False) or duplicate_problem(typed)
    return Batch(source, frame, None if problems else typed, problems, None if problems else dropped)


def split_broken_rows(frame: pd.DataFrame, schema: dict[str, Any], vp: ValidateParams) -> tuple[pd.DataFrame, pd.DataFrame | None, list[str]]:
    """(rows kept, rows dropped with `_row` and `_reason` columns or None, problems): too many broken
    rows keep the batch whole, with a problem that says so (it is quarantined)."""
    frame = frame.reset_index(drop=True)
    reasons = row_faults(frame, schema, vp)
    bad = (reasons != "").to_numpy()
    if not bad.any():
        return frame, None, []
    if bad.mean() > vp.max_bad_row_share:
        return frame, None, [f"{int(bad.sum())} of {len(frame)} rows broken ({bad.mean():.0%}), more than "
                             f"validate.max_bad_row_share {vp.max_bad_row_share}; the first: {reasons[bad].iloc[0]}"]
    dropped = frame[bad].copy()
    dropped.insert(0, "_reason", reasons[bad])
    dropped.insert(0, "_row", dropped.index)
    return frame[~bad].reset_index(drop=True), dropped.reset_index(drop=True), []


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


def quarantine_rows(ctx: Context, step: int, dropped: pd.DataFrame) -> Path:
    """Keep the rows dropped from a batch, as read, with their position in it and why (CSV: a person reads it)."""
    dest = ctx.path(layout.QUARANTINE) / f"step-{step:04d}.rows.csv"
    write_csv(dest, dropped)
    return dest


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
