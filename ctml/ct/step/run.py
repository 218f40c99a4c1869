"""One CT step: a checked batch in, drift measured, the decision, and a retrain + release when it matters.

A trigger on rows that carry no labels (a drift of captured traffic) cannot fold them: their rows
wait for their delayed labels (`ctml.ct.step.awaiting`) and the step is recorded as `awaiting_labels`;
`ctml.ct.step.labels` retrains once enough of them are labelled.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ctml import layout
from ctml.ct import history
from ctml.ct.context import Context
from ctml.ct.records import Batch, StepRecord
from ctml.ct.repo import lock
from ctml.ct.step.awaiting import Store, join_key
from ctml.ct.step.decide import Decision, decide
from ctml.ct.step.measure import begin, measure_drift, new_record, record_decision, record_measurement, stage
from ctml.ct.step.quarantine import quarantine, quarantine_rows
from ctml.ct.step.retrain import retrain

if TYPE_CHECKING:
    import pandas as pd

    from ctml.drift.results import DriftSummary


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
    record_decision(record, decision.fired)
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


def _keep_for_labels(ctx: Context, record: StepRecord, batch: Batch, decision: Decision, drift: DriftSummary) -> None:
    """Rows without labels: kept for their delayed labels when they have an id; a trigger on them
    waits for those labels (or, `ct.unlabelled_trigger: labelled`, retrains at once on the waiting
    rows already labelled)."""
    store = Store.open(ctx.root, layout.data_lineage(ctx.params.data))
    key = join_key(batch.keys, ctx.params.data.id_column)
    trigger = decision.reason if decision.retrain else None
    if key is not None and batch.typed is not None:
        store.add(record.step, store_rows(ctx, batch, key), key, trigger, record.file_sha256)
        if early := store.apply_early(ctx.params.ct.label_wait_hours):
            record.note += f"; {early} rows labelled by labels delivered before them"
    if trigger is None:
        store.save()
        return
    waiting = store.labelled(set(store.triggers()))
    enough = len(waiting) >= ctx.params.ct.min_labelled_rows  # labels that came first may already be enough
    if (ctx.params.ct.unlabelled_trigger == "labelled" and len(waiting)) or enough:
        from ctml.ct.step.labels import labelled_frame

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
    """Append the step to the history and log it to tracking (the timeline is rewritten once per command)."""
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


def rewrite_timeline(ctx: Context) -> None:
    """metrics/ct_timeline.csv from the whole history: what `dvc plots show` draws."""
    history.write_timeline(history.read(ctx.path(layout.HISTORY)), ctx.path(layout.TIMELINE))
