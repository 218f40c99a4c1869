"""Batches in: read, typed like the training data, held to production's schema; the bad ones quarantined,
or only their broken rows (`validate.bad_rows: drop_rows`).

A delivered batch may carry columns that are not data: the row identifier (`data.id_column`) and
the reserved metadata columns (`ctml.ct.records.RESERVED_COLUMNS`, e.g. the server's request id).
They are set aside as the batch's `keys` before the check (so they never fail it), kept row by row
for joining delayed labels, and never staged for drift or folded into training data.

Rows that repeat within a batch are data, measured as they are: served traffic repeats itself (clients
send the same input again) and a resampled test batch does too; a rule that quarantined a batch of
mostly repeated rows quarantined every capture of `ct.py serve` under such a load, and then the labels
fed back for it. A file delivered twice is still caught by its content hash, and retraining on the
same data by the release's same-data guard.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ctml import layout
from ctml.config import ValidateParams
from ctml.ct.context import Context
from ctml.ct.records import Batch
from ctml.ct.step.awaiting import key_columns
from ctml.data.tables import cast_to_kinds
from ctml.io import read_json
from ctml.data.schema import check_frame, recorded_date_formats, recorded_kinds, row_faults

MB = 1 << 20


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
    problems = problems + check_frame(typed, schema, vp, require_target=False)
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


