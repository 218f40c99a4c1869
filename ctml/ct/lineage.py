"""Everything recorded about a model version, read from its tag's commit (git + dvc.lock)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ctml import layout
from ctml.ct import registry
from ctml.ct.repo import git
from ctml.task import recorded_task


def show(root: Path, rev: str, path: str | Path) -> str | None:
    """A file's text at `rev` (None when it is not there)."""
    return git(root, "show", f"{rev}:{Path(path).as_posix()}", check=False) or None


def folded_batches(root: Path, rev: str) -> list[dict[str, Any]]:
    """The CT batches folded into training at `rev`, from their .dvc pointers."""
    found = []
    for name in git(root, "ls-tree", "--name-only", rev, f"{layout.BATCHES.as_posix()}/").splitlines():
        if name.endswith(".parquet.dvc"):
            pointer = yaml.safe_load(show(root, rev, name) or "{}")
            out = (pointer.get("outs") or [{}])[0]
            found.append({"file": name[:-4], "md5": out.get("md5"), "size": out.get("size")})
    return found


def ranges_of(schema: dict[str, Any]) -> dict[str, list[Any]]:
    """Feature -> [min, max] recorded from the version's training data (numeric and date features)."""
    return {name: [spec["min"], spec["max"]] for name, spec in schema.get("columns", {}).items() if "min" in spec}


def lineage_of(root: Path, version: str) -> dict[str, Any]:
    """The version's tag, commit, message, model, data (source, hashes, batches, the ranges batches
    were held to and the columns that were no features), params, metrics, gates, library versions and
    tracked runs."""
    tag = registry.tag_of(version)
    schema = json.loads(show(root, tag, layout.PRODUCTION / "schema.json") or show(root, tag, layout.SCHEMA) or "{}")
    meta = json.loads(show(root, tag, layout.MODEL_META) or "{}")
    lockfile = yaml.safe_load(show(root, tag, layout.DVC_LOCK) or "{}") or {}
    outs = {o["path"]: o.get("md5") for s in lockfile.get("stages", {}).values() for o in s.get("outs", [])}
    params = yaml.safe_load(show(root, tag, layout.PARAMS) or "{}")
    return {
        "version": version,
        "tag": tag,
        "commit": registry.commit_of(root, version),
        "message": git(root, "tag", "-l", "--format=%(contents)", tag),
        "model": {"sha256": meta.get("model_sha256"), "type": (meta.get("params") or {}).get("train", {}).get("model"),
                  "task": recorded_task(meta)},
        "data": {"source": (params.get("data") or {}).get("source"), "train_rows": meta.get("train_rows"),
                 "train_split_sha256": meta.get("train_data_sha256"),
                 "training_data_md5": outs.get(layout.RAW.as_posix()), "batches": folded_batches(root, tag),
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
