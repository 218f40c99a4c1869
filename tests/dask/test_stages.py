"""The evaluate and gates stages on the dask engine against the local engine, in the project: the workers
predict the test split a row group at a time (and hand over the reference model's rows); every metric and
every gate's verdict is the local engine's."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import read_json, set_params

pytestmark = pytest.mark.slow
EVALUATE = ["--model", "models/model.joblib", "--meta", "models/model.json", "--test", "data/prepared/test.parquet",
            "--train", "data/prepared/train.parquet", "--metrics", "metrics/metrics.json", "--plots", "metrics/plots",
            "--calibration", "models/calibration.json", "--reference", "metrics/reference_model.json"]
OUTPUTS = ["metrics/metrics.json", "metrics/reference_model.json", "models/calibration.json", "metrics/plots/roc.csv",
           "metrics/plots/confusion.csv", "metrics/plots/importance.csv"]
ARGS = ["--model", "models/model.joblib", "--meta", "models/model.json", "--test", "data/prepared/test.parquet",
        "--production", "models/production", "--data", "data/raw/train.parquet", "--batches", "data/batches",
        "--validation", "metrics/validation.json", "--schema", "data/schema.json", "--out", "metrics/gates.json",
        "--summary", "metrics/gates_summary.json"]


def test_gates_on_the_cluster_give_the_local_verdicts(repo: Path, dask_client, monkeypatch):
    from stages import gates

    for name in ("model.joblib", "model.json"):  # production in place: the accuracy gate scores both models
        shutil.copy2(repo / "models" / name, repo / "models/production" / name)
    monkeypatch.chdir(repo)
    set_params(repo, gates__fairness__sensitive_column="mean radius", gates__fairness__max_dp_diff=1.0)
    gates.main(ARGS)
    local = read_json(repo / "metrics/gates.json")
    set_params(repo, compute__engine="dask", compute__scheduler=dask_client.scheduler.address)
    gates.main(ARGS)
    remote = read_json(repo / "metrics/gates.json")
    for result in (local, remote):
        del result["checked_at"], result["gates"]["latency"]  # timings
    assert remote == local
    accuracy = local["gates"]["accuracy"]
    assert accuracy["passed"] and "vs production" in accuracy["detail"] and accuracy["value"] > 0.9
    assert local["gates"]["fairness"]["value"] > 0 and "rate of predicting" in local["gates"]["fairness"]["detail"]


def test_evaluate_on_the_cluster_writes_the_local_metrics(repo: Path, dask_client, monkeypatch):
    from ctml.model import evaluate as model_evaluate
    from stages import evaluate

    monkeypatch.chdir(repo)
    monkeypatch.setattr(model_evaluate, "REFERENCE_ROWS", 300)  # the reference model learns from a sample of the 426 rows
    evaluate.main(EVALUATE)
    local = {name: (repo / name).read_text() for name in OUTPUTS}
    set_params(repo, compute__engine="dask", compute__scheduler=dask_client.scheduler.address)
    evaluate.main(EVALUATE)
    assert {name: (repo / name).read_text() for name in OUTPUTS} == local
    reference = read_json(repo / "metrics/reference_model.json")
    assert reference["name"] == "HistGradientBoostingClassifier()" and 0.85 < reference["accuracy"] <= 1
    assert not list((repo / "models").glob("ctml-reference-*"))  # the workers' copy of the reference model is gone
