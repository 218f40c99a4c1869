"""Everything recorded about a model version, read from its tag's commit (git + dvc.lock)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ctml import layout
from ctml.ct.release import tags
from ctml.ct.repo.vcs import git
from ctml.data.folds import described, from_pointer, parse_manifest
from ctml.data.task import recorded_task


def show(root: Path, rev: str, path: str | Path) -> str | None:
    """A file's text at `rev` (None when it is not there)."""
    return git(root, "show", f"{rev}:{Path(path).as_posix()}", check=False) or None


def folded_batches(root: Path, rev: str, lineage: str) -> list[dict[str, Any]]:
    """The CT batches folded into training at `rev`, in the order they were folded: file, md5, size,
    the step and delivered file they came from, rows. Read from the lineage folder's manifest, and from
    the per-batch .dvc pointers of releases made before one DVC folder per lineage (in the lineage's
    folder, or at the top of data/batches in a release made before lineage folders)."""
    folder = layout.BATCHES / lineage
    manifest = layout.batch_manifest(folder).as_posix()
    folders = {layout.BATCHES.as_posix(), folder.as_posix()}
    found = []
    for name in git(root, "ls-tree", "-r", "--name-only", rev, f"{layout.BATCHES.as_posix()}/").splitlines():
        if name == manifest:
            found += [described(b, folder) for b in parse_manifest(show(root, rev, name) or "", f"{rev}:{name}")]
        elif name.endswith(".parquet.dvc") and Path(name).parent.as_posix() in folders:
            found.append(described(from_pointer(name, show(root, rev, name) or ""), Path(name).parent))
    return sorted(found, key=lambda b: Path(b["file"]).name)


def trained_for(params: dict[str, Any]) -> tuple[str, str, str, str]:
    """(source, target, task, lineage key) of a params.yaml mapping as a tag holds it."""
    data = params.get("data") or {}
    source, target, task = str(data.get("source")), str(data.get("target")), str(data.get("task", "auto"))
    return source, target, task, layout.lineage_key(source, target, task)


def ranges_of(schema: dict[str, Any]) -> dict[str, list[Any]]:
    """Feature -> [min, max] recorded from the version's training data (numeric and date features)."""
    return {name: [spec["min"], spec["max"]] for name, spec in schema.get("columns", {}).items() if "min" in spec}


def lineage_of(root: Path, version: str) -> dict[str, Any]:
    """The version's tag, commit, message, model, data (source, target and task it was trained for,
    hashes, batches, the ranges batches were held to and the columns that were no features), params,
    metrics, gates, library versions and tracked runs."""
    tag = tags.tag_of(version)
    schema = json.loads(show(root, tag, layout.PRODUCTION / "schema.json") or show(root, tag, layout.SCHEMA) or "{}")
    meta = json.loads(show(root, tag, layout.MODEL_META) or "{}")
    lockfile = yaml.safe_load(show(root, tag, layout.DVC_LOCK) or "{}") or {}
    outs = {o["path"]: o.get("md5") for s in lockfile.get("stages", {}).values() for o in s.get("outs", [])}
    params = yaml.safe_load(show(root, tag, layout.PARAMS) or "{}") or {}
    source, target, task, key = trained_for(params)
    return {
        "version": version,
        "tag": tag,
        "commit": tags.commit_of(root, version),
        "message": git(root, "tag", "-l", "--format=%(contents)", tag),
        "model": {"sha256": meta.get("model_sha256"), "type": (meta.get("params") or {}).get("train", {}).get("model"),
                  "task": recorded_task(meta)},
        "data": {"source": source, "target": target, "task": task, "lineage": key,
                 "train_rows": meta.get("train_rows"), "train_split_sha256": meta.get("train_data_sha256"),
                 "training_data_md5": outs.get(layout.RAW.as_posix()), "batches": folded_batches(root, tag, key),
                 "ranges": ranges_of(schema), "excluded": schema.get("excluded", {})},
        "params": params,
        "metrics": json.loads(show(root, tag, layout.METRICS) or "{}"),
        "gates": json.loads(show(root, tag, layout.GATES) or "{}"),
        "libraries": meta.get("libraries"),
        "neptune_runs": tracked_runs(root, version),
    }


def tracked_runs(root: Path, version: str) -> list[str]:
    """`<stage>:<run id prefix>` of the offline runs that name this version."""
    from ctml.runs import offline

    return offline.run_ids(root, model_version=version)
