"""Releasing a model: promotion into models/production, the release commit, GTO tags and the push.

The invariant: HEAD is the production state. A candidate is either committed and tagged as a
whole here, or thrown away (`repo.restore_state`), so a failed, blocked or killed retrain never
reaches production or a tag.
"""
from __future__ import annotations

import shutil
from typing import Any

from ctml import layout
from ctml.ct import history, lock, registry
from ctml.ct.context import Context
from ctml.ct.repo import commit_state, dvc, git
from ctml.errors import UserError
from ctml.io import read_json, sha256_file

# What a release needs (model, metrics, gates). Not drift: it reads data/incoming, which may hold a
# user's batch that has not been checked yet (`ct.py check` validates it after the baseline).
RELEASE_TARGETS = ("evaluate", "gates")


def promote_files(ctx: Context) -> None:
    """Copy the candidate into models/production (DVC tracks the model bytes, git the JSON)."""
    prod = ctx.path(layout.PRODUCTION)
    prod.mkdir(parents=True, exist_ok=True)
    for name, src in layout.PRODUCTION_FILES.items():
        shutil.copy2(ctx.path(src), prod / name)
    dvc(ctx.root, "add", "--quiet", str(layout.PRODUCTION / "model.joblib"))


def tag_message(version: str, reason: str, metrics: dict[str, Any], drift: dict[str, Any] | None) -> str:
    """The annotated tag's text: why this version exists, then its drift score and test metrics."""
    lines = [f"model {version}: {reason}"]
    if drift is not None:
        lines.append(f"drift_score: {drift.get('drift_score')}")
    lines += [f"{k}: {v}" for k, v in sorted(metrics.items())]
    return "\n".join(lines)


def release(ctx: Context, reason: str, drift: dict[str, Any] | None, step: int | str, extra_paths: tuple[str, ...] = ()) -> str:
    """Promote the candidate in the working tree: commit, version tag, prod tag, push."""
    version = registry.next_version(ctx.root)
    promote_files(ctx)
    metrics = read_json(ctx.path(layout.METRICS))
    if not ctx.commit:
        ctx.created.append(version + " (uncommitted)")
        return version
    message = tag_message(version, reason, metrics, drift)
    records = ctx.path(layout.HISTORY)
    history.ensure_file(records)  # every plot source is in the release commit (`dvc plots diff` between tags)
    history.draw_timeline(history.read(records), ctx.path(layout.TIMELINE))
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
    if version not in registry.versions(ctx.root):
        registry.register(ctx.root, version, message)
    if registry.production_version(ctx.root) != version:
        registry.assign_prod(ctx.root, version, f"promote {version}")
    if version not in ctx.created:
        ctx.created.append(version)
    dvc(ctx.root, "push", "--quiet")
    lock.clear_inflight(ctx.root)


def production_sha(ctx: Context) -> str | None:
    meta = ctx.path(layout.PRODUCTION / "model.json")
    return read_json(meta).get("model_sha256") if meta.exists() else None


def gates_result(ctx: Context) -> dict[str, Any]:
    return read_json(ctx.path(layout.GATES))


def verify_production(ctx: Context) -> None:
    """Refuse to run on a production model that is not the recorded one, before any `dvc repro`:
    DVC re-hashes a changed `dvc add`-ed file ("Verifying data sources") and would record it."""
    prod = layout.PRODUCTION
    model, meta = ctx.path(prod / "model.joblib"), ctx.path(prod / "model.json")
    if not (model.exists() and meta.exists()):
        return
    expected, actual = str(read_json(meta).get("model_sha256")), sha256_file(model)
    if actual != expected:
        raise UserError(f"{prod / 'model.joblib'}: sha256 {actual[:12]}… does not match {prod / 'model.json'} "
                        f"({expected[:12]}…): changed outside ct.py; restore the recorded model with `git checkout HEAD -- "
                        f"{prod} && dvc checkout --force {prod / 'model.joblib.dvc'}`")


def ensure_baseline(ctx: Context, extra_paths: tuple[str, ...] = ()) -> str | None:
    """Run the pipeline; release its model if nothing is in production or the model changed."""
    verify_production(ctx)
    ctx.say("baseline: dvc repro")
    dvc(ctx.root, "repro", *RELEASE_TARGETS, **ctx.env("baseline", registry.next_version(ctx.root)))
    current = read_json(ctx.path(layout.MODEL_META))["model_sha256"]
    prod_version = registry.production_version(ctx.root)
    if prod_version and current == production_sha(ctx):
        return prod_version
    gates = gates_result(ctx)
    if not gates.get("passed", False):
        raise UserError(f"{layout.GATES}: the {'baseline' if not prod_version else 'new'} model is blocked by "
                        f"gates {', '.join(gates.get('blocked_by', []))}; adjust params.yaml gates or the model")
    reason = "baseline" if not prod_version else "pipeline changed"
    version = release(ctx, reason, None, "baseline", extra_paths)
    ctx.say(f"baseline: released model {version}")
    return version
