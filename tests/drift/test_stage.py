"""The drift stage end to end: `dvc repro drift` in temporary git repos of the project, and its
`main` called directly for the bad-input paths."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from ctml.errors import run_main
from tests.helpers import ROOT, dvc, read_json, set_params

pytestmark = pytest.mark.slow


def stage_module():
    spec = importlib.util.spec_from_file_location("drift_stage", ROOT / "stages" / "drift.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def argv(repo: Path) -> list[str]:
    return ["--params", str(repo / "params.yaml"), "--reference", str(repo / "data/raw/train.parquet"),
            "--batches", str(repo / "data/batches"), "--checked", str(repo / "data/checked"), "--model", str(repo / "models/model.joblib"),
            "--meta", str(repo / "models/model.json"), "--production", str(repo / "models/production"),
            "--metrics", str(repo / "metrics/metrics.json"), "--schema", str(repo / "data/schema.json"),
            "--out", str(repo / "metrics/drift.json"), "--summary", str(repo / "metrics/drift_summary.json"),
            "--features", str(repo / "metrics/drift_features.json"), "--plots", str(repo / "metrics/drift_plots"),
            "--calibration", str(repo / "models/calibration.json"), "--cache", str(repo / ".ct/drift-cache")]


def calibrated_accuracy(repo: Path, model_dir: Path, batch: pd.DataFrame) -> float:
    """CBPE's expected accuracy computed here from calibration.json: the mean calibrated probability of
    the predicted class (the positive class's curve applied as np.interp, clipped)."""
    model, calibration = joblib.load(model_dir / "model.joblib"), read_json(model_dir / "calibration.json")
    proba = model.predict_proba(batch.drop(columns=["target"], errors="ignore"))
    curve = calibration["curves"][1]
    positive = proba[:, 1] if curve is None else np.interp(np.clip(proba[:, 1], curve["x"][0], curve["x"][-1]), curve["x"], curve["y"])
    return float(np.where(proba.argmax(1) == 1, positive, 1 - positive).mean())


def shifted_batch(repo: Path, columns: list[str], rows: int = 300, labelled: bool = True) -> pd.DataFrame:
    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(rows, random_state=3, replace=True).reset_index(drop=True)
    for name in columns:
        frame[name] = frame[name] + 3 * frame[name].std()
    return frame if labelled else frame.drop(columns="target")


def test_without_a_batch_the_report_says_so(baseline_repo: Path):
    report = read_json(baseline_repo / "metrics/drift.json")
    assert (report["has_batch"], report["drift_score"], report["reference_rows"]) == (False, 0.0, 569)
    assert "features" not in report and read_json(baseline_repo / "metrics/drift_features.json") == {}
    # Every declared plot file is there (one "(no batch)" row each), so `dvc plots diff` against the baseline finds it.
    plots = baseline_repo / "metrics/drift_plots"
    assert sorted(p.relative_to(plots).as_posix() for p in plots.rglob("*.csv")) == ["distributions/no_batch.csv", "scores.csv"]
    assert pd.read_csv(plots / "scores.csv")["feature"].tolist() == ["(no batch)"]


def test_without_a_batch_the_last_measurement_stays(repo: Path, capsys):
    """What a queued `dvc exp run` sees (git-ignored data/checked is not copied): the workspace's
    measurement of the last batch must survive `dvc exp apply`."""
    shifted_batch(repo, ["mean radius"]).to_parquet(repo / "data/checked/batch.parquet", index=False)
    assert run_main(stage_module().main, argv(repo)) == 0
    files = [repo / "metrics/drift.json", repo / "metrics/drift_features.json", *sorted((repo / "metrics/drift_plots").rglob("*.*"))]
    measured = {p: p.read_bytes() for p in files}
    (repo / "data/checked/batch.parquet").unlink()
    assert run_main(stage_module().main, argv(repo)) == 0
    assert "no batch in" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in files} == measured and read_json(repo / "metrics/drift.json")["has_batch"] is True


