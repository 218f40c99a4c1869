"""The one step loop of `ct.py check`, `watch` and `simulate`: what a CT command does around its steps.

Each command only says where its steps come from (the inboxes' deliveries, or simulated batches);
this module runs them, so the three give the same records, alerts, history, commit and exit code
(`records.exit_code`: 0 done, 1 a step failed, 3 needs attention). They used to be two loops that
had drifted apart: `simulate` exited 0 after a quarantined batch or a blocked candidate.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Iterable

from ctml import layout
from ctml.ct import history
from ctml.ct.context import Context
from ctml.ct.records import StepRecord, exit_code
from ctml.ct.step import alerts
from ctml.ct.step.run import record_step, rewrite_timeline

# One unit of work: run as step N (the argument), it returns the step's record, or None when there
# was nothing to do after all (a delivery taken out of the inbox since it was listed).
Work = Callable[[int], "StepRecord | None"]


def run_steps(ctx: Context, work: Iterable[Work], total: int, stop: threading.Event | None = None,
              after: Callable[[StepRecord], None] | None = None) -> list[StepRecord]:
    """Each unit of work as the next step of the history, in order: its alerts sent, its history row
    appended (and logged), then `after` (a delivery archived once its row is written), its progress
    line printed. Stops between steps once `stop` is set."""
    from ctml.ct.reporting.console import progress_line

    first = history.next_step(ctx.path(layout.HISTORY))
    records: list[StepRecord] = []
    for unit in work:
        if stop is not None and stop.is_set():
            break
        tick = time.perf_counter()
        record = unit(first + len(records))
        if record is None:
            continue
        send_step_alerts(ctx, record)
        record_step(ctx, record)
        if after is not None:
            after(record)
        records.append(record)
        ctx.say(progress_line(len(records), total, record, time.perf_counter() - tick))
    return records


def send_step_alerts(ctx: Context, record: StepRecord) -> None:
    """The alerts a step raises, sent now; a delivery that failed is noted on the step's history row."""
    from ctml.ct.release.promotion import read_gates

    gates = None
    if record.status in ("retrained", "blocked"):
        gates = read_gates(ctx.path(layout.GATES if record.status == "retrained" else layout.BLOCKED_GATES))
    for event, text in alerts.step_events(record, ctx.params, gates):
        details = {"status": record.status, "drift_score": record.drift_score, "threshold": record.threshold,
                   "file": record.file, "note": record.note}
        failure = ctx.alert(event, text, record.step, record.model_version, details)
        if failure:
            record.note = f"{record.note}; {failure}" if record.note else failure


def run_command(ctx: Context, label: str, steps: Callable[[], list[StepRecord]], title: str = "CT summary",
                prepare: Callable[[], tuple[str, ...]] = tuple) -> int:
    """A whole CT command once the lock is held: recover, the data of HEAD, the baseline up to date (and
    released when the pipeline or source changed), the steps, then one commit, the summary and the exit
    code. `prepare`: work before the baseline (a replay's new source); it returns the paths the baseline
    release commits too. `label` names the command in the commit and the tracked summary."""
    from ctml import tracking
    from ctml.ct.intake.session import ensure_data, start
    from ctml.ct.release.promotion import ensure_baseline
    from ctml.ct.reporting.console import run_summary
    from ctml.ct.repo.vcs import commit_state

    started = time.perf_counter()
    start(ctx)
    ensure_data(ctx)
    with tracking.stage_run("ct", ctx.params, section="ct", pipeline=ctx.pipeline_id) as run_log:
        ctx.log = run_log
        ensure_baseline(ctx, prepare())
        records = steps()
        if records:
            rewrite_timeline(ctx)
        if ctx.commit:  # also what a recovery at start recorded: `git status` clean after every command
            numbers = "recovery" if not records else f"step {records[0].step}" if len(records) == 1 else \
                f"steps {records[0].step}-{records[-1].step}"
            commit_state(ctx.root, f"ct: record {numbers} ({label})")
        run_log.log("ct/summary", {"steps": len(records), "retrains": sum(r.retrained for r in records),
                                   "versions": ",".join(ctx.created), "scenario": label})
    if records:
        run_summary(ctx, records, time.perf_counter() - started, title)
    failed = next((r for r in records if r.status == "failed"), None)
    if failed is not None:
        print(f"error: step {failed.step} failed: {failed.note}", file=sys.stderr)
    return exit_code(records)
