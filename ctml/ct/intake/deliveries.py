"""Deliveries in: every ready file of the inboxes processed exactly once, oldest first, one CT step
each (`ct.py check`, and each round of `ct.py watch`). With a model in shadow, the decision on it comes
first (`ctml.ct.step.trial`): its evidence is what the server answered, taken from the deliveries
before their steps measure anything against the production that decision leaves.

Exactly once: a processed file leaves its inbox (archived, or quarantined), and a file whose bytes
were processed before (its sha256 in the history, or in a folded batch's .dvc `meta`) is recorded
as a duplicate of that step and archived, never checked or folded again. A step that failed (or
was interrupted and undone) does not count as processed: the same bytes delivered again are retried.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from ctml import layout
from ctml.ct import history
from ctml.ct.context import Context
from ctml.ct.intake import inbox
from ctml.ct.intake.batches import MB, prepare_batch
from ctml.ct.intake.inbox import Delivery
from ctml.ct.intake.partitioned import stage_partitioned
from ctml.ct.records import DELIVERED, Batch, StepRecord
from ctml.ct.release.shadow import Shadow
from ctml.ct.step import alerts, trial
from ctml.ct.step.labels import run_label_step
from ctml.ct.step.run import new_record, record_step, redraw_timeline, run_step
from ctml.errors import UserError
from ctml.io import read_json, read_table, sha256_file

NOT_PROCESSED = ("failed", "duplicate")  # statuses whose file may come again (retried, or already pointing elsewhere)


def processed(root: Path) -> dict[str, int]:
    """sha256 -> the step that processed those bytes: from the history, and from the folded batches'
    .dvc `meta` (a release whose history row a kill prevented)."""
    import yaml

    seen: dict[str, int] = {}
    for record in history.read(root / layout.HISTORY):
        if record.file_sha256 and record.status not in NOT_PROCESSED:
            seen.setdefault(record.file_sha256, record.step)
    for pointer in sorted((root / layout.BATCHES).rglob("*.parquet.dvc")):
        meta = (yaml.safe_load(pointer.read_text()) or {}).get("meta") or {}
        if meta.get("file_sha256"):
            seen.setdefault(meta["file_sha256"], int(meta.get("step") or 0))
    return seen


def process(ctx: Context, deliveries: list[Delivery], stop: threading.Event | None = None) -> list[StepRecord]:
    """One step per delivery, in order; stops between steps once `stop` is set."""
    from ctml.ct.reporting.console import progress_line

    seen = processed(ctx.root)
    first = history.next_step(ctx.path(layout.HISTORY))
    records: list[StepRecord] = []
    for delivery in deliveries:
        if stop is not None and stop.is_set():
            break
        if not delivery.path.exists():  # taken away since the inbox was listed
            continue
        step, tick = first + len(records), time.perf_counter()
        sha = sha256_file(delivery.path)
        record = one_step(ctx, step, delivery, sha, seen)
        if delivery.path.exists():  # not quarantined: out of the inbox, beside its step number and hash
            inbox.archive(ctx.root, delivery, step, sha)
        send_step_alerts(ctx, record)
        record_step(ctx, record)
        if record.status not in NOT_PROCESSED:
            seen.setdefault(sha, step)
        records.append(record)
        ctx.say(progress_line(len(records), len(deliveries), record, time.perf_counter() - tick))
    return records


def one_step(ctx: Context, step: int, delivery: Delivery, sha: str, seen: dict[str, int]) -> StepRecord:
    scenario = DELIVERED[delivery.kind]
    if sha in seen:
        record = new_record(ctx, step, scenario, delivery.rel, sha)
        record.status, record.note = "duplicate", f"duplicate of step {seen[sha]} (same sha256); not checked again"
        return record
    if delivery.kind == "labels":
        return run_label_step(ctx, step, delivery.path, delivery.rel, sha)
    return run_step(ctx, step, scenario, read_delivered(ctx, delivery.path), delivery.rel, sha)


def send_step_alerts(ctx: Context, record: StepRecord) -> None:
    """The alerts a step raises, sent now; a delivery that failed is noted on the step's history row."""
    gates = {}
    if record.status in ("retrained", "blocked"):
        path = ctx.path(layout.GATES if record.status == "retrained" else layout.BLOCKED_GATES)
        gates = read_json(path) if path.exists() else {}
    for event, text in alerts.step_events(record, ctx.params, gates):
        details = {"status": record.status, "drift_score": record.drift_score, "threshold": record.threshold,
                   "file": record.file, "note": record.note}
        failure = ctx.alert(event, text, record.step, record.model_version, details)
        if failure:
            record.note = f"{record.note}; {failure}" if record.note else failure


