"""Estimator choice, byte-stable saving, and loading only a model whose hash matches its metadata."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ctml.config import TrainParams
from ctml.errors import UserError
from ctml.io import sha256_file, write_json
from ctml.model.estimator import build_estimator, fit, load_verified, save_model


def train_params(model: str) -> TrainParams:
    return TrainParams(model=model, n_estimators=7, max_depth=3, learning_rate=0.3, C=0.5, max_iter=50, alpha=0.5)


def tiny_xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return x, (x[:, 0] + 0.1 * rng.normal(size=40) > 0).astype(int)


@pytest.mark.parametrize(
    "model, kind, expected",
    [
        ("random_forest", "RandomForestClassifier", {"n_estimators": 7, "max_depth": 3, "random_state": 11, "n_jobs": 1}),
        ("gradient_boosting", "GradientBoostingClassifier",
         {"n_estimators": 7, "max_depth": 3, "learning_rate": 0.3, "random_state": 11}),
        ("logistic_regression", "LogisticRegression", {"C": 0.5, "max_iter": 50, "random_state": 11}),
    ],
)
def test_build_estimator_applies_only_its_hyperparameters(model: str, kind: str, expected: dict) -> None:
    est = build_estimator(train_params(model), "classification", seed=11)
    assert type(est).__name__ == kind
    assert {k: est.get_params()[k] for k in expected} == expected


@pytest.mark.parametrize("model", ["random_forest", "gradient_boosting", "hist_gradient_boosting", "xgboost", "logistic_regression"])
def test_same_seed_same_model_bytes(tmp_path: Path, model: str) -> None:
    x, y = tiny_xy()
    first = save_model(build_estimator(train_params(model), "classification", 3).fit(x, y), tmp_path / "a.joblib")
    second = save_model(build_estimator(train_params(model), "classification", 3).fit(x, y), tmp_path / "b.joblib")
    assert first == second == sha256_file(tmp_path / "a.joblib")
    assert build_estimator(train_params(model), "classification", 3).fit(x, y).score(x, y) >= 0.9


def saved(tmp_path: Path) -> tuple[Path, Path]:
    x, y = tiny_xy()
    model_path, meta_path = tmp_path / "model.joblib", tmp_path / "model.json"
    sha = save_model(build_estimator(train_params("logistic_regression"), "classification", 0).fit(x, y), model_path)
    write_json(meta_path, {"model_sha256": sha})
    return model_path, meta_path


def test_load_verified_returns_the_model_and_metadata(tmp_path: Path) -> None:
    model_path, meta_path = saved(tmp_path)
    model, meta = load_verified(model_path, meta_path)
    assert meta == {"model_sha256": sha256_file(model_path)}
    assert model.predict(tiny_xy()[0]).shape == (40,)


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    model_path, meta_path = saved(tmp_path)
    model_path.write_bytes(model_path.read_bytes() + b"\0")
    with pytest.raises(UserError, match=r"model.joblib: sha256 .* does not match .*model.json .*refusing to load$"):
        load_verified(model_path, meta_path)


def test_a_shared_load_is_one_object_per_verified_file_and_still_refuses_a_tampered_one(tmp_path: Path) -> None:
    model_path, meta_path = saved(tmp_path)
    first, _ = load_verified(model_path, meta_path, shared=True)
    again, _ = load_verified(model_path, meta_path, shared=True)
    own, _ = load_verified(model_path, meta_path)
    assert again is first and own is not first  # only callers that ask share it
    assert (own.predict(tiny_xy()[0]) == first.predict(tiny_xy()[0])).all()
    model_path.write_bytes(model_path.read_bytes() + b"\0")  # the sha256 is checked before the cache
    with pytest.raises(UserError, match="refusing to load"):
        load_verified(model_path, meta_path, shared=True)


def test_missing_model_or_metadata(tmp_path: Path) -> None:
    model_path, meta_path = saved(tmp_path)
    with pytest.raises(UserError, match="nope.json: file not found"):
        load_verified(model_path, tmp_path / "nope.json")
    model_path.unlink()
    with pytest.raises(UserError, match="model.joblib: model file not found"):
        load_verified(model_path, meta_path)


def test_unbounded_depth_reaches_the_estimator() -> None:
    estimator = build_estimator(train_params("random_forest").model_copy(update={"max_depth": None}), "classification", seed=0)
    assert estimator.get_params()["max_depth"] is None


def test_equal_strings_pickle_alike_whether_or_not_they_are_one_object(tmp_path: Path) -> None:
    one = "remainder"
    shared = {"names": [one, one]}
    separate = {"names": [one, "".join(["remain", "der"])]}  # equal value, another object
    assert separate["names"][0] is not separate["names"][1]
    assert save_model(shared, tmp_path / "a.joblib") == save_model(separate, tmp_path / "b.joblib")


def test_tree_node_padding_does_not_reach_the_file(tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    x, y = tiny_xy()
    clean = save_model(DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y), tmp_path / "clean.joblib")
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    state = tree.tree_.__getstate__()
    nodes = state["nodes"]
    noisy = np.frombuffer(np.random.default_rng(1).bytes(nodes.nbytes), dtype=nodes.dtype).copy()  # garbage everywhere
    for name in nodes.dtype.names:
        noisy[name] = nodes[name]  # the fields as fitted, the padding left as garbage
    state["nodes"] = noisy
    tree.tree_.__setstate__(state)
    assert save_model(tree, tmp_path / "noisy.joblib") == clean


@pytest.mark.parametrize(
    "model, kind, expected",
    [
        ("random_forest", "RandomForestRegressor", {"n_estimators": 7, "max_depth": 3, "random_state": 11, "n_jobs": 1}),
        ("gradient_boosting", "GradientBoostingRegressor",
         {"n_estimators": 7, "max_depth": 3, "learning_rate": 0.3, "random_state": 11}),
        ("ridge", "Ridge", {"alpha": 0.5, "random_state": 11}),
    ],
)
def test_regressors_take_the_same_keys_as_their_classifier_twins(model: str, kind: str, expected: dict) -> None:
    est = build_estimator(train_params(model), "regression", seed=11)
    assert type(est).__name__ == kind
    assert {k: est.get_params()[k] for k in expected} == expected


@pytest.mark.parametrize("model", ["random_forest", "gradient_boosting", "hist_gradient_boosting", "xgboost", "ridge"])
def test_regressors_are_byte_stable_and_learn(tmp_path: Path, model: str) -> None:
    x = np.random.default_rng(0).normal(size=(400, 3))  # hist_gradient_boosting's leaves hold 20 rows at least
    y = 3 * x[:, 0] - x[:, 1]
    first = save_model(build_estimator(train_params(model), "regression", 3).fit(x, y), tmp_path / "a.joblib")
    second = save_model(build_estimator(train_params(model), "regression", 3).fit(x, y), tmp_path / "b.joblib")
    assert first == second
    assert build_estimator(train_params(model), "regression", 3).fit(x, y).score(x, y) >= 0.8  # R²


def test_a_model_of_the_other_task_is_refused_naming_the_key() -> None:
    with pytest.raises(UserError, match=r"^params.yaml: key 'train.model' = 'logistic_regression' is not a regression model"):
        build_estimator(train_params("logistic_regression"), "regression", 0)
    with pytest.raises(UserError, match=r"^params.yaml: key 'train.model' = 'ridge' is not a classification model"):
        build_estimator(train_params("ridge"), "classification", 0)


@pytest.mark.parametrize("model", ["random_forest", "hist_gradient_boosting", "xgboost"])
def test_a_fit_on_every_core_is_the_single_threaded_model_to_the_byte(tmp_path: Path, model: str) -> None:
    """Trees fit with n_jobs=-1 and are saved with n_jobs=1: the file's sha256 is the one-thread fit's."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 6))
    y = np.array(["no", "yes"])[(x[:, 0] - x[:, 1] + rng.normal(size=3000) > 0).astype(int)]
    one = save_model(build_estimator(train_params(model), "classification", 5).fit(x, y), tmp_path / "one.joblib")
    every = fit(build_estimator(train_params(model), "classification", 5), x, y)
    assert save_model(every, tmp_path / "every.joblib") == one


