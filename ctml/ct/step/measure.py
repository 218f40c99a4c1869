"""A step's measurement: the step marked in flight, its batch staged, `dvc repro drift` run, and its figures
on the history row."""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ctml import layout
from ctml.ct.context import Context, now
from ctml.ct.records import StepRecord
from ctml.ct.release.production import current_version
from ctml.ct.repo import lock
from ctml.ct.repo.vcs import git
from ctml.ct.step.decide import Trigger
from ctml.drift.results import DriftSummary
from ctml.io import read_json, write_json, write_parquet

if TYPE_CHECKING:
    import pandas as pd


def new_record(ctx: Context, step: int, scenario: str, file: str = "", sha: str = "") -> StepRecord:
    return StepRecord(step=step, time=now(), scenario=scenario, status="ok", threshold=ctx.params.ct.threshold,
                      model_version=current_version(ctx) or "", file=file, file_sha256=sha,
                      lineage=layout.data_lineage(ctx.params.data))


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


def measure_drift(ctx: Context, step: int) -> DriftSummary:
    """`dvc repro --single-item drift` on the staged batch; returns metrics/drift.json, typed.

    Single item: the command brought the whole pipeline up to date before its first step
    (`ensure_baseline`), and within a command only a retrain changes what drift depends on, and it
    reproduces the whole pipeline itself. Checking drift's six ancestors again on every step found
    nothing to do and cost a third of a no-drift step."""
    tick = time.perf_counter()
    ctx.reproduce((layout.DRIFT_STAGE,), step, single_item=True)
    ctx.detail(f"drift measured in {time.perf_counter() - tick:.2f}s")
    return DriftSummary.from_json(read_json(ctx.path(layout.DRIFT)))


def drifted_features(ctx: Context) -> list[str]:
    """The drifted features of the batch just measured, most drifted first (the order of the drift
    stage's scores plot; metrics/drift.json holds only the summary)."""
    scores = ctx.path(layout.DRIFT_SCORES)
    if not scores.exists():
        return []
    with open(scores, newline="") as handle:
        return [row["feature"] for row in csv.DictReader(handle) if row.get("drifted") == "True"]


def record_measurement(ctx: Context, record: StepRecord, drift: DriftSummary, rows: int) -> None:
    """The drift measurement's figures on the history row."""
    drifted = drifted_features(ctx)
    if drifted:
        ctx.detail(f"drifted features ({len(drifted)}): {', '.join(drifted[:10])}{' ...' if len(drifted) > 10 else ''}")
    record.top_drifted = "; ".join(drifted[:ctx.params.drift.top_plots])
    performance = drift.performance
    record.drift_score, record.drifted_share = drift.drift_score, drift.drifted_share
    record.out_of_range_share = drift.out_of_range_share
    record.batch_rows, record.batch_accuracy = rows, performance.accuracy
    record.accuracy_drop = performance.accuracy_drop
    record.batch_rmse, record.error_increase = performance.rmse, performance.error_increase
    record.labelled_rows = performance.labelled_rows
    record.estimated_accuracy, record.estimated_drop = performance.estimated_accuracy, performance.estimated_drop
    record.multivariate_score, record.multivariate_drifted = drift.multivariate.score, drift.multivariate.drifted


def record_decision(record: StepRecord, fired: tuple[Trigger, ...]) -> None:
    """The triggers a measurement fired, on the history row (what alerts and the report read)."""
    record.triggers = "; ".join(t.name for t in fired)
