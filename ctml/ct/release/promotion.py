"""Releasing a model: promotion into models/production, the release commit, GTO tags and the push.

The invariant: HEAD is the production state. A candidate is either committed and tagged as a
whole here, or thrown away (`repo.restore_state`), so a failed, blocked or killed retrain never
reaches production or a tag.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctml import layout
from ctml.ct import history
from ctml.ct.repo import lock
from ctml.ct.release import tags, trigger
from ctml.ct.release.production import current, current_version
from ctml.ct.repo import warm
from ctml.ct.context import Context
from ctml.ct.repo.vcs import commit_state, git, restore_state
from ctml.ct.records import GatesResult
from ctml.errors import UserError
from ctml.io import read_json, sha256_file, write_json

if TYPE_CHECKING:
    from ctml.drift.results import DriftSummary


def promote_files(ctx: Context, step: int | str, measured: bool = False) -> None:
    """Copy the candidate into models/production (DVC tracks the model bytes, git the JSON), then bring
    the stages that read production up to date (drift, gates), so the release commit satisfies `dvc status`.

    The gates are not run again: they have just judged this candidate against the production it
    replaces, and that verdict, the one that released it, is what the release commit keeps (run
    again they would compare the model with itself, at the cost of a second full gates run). For the
    same reason, with `measured` (a retrain triggered by the batch's drift measurement, kept by
    `trigger.keep`), drift is not run either: the release commit holds that measurement, recorded
    against the new production, and a re-run here was computed only to be overwritten by it."""
    prod = ctx.path(layout.PRODUCTION)
    prod.mkdir(parents=True, exist_ok=True)
    for name, src in layout.PRODUCTION_FILES.items():
        shutil.copy2(ctx.path(src), prod / name)
    write_json(ctx.path(layout.PRODUCTION_LINEAGE), lineage_record(ctx.params.data))
    tags.forget(ctx)
    warm.add(ctx.root, layout.PRODUCTION_MODEL)
    warm.commit_if_only(ctx.root, "gates", str(layout.PRODUCTION))
    if not (measured and trigger.restore(ctx)):
        ctx.reproduce(step=step)


def lineage_record(data: Any) -> dict[str, str]:
    """What a model was trained for, as models/production/lineage.json records it."""
    return {"lineage": layout.data_lineage(data), "source": data.source, "target": data.target, "task": data.task}


def production_lineage(ctx: Context) -> str | None:
    """The lineage key of the model in production (None when none is): its lineage.json, or for a
    release made before that file existed, the data section of params.yaml at its tag."""
    prod = current(ctx)
    return prod.lineage if prod is not None else None


def tag_message(version: str, reason: str, metrics: dict[str, Any], drift: DriftSummary | None) -> str:
    """The annotated tag's text: why this version exists, then its drift score and test metrics."""
    lines = [f"model {version}: {reason}"]
    if drift is not None:
        lines.append(f"drift_score: {drift.drift_score}")
    lines += [f"{k}: {v}" for k, v in sorted(metrics.items()) if not isinstance(v, dict)]  # reference_model: in the file
    return "\n".join(lines)


def release(ctx: Context, reason: str, drift: DriftSummary | None, step: int | str, extra_paths: tuple[str, ...] = (),
            major: bool = False) -> str:
    """Promote the candidate in the working tree: commit, version tag, prod tag, push. `major`: the
    first model of a new lineage."""
    version = tags.next_version(tags.of(ctx), major)
    metrics = read_json(ctx.path(layout.METRICS))
    promote_files(ctx, step, measured=drift is not None)  # the batch's measurement, not a re-run against itself
    trigger.drop(ctx)
    if not ctx.commit:
        ctx.created.append(version + " (uncommitted)")
        return version
    message = tag_message(version, reason, metrics, drift)
    records = ctx.path(layout.HISTORY)
    history.ensure_file(records)  # every plot source is in the release commit (`dvc plots diff` between tags)
    history.write_timeline(history.read(records), ctx.path(layout.TIMELINE))
    lock.mark_inflight(ctx.root, {**(lock.inflight(ctx.root) or {}), "phase": "release", "version": version,
                                  "step": step, "message": message, "head": git(ctx.root, "rev-parse", "HEAD")})
    commit_state(ctx.root, f"ct: release model {version} ({reason})\n\nModel-Version: {version}", extra_paths)
    finish_release(ctx, version, message)
    return version


def finish_release(ctx: Context, version: str, message: str) -> None:
    """Tags and push for a release commit at HEAD; also how recovery completes a cut-short release.

    Idempotent: each part is done only if missing, so a release killed between any two of them
    (version tag, prod tag, push) is completed by running it again. The in-flight marker goes last.
    """
    if version not in tags.of(ctx).versions():
        tags.register(ctx.root, version, message)
        tags.forget(ctx)
    if current_version(ctx) != version:
        tags.assign_prod(ctx.root, version, f"promote {version}")
        tags.forget(ctx)
    if version not in ctx.created:
        ctx.created.append(version)
    warm.push(ctx.root)
    lock.clear_inflight(ctx.root)


def production_sha(ctx: Context) -> str | None:
    prod = current(ctx)
    return (prod.sha256 or None) if prod is not None else None


def gates_result(ctx: Context) -> GatesResult:
    """The pipeline's metrics/gates.json (the candidate's verdict after a `dvc repro`), typed."""
    return GatesResult.from_json(read_json(ctx.path(layout.GATES)))


def read_gates(path: Path) -> GatesResult | None:
    """A gates result file typed (gates.json, or a blocked candidate's record); None when there is none."""
    return GatesResult.from_json(read_json(path)) if path.exists() else None