def test_a_shifted_batch_is_measured_plotted_and_shown_by_dvc(repo: Path):
    columns = ["mean radius", "mean texture", "worst area"]
    shifted_batch(repo, columns).to_parquet(repo / "data/checked/batch.parquet", index=False)
    dvc("repro", "drift", cwd=repo)
    report, features = read_json(repo / "metrics/drift.json"), read_json(repo / "metrics/drift_features.json")
    assert (report["has_batch"], report["batch_rows"], report["reference_rows"], report["n_features"]) == (True, 300, 569, 30)
    assert {n for n, f in features.items() if f["drifted"]} >= set(columns) and len(features) == 30
    assert report["drift_score"] == round(report["n_drifted"] / 30, 6) and features["mean radius"]["method"] == "ks"
    assert report["prediction"]["method"] == "chi2" and report["performance"]["labelled"] is True
    metrics = read_json(repo / "metrics/metrics.json")
    assert report["performance"]["reference_accuracy"] == metrics["accuracy"]
    perf, multi = report["performance"], report["multivariate"]
    batch = pd.read_parquet(repo / "data/checked/batch.parquet")
    assert perf["estimation"] == "cbpe" and perf["estimated_accuracy"] == pytest.approx(calibrated_accuracy(repo, repo / "models", batch), abs=1e-6)
    assert perf["estimated_accuracy_lower"] <= perf["estimated_accuracy"] <= perf["estimated_accuracy_upper"]
    assert perf["estimated_drop"] == pytest.approx(metrics["accuracy"] - perf["estimated_accuracy"], abs=2e-6)
    assert (multi["method"], multi["drifted"]) == ("domain_classifier", True) and multi["score"] >= 0.9
    plots = repo / "metrics/drift_plots"
    assert sorted(p.name for p in plots.iterdir()) == ["distributions", "distributions.png", "scores.csv", "scores.png"]
    assert len(list((plots / "distributions").glob("*.csv"))) == 4
    scores = pd.read_csv(plots / "scores.csv")
    assert len(scores) == 30 and set(scores["feature"][:3]) <= set(features) and scores["drifted"][:3].all()
    shown = dvc("metrics", "show", "--json", cwd=repo).stdout
    assert '"drift_score"' in shown and '"mean radius"' not in shown  # the per-feature detail is no metric
    assert "metrics/drift_plots/scores.csv" in dvc("plots", "show", "--json", cwd=repo).stdout


def test_values_beyond_the_training_ranges_are_counted(repo: Path, capsys):
    """30 of 300 rows just beyond the recorded maximum of one feature: drift, measured, not refused."""
    batch = pd.read_parquet(repo / "data/raw/train.parquet").sample(300, random_state=4).reset_index(drop=True)
    top = read_json(repo / "data/schema.json")["columns"]["mean radius"]["max"]
    batch.loc[:29, "mean radius"] = top + 1.0
    batch.to_parquet(repo / "data/checked/batch.parquet", index=False)
    assert run_main(stage_module().main, argv(repo)) == 0
    report, features = read_json(repo / "metrics/drift.json"), read_json(repo / "metrics/drift_features.json")
    assert (report["out_of_range_share"], report["n_out_of_range"]) == (round(30 / (300 * 30), 6), 1)
    assert features["mean radius"]["out_of_range_share"] == 0.1 and features["mean texture"]["out_of_range_share"] == 0.0
    assert "0.3% of numeric values beyond production's training ranges, on 300 rows" in capsys.readouterr().out


