"""The quarantine: a bad batch (or label file) moved aside with its reason, and the broken rows dropped from
a good one; training data never sees them."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ctml import layout
from ctml.ct.context import Context
from ctml.ct.records import Batch
from ctml.io import write_csv, write_parquet

if TYPE_CHECKING:
    import pandas as pd


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
