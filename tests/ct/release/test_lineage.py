"""Lineage read from a tagged commit: a hand-made git repo stands in for a released project."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from ctml import layout
from ctml.ct.release.lineage import folded_batches, lineage_of
from ctml.data.folds import FoldedBatch, write_manifest
from tests.helpers import git


def test_lineage_reads_model_data_params_metrics_and_batches_from_the_tag(tmp_path: Path):
    repo = tmp_path / "p"
    (repo / "models").mkdir(parents=True)
    (repo / "metrics").mkdir()
    (repo / "data/batches").mkdir(parents=True)
    (repo / "models/model.json").write_text(json.dumps({
        "model_sha256": "ab" * 32, "train_rows": 426, "train_data_sha256": "cd" * 32,
        "params": {"train": {"model": "random_forest"}}, "libraries": {"scikit-learn": "1.9.1"}}))
    (repo / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"ingest": {
        "cmd": "x", "outs": [{"path": "data/raw/train.parquet", "md5": "0123", "size": 9}]}}}))
    (repo / "params.yaml").write_text(yaml.safe_dump({"data": {"source": "sklearn:iris", "target": "target"}}))
    (repo / "metrics/metrics.json").write_text(json.dumps({"accuracy": 0.97}))
    (repo / "metrics/gates.json").write_text(json.dumps({"passed": True, "blocked_by": []}))
    (repo / "models/production").mkdir()
    (repo / "models/production/schema.json").write_text(json.dumps({  # the ranges the version was released with
        "columns": {"petal": {"kind": "numeric", "min": 0.1, "max": 2.5}, "kind": {"kind": "categorical"}},
        "excluded": {"Unnamed: 0": "row identifier"}}))
    (repo / "data/batches/batch-0003.parquet.dvc").write_text(yaml.safe_dump({"outs": [{"md5": "feed", "size": 42}]}))
    git("init", "-q", "-b", "main", cwd=repo)
    git("-c", "user.name=T", "-c", "user.email=t@x", "add", "-A", cwd=repo)
    git("-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "release", cwd=repo)
    git("-c", "user.name=T", "-c", "user.email=t@x", "tag", "-a", "model@v1.1.0", "-m", "model v1.1.0: drift 0.400 > 0.3", cwd=repo)
    # the workspace moves on: lineage must read the tag, not the files
    (repo / "metrics/metrics.json").write_text(json.dumps({"accuracy": 0.5}))

    info = lineage_of(repo, "v1.1.0")
    assert info["tag"] == "model@v1.1.0" and len(info["commit"]) == 40
    assert info["message"].startswith("model v1.1.0: drift 0.400 > 0.3")
    assert info["model"] == {"sha256": "ab" * 32, "type": "random_forest", "task": "classification"}  # recorded before tasks
    assert info["data"] == {"source": "sklearn:iris", "target": "target", "task": "auto", "lineage": "sklearn-iris-dc6e00b6",
                            "train_rows": 426, "train_split_sha256": "cd" * 32, "training_data_md5": "0123",
                            "batches": [{"file": "data/batches/batch-0003.parquet", "md5": "feed", "size": 42, "step": None,
                                         "delivered": None, "delivered_sha256": None, "rows": None}],
                            "ranges": {"petal": [0.1, 2.5]}, "excluded": {"Unnamed: 0": "row identifier"}}
    assert info["metrics"] == {"accuracy": 0.97} and info["gates"]["passed"] is True
    assert info["libraries"] == {"scikit-learn": "1.9.1"} and info["neptune_runs"] == []


def commit(repo: Path, message: str) -> str:
    git("-c", "user.name=T", "-c", "user.email=t@x", "add", "-A", cwd=repo)
    git("-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).stdout.strip()


def test_batches_read_from_a_folders_manifest_and_from_the_per_file_pointers_of_older_releases(tmp_path: Path):
    """The lineage view at a tag made with one .dvc file per batch, and at one made with one DVC folder
    per lineage (its manifest), lists the same records; another lineage's batches are not listed."""
    repo = tmp_path / "p"
    folder = repo / "data/batches/iris-0a1b2c3d"
    folder.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    meta = {"step": 4, "source": "sklearn:iris", "file": "data/incoming/x.csv", "file_sha256": "ee" * 32}
    (folder / "batch-0004.parquet.dvc").write_text(yaml.safe_dump({"outs": [{"md5": "feed", "size": 42}], "meta": meta}))
    (folder / "batch-0002.parquet.dvc").write_text(yaml.safe_dump({"outs": [{"md5": "beef", "size": 40}],
                                                                   "meta": {**meta, "step": 2, "file": ""}}))
    (repo / "data/batches/other-11111111.batches.json").write_text('{"batches": [{"file": "batch-0009.parquet"}]}')
    older = commit(repo, "release with per-file pointers")
    for pointer in folder.glob("*.dvc"):
        pointer.unlink()
    layout.batch_pointer(folder).write_text("outs:\n- md5: 1234.dir\n  path: iris-0a1b2c3d\n")
    write_manifest(folder, [FoldedBatch("batch-0002.parquet", 2, "sklearn:iris", "", "ee" * 32, "beef", 40, 30),
                            FoldedBatch("batch-0004.parquet", 4, "sklearn:iris", "data/incoming/x.csv", "ee" * 32, "feed", 42, 31)])
    newer = commit(repo, "migrated: one folder")
    old, new = folded_batches(repo, older, "iris-0a1b2c3d"), folded_batches(repo, newer, "iris-0a1b2c3d")
    assert [b["file"] for b in old] == [b["file"] for b in new] == \
        ["data/batches/iris-0a1b2c3d/batch-0002.parquet", "data/batches/iris-0a1b2c3d/batch-0004.parquet"]
    assert [{**b, "rows": None} for b in new] == old
    assert new[1] == {"file": "data/batches/iris-0a1b2c3d/batch-0004.parquet", "md5": "feed", "size": 42, "step": 4,
                      "delivered": "data/incoming/x.csv", "delivered_sha256": "ee" * 32, "rows": 31}
    assert new[0]["delivered"] is None
