"""One CT step: a checked batch in, drift measured, the decision, and a retrain + release when it matters.

A trigger on rows that carry no labels (a drift of captured traffic) cannot fold them: their rows
wait for their delayed labels (`ctml.ct.awaiting`) and the step is recorded as `awaiting_labels`;
`ctml.ct.labels` retrains once enough of them are labelled.
"""
from __future__ import annotations

import csv
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctml import layout
from ctml.config import Params
from ctml.ct import history, lock, registry, warm
from ctml.ct.awaiting import Store
from ctml.ct.batches import join_key, quarantine, quarantine_rows
from ctml.ct.context import Context, now
from ctml.ct.records import Batch, StepRecord
from ctml.ct.release import gates_result, production_sha, release
from ctml.ct.repo import git, restore_state
from ctml.errors import UserError
from ctml.io import read_json, write_json, write_parquet

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reason: str


def new_record(ctx: Context, step: int, scenario: str, file: str = "", sha: str = "") -> StepRecord:
    return StepRecord(step=step, time=now(), scenario=scenario, status="ok", threshold=ctx.params.ct.threshold,
                      model_version=registry.production_version(ctx.root) or "", file=file, file_sha256=sha)


def begin(ctx: Context, record: StepRecord) -> None:
    """Mark the step in flight (what recovery finishes or undoes) before anything is touched."""
    if ctx.commit:
        lock.mark_inflight(ctx.root, {"phase": "step", "step": record.step, "scenario": record.scenario,
                                      "file": record.file, "file_sha256": record.file_sha256,
                                      "head": git(ctx.root, "rev-parse", "HEAD")})


def stage(ctx: Context, record: StepRecord, frame: pd.DataFrame | None, kind: str, rows: int) -> Path:
    """The batch under check at the staging path, and whose it is beside it (`batch.json`): the drift
    stage measures only a batch of the current lineage. `frame` None: already staged (partitioned)."""
    staged = ctx.path(layout.STAGED_BATCH)
    if frame is not None:
        write_parquet(staged, frame)
    write_json(ctx.path(layout.STAGED_META), {"lineage": layout.data_lineage(ctx.params.data), "source": ctx.params.data.source,
                                              "step": record.step, "kind": kind, "file": record.file, "rows": rows})
    return staged


def measure_drift(ctx: Context, step: int) -> dict[str, Any]:
    """`dvc repro drift` on the staged batch; returns metrics/drift.json."""
    tick = time.perf_counter()
    ctx.reproduce(("drift",), step)
    ctx.detail(f"drift measured in {time.perf_counter() - tick:.2f}s")
    return read_json(ctx.path(layout.DRIFT))


def drifted_features(ctx: Context) -> list[str]:
    """The drifted features of the batch just measured, most drifted first (the order of the drift
    stage's scores plot; metrics/drift.json holds only the summary)."""
    scores = ctx.path(layout.DRIFT_SCORES)
    if not scores.exists():
        return []
    with open(scores, newline="") as handle:
        return [row["feature"] for row in csv.DictReader(handle) if row.get("drifted") == "True"]


def record_measurement(ctx: Context, record: StepRecord, drift: dict[str, Any], rows: int) -> None:
    """The drift measurement's figures on the history row."""
    drifted = drifted_features(ctx)
    if drifted:
        ctx.detail(f"drifted features ({len(drifted)}): {', '.join(drifted[:10])}{' ...' if len(drifted) > 10 else ''}")
    record.top_drifted = "; ".join(drifted[:ctx.params.drift.top_plots])
    performance = drift.get("performance") or {}
    record.drift_score, record.drifted_share = drift.get("drift_score"), drift.get("drifted_share")
    record.out_of_range_share = drift.get("out_of_range_share")
    record.batch_rows, record.batch_accuracy = rows, performance.get("accuracy")
    record.accuracy_drop = performance.get("accuracy_drop")
    record.batch_rmse, record.error_increase = performance.get("rmse"), performance.get("error_increase")
    record.labelled_rows = performance.get("labelled_rows")
    record.estimated_accuracy, record.estimated_drop = performance.get("estimated_accuracy"), performance.get("estimated_drop")
    multi = drift.get("multivariate") or {}
    record.multivariate_score, record.multivariate_drifted = multi.get("score"), bool(multi.get("drifted"))