def check(ctx: Context, stop: threading.Event | None = None) -> list[StepRecord]:
    """What `ct.py check` does once the lock is held: the baseline up to date (and released when the
    source changed), then every ready delivery, one step each, committed together."""
    from ctml import tracking
    from ctml.ct.release.promotion import ensure_baseline
    from ctml.ct.repo.vcs import commit_state

    with tracking.stage_run("ct", ctx.params, section="ct", pipeline=ctx.pipeline_id) as run_log:
        ctx.log = run_log
        found = trial.in_force(ctx)  # a shadow whose model file is missing or changed: refused before anything
        ensure_baseline(ctx)
        pending = inbox.pending(ctx.root)
        decided = None
        if found is not None:  # decided on what was served before the deliveries' steps measure anything
            trial.collect(ctx, found, [(d.kind, d.path) for d in pending])
            decided = decide_shadow(ctx, found)
        records = ([decided] if decided else []) + process(ctx, pending, stop)
        if records:
            redraw_timeline(ctx)
        if ctx.commit and records:
            steps = f"step {records[0].step}" if len(records) == 1 else f"steps {records[0].step}-{records[-1].step}"
            commit_state(ctx.root, f"ct: record {steps} (check)")
        run_log.log("ct/summary", {"steps": len(records), "retrains": sum(r.retrained for r in records),
                                   "versions": ",".join(ctx.created), "scenario": "check"})
    return records


def decide_shadow(ctx: Context, found: Shadow) -> StepRecord | None:
    """The shadow in force promoted or retired once its evidence says so (ctml.ct.step.trial)."""
    proof, record = trial.decide(ctx, found)
    if record is None:
        ctx.say(f"shadow {found.version}: waits: {proof.reason}")
    else:
        ctx.say(f"shadow {found.version}: {record.status.replace('_', ' ')}: {record.note}")
    return record


def run_check(ctx: Context, stop: threading.Event | None = None) -> int:
    """A whole `ct.py check` once the lock is held: recover, process the inboxes, print the summary;
    the exit code says what needs attention (`records.exit_code`)."""
    import sys

    from ctml.ct.intake.session import ensure_data, start
    from ctml.ct.records import exit_code
    from ctml.ct.reporting.console import run_summary

    started = time.perf_counter()
    start(ctx)
    ensure_data(ctx)
    records = check(ctx, stop)
    if records:
        run_summary(ctx, records, time.perf_counter() - started, "check summary")
    failed = next((r for r in records if r.status == "failed"), None)
    if failed is not None:
        print(f"error: step {failed.step} failed: {failed.note}", file=sys.stderr)
    return exit_code(records)


def read_delivered(ctx: Context, path: Path) -> Batch:
    """A delivered batch file, read and checked. One larger than `ct.max_batch_mb` is never loaded:
    with `compute.engine: dask` it is checked and staged a partition at a time, else refused."""
    size = path.stat().st_size
    limit = ctx.params.ct.max_batch_mb
    if size > limit * MB:
        if ctx.params.compute.engine == "dask":
            return stage_partitioned(ctx, path)
        return Batch(path, None, None, [f"{path.name}: {size / MB:.1f} MB, above ct.max_batch_mb ({limit:g}): too big to "
                                        "check in memory (compute.engine: dask checks it a partition at a time)"])
    try:
        frame = read_table(path)
    except UserError as exc:
        return Batch(path, None, None, [str(exc).replace(f"{ctx.root}/", "")])  # the file named as delivered
    return prepare_batch(frame, ctx, source=path)
