"""A candidate in shadow (`release.mode: shadow`): tagged, served beside production, never in production
until `ct.py check` has the evidence (ctml.ct.step.trial decides).

Why the version commit and a second commit: every version tag points at a commit whose
models/production holds that version (what a rollback or a promotion restores, what `gto show` and
`ct.py lineage` read), and HEAD is the production state. So a shadow release commits the candidate
as a release does (`Model-Version:`), tags it `model@vX.Y.Z`, copies its model to `.ct/shadow/` (what
the server scores beside production), then puts the workspace back to production and commits that
(`Shadow-Version:`), and only then assigns the GTO stage: `model#shadow#N`. A kill anywhere is
finished by running the rest again (`finish_release`), from the commit it reached.

Promotion restores the version's state as a rollback does and tags `model#prod#N` with the
evidence; retirement is one tag, `model#shadow!#N` (what `gto deprecate model vX.Y.Z shadow` writes),
with the evidence. Either way the shadow leaves `.ct/shadow/`.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ctml import layout
from ctml.ct import history
from ctml.ct.context import Context
from ctml.ct.release import tags
from ctml.ct.release.promotion import promote_files, remeasure_drift, tag_message
from ctml.ct.repo import lock, warm
from ctml.ct.repo.vcs import commit_state, git, restore_state
from ctml.errors import UserError
from ctml.io import read_json, sha256_file

STAGE = "shadow"
FILES = ("model.joblib", "model.json", "schema.json")  # what the server loads: the model, its metadata, its schema


@dataclass(frozen=True)
class Shadow:
    """The version in shadow, as its tags record it."""

    version: str
    sha256: str  # of its model file, as the version's tag records it
    tag: str  # the `model#shadow#N` assignment
    since: str  # when it was assigned (ISO 8601, the tag's date)


def current(root: Path) -> Shadow | None:
    """The version of the newest shadow tag when that tag is an assignment and the version is not in
    production (one `git for-each-ref`: the server asks every `serve.reload_interval_s`)."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname:short)|%(*objectname)|%(objectname)|%(creatordate:iso-strict)",
                           "refs/tags"], cwd=root, capture_output=True, text=True).stdout
    versions: dict[str, str] = {}
    newest: dict[str, tuple[int, bool, str, str, str]] = {}  # stage -> (N, unassigned, tag, commit, date)
    for line in refs.splitlines():
        name, peeled, obj, date = (line.split("|") + ["", "", ""])[:4]
        commit = peeled or obj
        if version := tags.parse_version(name):
            versions.setdefault(commit, version)
        elif (parsed := tags.parse_stage(name)) and parsed[0] > newest.get(parsed[1], (0,))[0]:
            newest[parsed[1]] = (parsed[0], parsed[2], name, commit, date)
    if STAGE not in newest or newest[STAGE][1]:
        return None
    _, _, tag, commit, date = newest[STAGE]
    version = versions.get(commit)
    if version is None or ("prod" in newest and newest["prod"][3] == commit):
        return None
    return Shadow(version, recorded_sha(root, version), tag, date)


def assigned(root: Path, version: str) -> bool:
    """Whether the newest shadow tag assigns `version` (promoted or not)."""
    shadows = [(n, gone, tag) for n, stage, gone, tag in tags.stage_tags(root) if stage == STAGE]
    return bool(shadows) and not shadows[-1][1] and \
        git(root, "rev-parse", f"{shadows[-1][2]}^{{commit}}") == tags.commit_of(root, version)


def recorded_sha(root: Path, version: str) -> str:
    text = subprocess.run(["git", "show", f"{tags.tag_of(version)}:{(layout.PRODUCTION / 'model.json').as_posix()}"],
                          cwd=root, capture_output=True).stdout
    if not text:
        raise UserError(f"{tags.tag_of(version)}: no {layout.PRODUCTION / 'model.json'} at that tag")
    return str(orjson.loads(text).get("model_sha256"))


def problem(root: Path, shadow: Shadow) -> str | None:
    """Why the shadow's local copy cannot be scored (missing, or not the bytes its tag records), or None."""
    folder = layout.SHADOW
    missing = [name for name in FILES if not (root / folder / name).is_file()]
    remedy = f"retire it with `gto deprecate {tags.ARTIFACT} {shadow.version} {STAGE}`, or release it again"
    if missing:
        return f"{folder / missing[0]}: missing (shadow {shadow.version}, {shadow.tag}); {remedy}"
    recorded = str(read_json(root / folder / "model.json").get("model_sha256"))
    actual = sha256_file(root / folder / "model.joblib")
    if recorded != shadow.sha256 or actual != recorded:
        return (f"{folder / 'model.joblib'}: sha256 {actual[:12]}… is not the {shadow.sha256[:12]}… that "
                f"{tags.tag_of(shadow.version)} records (changed outside ct.py); {remedy}")
    return None


