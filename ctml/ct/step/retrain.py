"""A retrain: the batch folded into the lineage's training data, the pipeline reproduced, the candidate
gated, and released (into production, or with `release.mode: shadow` into shadow) or thrown away."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ctml import layout
from ctml.ct.context import Context
from ctml.ct.records import StepRecord
from ctml.ct.release import shadow, tags, trigger
from ctml.ct.release.production import current, current_version
from ctml.ct.release.promotion import gates_result, release
from ctml.ct.repo import lock, warm
from ctml.ct.repo.vcs import restore_state
from ctml.errors import UserError
from ctml.io import read_json, write_json, write_parquet

if TYPE_CHECKING:
    import pandas as pd

    from ctml.drift.results import DriftSummary


def fold_path(ctx: Context, step: int) -> Path:
    """Where step `step` folds its batch: this lineage's folder of data/batches."""
    return ctx.path(layout.lineage_batches(layout.BATCHES, ctx.params.data) / f"batch-{step:04d}.parquet")


def retrain(ctx: Context, step: int, batch: Path | pd.DataFrame, drift: DriftSummary | None, reason: str,
            record: StepRecord) -> None:
    """Fold the batch (a staged file, or labelled rows) into this lineage's training data, reproduce,
    and release only if every blocking gate passes and the candidate learnt from data production did not."""
    folded = fold_path(ctx, step)
    if isinstance(batch, Path):
        folded.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(batch, folded)
    else:
        write_parquet(folded, batch)
    version = tags.next_version(tags.of(ctx))
    trigger.keep(ctx)  # what the release commit will hold as its drift outputs
    try:
        warm.add(ctx.root, folded.relative_to(ctx.root))
        annotate_fold(folded, record, ctx.params.data.source)
        ctx.reproduce(step=step, version=version)
        gates = gates_result(ctx)
    except UserError as exc:
        _discard(ctx, step)
        record.status, record.note = "failed", str(exc)
        return
    if read_json(ctx.path(layout.MODEL_META)).get("train_data_sha256") == _production_data(ctx):
        _discard(ctx, step)
        record.status, record.gates, record.note = "blocked", "blocked:same_data", \
            f"{reason}; the candidate learnt from the data production learnt from: not released"
        return
    if not gates.passed:
        blocked = ",".join(gates.blocked_by)
        _discard(ctx, step)
        # The record of why, beside the pipeline's own gates.json (which stays production's, so dvc status is clean).
        write_json(ctx.path(layout.BLOCKED_GATES), {"step": step, **gates.as_json()})
        record.status, record.gates, record.note = "blocked", f"blocked:{blocked}", f"{reason}; candidate blocked by {blocked}"
        return
    production = current_version(ctx)
    if ctx.params.release.mode == "shadow" and production is not None and ctx.commit:
        released = shadow.release_shadow(ctx, reason, drift, step)
        record.status, record.retrained, record.gates, record.model_version = "retrained", True, "passed", released
        record.note = f"{reason}; {released} in shadow beside production {production} (release.mode: shadow)"
        return
    released = release(ctx, reason, drift, step)
    record.status, record.retrained, record.gates, record.note = "retrained", True, "passed", reason
    record.model_version = current_version(ctx) or released


def annotate_fold(folded: Path, record: StepRecord, source: str) -> None:
    """Which step, delivered file (and its hash) and source a folded batch came from, in its .dvc
    file's `meta` (DVC keeps it and ignores it): `lineage` lists it, and a re-delivery of the same
    bytes is recognised as a duplicate even when the step's history row was never written."""
    import yaml

    pointer = folded.with_name(folded.name + ".dvc")
    content = yaml.safe_load(pointer.read_text())
    content["meta"] = {"step": record.step, "source": source, "file": record.file, "file_sha256": record.file_sha256}
    pointer.write_text(yaml.safe_dump(content, sort_keys=False))


def _production_data(ctx: Context) -> str | None:
    prod = current(ctx)
    return prod.train_data_sha256 if prod is not None and prod.sha256 else None


def _discard(ctx: Context, step: int) -> None:
    """Throw the candidate away: back to HEAD (or, with --no-commit, without the new batch), then
    re-measure the staged batch against production so dvc.lock matches the workspace again."""
    trigger.drop(ctx)
    if ctx.commit:
        restore_state(ctx.root, keep=layout.CT_RECORDS)
        tags.forget(ctx)
    else:  # only this step's fold: earlier folds (their data is never in git, nor, unreleased, their .dvc) stay
        folded = fold_path(ctx, step)
        for path in (folded, folded.with_name(folded.name + ".dvc")):
            path.unlink(missing_ok=True)
    ctx.reproduce(step=step)
    lock.clear_inflight(ctx.root)