def test_csv_batch_without_labels_and_the_production_model(repo: Path):
    production = repo / "models/production"
    for name in ("model.joblib", "model.json"):
        shutil.copy2(repo / "models" / name, production / name)
    (production / "metrics.json").write_text('{"accuracy": 0.5}')
    batch = shifted_batch(repo, ["mean area"], labelled=False)
    batch.to_csv(repo / "data/checked/batch.csv", index=False)
    assert run_main(stage_module().main, argv(repo)) == 0
    perf = read_json(repo / "metrics/drift.json")["performance"]
    assert {k: perf[k] for k in ("labelled", "accuracy", "reference_accuracy", "accuracy_drop", "estimated_accuracy")} == \
        {"labelled": False, "accuracy": None, "reference_accuracy": 0.5, "accuracy_drop": None, "estimated_accuracy": None}
    assert perf["estimation"] == "not available: no calibration.json beside the model (released before estimation existed)"
    assert read_json(repo / "metrics/drift_features.json")["mean area"]["drifted"] is True
    shutil.copy2(repo / "models/calibration.json", production / "calibration.json")  # what a release now copies
    assert run_main(stage_module().main, argv(repo)) == 0
    perf = read_json(repo / "metrics/drift.json")["performance"]
    assert perf["estimation"] == "cbpe" and perf["accuracy"] is None
    assert perf["estimated_accuracy"] == pytest.approx(calibrated_accuracy(repo, production, batch), abs=1e-6)
    assert perf["estimated_drop"] == pytest.approx(0.5 - perf["estimated_accuracy"], abs=2e-6)


def test_a_tampered_production_model_is_refused(repo: Path, capsys):
    production = repo / "models/production"
    shutil.copy2(repo / "models/model.json", production / "model.json")
    (production / "model.joblib").write_bytes(b"not the model")
    shifted_batch(repo, []).to_parquet(repo / "data/checked/batch.parquet", index=False)
    assert run_main(stage_module().main, argv(repo)) == 1
    assert "refusing to load" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    (b"a,b\n1,2\n", "missing feature column 'area error' (+29 more)"),  # the schema's features, sorted
    (b"", "batch.csv: file is empty"),
    (b"\xff\xfe\x00garbage", "batch.csv: not UTF-8 text"),
])
def test_a_bad_batch_is_one_line_naming_file_or_column(repo: Path, capsys, content: bytes, message: str):
    (repo / "data/checked/batch.csv").write_bytes(content)
    assert run_main(stage_module().main, argv(repo)) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and str(repo / "data/checked/batch.csv") in err


def test_dask_engine_gives_the_local_report(repo: Path):
    shifted_batch(repo, ["mean radius", "worst texture"], rows=2000).to_parquet(repo / "data/checked/batch.parquet", index=False)
    dvc("repro", "drift", cwd=repo)
    local, local_features = read_json(repo / "metrics/drift.json"), read_json(repo / "metrics/drift_features.json")
    set_params(repo, compute__engine="dask", compute__partition_rows=1000)
    dvc("repro", "drift", cwd=repo)
    distributed, features = read_json(repo / "metrics/drift.json"), read_json(repo / "metrics/drift_features.json")
    # the domain classifier's score is the one figure apart: each engine draws its own sample of rows
    multi, local_multi = distributed.pop("multivariate"), local.pop("multivariate")
    assert distributed == local and features.keys() == local_features.keys()
    assert (multi["method"], multi["batch_rows"], multi["drifted"]) == (local_multi["method"], local_multi["batch_rows"], True)
    for name, f in local_features.items():
        got = features[name]
        assert (got["method"], got["drifted"]) == (f["method"], f["drifted"])
        assert got["score"] == pytest.approx(f["score"], abs=2e-6) and got["p_value"] == pytest.approx(f["p_value"], abs=2e-6)
    assert np.isclose(distributed["drift_score"], local["drift_score"])


def test_reference_is_the_newest_retrained_batch_when_latest(tmp_path):
    drift_stage = stage_module()
    batches = tmp_path / "batches"
    batches.mkdir()
    training = tmp_path / "train.parquet"
    assert drift_stage.reference_for(training, batches, "latest") == training
    for name in ("batch-0002.parquet", "batch-0010.parquet"):
        (batches / name).write_bytes(b"x")
    assert drift_stage.reference_for(training, batches, "latest") == batches / "batch-0010.parquet"
    assert drift_stage.reference_for(training, batches, "training") == training