def test_xgboost_answers_in_the_data_s_own_labels(tmp_path: Path) -> None:
    """XGBoost learns codes 0..k-1; the saved model predicts, and lists as classes_, the text labels."""
    from ctml.data.task import task_of_model
    from ctml.model.evaluate import feature_importance

    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 4))
    y = np.array(["low", "mid", "high"])[np.digitize(x[:, 0], [-0.5, 0.5])]
    model = fit(build_estimator(train_params("xgboost"), "classification", 0), x, y)
    sha = save_model(model, tmp_path / "m.joblib")
    write_json(tmp_path / "m.json", {"model_sha256": sha})
    loaded, _ = load_verified(tmp_path / "m.joblib", tmp_path / "m.json")
    assert list(loaded.classes_) == ["high", "low", "mid"] and task_of_model(loaded) == "classification"
    assert (loaded.predict(x) == y).mean() > 0.9 and loaded.predict_proba(x).shape == (600, 3)
    assert feature_importance(loaded, ["a", "b", "c", "d"], 2)["feature"].tolist()[0] == "a"
    assert feature_importance(build_estimator(train_params("hist_gradient_boosting"), "classification", 0).fit(x, y),
                              ["a", "b", "c", "d"], 2).empty  # no importances kept: no rows, not made-up ones
