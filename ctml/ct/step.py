"""One CT step: a checked batch in, drift measured, the decision, and a retrain + release when it matters."""
from __future__ import annotations

import csv
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctml import layout
from ctml.config import Params
from ctml.ct import history, lock, registry, warm
from ctml.ct.batches import quarantine
from ctml.ct.context import Context, now
from ctml.ct.records import Batch, StepRecord
from ctml.ct.release import gates_result, release
from ctml.ct.repo import git, restore_state
from ctml.errors import UserError
from ctml.io import read_json, write_json, write_parquet

@dataclass(frozen=True)
class Decision:
    retrain: bool
    reason: str


def measure_drift(ctx: Context, step: int) -> dict[str, Any]:
    """`dvc repro drift` on the staged batch; returns metrics/drift.json."""
    ctx.reproduce(("drift",), step)
    return read_json(ctx.path(layout.DRIFT))


def drifted_features(ctx: Context) -> list[str]:
    """The drifted features of the batch just measured, most drifted first (the order of the drift
    stage's scores plot; metrics/drift.json holds only the summary)."""
    scores = ctx.path(layout.DRIFT_SCORES)
    if not scores.exists():
        return []
    with open(scores, newline="") as handle:
        return [row["feature"] for row in csv.DictReader(handle) if row.get("drifted") == "True"]


def decide(drift: dict[str, Any], params: Params) -> Decision:
    """Retrain on data drift above ct.threshold, on multivariate drift (ct.multivariate_trigger), on a
    labelled batch where a classifier's accuracy dropped more than ct.max_accuracy_drop or a regressor's
    RMSE rose more than ct.max_error_increase, or on a batch without labels whose estimated accuracy
    (CBPE) dropped more than ct.max_estimated_drop."""
    ct = params.ct
    score = float(drift.get("drift_score") or 0.0)
    if score > ct.threshold:
        return Decision(True, f"drift {score:.3f} > {ct.threshold}")
    multi = drift.get("multivariate") or {}
    if ct.multivariate_trigger and multi.get("drifted"):
        return Decision(True, f"multivariate drift: domain classifier AUC {multi['score']:.3f} >= {multi['threshold']}")
    performance = drift.get("performance") or {}
    estimated = performance.get("estimated_drop")
    if not performance.get("labelled") and estimated is not None and estimated > ct.max_estimated_drop:
        return Decision(True, f"estimated accuracy drop {estimated:.3f} > {ct.max_estimated_drop} (CBPE, no labels)")
    drop = performance.get("accuracy_drop")
    if drop is not None and drop > ct.max_accuracy_drop:
        return Decision(True, f"accuracy drop {drop:.3f} > {ct.max_accuracy_drop}")
    increase = performance.get("error_increase")
    if increase is not None and increase > ct.max_error_increase:
        return Decision(True, f"rmse increase {increase:.1%} > {ct.max_error_increase:.0%}")
    return Decision(False, f"drift {score:.3f} <= {ct.threshold}")


def retrain(ctx: Context, step: int, batch: Path, drift: dict[str, Any], reason: str, record: StepRecord) -> None:
    """Fold the batch into training, reproduce, and release only if every blocking gate passes."""
    folded = ctx.path(layout.BATCHES / f"batch-{step:04d}.parquet")
    shutil.copy2(batch, folded)
    version = registry.next_version(ctx.root)
    try:
        warm.add(ctx.root, folded.relative_to(ctx.root))
        ctx.reproduce(step=step, version=version)
        gates = gates_result(ctx)
    except UserError as exc:
        _discard(ctx, step)
        record.status, record.note = "failed", str(exc)
        return
    if not gates.get("passed", False):
        blocked = ",".join(gates.get("blocked_by", []))
        _discard(ctx, step)
        # The record of why, beside the pipeline's own gates.json (which stays production's, so dvc status is clean).
        write_json(ctx.path(layout.BLOCKED_GATES), {"step": step, **gates})
        record.status, record.gates, record.note = "blocked", f"blocked:{blocked}", f"{reason}; candidate blocked by {blocked}"
        return
    released = release(ctx, reason, drift, step)
    record.status, record.retrained, record.gates = "retrained", True, "passed"
    record.model_version = registry.production_version(ctx.root) or released


