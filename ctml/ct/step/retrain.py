"""A retrain: the batch folded into the lineage's training data, the pipeline reproduced, the candidate
gated, and released (into production, or with `release.mode: shadow` into shadow) or thrown away."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ctml import layout
from ctml.ct.context import Context
from ctml.ct.records import StepRecord
from ctml.ct.release import shadow, tags, trigger
from ctml.ct.release.production import current, current_version
from ctml.ct.release.promotion import gates_result, release
from ctml.ct.repo import lock
from ctml.ct.repo.vcs import restore_state
from ctml.ct.step.fold import Saved, fold, track, unfold
from ctml.errors import UserError
from ctml.io import read_json, write_json

if TYPE_CHECKING:
    import pandas as pd

    from ctml.drift.results import DriftSummary


def retrain(ctx: Context, step: int, batch: Path | pd.DataFrame, drift: DriftSummary | None, reason: str,
            record: StepRecord) -> None:
    """Fold the batch (a staged file, or labelled rows) into this lineage's training data, reproduce,
    and release only if every blocking gate passes and the candidate learnt from data production did not."""
    folded, saved = fold(ctx, step, batch)
    version = tags.next_version(tags.of(ctx))
    trigger.keep(ctx)  # what the release commit will hold as its drift outputs
    try:
        track(ctx, folded, record)
        ctx.reproduce(layout.CANDIDATE_TARGETS, step=step, version=version)
        gates = gates_result(ctx)
    except UserError as exc:
        _discard(ctx, step, folded, saved)
        record.status, record.note = "failed", str(exc)
        return
    if read_json(ctx.path(layout.MODEL_META)).get("train_data_sha256") == _production_data(ctx):
        _discard(ctx, step, folded, saved)
        record.status, record.gates, record.note = "blocked", "blocked:same_data", \
            f"{reason}; the candidate learnt from the data production learnt from: not released"
        return
    if not gates.passed:
        blocked = ",".join(gates.blocked_by)
        _discard(ctx, step, folded, saved)
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


def _production_data(ctx: Context) -> str | None:
    prod = current(ctx)
    return prod.train_data_sha256 if prod is not None and prod.sha256 else None


def _discard(ctx: Context, step: int, folded: Path, saved: Saved) -> None:
    """Throw the candidate away: back to HEAD (or, with --no-commit, without the new batch), then
    re-measure the staged batch against production so dvc.lock matches the workspace again."""
    trigger.drop(ctx)
    if ctx.commit:
        restore_state(ctx.root, keep=layout.CT_RECORDS)
        tags.forget(ctx)
    else:  # only this step's fold: earlier folds (their data is never in git, nor, unreleased, their records) stay
        unfold(folded, saved)
    ctx.reproduce(step=step)
    lock.clear_inflight(ctx.root)
