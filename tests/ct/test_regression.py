"""End to end on a numeric target, with the real dvc, git and stages: the user path of a regression
project, and a classification project with CT history switched to `data.task: regression`."""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.helpers import ct, dvc, git, history, make_project, read_json, set_params, tags

pytestmark = pytest.mark.slow

CLASSIFICATION_CSVS = {"metrics/plots/confusion.csv", "metrics/plots/roc.csv"}
REGRESSION_PLOTS = {f"metrics/plots/{name}.csv" for name in ("predicted_vs_actual", "residuals", "residual_hist")}


def test_diabetes_repro_metrics_plots_simulate_predict_lineage_rollback(tmp_path: Path):
    repo = make_project(tmp_path / "project")
    set_params(repo, data__source="sklearn:diabetes")
    git("commit", "-qam", "a numeric target", cwd=repo)
    out = dvc("repro", cwd=repo).stdout
    assert "task regression (data.task auto: 214 distinct whole-number labels" in out
    # metrics.json holds the test set's errors, as the model makes them
    model = joblib.load(repo / "models/model.joblib")
    test = pd.read_parquet(repo / "data/prepared/test.parquet")
    errors = test["target"].to_numpy() - model.predict(test.drop(columns="target"))
    metrics = read_json(repo / "metrics/metrics.json")
    assert set(metrics) == {"rmse", "mae", "r2", "mape"}
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean(errors ** 2)), abs=1e-5)
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(errors)), abs=1e-5) and 0.3 < metrics["r2"] < 0.7
    shown = json.loads(dvc("metrics", "show", "--json", cwd=repo).stdout)
    assert shown[""]["data"]["metrics/metrics.json"]["data"] == metrics
    loaded = json.loads(dvc("plots", "show", "--json", cwd=repo).stdout)
    assert not [e for e in loaded["errors"] if e["name"].startswith("metrics/plots/")]
    (scatter,) = loaded["data"]["metrics/plots/predicted_vs_actual.csv"]
    assert len(scatter["content"]["data"]["values"]) == len(test)
    assert all(len(loaded["data"][name]) == 1 for name in REGRESSION_PLOTS | {"metrics/plots/importance.csv"})
    assert all(loaded["data"][name] == [] for name in CLASSIFICATION_CSVS)  # the other task's: an empty table
    assert (repo / "metrics/plots/confusion.csv").read_text() == "actual,predicted\n"
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "pipeline run", cwd=repo)

    ct(repo, "simulate", "--scenario", "sudden", "--steps", "4", "--batch-size", "200")
    past = history(repo)
    assert past["retrained"].tolist() == [False, False, True, False] and past["batch_accuracy"].isna().all()
    assert past["batch_rmse"].notna().all() and past.loc[2, "model_version"] == "v1.1.0"
    assert sorted(tags(repo)) == ["model#prod#1", "model#prod#2", "model@v1.0.0", "model@v1.1.0"]
    prod = read_json(repo / "models/production/model.json")
    assert (prod["task"], "classes" in prod) == ("regression", False)

    rows = pd.read_parquet(repo / "data/raw/train.parquet").head(25).drop(columns="target")
    rows.to_csv(repo / "rows.csv", index=False)
    ct(repo, "predict", "--input", "rows.csv", "--output", "pred.csv")
    pred = pd.read_csv(repo / "pred.csv")
    assert list(pred.columns) == ["prediction"]
    production = joblib.load(repo / "models/production/model.joblib")
    assert pred["prediction"].to_numpy() == pytest.approx(production.predict(rows))

    lineage = json.loads(ct(repo, "lineage", "v1.1.0", "--json").stdout)
    assert lineage["model"]["task"] == "regression" and set(lineage["metrics"]) == {"rmse", "mae", "r2", "mape"}
    # the metric gate is named after the metric it compares: a regressor is never "blocked by accuracy"
    assert set(lineage["gates"]["gates"]) == {"schema", "freshness", "rmse", "latency", "fairness"}
    assert lineage["gates"]["gates"]["rmse"]["detail"].startswith("candidate rmse ")

    ct(repo, "rollback")
    v1 = json.loads(git("show", "model@v1.0.0:models/model.json", cwd=repo).stdout)
    assert read_json(repo / "models/production/model.json")["model_sha256"] == v1["model_sha256"]
    assert json.loads(ct(repo, "status", "--json").stdout)["production_version"] == "v1.0.0"


def test_switching_a_ct_project_to_regression_starts_a_new_lineage_and_catches_concept_drift(repo: Path):
    ct(repo, "simulate", "--scenario", "none", "--steps", "1", "--batch-size", "150")
    assert read_json(repo / "models/production/model.json")["task"] == "classification"
    set_params(repo, data__task="regression")
    git("commit", "-qam", "the label is a quantity", cwd=repo)

    proc = ct(repo, "simulate", "--scenario", "concept", "--steps", "3", "--batch-size", "200", check=False)
    out = proc.stdout
    assert "baseline: released model v2.0.0" in out  # a new task is a new lineage: a new major version
    # The gates that promoted it (metrics/gates.json is re-measured against the new production on release).
    baseline = json.loads(git("show", "model@v2.0.0:models/production/gates.json", cwd=repo).stdout)["gates"]["rmse"]
    # The first model of a new lineage is held to a naive model of its task, not to another lineage's production.
    assert baseline["passed"] and "vs a naive model (mean)" in baseline["detail"] and baseline["detail"].endswith(
        "first model of its lineage, not compared with another lineage's production")
    schema = json.loads(git("show", "model@v2.0.0:data/schema.json", cwd=repo).stdout)
    assert (schema["task"], schema["task_reason"]) == ("regression", "data.task: regression")
    past = history(repo)
    assert past["batch_accuracy"].notna().tolist() == [True, False, False, False]  # step 1 was the classifier's
    assert past["batch_rmse"].notna().tolist() == [False, True, True, True]
    concept = past.iloc[-1]  # ct.start_step = 3: labels mirrored above the pivot, features as before
    assert concept["drift_score"] <= concept["threshold"] and concept["error_increase"] > 0.2
    assert concept["note"].startswith("rmse increase")  # the trigger, whatever the gates said of the candidate
    assert (concept["status"], concept["gates"]) in (("retrained", "passed"), ("blocked", "blocked:rmse"))
    assert proc.returncode == (3 if concept["status"] == "blocked" else 0), proc.stderr  # 3: a blocked candidate needs a person
    assert read_json(repo / "models/production/model.json")["task"] == "regression"
    assert len(pd.read_csv(repo / "metrics/plots/residuals.csv")) > 100
    assert (repo / "metrics/plots/roc.csv").read_text() == "fpr,tpr,class\n"  # the classifier's plots: empty now
