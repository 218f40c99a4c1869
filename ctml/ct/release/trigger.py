"""The drift measurement that triggered a retrain travels with the release it made.

Why: a release re-runs the drift stage (production changed, and the batch is now part of the reference),
which then compares the batch with itself and says 0.0. The release commit instead holds the drift
outputs (drift.json, its summary, per-feature tests, plots) as measured when the batch was checked, and
dvc.lock records them (`dvc commit drift`), so `dvc metrics diff` / `dvc plots diff` between two version
tags show why the newer one exists, and `dvc status` stays clean. The next batch re-measures as usual;
`dvc repro -f drift` at a release commit measures the folded batch against the new reference.
"""
from __future__ import annotations

import shutil

from ctml import layout
from ctml.ct.context import Context
from ctml.ct.repo import warm


def keep(ctx: Context) -> None:
    """Copy the drift outputs of the measurement just made (before a retrain reproduces the pipeline)."""
    folder = ctx.path(layout.TRIGGER)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for rel in layout.DRIFT_OUTPUTS:
        src = ctx.path(rel)
        if src.is_dir():
            shutil.copytree(src, folder / rel.name)
        elif src.exists():
            shutil.copy2(src, folder / rel.name)


def restore(ctx: Context) -> bool:
    """Put the kept outputs back over the re-measured ones and record them in dvc.lock; False (nothing
    changed) when none were kept. The copy is removed either way."""
    folder = ctx.path(layout.TRIGGER)
    if not (folder / layout.DRIFT.name).exists():
        return False
    for rel in layout.DRIFT_OUTPUTS:
        kept, dest = folder / rel.name, ctx.path(rel)
        if kept.is_dir():
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(kept, dest)
        elif kept.exists():
            shutil.copy2(kept, dest)
    warm.commit(ctx.root, layout.DRIFT_STAGE)
    drop(ctx)
    return True


def drop(ctx: Context) -> None:
    """Forget a kept measurement (the candidate was thrown away)."""
    shutil.rmtree(ctx.path(layout.TRIGGER), ignore_errors=True)