def performance_trigger(drift: dict[str, Any], params: Params) -> Decision | None:
    """A labelled batch where a classifier's accuracy dropped more than ct.max_accuracy_drop or a
    regressor's RMSE rose more than ct.max_error_increase; None when neither."""
    ct = params.ct
    performance = drift.get("performance") or {}
    drop = performance.get("accuracy_drop")
    if drop is not None and drop > ct.max_accuracy_drop:
        return Decision(True, f"accuracy drop {drop:.3f} > {ct.max_accuracy_drop}")
    increase = performance.get("error_increase")
    if increase is not None and increase > ct.max_error_increase:
        return Decision(True, f"rmse increase {increase:.1%} > {ct.max_error_increase:.0%}")
    return None


def decide(drift: dict[str, Any], params: Params) -> Decision:
    """Retrain on data drift above ct.threshold, on a share of values beyond production's training
    ranges above ct.max_out_of_range_share, on multivariate drift (ct.multivariate_trigger), on a batch
    without labels whose estimated accuracy (CBPE) dropped more than ct.max_estimated_drop, or on a
    performance drop of a labelled batch."""
    ct = params.ct
    score = float(drift.get("drift_score") or 0.0)
    if score > ct.threshold:
        return Decision(True, f"drift {score:.3f} > {ct.threshold}")
    beyond = drift.get("out_of_range_share")
    if beyond is not None and beyond > ct.max_out_of_range_share:
        return Decision(True, f"out of range {beyond:.3f} > {ct.max_out_of_range_share}")
    multi = drift.get("multivariate") or {}
    if ct.multivariate_trigger and multi.get("drifted"):
        return Decision(True, f"multivariate drift: domain classifier AUC {multi['score']:.3f} >= {multi['threshold']}")
    performance = drift.get("performance") or {}
    estimated = performance.get("estimated_drop")
    if not performance.get("labelled") and estimated is not None and estimated > ct.max_estimated_drop:
        return Decision(True, f"estimated accuracy drop {estimated:.3f} > {ct.max_estimated_drop} (CBPE, no labels)")
    return performance_trigger(drift, params) or Decision(False, f"drift {score:.3f} <= {ct.threshold}")


def fold_path(ctx: Context, step: int) -> Path:
    """Where step `step` folds its batch: this lineage's folder of data/batches."""
    return ctx.path(layout.lineage_batches(layout.BATCHES, ctx.params.data) / f"batch-{step:04d}.parquet")


def retrain(ctx: Context, step: int, batch: Path | pd.DataFrame, drift: dict[str, Any] | None, reason: str,
            record: StepRecord) -> None:
    """Fold the batch (a staged file, or labelled rows) into this lineage's training data, reproduce,
    and release only if every blocking gate passes and the candidate learnt from data production did not."""
    folded = fold_path(ctx, step)
    if isinstance(batch, Path):
        folded.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(batch, folded)
    else:
        write_parquet(folded, batch)
    version = registry.next_version(ctx.root)
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
    if not gates.get("passed", False):
        blocked = ",".join(gates.get("blocked_by", []))
        _discard(ctx, step)
        # The record of why, beside the pipeline's own gates.json (which stays production's, so dvc status is clean).
        write_json(ctx.path(layout.BLOCKED_GATES), {"step": step, **gates})
        record.status, record.gates, record.note = "blocked", f"blocked:{blocked}", f"{reason}; candidate blocked by {blocked}"
        return
    released = release(ctx, reason, drift, step)
    record.status, record.retrained, record.gates, record.note = "retrained", True, "passed", reason
    record.model_version = registry.production_version(ctx.root) or released


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
    meta = ctx.path(layout.PRODUCTION / "model.json")
    return read_json(meta).get("train_data_sha256") if production_sha(ctx) else None


def _discard(ctx: Context, step: int) -> None:
    """Throw the candidate away: back to HEAD (or, with --no-commit, without the new batch), then
    re-measure the staged batch against production so dvc.lock matches the workspace again."""
    if ctx.commit:
        restore_state(ctx.root, keep=layout.CT_RECORDS)
    else:  # only this step's fold: earlier folds (their data is never in git, nor, unreleased, their .dvc) stay
        folded = fold_path(ctx, step)
        for path in (folded, folded.with_name(folded.name + ".dvc")):
            path.unlink(missing_ok=True)
    ctx.reproduce(step=step)
    lock.clear_inflight(ctx.root)


