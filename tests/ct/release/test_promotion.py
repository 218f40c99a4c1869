"""Two retrains, then lineage, compare, rollback and predict against the restored version."""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import pandas as pd
import pytest

from tests.helpers import (built_once, copy_project, ct, drift_from_the_first_step, dvc,
                           git, read_json, retrain_on_drift, set_params)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def retrained_twice(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1.0.0 baseline, then two drift retrains: v1.1.0 on a shift, v1.2.0 on a shift twice as large (simulated
    batches come from the source, so a batch without a shift is no drift after the first). Do not modify: copy it."""
    def build(parent: Path) -> None:
        repo = copy_project(baseline_repo, parent)
        retrain_on_drift(repo)
        set_params(repo, ct__shift_magnitude=3.0)
        git("commit", "-qam", "a larger shift", cwd=repo)
        ct(repo, "simulate", "--scenario", "sudden", "--steps", "1", "--batch-size", "200", "--seed", "5")
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
    changes = json.loads(ct(repo, "compare", "v1.0.0", "v1.2.0", "--json").stdout)["changes"]
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


def test_compare_says_what_the_gate_measured_on_the_same_rows(retrained_twice, tmp_path):
    """v1.1.0 -> v1.2.0: each version's metrics.json is of its own test set; the line `compare` adds holds both
    models on v1.2.0's test rows: the candidate's is v1.2.0's own accuracy, production's is v1.1.0's predictions
    on those rows (scored here through `ct.py predict --version v1.1.0`)."""
    repo = retrained_twice
    test = pd.read_parquet(repo / "data/prepared/test.parquet")  # HEAD is v1.2.0's release
    assert read_json_at(repo, "model@v1.2.0", "metrics/gates.json")["gates"]["accuracy"]["value"] == \
        pytest.approx(read_json_at(repo, "model@v1.2.0", "metrics/metrics.json")["accuracy"], abs=1e-6)
    test.drop(columns="target").to_csv(tmp_path / "rows.csv", index=False)
    ct(repo, "predict", "--input", str(tmp_path / "rows.csv"), "--version", "v1.1.0", "--output", str(tmp_path / "v11.csv"))
    production = float((pd.read_csv(tmp_path / "v11.csv")["prediction"].to_numpy() == test["target"].to_numpy()).mean())
    candidate = read_json_at(repo, "model@v1.2.0", "metrics/metrics.json")["accuracy"]
    old = read_json_at(repo, "model@v1.1.0", "metrics/metrics.json")["accuracy"]
    line = next(ln for ln in ct(repo, "compare", "v1.1.0", "v1.2.0").stdout.splitlines() if "same test rows" in ln)
    assert line.startswith(f"v1.2.0 at its release, on the same test rows: candidate accuracy {candidate:.4f} "
                           f"vs production {production:.4f} (sha256 "), (line, old)
    # --json says the same, as numbers: the candidate's at full precision, production's as the line gives it.
    same = json.loads(ct(repo, "compare", "v1.1.0", "v1.2.0", "--json").stdout)["same_rows"]
    v11 = json.loads(ct(repo, "lineage", "v1.1.0", "--json").stdout)["model"]["sha256"]  # production at v1.2.0's release
    assert (same["version"], same["metric"], same["against"], same["passed"]) == ("v1.2.0", "accuracy", "production", True)
    assert same["candidate"] == pytest.approx(candidate, abs=1e-6) and same["against_score"] == pytest.approx(production, abs=5e-5)
    assert v11.startswith(same["production_sha256"]) and line.endswith(same["detail"])
    assert f"candidate accuracy {same['candidate']:.4f} vs production {same['against_score']:.4f} (sha256 " \
           f"{same['production_sha256']})" in line


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


def test_a_release_runs_the_gates_once_and_keeps_their_verdict(repo):
    """The gates judged the candidate against the production it replaces; promoting it must not
    run them again (the model against itself) and the release commit keeps that verdict."""
    drift_from_the_first_step(repo)
    out = ct(repo, "-v", "simulate", "--scenario", "sudden", "--steps", "1", "--batch-size", "200").stdout
    ran = [line.split()[1].rstrip(":") for line in out.splitlines() if line.strip().startswith("stage ")]
    assert ran.count("gates") == 1 and ran.count("train") == 1, out
    assert "model@v1.1.0" in git("tag", "--list", "model@*", cwd=repo).stdout
    gates = read_json(repo / "metrics/gates.json")
    assert gates["passed"] is True
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
