"""Batches in: read, typed like the training data, held to production's schema; the bad ones quarantined,
or only their broken rows (`validate.bad_rows: drop_rows`).

A delivered batch may carry columns that are not data: the row identifier (`data.id_column`) and
the reserved metadata columns (`ctml.ct.records.RESERVED_COLUMNS`, e.g. the server's request id).
They are set aside as the batch's `keys` before the check (so they never fail it), kept row by row
for joining delayed labels, and never staged for drift or folded into training data.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from ctml import layout
from ctml.config import ValidateParams
from ctml.ct.context import Context
from ctml.ct.records import REQUEST_ID, Batch, is_reserved
from ctml.data import cast_to_kinds
from ctml.errors import UserError
from ctml.io import read_json, read_table, write_csv, write_parquet
from ctml.schema import check_frame, recorded_date_formats, recorded_kinds, row_faults

MAX_DUPLICATE_SHARE = 0.5  # a batch mostly made of repeated rows is a feed fault, not production data
MB = 1 << 20


def key_columns(columns: list[str], schema: dict[str, Any], id_column: str) -> tuple[list[str], list[str]]:
    """(columns set aside as keys, of those the ones that are not data): the id column and reserved ones.

    An id column the schema recorded as a feature (a source that had it before `data.id_column`
    named it) stays in the data too, so the batch still matches the schema it was recorded with.
    """
    keys = [c for c in columns if is_reserved(c) or (id_column and c == id_column)]
    return keys, [c for c in keys if c not in schema["columns"]]


def join_key(keys: pd.DataFrame | None, id_column: str) -> str | None:
    """The column delayed labels join on: data.id_column, else the server's request id; None when
    the batch has neither (its rows can only be labelled in their own batch)."""
    if keys is None:
        return None
    for name in (id_column, REQUEST_ID):
        if name and name in keys.columns and keys[name].notna().all():
            return name
    return None


def prepare_batch(frame: pd.DataFrame, ctx: Context, source: Path | None = None,
                  schema: dict[str, Any] | None = None) -> Batch:
    """Type a batch by the kinds the schema recorded, as the drift stage does, and hold it to the
    schema of the production model (its ranges are those of production's training data); labels
    are optional. A value that does not parse as its column's kind leaves that column as given,
    which the schema check reports with the value. Under `validate.bad_rows: drop_rows` the broken
    rows are split off first (unless they are more than `validate.max_bad_row_share`) and the rest
    is checked."""
    if schema is None:
        schema = read_json(layout.serving_schema(ctx.path(layout.PRODUCTION), ctx.path(layout.SCHEMA)))
    frame = frame.rename(columns=str)
    vp = ctx.params.validate_
    kept, dropped, problems = (split_broken_rows(frame, schema, vp) if vp.bad_rows == "drop_rows"
                               else (frame.reset_index(drop=True), None, []))
    keys, aside = key_columns(list(kept.columns), schema, ctx.params.data.id_column)
    data = kept.drop(columns=aside)
    typed, _ = cast_to_kinds(data, recorded_kinds(schema), label=schema["target"], date_formats=recorded_date_formats(schema))
    problems = problems + check_frame(typed, schema, vp, require_target=False) or duplicate_problem(typed)
    return Batch(source, frame, None if problems else typed.reset_index(drop=True), problems,
                 dropped=None if problems else dropped, keys=kept[keys] if keys else None, rows=len(kept),
                 labelled=schema["target"] in typed.columns)


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


def read_delivered(ctx: Context, path: Path) -> Batch:
    """A delivered batch file, read and checked. One larger than `ct.max_batch_mb` is never loaded:
    with `compute.engine: dask` it is checked and staged a partition at a time, else refused."""
    size = path.stat().st_size
    limit = ctx.params.ct.max_batch_mb
    if size > limit * MB:
        if ctx.params.compute.engine == "dask":
            from ctml.ct.partitioned import stage_partitioned

            return stage_partitioned(ctx, path)
        return Batch(path, None, None, [f"{path.name}: {size / MB:.1f} MB, above ct.max_batch_mb ({limit:g}): too big to "
                                        "check in memory (compute.engine: dask checks it a partition at a time)"])
    try:
        frame = read_table(path)
    except UserError as exc:
        return Batch(path, None, None, [str(exc).replace(f"{ctx.root}/", "")])  # the file named as delivered
    return prepare_batch(frame, ctx, source=path)


def quarantine_rows(ctx: Context, step: int, dropped: pd.DataFrame) -> Path:
    """Keep the rows dropped from a batch, as read, with their position in it and why (CSV: a person reads it)."""
    dest = ctx.path(layout.QUARANTINE) / f"step-{step:04d}.rows.csv"
    write_csv(dest, dropped)
    return dest


def quarantine(ctx: Context, step: int, batch: Batch, delivered: str = "") -> Path:
    """Move a bad batch (or label file) aside with a reason file; training data never sees it."""
    folder = ctx.path(layout.QUARANTINE)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"step-{step:04d}"
    lines = [*batch.problems, *([f"delivered as {delivered}"] if delivered else [])]
    (folder / f"{stem}.reason.txt").write_text("\n".join(lines) + "\n")  # first: a moved batch always has its reason
    if batch.source is not None and batch.source.exists():
        dest = folder / f"{stem}{batch.source.suffix}"
        shutil.move(str(batch.source), dest)
    else:
        dest = folder / f"{stem}.parquet"
        if batch.raw is not None:
            write_parquet(dest, batch.raw)
    return dest
