"""Model construction, fitting, saving with metadata, and integrity-checked loading."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib

from ctml.config import TrainParams, require_for_task
from ctml.errors import UserError
from ctml.io import atomic_path, read_json, sha256_file


def build_estimator(params: TrainParams, task: str, seed: int):
    """The estimator named by train.model for `task`, with only the hyperparameters that apply to it.

    The regressors take the same keys as their classifier twins (ridge is the linear model of
    regression, as logistic_regression is of classification); a model of the other task is a
    UserError naming train.model.
    """
    require_for_task("train.model", params.model, task)
    regression = task == "regression"
    if params.model == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        forest = RandomForestRegressor if regression else RandomForestClassifier
        return forest(n_estimators=params.n_estimators, max_depth=params.max_depth, random_state=seed, n_jobs=1)
    if params.model == "gradient_boosting":
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

        boosting = GradientBoostingRegressor if regression else GradientBoostingClassifier
        return boosting(n_estimators=params.n_estimators, max_depth=params.max_depth, learning_rate=params.learning_rate,
                        random_state=seed)
    if params.model == "ridge":
        from sklearn.linear_model import Ridge

        return Ridge(alpha=params.alpha, random_state=seed)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=params.C, max_iter=params.max_iter, random_state=seed)


def save_model(model: Any, path: str | Path) -> str:
    """Write atomically and return the sha256 of the bytes on disk."""
    with atomic_path(path) as tmp:
        joblib.dump(model, tmp, compress=3)
    return sha256_file(path)


def load_verified(model_path: str | Path, meta_path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Unpickle only a file whose sha256 matches its metadata: a tampered model is never executed."""
    model_path, meta = Path(model_path), read_json(meta_path)
    if not model_path.exists():
        raise UserError(f"{model_path}: model file not found")
    actual = sha256_file(model_path)
    expected = meta.get("model_sha256")
    if actual != expected:
        raise UserError(f"{model_path}: sha256 {actual[:12]}… does not match {meta_path} ({str(expected)[:12]}…); refusing to load")
    return joblib.load(model_path), meta