def run_step(ctx: Context, step: int, scenario: str, batch: Batch, file: str = "", sha: str = "") -> StepRecord:
    """Check a batch, measure drift, retrain if needed; returns the history record. `file` and
    `sha`: the delivered file it came from, for the history (a simulated batch has none)."""
    record = new_record(ctx, step, scenario, file, sha)
    if not batch.ok:
        where = quarantine(ctx, step, batch, file)
        record.status, record.note = "quarantined", f"{batch.problems[0]} -> {where.relative_to(ctx.root)}"
        return record
    dropped_to = None if batch.dropped is None else quarantine_rows(ctx, step, batch.dropped)  # kept before anything can fail
    record.dropped_rows = None if batch.dropped is None else len(batch.dropped)
    begin(ctx, record)
    staged = stage(ctx, record, None if batch.staged else batch.typed, "batch", batch.rows)
    drift = measure_drift(ctx, step)
    record_measurement(ctx, record, drift, batch.rows)
    decision = decide(drift, ctx.params)
    record.note = decision.reason
    tick = time.perf_counter()
    if decision.retrain and batch.labelled:
        retrain(ctx, step, staged, drift, decision.reason, record)
        ctx.detail(f"retrain ({record.status}) in {time.perf_counter() - tick:.2f}s")
    elif not batch.labelled:
        _keep_for_labels(ctx, record, batch, decision, drift)
    if dropped_to is not None:
        record.note += f"; {record.dropped_rows} broken rows dropped -> {dropped_to.relative_to(ctx.root)}"
    lock.clear_inflight(ctx.root)
    return record


def _keep_for_labels(ctx: Context, record: StepRecord, batch: Batch, decision: Decision, drift: dict[str, Any]) -> None:
    """Rows without labels: kept for their delayed labels when they have an id; a trigger on them
    waits for those labels (or, `ct.unlabelled_trigger: labelled`, retrains at once on the waiting
    rows already labelled)."""
    store = Store.open(ctx.root, layout.data_lineage(ctx.params.data))
    key = join_key(batch.keys, ctx.params.data.id_column)
    trigger = decision.reason if decision.retrain else None
    if key is not None and batch.typed is not None:
        store.add(record.step, store_rows(ctx, batch, key), key, trigger, record.file_sha256)
    if trigger is None:
        store.save()
        return
    waiting = store.labelled(set(store.triggers()))
    if ctx.params.ct.unlabelled_trigger == "labelled" and len(waiting):
        from ctml.ct.labels import labelled_frame

        retrain(ctx, record.step, labelled_frame(ctx, waiting), drift,
                f"{trigger} on rows without labels; retrained on the {len(waiting)} waiting rows already labelled", record)
        store.drop_labelled()
        store.clear_triggers()
    else:
        record.status = "awaiting_labels"
        record.note = (f"{trigger} on rows without labels: the retrain waits for {ctx.params.ct.min_labelled_rows} "
                       f"of them to be labelled (data/labels/, by '{key}')" if key else
                       f"{trigger} on rows without labels or ids: they can only be labelled in their own batch "
                       "(data.id_column names the id delayed labels join on)")
    store.save()


def store_rows(ctx: Context, batch: Batch, key: str) -> pd.DataFrame:
    """What the store keeps of a checked batch: its typed features and the key column."""
    rows = batch.typed
    if key not in rows.columns:
        rows = rows.assign(**{key: batch.keys[key].to_numpy()})
    return rows


def record_step(ctx: Context, record: StepRecord) -> None:
    """Append the step to the history and log it to tracking (the timeline is redrawn per command:
    drawing it costs ~0.2 s, a third of a CT step)."""
    history.append(ctx.path(layout.HISTORY), record)
    if ctx.log is not None:
        step = float(record.step)
        for key in ("drift_score", "out_of_range_share", "batch_accuracy", "accuracy_drop", "batch_rmse", "error_increase",
                    "labelled_rows", "dropped_rows", "estimated_accuracy", "estimated_drop", "multivariate_score"):
            value = getattr(record, key)
            if value is not None:
                ctx.log.series(f"ct/{key}", [float(value)], steps=[step])
        ctx.log.series("ct/retrained", [1.0 if record.retrained else 0.0], steps=[step])
        ctx.log.log(f"ct/steps/{record.step}", {k: v for k, v in record.as_row().items() if v != ""})


def redraw_timeline(ctx: Context) -> None:
    """metrics/ct_timeline.png from the whole history (`dvc plots show` renders the CSV itself)."""
    history.draw_timeline(history.read(ctx.path(layout.HISTORY)), ctx.path(layout.TIMELINE))
