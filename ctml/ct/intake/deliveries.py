"""Deliveries in: every ready file of the inboxes processed exactly once, oldest first, one CT step
each (`ct.py check`, and each round of `ct.py watch`). With a model in shadow, the decision on it comes
first (`ctml.ct.step.trial`): its evidence is what the server answered, taken from the deliveries
before their steps measure anything against the production that decision leaves.

Exactly once: a processed file leaves its inbox (archived, or quarantined), and a file whose bytes
were processed before (its sha256 in the history, or in a lineage's record of its folded batches) is recorded
as a duplicate of that step and archived, never checked or folded again. A step that failed (or
was interrupted and undone) does not count as processed: the same bytes delivered again are retried.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Iterator

from ctml import layout
from ctml.ct import history
from ctml.ct.intake import inbox
from ctml.ct.intake.batches import MB, prepare_batch
from ctml.ct.intake.partitioned import stage_partitioned
from ctml.ct.records import Batch
from ctml.ct.release.shadow import Shadow
from ctml.ct.step import trial
from ctml.errors import UserError
from ctml.io import read_table
from ctml.ct.context import Context
from ctml.ct.intake.inbox import Delivery
from ctml.ct.step.labels import run_label_step
from ctml.ct.records import DELIVERED, StepRecord
from ctml.ct.intake.loop import Work, run_command, run_steps
from ctml.ct.step.run import new_record, run_step
from ctml.ct.repo import lock
from ctml.ct.repo.vcs import git
from ctml.ct.step.quarantine import quarantine
from ctml.data.folds import every_batch
from ctml.io import shown

NOT_PROCESSED = ("failed", "duplicate")  # statuses whose file may come again (retried, or already pointing elsewhere)


def processed(root: Path) -> dict[str, int]:
    """sha256 -> the step that processed those bytes: from the history, and from the folded batches'
    records (a release whose history row a kill prevented): each lineage folder's manifest, and the
    per-batch .dvc `meta` of a layout not migrated yet."""
    seen: dict[str, int] = {}
    for record in history.read(root / layout.HISTORY):
        if record.file_sha256 and record.status not in NOT_PROCESSED:
            seen.setdefault(record.file_sha256, record.step)
    for batch in every_batch(root / layout.BATCHES):
        if batch.delivered_sha256:
            seen.setdefault(batch.delivered_sha256, batch.step or 0)
    return seen


def deliveries(ctx: Context, pending: list[Delivery]) -> tuple[Iterator[Work], Callable[[StepRecord], None]]:
    """One unit of work per delivery, in order (`loop.run_steps` runs them), and what follows each
    step's history row (`after`).

    Per file: taken once settled (`inbox.settled`), hashed, marked in flight (what recovery finishes
    or undoes), stepped; then its history row; then (`after`) archived and unmarked. The row before
    the archive, and the marker (which names the file) until both are done: a kill in between leaves
    recovery a recorded step whose file it archives (`session.start`), never an archived file
    without a row nor a second row for one file. A file whose bytes were processed before is a duplicate; a
    file that fails in a way no check foresaw (an I/O error, a name) is set aside with one line and
    the loop goes on.
    """
    seen = processed(ctx.root)
    taken: dict[int, tuple[Delivery, str, bool]] = {}  # step -> (delivery, sha256, changed while processed)

    def units() -> Iterator[Work]:
        for delivery in pending:
            def unit(step: int, delivery: Delivery = delivery) -> StepRecord | None:
                if not os.path.lexists(delivery.path):  # taken away since the inbox was listed
                    return None
                if not inbox.settled(delivery, ctx.params.ct.settle_s):
                    ctx.say(f"{delivery.rel}: still being written (changed within ct.settle_s); taken once it settles")
                    return None
                try:
                    sha = inbox.digest(delivery)
                except OSError as exc:
                    ctx.say(f"error: {delivery.rel}: {exc.strerror or exc}; skipped, left as it is")
                    return None
                if ctx.commit:
                    lock.mark_inflight(ctx.root, {"phase": "step", "step": step, "scenario": DELIVERED[delivery.kind],
                                                  "file": delivery.rel, "file_sha256": sha, "delivery": inbox.identity(delivery),
                                                  "head": git(ctx.root, "rev-parse", "HEAD")})
                try:
                    record = one_step(ctx, step, delivery, sha, seen)
                except (OSError, UnicodeError) as exc:
                    record = set_aside(ctx, step, delivery, sha, exc)
                record.file, record.note = shown(record.file), shown(record.note)
                changed = os.path.lexists(delivery.path) and not inbox.unchanged(delivery)
                if changed:
                    record.note += "; the file changed while it was processed: left in the inbox, taken again once it settles"
                taken[step] = (delivery, sha, changed)
                return record
            yield unit

    def after(record: StepRecord) -> None:
        delivery, sha, changed = taken.pop(record.step)
        if os.path.lexists(delivery.path) and not changed:  # not quarantined: out of the inbox, beside its step and hash
            try:
                inbox.archive(ctx.root, delivery, record.step, sha)
            except OSError as exc:
                ctx.say(f"error: {delivery.rel}: not archived ({exc.strerror or exc}); left in the inbox, a duplicate of "
                        f"step {record.step}")
        lock.finish_delivery(ctx.root)
        if record.status not in NOT_PROCESSED:
            seen.setdefault(sha, record.step)

    return units(), after


def set_aside(ctx: Context, step: int, delivery: Delivery, sha: str, exc: Exception) -> StepRecord:
    """A step that failed on its file in a way no check foresaw: its work undone, the file quarantined
    with the error as its reason (so the next look does not fail on it again)."""
    from ctml.ct.repo.vcs import restore_state

    if ctx.commit:
        restore_state(ctx.root, keep=layout.CT_RECORDS)
    record = new_record(ctx, step, DELIVERED[delivery.kind], delivery.rel, sha)
    problem = shown(f"{delivery.rel}: {getattr(exc, 'strerror', None) or exc}")
    try:
        where = quarantine(ctx, step, Batch(delivery.path, None, None, [problem]), delivery.rel)
    except OSError as again:
        record.status, record.note = "failed", f"{problem}; not quarantined either ({again.strerror or again}): left as it is"
        return record
    record.status, record.note = "quarantined", f"{problem} -> {where.relative_to(ctx.root)}"
    return record


def one_step(ctx: Context, step: int, delivery: Delivery, sha: str, seen: dict[str, int]) -> StepRecord:
    scenario = DELIVERED[delivery.kind]
    if sha in seen:
        record = new_record(ctx, step, scenario, delivery.rel, sha)
        record.status, record.note = "duplicate", f"duplicate of step {seen[sha]} (same sha256); not checked again"
        return record
    if delivery.kind == "labels":
        return run_label_step(ctx, step, delivery.path, delivery.rel, sha)
    return run_step(ctx, step, scenario, read_delivered(ctx, delivery.path), delivery.rel, sha)


def run_check(ctx: Context, stop: threading.Event | None = None) -> int:
    """A whole `ct.py check` (one round of `ct.py watch`) once the lock is held: every ready delivery,
    one step each, through the one step loop; the exit code says what needs attention. An inbox a
    processed file could not leave (read-only, another filesystem) is refused before anything runs."""
    if inbox.pending(ctx.root):
        inbox.check_places(ctx.root)

    def steps() -> list[StepRecord]:
        found = trial.in_force(ctx)  # a shadow whose model file is missing or changed: refused, one line
        pending = inbox.pending(ctx.root)
        decided = decide_shadow(ctx, found, pending) if found is not None else None
        work, after = deliveries(ctx, pending)
        return ([decided] if decided else []) + run_steps(ctx, work, len(pending), stop, after)

    return run_command(ctx, "check", steps, "check summary")


def decide_shadow(ctx: Context, found: Shadow, pending: list[Delivery]) -> StepRecord | None:
    """The shadow's evidence from the pending deliveries, then promoted or retired once it says so."""
    trial.collect(ctx, found, [(d.kind, d.path) for d in pending])
    proof, record = trial.decide(ctx, found)
    if record is None:
        ctx.say(f"shadow {found.version}: waits: {proof.reason}")
    else:
        ctx.say(f"shadow {found.version}: {record.status.replace('_', ' ')}: {record.note}")
    return record


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
        frame = read_table(path, ctx.params.data.csv.model_dump())
    except UserError as exc:
        return Batch(path, None, None, [str(exc).replace(f"{ctx.root}/", "")])  # the file named as delivered
    return prepare_batch(frame, ctx, source=path)