def _discard(ctx: Context, step: int) -> None:
    """Throw the candidate away: back to HEAD (or, with --no-commit, without the new batch), then
    re-measure the staged batch against production so dvc.lock matches the workspace again."""
    if ctx.commit:
        restore_state(ctx.root, keep=layout.CT_RECORDS)
    else:
        for path in ctx.path(layout.BATCHES).glob("batch-*"):
            if not git(ctx.root, "ls-files", "--", str(path.relative_to(ctx.root))):
                path.unlink()
    ctx.reproduce(step=step)
    lock.clear_inflight(ctx.root)


def run_step(ctx: Context, step: int, scenario: str, batch: Batch) -> StepRecord:
    """Check a batch, measure drift, retrain if needed; returns the history record."""
    record = StepRecord(step=step, time=now(), scenario=scenario, status="ok", threshold=ctx.params.ct.threshold,
                        model_version=registry.production_version(ctx.root) or "")
    if not batch.ok:
        where = quarantine(ctx, step, batch)
        record.status, record.note = "quarantined", f"{batch.problems[0]} -> {where.relative_to(ctx.root)}"
        return record
    if ctx.commit:
        lock.mark_inflight(ctx.root, {"phase": "step", "step": step, "scenario": scenario,
                                      "head": git(ctx.root, "rev-parse", "HEAD")})
    staged = ctx.path(layout.STAGED_BATCH)
    write_parquet(staged, batch.typed)
    tick = time.perf_counter()
    drift = measure_drift(ctx, step)
    ctx.detail(f"drift measured in {time.perf_counter() - tick:.2f}s")
    drifted = drifted_features(ctx)
    if drifted:
        ctx.detail(f"drifted features ({len(drifted)}): {', '.join(drifted[:10])}{' ...' if len(drifted) > 10 else ''}")
    record.top_drifted = "; ".join(drifted[:ctx.params.drift.top_plots])
    performance = drift.get("performance") or {}
    record.drift_score, record.drifted_share = drift.get("drift_score"), drift.get("drifted_share")
    record.batch_rows, record.batch_accuracy = len(batch.typed), performance.get("accuracy")
    record.accuracy_drop = performance.get("accuracy_drop")
    record.batch_rmse, record.error_increase = performance.get("rmse"), performance.get("error_increase")
    record.estimated_accuracy, record.estimated_drop = performance.get("estimated_accuracy"), performance.get("estimated_drop")
    multi = drift.get("multivariate") or {}
    record.multivariate_score, record.multivariate_drifted = multi.get("score"), bool(multi.get("drifted"))
    decision = decide(drift, ctx.params)
    record.note = decision.reason
    if decision.retrain:
        tick = time.perf_counter()
        retrain(ctx, step, staged, drift, decision.reason, record)
        ctx.detail(f"retrain ({record.status}) in {time.perf_counter() - tick:.2f}s")
    lock.clear_inflight(ctx.root)
    return record


def record_step(ctx: Context, record: StepRecord) -> None:
    """Append the step to the history and log it to tracking (the timeline is redrawn per command:
    drawing it costs ~0.2 s, a third of a CT step)."""
    history.append(ctx.path(layout.HISTORY), record)
    if ctx.log is not None:
        step = float(record.step)
        for key in ("drift_score", "batch_accuracy", "accuracy_drop", "batch_rmse", "error_increase", "estimated_accuracy",
                    "estimated_drop", "multivariate_score"):
            value = getattr(record, key)
            if value is not None:
                ctx.log.series(f"ct/{key}", [float(value)], steps=[step])
        ctx.log.series("ct/retrained", [1.0 if record.retrained else 0.0], steps=[step])
        ctx.log.log(f"ct/steps/{record.step}", {k: v for k, v in record.as_row().items() if v != ""})


def redraw_timeline(ctx: Context) -> None:
    """metrics/ct_timeline.png from the whole history (`dvc plots show` renders the CSV itself)."""
    history.draw_timeline(history.read(ctx.path(layout.HISTORY)), ctx.path(layout.TIMELINE))
