"""Two retrains, then lineage, compare, rollback and predict against the restored version."""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import pandas as pd
import pytest

from tests.helpers import built_once, copy_project, ct, git, read_json, set_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def retrained_twice(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1.0.0 baseline, then two drift retrains: v1.1.0 and v1.2.0. Do not modify: copy it."""
    def build(parent: Path) -> None:
        repo = copy_project(baseline_repo, parent)
        set_params(repo, ct__start_step=1)
        git("commit", "-qam", "drift from the first step", cwd=repo)
        ct(repo, "simulate", "--scenario", "sudden", "--steps", "1", "--batch-size", "200")
        ct(repo, "simulate", "--scenario", "none", "--steps", "1", "--batch-size", "200", "--seed", "5")
        versions = sorted(t for t in git("tag", "--list", "model@*", cwd=repo).stdout.split())
        assert versions == ["model@v1.0.0", "model@v1.1.0", "model@v1.2.0"], versions

    return built_once(tmp_path_factory, "retrained-twice", build)[0]


def test_lineage_of_a_version_two_retrains_back(retrained_twice):
    repo = retrained_twice
    old = json.loads(ct(repo, "lineage", "v1.0.0", "--json").stdout)
    new = json.loads(ct(repo, "lineage", "v1.2.0", "--json").stdout)
    assert old["data"]["batches"] == []
    assert [Path(b["file"]).name for b in new["data"]["batches"]] == ["batch-0001.parquet", "batch-0002.parquet"]
    assert old["data"]["train_rows"] < new["data"]["train_rows"]
    assert old["model"]["sha256"] != new["model"]["sha256"]
    assert old["metrics"]["accuracy"] > 0.9
    assert old["gates"]["passed"] is True
    assert old["commit"] == git("rev-parse", "model@v1.0.0^{commit}", cwd=repo).stdout.strip()
    assert old["data"]["training_data_md5"] and old["data"]["training_data_md5"] != new["data"]["training_data_md5"]


def test_compare_shows_what_changed_sorted_side_by_side(retrained_twice):
    repo = retrained_twice
    changes = json.loads(ct(repo, "compare", "v1.0.0", "v1.2.0", "--json").stdout)
    old, new = (flat(read_json_at(repo, tag, "metrics/metrics.json")) for tag in ("model@v1.0.0", "model@v1.2.0"))
    metrics = {c["key"]: (c["old"], c["new"]) for c in changes if c["file"] == "metrics/metrics.json"}
    assert metrics == {k: (old[k], new[k]) for k in old if old[k] != new[k]} and "accuracy" in metrics
    assert all(c["old"] != c["new"] for c in changes)  # only what changed
    order = [(c["kind"] != "param", c["file"], c["key"]) for c in changes]
    assert order == sorted(order) and not any(c["key"].startswith("features") for c in changes)
    out = ct(repo, "compare", "v1.0.0", "v1.2.0").stdout
    assert f"v1.0.0 -> v1.2.0: {len(changes)} changed" in out and len(out.splitlines()) <= len(changes) + 7
    # Each version's metrics are of its own test set; what the gate measured on the same rows is said too.
    assert "v1.2.0 at its release, on the same test rows: candidate accuracy" in out


def flat(metrics: dict) -> dict:
    """metrics.json as `dvc metrics diff` names its keys (reference_model.accuracy)."""
    return {f"{k}.{s}" if isinstance(v, dict) else k: w for k, v in metrics.items()
            for s, w in (v.items() if isinstance(v, dict) else [(None, v)])}


def read_json_at(repo: Path, rev: str, path: str) -> dict:
    return json.loads(git("show", f"{rev}:{path}", cwd=repo).stdout)


def test_rollback_restores_model_and_predict_uses_it(retrained_twice, tmp_path):
    repo = copy_project(retrained_twice, tmp_path)
    v11 = json.loads(ct(repo, "lineage", "v1.1.0", "--json").stdout)["model"]["sha256"]
    out = ct(repo, "rollback").stdout
    assert "v1.2.0 -> v1.1.0" in out
    assert read_json(repo / "models/production/model.json")["model_sha256"] == v11
    assert read_json(repo / "models/model.json")["model_sha256"] == v11
    assert "model#prod#4" in git("tag", "--list", cwd=repo).stdout
    assert json.loads(ct(repo, "lineage", "v1.1.0", "--json").stdout)["model"]["sha256"] == v11

    rows = pd.read_parquet(repo / "data/prepared/test.parquet").drop(columns="target").head(20)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    ct(repo, "predict", "--input", str(tmp_path / "rows.csv"), "--output", str(tmp_path / "out.csv"))
    predicted = pd.read_csv(tmp_path / "out.csv")
    model = joblib.load(repo / "models/production/model.joblib")
    assert predicted["prediction"].tolist() == model.predict(rows).tolist()

    ct(repo, "predict", "--input", str(tmp_path / "rows.csv"), "--version", "v1.0.0", "--output", str(tmp_path / "v10.csv"))
    assert len(pd.read_csv(tmp_path / "v10.csv")) == 20

    back = ct(repo, "rollback", "v1.0.0").stdout
    assert "v1.1.0 -> v1.0.0" in back
    status = ct(repo, "status").stdout
    assert "v1.0.0" in status


def test_rollback_without_history_is_refused(repo):
    proc = ct(repo, "rollback", check=False)
    assert proc.returncode == 1 and "no model in production yet" in proc.stderr
