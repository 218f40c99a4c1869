"""The gates stage end to end: real `dvc repro` in temporary git repos of the project."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ctml.runs.offline import offline_runs
from tests.helpers import dvc, lineage_folder, ran_stages, read_json, set_params

pytestmark = pytest.mark.slow
GATES = ["schema", "freshness", "accuracy", "latency", "fairness"]


def test_baseline_candidate_passes_every_gate(baseline_repo: Path):
    result = read_json(baseline_repo / "metrics/gates.json")
    metrics = read_json(baseline_repo / "metrics/metrics.json")
    gates = result["gates"]
    assert (result["passed"], result["blocked_by"], result["alerts"]) == (True, [], [])
    assert sorted(gates) == sorted(GATES) and all(g["passed"] for g in gates.values())
    assert gates["schema"]["value"] == read_json(baseline_repo / "metrics/validation.json")["rows"] == 569
    assert gates["accuracy"]["value"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert gates["accuracy"]["detail"].endswith("no production model")
    assert 0 < gates["latency"]["value"] < gates["latency"]["limit"] == 100
    assert gates["freshness"]["value"] is None and gates["freshness"]["blocking"] is False
    assert gates["fairness"]["value"] is None and gates["fairness"]["detail"].startswith("disabled")


def test_worse_candidate_is_blocked_by_accuracy(repo: Path):
    production = repo / "models/production"
    for name in ("model.joblib", "model.json"):
        shutil.copy2(repo / "models" / name, production / name)
    production_accuracy = read_json(repo / "metrics/metrics.json")["accuracy"]
    set_params(repo, train__model="logistic_regression", train__C=1e-6)
    proc = dvc("repro", cwd=repo)
    result = read_json(repo / "metrics/gates.json")
    candidate_accuracy = read_json(repo / "metrics/metrics.json")["accuracy"]
    assert candidate_accuracy < production_accuracy - 0.2
    assert (result["passed"], result["blocked_by"], result["alerts"]) == (False, ["accuracy"], [])
    assert result["gates"]["accuracy"]["value"] == pytest.approx(candidate_accuracy, abs=1e-6)
    assert result["gates"]["accuracy"]["limit"] == pytest.approx(production_accuracy - 0.02, abs=1e-6)
    assert "gates: BLOCKED by accuracy |" in proc.stdout


def test_latency_limit_blocks_and_reruns_only_the_gates(repo: Path):
    set_params(repo, gates__p95_latency_ms=0.001)
    proc = dvc("repro", cwd=repo)
    result = read_json(repo / "metrics/gates.json")
    assert ran_stages(proc.stdout) == ["gates"]
    assert (result["passed"], result["blocked_by"]) == (False, ["latency"])
    assert result["gates"]["latency"]["value"] > 0.001 and result["gates"]["latency"]["limit"] == 0.001
    assert "gates: BLOCKED by latency |" in proc.stdout
    logged = offline_runs(repo, stage="gates")[0]  # what tracking recorded, read back from the offline run
    assert logged.status == "ok" and "gates:blocked" in logged.tags
    assert logged.fields["gates/passed"] is False and logged.fields["gates/blocked_by"] == '["latency"]'
    assert logged.fields["gates/gates/latency/value"] == result["gates"]["latency"]["value"]
    assert len(logged.series["latency/single_row_ms"]) == 200


def people(n: int = 400) -> pd.DataFrame:
    """User data whose label follows the 'group' column (90 %), dated early 2020."""
    rng = np.random.default_rng(5)
    group = rng.choice(["a", "b"], size=n)
    flip = rng.random(n) < 0.1
    return pd.DataFrame({
        "age": rng.integers(18, 80, size=n),
        "income": rng.normal(50, 10, size=n).round(2),
        "group": group,
        "seen": pd.date_range("2020-01-01", periods=n, freq="h").strftime("%Y-%m-%dT%H:%M:%S"),
        "approved": np.where((group == "a") ^ flip, "yes_", "no_"),
    })


def test_fairness_blocks_and_old_data_alerts_on_user_data(fresh_repo: Path):
    repo = fresh_repo
    frame = people()
    frame.to_csv(repo / "data/source/people.csv", index=False)
    set_params(repo, data__source="data/source/people.csv", data__target="approved",
               gates__fairness__sensitive_column="group")
    before = pd.Timestamp.now(tz="UTC").tz_localize(None)
    dvc("repro", cwd=repo)
    after = pd.Timestamp.now(tz="UTC").tz_localize(None)
    result = read_json(repo / "metrics/gates.json")
    fairness, freshness = result["gates"]["fairness"], result["gates"]["freshness"]
    newest = pd.Timestamp(frame["seen"].max())
    assert (result["passed"], result["blocked_by"], result["alerts"]) == (False, ["fairness"], ["freshness"])
    assert fairness["value"] > 0.5 and fairness["limit"] == 0.1
    assert "'yes_' by 'group'" in fairness["detail"]
    hours = 1e-3  # the value is rounded to 3 decimals of an hour
    assert (before - newest).total_seconds() / 3600 - hours <= freshness["value"] <= (after - newest).total_seconds() / 3600 + hours
    assert freshness["passed"] is False and freshness["blocking"] is False and "column 'seen'" in freshness["detail"]

    set_params(repo, gates__fairness__sensitive_column="")
    proc = dvc("repro", cwd=repo)
    result = read_json(repo / "metrics/gates.json")
    assert ran_stages(proc.stdout) == ["gates"]
    assert (result["passed"], result["blocked_by"], result["alerts"]) == (True, [], ["freshness"])
    assert "gates: PASSED (alerts: freshness) |" in proc.stdout

    set_params(repo, gates__fairness__sensitive_column="gender")
    proc = dvc("repro", cwd=repo, check=False)
    assert proc.returncode != 0
    assert "error: gates.fairness.sensitive_column 'gender' is not a feature column" in proc.stderr + proc.stdout


def test_fresh_batch_file_dates_the_data(repo: Path):
    """Without datetime columns the newest batch file's time is the data time: just written, so fresh."""
    batch = pd.read_parquet(repo / "data/raw/train.parquet").head(20)
    folder = lineage_folder(repo)
    batch.to_parquet(folder / "batch-0001.parquet", index=False)
    start = time.time()
    dvc("repro", cwd=repo)
    freshness = read_json(repo / "metrics/gates.json")["gates"]["freshness"]
    assert freshness["passed"] is True and "batch-0001.parquet" in freshness["detail"]
    assert 0 <= freshness["value"] <= (time.time() - start) / 3600 + 1e-3
