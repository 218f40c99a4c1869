"""Train and evaluate on Dask: XGBoost's `hist` trees through `xgboost.dask`, predictions a part at a time.

The train split is read by the workers, one Parquet row group per task, and each worker turns its
rows into features with the fitted preprocessor (the same `transform` the saved pipeline applies);
`xgboost.dask` builds the trees from the workers' histograms, so the client never holds the split.
The booster comes back as a plain `xgboost.XGBClassifier` / `XGBRegressor` inside the same
pipeline the local engine saves: serving, the gates and drift see no difference.

Evaluating, each worker predicts its row groups of the test split and returns the label and the
prediction (and the class probabilities) only: a few numbers a row, from which the client computes
the metrics the local engine computes from the whole frame.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ctml.config import TrainParams
from ctml.dask.io import read_group, row_groups


def _features(part: tuple[str, int], preprocessor_path: str, features: list[str]) -> pd.DataFrame:
    """One row group as the model's input: the preprocessor's output, float32 as XGBoost bins it."""
    import joblib

    preprocessor = joblib.load(preprocessor_path)
    out = np.asarray(preprocessor.transform(read_group(part, features)), dtype="float32")
    return pd.DataFrame(out, columns=[f"f{i}" for i in range(out.shape[1])])


def _codes(part: tuple[str, int], target: str, classes: list[Any] | None) -> pd.Series:
    labels = read_group(part, [target])[target]
    if classes is None:
        return labels.astype("float32")
    return pd.Series(np.searchsorted(np.asarray(classes), labels.to_numpy()), name=target, dtype="int32")


def classes_of(path: str | Path, target: str) -> list[Any]:
    """The label values of a split, sorted (the codes XGBoost learns are their positions); only the
    label column is read."""
    import pyarrow.parquet as pq

    return sorted(pd.unique(pq.read_table(path, columns=[target]).column(0).to_pandas().dropna()).tolist())


def fit_xgboost(client: Any, train: str | Path, preprocessor_path: str | Path, features: list[str], target: str,
                task: str, params: TrainParams, seed: int) -> Any:
    """The fitted estimator the pipeline saves (an `EncodedClassifier` or an `XGBRegressor`), trained on
    the cluster by `xgboost.dask`."""
    import dask.dataframe as dd
    import xgboost
    from xgboost import dask as dxgb

    from ctml.model.estimator import EncodedClassifier, xgboost_options

    parts = row_groups(train)
    classes = classes_of(train, target) if task == "classification" else None
    x = dd.from_map(_features, parts, preprocessor_path=str(Path(preprocessor_path).resolve()), features=features,
                    enforce_metadata=False)
    y = dd.from_map(_codes, parts, target=target, classes=classes, enforce_metadata=False)
    options = xgboost_options(params, seed)
    if classes is None:
        booster = dxgb.train(client, {**_booster_params(options), "objective": "reg:squarederror"},
                             dxgb.DaskQuantileDMatrix(client, x, y), num_boost_round=params.n_estimators)["booster"]
        model = xgboost.XGBRegressor(**options, n_jobs=1)
        model.load_model(bytearray(booster.save_raw("ubj")))
        return model
    objective = {"objective": "binary:logistic"} if len(classes) == 2 else \
        {"objective": "multi:softprob", "num_class": len(classes)}
    booster = dxgb.train(client, {**_booster_params(options), **objective}, dxgb.DaskQuantileDMatrix(client, x, y),
                         num_boost_round=params.n_estimators)["booster"]
    inner = xgboost.XGBClassifier(**options, n_jobs=1)
    inner.load_model(bytearray(booster.save_raw("ubj")))
    wrapped = EncodedClassifier(xgboost.XGBClassifier(**options, n_jobs=1))
    wrapped.classes_, wrapped.estimator_ = np.asarray(classes, dtype=object if isinstance(classes[0], str) else None), inner
    return wrapped


def _booster_params(options: dict[str, Any]) -> dict[str, Any]:
    """The sklearn wrapper's keys in the names `xgboost.train` takes."""
    out = {"tree_method": options["tree_method"], "eta": options["learning_rate"], "seed": options["random_state"]}
    if "max_depth" in options:
        out["max_depth"] = options["max_depth"]
    return out


def _predict_part(part: tuple[str, int], model_path: str, target: str, classification: bool) -> dict[str, np.ndarray]:
    import joblib

    model = joblib.load(model_path)
    frame = read_group(part)
    x = frame.drop(columns=[target])
    out = {"y": frame[target].to_numpy(), "pred": np.asarray(model.predict(x))}
    if classification and hasattr(model, "predict_proba"):
        out["proba"] = np.asarray(model.predict_proba(x))
    return out


def predict_parts(client: Any, model_path: str | Path, test: str | Path, target: str,
                  classification: bool) -> dict[str, np.ndarray]:
    """Labels, predictions (and probabilities) of the test split, predicted on the workers a row
    group at a time, in the split's row order."""
    results = client.gather(client.map(_predict_part, row_groups(test), model_path=str(Path(model_path).resolve()), target=target,
                                       classification=classification, pure=False))
    return {key: np.concatenate([r[key] for r in results]) for key in results[0]}
