"""ctml.dask.train against the local engine: xgboost.dask on a real LocalCluster gives the plain
estimator's answers within the documented tolerance, and the workers' predictions are the pipeline's."""
from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from ctml.config import PreprocessParams, TrainParams
from ctml.dask.train import fit_xgboost, predict_parts
from ctml.io import write_parquet
from ctml.model.estimator import build_estimator, fit, save_model
from ctml.model.features import build_preprocessor, full_pipeline

TRAIN = TrainParams(model="xgboost", n_estimators=30, max_depth=4, learning_rate=0.3, C=1.0, max_iter=10, alpha=1.0)
PREPROCESS = PreprocessParams(test_size=0.25, numeric_imputer="median", scaler="standard", max_categories=5,
                              date_parts=["year"])
KINDS = {"a": "numeric", "b": "numeric", "c": "numeric", "colour": "categorical"}


def table(rows: int, seed: int, task: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows), "c": rng.normal(size=rows),
                          "colour": rng.choice(["red", "green", "blue"], rows)})
    frame.loc[rng.random(rows) < 0.05, "b"] = np.nan
    signal = frame["a"] - frame["c"] + (frame["colour"] == "red") * 0.8
    if task == "classification":
        frame["label"] = np.array(["no", "yes", "maybe"])[np.digitize(signal + rng.normal(scale=0.3, size=rows), [-0.5, 0.7])]
    else:
        frame["label"] = 3 * signal + rng.normal(scale=0.2, size=rows)
    return frame


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_xgboost_on_the_cluster_answers_as_the_local_estimator(dask_client, tmp_path: Path, task: str):
    train, test = table(3000, 0, task), table(1000, 1, task)
    write_parquet(tmp_path / "train.parquet", train)
    write_parquet(tmp_path / "test.parquet", test)
    preprocessor = build_preprocessor(KINDS, PREPROCESS).fit(train[list(KINDS)])
    save_model(preprocessor, tmp_path / "preprocessor.joblib")

    remote = fit_xgboost(dask_client, tmp_path / "train.parquet", tmp_path / "preprocessor.joblib", list(KINDS), "label",
                         task, TRAIN, seed=3)
    local = fit(build_estimator(TRAIN, task, 3), preprocessor.transform(train[list(KINDS)]), train["label"])
    pipe_remote, pipe_local = full_pipeline(preprocessor, remote), full_pipeline(preprocessor, local)
    save_model(pipe_remote, tmp_path / "model.joblib")
    x, y = test[list(KINDS)], test["label"]
    if task == "classification":
        assert list(pipe_remote.classes_) == ["maybe", "no", "yes"]
        agree = (pipe_remote.predict(x) == pipe_local.predict(x)).mean()
        accuracy = [(p.predict(x) == y).mean() for p in (pipe_remote, pipe_local)]
        assert agree >= 0.97 and abs(accuracy[0] - accuracy[1]) <= 0.02 and accuracy[0] > 0.8, (agree, accuracy)
    else:
        rmse = [float(np.sqrt(((p.predict(x) - y) ** 2).mean())) for p in (pipe_remote, pipe_local)]
        assert abs(rmse[0] - rmse[1]) <= 0.05 * rmse[1] and rmse[0] < y.std() / 3, rmse

    # the workers' predictions of the saved pipeline are the client's, in the split's row order
    got = predict_parts(dask_client, tmp_path / "model.joblib", tmp_path / "test.parquet", "label",
                        task == "classification")
    saved = joblib.load(tmp_path / "model.joblib")
    assert np.array_equal(got["y"], y.to_numpy()) and np.array_equal(got["pred"], saved.predict(x))
    if task == "classification":
        np.testing.assert_array_equal(got["proba"], saved.predict_proba(x))