def verify_production(ctx: Context) -> None:
    """Refuse to run on a production model that is not the recorded one, before any `dvc repro`:
    DVC re-hashes a changed `dvc add`-ed file ("Verifying data sources") and would record it."""
    prod = layout.PRODUCTION
    model, meta = ctx.path(layout.PRODUCTION_MODEL), ctx.path(layout.PRODUCTION_META)
    if not (model.exists() and meta.exists()):
        return
    expected, actual = str(read_json(meta).get("model_sha256")), sha256_file(model)
    if actual != expected:
        raise UserError(f"{layout.PRODUCTION_MODEL}: sha256 {actual[:12]}… does not match {layout.PRODUCTION_META} "
                        f"({expected[:12]}…): changed outside ct.py; restore the recorded model with `git checkout HEAD -- "
                        f"{prod} && dvc checkout --force {layout.PRODUCTION_MODEL}.dvc`")


def ensure_baseline(ctx: Context, extra_paths: tuple[str, ...] = ()) -> str | None:
    """Bring the pipeline up to date; release its model if nothing is in production or the model changed.

    Right after a release (or a rollback) nothing is stale, and this costs one in-process `dvc status`.
    """
    verify_production(ctx)
    prod_version = current_version(ctx)
    new_lineage = prod_version is not None and production_lineage(ctx) != layout.data_lineage(ctx.params.data)
    if warm.stale(ctx.root):
        ctx.say("baseline: dvc repro")
        ctx.reproduce(step="baseline", version=tags.next_version(tags.of(ctx), new_lineage))
    current = read_json(ctx.path(layout.MODEL_META))["model_sha256"]
    if prod_version and current == production_sha(ctx) and not new_lineage:
        return prod_version
    gates = gates_result(ctx)
    if not gates.passed:
        raise UserError(f"{layout.GATES}: the {'baseline' if not prod_version else 'new'} model is blocked by "
                        f"gates {', '.join(gates.blocked_by)}; adjust params.yaml gates or the model")
    data = ctx.params.data
    reason = "baseline" if not prod_version else \
        f"new source {data.source} (target {data.target}, task {data.task})" if new_lineage else "pipeline changed"
    version = release(ctx, reason, None, "baseline", extra_paths, major=new_lineage)
    ctx.say(f"baseline: released model {version}{f' ({reason})' if new_lineage else ''}")
    return version


def rollback(ctx: Context, version: str | None) -> tuple[str, str, str]:
    """Put `version` (default: the one before the current) back in production: its pipeline state from
    git and the DVC cache, committed, and a new `model#prod#N` tag. Returns (from, to, prod tag)."""
    registry = tags.of(ctx)
    current = registry.production_version()
    if current is None:
        raise UserError("no model in production yet; nothing to roll back")
    target = tags.resolve(registry, version) if version else tags.previous_production(registry)
    if target == current:
        raise UserError(f"{target} is already in production")
    from ctml.ct.repo import dvcdata

    head = git(ctx.root, "rev-parse", "HEAD")
    # Before any change: every object the target needs fetched and read back intact, or refused with nothing changed.
    dvcdata.ensure(ctx.root, tags.tag_of(target), target, verify=True)
    # A kill from here on is finished or undone by the next ct.py (ctml.ct.step.recovery): the marker
    # names the commit the tree goes back to and the rollback the commit would record.
    lock.mark_inflight(ctx.root, {"phase": "rollback", "head": head, "from": current, "to": target})
    try:
        restore_state(ctx.root, tags.tag_of(target), keep=layout.CT_RECORDS)
        tags.forget(ctx)
        remeasure_drift(ctx)
        verify_production(ctx)
        commit_state(ctx.root, rollback_subject(current, target))
    except BaseException:  # all or nothing: the tree back to HEAD (still production's commit), then the error
        if git(ctx.root, "rev-parse", "HEAD") == head:
            restore_state(ctx.root, keep=layout.CT_RECORDS)
            tags.forget(ctx)
            lock.clear_inflight(ctx.root)
        raise
    tag = finish_rollback(ctx, current, target)
    return current, target, tag


def rollback_subject(current: str, target: str) -> str:
    """The rollback commit's subject: how recovery tells a rollback commit that is in from one that is not."""
    return f"ct: roll back production {current} -> {target}"


def finish_rollback(ctx: Context, current: str, target: str) -> str:
    """The prod tag for the rollback commit at HEAD, unless the newest prod tag already names `target`;
    also how recovery completes a rollback killed after its commit. Returns the new prod tag ('' if none)."""
    tag = ""
    if tags.of(ctx).production_version() != target:
        tag = tags.assign_prod(ctx.root, target, f"rollback from {current}")
        tags.forget(ctx)
    lock.clear_inflight(ctx.root)
    return tag


def remeasure_drift(ctx: Context) -> None:
    """The restored drift result is about the batch checked when that version was made: measure the
    batch staged now against the restored production instead, so the rollback commit satisfies
    `dvc status`. Only drift: a stage made stale by code or params changed since that version is left
    for the next CT step (which rebuilds and releases it), and said so."""
    if layout.DRIFT_STAGE in warm.stale(ctx.root):
        ctx.reproduce((layout.DRIFT_STAGE,), step="rollback", single_item=True)
    if others := sorted(warm.stale(ctx.root)):
        ctx.say(f"note: {', '.join(others)} stale: code, params or dvc.yaml changed since this version; "
                "the next ct.py step rebuilds and releases it")
