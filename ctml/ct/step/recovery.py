"""Crash recovery: finish or undo the step a killed ct.py left behind (`.ct/inflight.json`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctml import layout
from ctml.ct import history
from ctml.ct.release import shadow, tags
from ctml.ct.release.production import current_version
from ctml.ct.context import Context, now
from ctml.ct.records import Status, StepRecord
from ctml.ct.release.promotion import finish_release, finish_rollback, rollback_subject, tag_message
from ctml.ct.repo.vcs import git, restore_state
from ctml.ct.step.run import record_step, rewrite_timeline
from ctml.io import read_json


@dataclass(frozen=True)
class Recovery:
    """What recovery did. `stands`: the step's work and history row stand (finished, or recorded before
    the kill), so its delivered file, if still in the inbox, belongs in the archive under that step; a
    discarded step's file stays, to be processed again. The marker stays for the caller, which
    archives that file (the inbox is its layer) and then clears it: a kill before then recovers again."""

    note: str
    stands: bool


def recover(ctx: Context, marker: dict[str, Any]) -> Recovery:
    """Finish or undo the step a killed ct.py left behind (`marker`: its `.ct/inflight.json`)."""
    head = git(ctx.root, "rev-parse", "HEAD")
    version = marker.get("version")
    body = git(ctx.root, "log", "-1", "--format=%B")
    if marker.get("phase") == "rollback":
        return Recovery(_recover_rollback(ctx, marker, head, body), stands=False)
    if marker.get("phase", "").startswith("shadow_") and (done := _recover_shadow(ctx, marker, head, body)):
        return Recovery(done, stands=True)
    if version and head != marker.get("head") and f"Model-Version: {version}" in body:
        # The release commit is in: the candidate passed its gates. Finish tags and push.
        message = marker.get("message") or tag_message(
            version, "release completed after interruption", read_json(ctx.path(layout.METRICS)), None)
        note = f"completed the interrupted release of {version}"
        _record_interrupted(ctx, marker, status="retrained", note=note, version=version)
        rewrite_timeline(ctx)
        finish_release(ctx, version, message)
        return Recovery(note, stands=True)
    step = marker.get("step")
    if isinstance(step, int) and step in {r.step for r in history.read(ctx.path(layout.HISTORY))}:
        # Killed after the step's history row: the step is done (its work stays, for this command's commit).
        return Recovery(f"finished step {step} (interrupted after its history row was written)", stands=True)
    restore_state(ctx.root, keep=layout.CT_RECORDS)
    tags.forget(ctx)
    _remove_partial_writes(ctx)
    if isinstance(step, int):
        _remove_orphan_reasons(ctx, step)
    note = f"discarded an interrupted step (state restored to {head[:8]})"
    _record_interrupted(ctx, marker, status="failed", note=f"interrupted: {note}",
                        version=current_version(ctx) or "")
    rewrite_timeline(ctx)
    return Recovery(note, stands=False)


def _recover_shadow(ctx: Context, marker: dict[str, Any], head: str, body: str) -> str | None:
    """A shadow release whose version commit is in, or a promotion whose commit is in: finished.
    Anything earlier is undone as any step is (None); the ledger is untouched, so the next check
    decides again on the same evidence."""
    version, message = marker.get("version", ""), marker.get("message", "")
    if head == marker.get("head"):
        return None
    if marker["phase"] == "shadow_release" and (f"Model-Version: {version}" in body or f"Shadow-Version: {version}" in body):
        _record_interrupted(ctx, marker, status="retrained", note=f"completed the interrupted shadow release of {version}",
                            version=version)
        shadow.finish_release(ctx, version, message, marker["head"])
        rewrite_timeline(ctx)
        return f"completed the interrupted shadow release of {version}"
    if marker["phase"] == "shadow_promote" and f"Shadow-Promoted: {version}" in body:
        _record_interrupted(ctx, {**marker, "scenario": "shadow"}, status="shadow_promoted",
                            note=f"completed the interrupted promotion of shadow {version}: {message.splitlines()[-1]}",
                            version=version)
        shadow.finish_promote(ctx, version, message)
        ctx.path(layout.SHADOW_EVIDENCE).unlink(missing_ok=True)
        rewrite_timeline(ctx)
        return f"completed the interrupted promotion of shadow {version}"
    return None


def _recover_rollback(ctx: Context, marker: dict[str, Any], head: str, body: str) -> str:
    """A rollback is all or nothing across a kill too: its commit in -> its prod tag (if missing);
    anything earlier (part of the tree restored, drift half re-measured) -> the tree back to the
    commit it started from, production unchanged. No history row: a rollback is not a step."""
    current, target = marker["from"], marker["to"]
    if head != marker["head"] and body.startswith(rollback_subject(current, target)):
        finish_rollback(ctx, current, target)
        return f"completed the interrupted rollback {current} -> {target}"
    restore_state(ctx.root, keep=layout.CT_RECORDS)
    tags.forget(ctx)
    _remove_partial_writes(ctx)
    return f"undid an interrupted rollback {current} -> {target} (production stays {current}; run it again)"


def _remove_partial_writes(ctx: Context) -> None:
    """Temp files of atomic writes a kill cut short (`.<name>.<random>.tmp`, e.g. a half-written model)."""
    for folder in layout.OUTPUT_DIRS:
        for tmp in ctx.path(folder).rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def _remove_orphan_reasons(ctx: Context, step: int) -> None:
    """The reason file of a quarantine a kill cut short before its batch moved beside it (the reason is
    written first): the batch is still in its inbox and is quarantined again, with its own reason, when
    the discarded step's file is processed again. A reason with its batch beside it stays."""
    folder = ctx.path(layout.QUARANTINE)
    for reason in [*folder.glob(f"step-{step:04d}.reason.txt"), *folder.glob(f"step-{step:04d}.*.reason.txt")]:
        stem = reason.name.removesuffix(".reason.txt")
        beside = [p for p in folder.iterdir() if p != reason and (p.name == stem or (
            p.name.startswith(f"{stem}.") and "." not in p.name[len(stem) + 1:]))]
        if not beside:
            reason.unlink()


def _record_interrupted(ctx: Context, marker: dict[str, Any], status: Status, note: str, version: str) -> None:
    """The history row the killed step never wrote, so every step number (and release) has one. It
    names the delivered file: a completed release's file is then a duplicate if it is still in the
    inbox, while a discarded step's file is processed again (a failed step's file is never a duplicate)."""
    step = marker.get("step")
    if not isinstance(step, int) or step in {r.step for r in history.read(ctx.path(layout.HISTORY))}:
        return
    retrained = status in ("retrained", "shadow_promoted")
    record_step(ctx, StepRecord(step=step, time=now(), scenario=marker.get("scenario", ""), status=status,
                                threshold=ctx.params.ct.threshold, retrained=retrained,
                                gates="passed" if retrained else "", model_version=version, note=note,
                                file=marker.get("file", ""), file_sha256=marker.get("file_sha256", ""),
                                lineage=layout.data_lineage(ctx.params.data)))
