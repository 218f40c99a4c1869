"""The compiled forest runtime against scikit-learn: identical labels, probabilities within 1e-6 on a
test split, and scikit-learn wherever it does not apply."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ctml.model import gates
from ctml.config import Params
from ctml.data.tables import feature_kinds, normalize
from ctml.model.features import build_preprocessor, full_pipeline, split_xy
from ctml.io import write_json
from ctml.model.estimator import build_estimator, save_model
from ctml.data.schema import infer_schema
from ctml.serve import compiled, scoring
from ctml.serve.protocol import infer_body, parse_infer, row_bodies
from ctml.data.task import TaskDecision


def fit(params: Params, frame: pd.DataFrame, model: str, task: str = "classification"):
    x, y = split_xy(frame, "target")
    pre = build_preprocessor(feature_kinds(frame, "target"), params.preprocess).fit(x)
    est = build_estimator(params.train.model_copy(update={"model": model}), task, seed=0)
    est.fit(pre.transform(x), y)
    return full_pipeline(pre, est)


def frame(n: int, seed: int, categorical: bool = False, regression: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {f"x{i}": rng.normal(size=n) for i in range(6)}
    data["x0"][rng.random(n) < 0.05] = np.nan  # missing values: imputed
    if categorical:
        data["colour"] = rng.choice(["red", "green", "blue"], size=n)
    signal = np.nan_to_num(data["x0"]) + data["x1"] * 0.5 + (data["colour"] == "red" if categorical else 0)
    data["target"] = signal + rng.normal(scale=0.1, size=n) if regression else (signal > 0).astype(int)
    return normalize(pd.DataFrame(data), "target")


@pytest.mark.parametrize("categorical", [False, True], ids=["numeric", "with-a-categorical-column"])
def test_compiled_forest_gives_sklearns_labels_and_probabilities(params, categorical):
    model = fit(params, frame(400, 0, categorical), "random_forest")
    x, _ = split_xy(frame(300, 1, categorical), "target")
    fast = compiled.verified(model, x)
    assert fast is not None
    proba = fast(x)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(x))
    assert np.abs(proba - model.predict_proba(x)).max() <= 1e-6
    one = fast(x.iloc[[3]])
    assert one.shape == (1, 2) and np.abs(one - model.predict_proba(x.iloc[[3]])).max() <= 1e-6


def test_compiled_regression_forest_predicts_as_sklearn(params):
    model = fit(params, frame(400, 0, regression=True), "random_forest", task="regression")
    x, _ = split_xy(frame(200, 1, regression=True), "target")
    fast = compiled.verified(model, x)
    assert fast is not None and np.abs(fast(x) - model.predict(x)).max() <= 1e-6


@pytest.mark.parametrize("name", ["gradient_boosting", "logistic_regression"])
def test_other_estimators_are_not_compiled(params, name):
    assert compiled.compile_model(fit(params, frame(200, 0), name)) is None


def test_a_compiled_model_that_disagrees_is_not_used(params):
    model = fit(params, frame(400, 0), "random_forest")
    x, _ = split_xy(frame(100, 1), "target")
    forest = model[-1]
    forest.estimators_[0].tree_.threshold[0] += 50.0  # scikit-learn now answers otherwise than the compiled copy...
    fast = compiled.compile_model(model)
    forest.estimators_[0].tree_.threshold[0] -= 50.0  # ...made before the change was undone
    assert fast is not None and not compiled.agrees(model, fast, x)  # a copy that differs is refused...
    assert compiled.verified(model, x) is not None  # ...and a fresh compile agrees


def test_latency_gate_times_v2_requests_through_the_serving_path(params, tmp_path):
    data = frame(300, 0)
    model = fit(params, data, "random_forest")
    x, _ = split_xy(frame(100, 1), "target")
    sha = save_model(model, tmp_path / "model.joblib")
    write_json(tmp_path / "model.json", {"model_sha256": sha, "features": list(x.columns)})
    write_json(tmp_path / "schema.json", infer_schema(data, "test", "target", TaskDecision("classification", "test")))
    query = scoring.load_and_query(tmp_path / "model.joblib", tmp_path / "model.json", tmp_path / "schema.json", x,
                                   params.validate_, max_rows=80)
    answer = query(5)  # what the server would send back for row 5
    import orjson

    doc = orjson.loads(answer)
    assert doc["model_version"] == "candidate" and doc["outputs"][0]["data"] == model.predict(x.iloc[[5]]).tolist()
    timings = gates.single_row_latencies_ms(query, max_samples=80, limit_ms=10_000)
    assert len(timings) == 59 and (timings > 0).all()
    served = scoring.load(tmp_path / "model.joblib", tmp_path / "model.json", tmp_path / "schema.json", "v", params.validate_)
    request = parse_infer(infer_body(x.iloc[:4], served.kinds, "r1"), served.kinds, served.outputs)
    assert request.id == "r1" and request.rows == 4


def test_row_bodies_are_the_single_row_requests_infer_body_encodes():
    """The latency probe's bodies, converted a column at a time, are byte for byte what a client
    sends for each row: every kind, a missing value of each."""
    rows = pd.DataFrame({
        "n": [1.5, np.nan, 3.0],
        "b": pd.array([True, None, False], dtype="boolean"),
        "d": pd.to_datetime(["2026-01-02", None, "2026-03-04"]),
        "c": ["red", None, "blue"],
    })
    kinds = {"n": "numeric", "b": "boolean", "d": "datetime", "c": "categorical"}
    assert row_bodies(rows, kinds) == [infer_body(rows.iloc[[i]], kinds) for i in range(len(rows))]
    assert row_bodies(rows.iloc[:0], kinds) == []
