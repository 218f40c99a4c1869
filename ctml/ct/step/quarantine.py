"""The quarantine: a bad batch (or label file) moved aside with its reason, and the broken rows dropped from
a good one; training data never sees them.

Nothing here overwrites: every file gets a name no other has (`step-NNNN`, then `step-NNNN.2`, ... when
a step number was used before, e.g. by a step a kill cut short), and the reason file is written
atomically before the batch moves beside it, so a quarantined batch always has its reason and a
kill leaves no empty one.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ctml import layout
from ctml.ct.context import Context
from ctml.ct.records import Batch
from ctml.io import atomic_path, shown, write_csv, write_parquet

if TYPE_CHECKING:
    import pandas as pd

SUFFIX_CHARS = 16  # a longer "extension" of a delivered name is no extension: the batch keeps none


def _free_stem(folder: Path, step: int, suffixes: tuple[str, ...]) -> str:
    """`step-NNNN` (or `step-NNNN.N`) such that no file of that stem and any of `suffixes` exists."""
    n, stem = 1, f"step-{step:04d}"
    while any(os.path.lexists(folder / f"{stem}{suffix}") for suffix in suffixes):
        n += 1
        stem = f"step-{step:04d}.{n}"
    return stem


def quarantine_rows(ctx: Context, step: int, dropped: pd.DataFrame) -> Path:
    """Keep the rows dropped from a batch, as read, with their position in it and why (CSV: a person reads it)."""
    folder = ctx.path(layout.QUARANTINE)
    dest = folder / f"{_free_stem(folder, step, ('.rows.csv',))}.rows.csv"
    write_csv(dest, dropped)
    return dest


def quarantine(ctx: Context, step: int, batch: Batch, delivered: str = "") -> Path:
    """Move a bad batch (or label file) aside with a reason file; training data never sees it."""
    folder = ctx.path(layout.QUARANTINE)
    folder.mkdir(parents=True, exist_ok=True)
    source = batch.source if batch.source is not None and os.path.lexists(batch.source) else None
    suffix = source.suffix if source is not None else ".parquet"
    suffix = shown(suffix) if len(suffix) <= SUFFIX_CHARS and shown(suffix) == suffix else ""
    stem = _free_stem(folder, step, (".reason.txt", suffix))
    lines = [*batch.problems, *([f"delivered as {delivered}"] if delivered else [])]
    with atomic_path(folder / f"{stem}.reason.txt") as tmp:  # first: a moved batch always has its reason
        tmp.write_text(shown("\n".join(lines) + "\n"))
    dest = folder / f"{stem}{suffix}"
    if source is not None:
        shutil.move(str(source), dest)
    elif batch.raw is not None:
        write_parquet(dest, batch.raw)
    return dest