def release_shadow(ctx: Context, reason: str, drift: dict[str, Any] | None, step: int | str) -> str:
    """The candidate in the working tree, released into shadow (see the module docstring)."""
    version = tags.next_version(ctx.root)
    message = tag_message(version, f"{reason} (into shadow)", read_json(ctx.path(layout.METRICS)), drift)
    promote_files(ctx, step)
    records = ctx.path(layout.HISTORY)
    history.ensure_file(records)
    history.write_timeline(history.read(records), ctx.path(layout.TIMELINE))
    before = git(ctx.root, "rev-parse", "HEAD")
    lock.mark_inflight(ctx.root, {**(lock.inflight(ctx.root) or {}), "phase": "shadow_release", "version": version,
                                  "step": step, "message": message, "head": before})
    commit_state(ctx.root, f"ct: release model {version} into shadow ({reason})\n\nModel-Version: {version}")
    finish_release(ctx, version, message, before)
    return version


def finish_release(ctx: Context, version: str, message: str, before: str) -> None:
    """From the version commit (or the commit after it) to the shadow tag; idempotent, so recovery
    runs it again after a kill. `before`: the production state the workspace goes back to."""
    if f"Model-Version: {version}" in git(ctx.root, "log", "-1", "--format=%B"):
        if version not in tags.versions(ctx.root):
            tags.register(ctx.root, version, message)
        _copy_local(ctx.root, version)
        restore_state(ctx.root, before, keep=layout.CT_RECORDS)
        tags.forget(ctx)
        remeasure_drift(ctx)
        production = tags.production_version(ctx.root)
        commit_state(ctx.root, f"ct: production {production} stays; {version} in shadow\n\nShadow-Version: {version}")
    earlier = current(ctx.root)
    if earlier is not None and earlier.version != version:  # a newer candidate replaces the one in shadow
        tags.assign(ctx.root, STAGE, earlier.version, f"retired: replaced in shadow by {version}", unassign=True)
    if not assigned(ctx.root, version):
        tags.assign(ctx.root, STAGE, version, message)
    tags.forget(ctx)
    ctx.created.append(f"{version} (shadow)")
    warm.push(ctx.root)
    lock.clear_inflight(ctx.root)


def _copy_local(root: Path, version: str) -> None:
    """`.ct/shadow/`: the version's model, metadata and schema, from the workspace when it holds them
    (right after the release commit), else from its tag and the DVC cache."""
    from ctml.ct.release.lineage import show

    folder = root / layout.SHADOW
    tmp = folder.with_name(".shadow.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tag = tags.tag_of(version)
    prod = layout.PRODUCTION
    for name in ("model.json", "schema.json"):
        (tmp / name).write_text(show(root, tag, prod / name) or "")
    model = root / prod / "model.joblib"
    if model.exists() and sha256_file(model) == recorded_sha(root, version):
        shutil.copy2(model, tmp / "model.joblib")
    else:
        import dvc.api

        with dvc.api.open((prod / "model.joblib").as_posix(), repo=str(root), rev=tag, mode="rb") as src:
            (tmp / "model.joblib").write_bytes(src.read())
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def promote(ctx: Context, shadow: Shadow, message: str, step: int) -> str:
    """Put the shadow in production (its state restored as a rollback restores one, committed, then
    `model#prod#N` with the evidence); returns the version it replaced."""
    from ctml.ct.repo import dvcdata

    before = tags.production_version(ctx.root) or "none"
    dvcdata.ensure(ctx.root, tags.tag_of(shadow.version), shadow.version)  # before any change
    lock.mark_inflight(ctx.root, {"phase": "shadow_promote", "version": shadow.version, "step": step,
                                  "message": message, "head": git(ctx.root, "rev-parse", "HEAD")})
    restore_state(ctx.root, tags.tag_of(shadow.version), keep=layout.CT_RECORDS)
    tags.forget(ctx)
    remeasure_drift(ctx)
    commit_state(ctx.root, f"ct: promote shadow {shadow.version} to production (was {before})\n\n"
                           f"Shadow-Promoted: {shadow.version}")
    finish_promote(ctx, shadow.version, message)
    return before


def finish_promote(ctx: Context, version: str, message: str) -> None:
    """Tags after the promotion commit, each only if missing (recovery runs it again): prod, then the
    end of the shadow stage; the local copy goes last."""
    if tags.production_version(ctx.root) != version:
        tags.assign_prod(ctx.root, version, message)
        tags.forget(ctx)
    if assigned(ctx.root, version):
        tags.assign(ctx.root, STAGE, version, f"promoted to prod: {version}", unassign=True)
    shutil.rmtree(ctx.path(layout.SHADOW), ignore_errors=True)
    warm.push(ctx.root)
    lock.clear_inflight(ctx.root)


def retire(ctx: Context, shadow: Shadow, message: str) -> str:
    """End the shadow stage of the version (`model#shadow!#N` with the evidence); production is untouched."""
    tag = tags.assign(ctx.root, STAGE, shadow.version, message, unassign=True)
    tags.forget(ctx)
    shutil.rmtree(ctx.path(layout.SHADOW), ignore_errors=True)
    return tag
