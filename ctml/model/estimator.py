"""Model construction, fitting, saving with metadata, and integrity-checked loading."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import joblib
import numpy as np
from joblib.numpy_pickle import NumpyPickler
from joblib.numpy_pickle_utils import _write_fileobject  # joblib.dump's own writer (pinned joblib)
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from ctml.config import TrainParams, require_for_task
from ctml.errors import UserError
from ctml.io import atomic_path, read_json, sha256_file


def build_estimator(params: TrainParams, task: str, seed: int):
    """The estimator named by train.model for `task`, with only the hyperparameters that apply to it.

    The regressors take the same keys as their classifier twins (ridge is the linear model of
    regression, as logistic_regression is of classification); a model of the other task is a
    UserError naming train.model. Built single-threaded, as it predicts: `fit` trains on every core.
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
    if params.model == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        boosting = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        # No early stopping: it would hold out a random tenth of the training split and stop at a
        # data-dependent count; n_estimators iterations on all of it is what the key says.
        return boosting(max_iter=params.n_estimators, max_depth=params.max_depth, learning_rate=params.learning_rate,
                        early_stopping=False, random_state=seed)
    if params.model == "xgboost":
        return xgboost_estimator(params, task, seed)
    if params.model == "ridge":
        from sklearn.linear_model import Ridge

        return Ridge(alpha=params.alpha, random_state=seed)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=params.C, max_iter=params.max_iter, random_state=seed)


def xgboost_options(params: TrainParams, seed: int) -> dict[str, Any]:
    """XGBoost's `hist` trees with train's keys, the same for the plain estimator and `xgboost.dask`
    (max_depth null: XGBoost's own default depth, 6, as its depth-wise trees need a bound)."""
    options: dict[str, Any] = {"n_estimators": params.n_estimators, "learning_rate": params.learning_rate,
                               "tree_method": "hist", "random_state": seed}
    if params.max_depth is not None:
        options["max_depth"] = params.max_depth
    return options


def xgboost_estimator(params: TrainParams, task: str, seed: int):
    import xgboost

    if task == "regression":
        return xgboost.XGBRegressor(**xgboost_options(params, seed), n_jobs=1)
    return EncodedClassifier(xgboost.XGBClassifier(**xgboost_options(params, seed), n_jobs=1))


def fit(estimator: Any, x: Any, y: Any) -> Any:
    """Fit on every core, then set the model back to one thread, as it was built.

    The same model as a single-threaded fit, to the byte: a forest draws each tree's seed from its
    random_state before any tree is built, XGBoost's `hist` sums gradients in a fixed order; the
    saved file then records n_jobs=1 as before, so its sha256 does not depend on this machine's
    cores. Predicting stays single-threaded: a one-row request gains nothing from a thread pool.
    """
    inner = estimator.estimator if isinstance(estimator, EncodedClassifier) else estimator
    if "n_jobs" not in inner.get_params():
        return estimator.fit(x, y)
    inner.set_params(n_jobs=-1)
    try:
        estimator.fit(x, y)
    finally:
        inner.set_params(n_jobs=1)
    fitted = estimator.estimator_ if isinstance(estimator, EncodedClassifier) else estimator
    fitted.set_params(n_jobs=1)
    return estimator


class EncodedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that learns labels as 0..k-1 codes (XGBoost's takes nothing else) and answers in
    the data's own labels, so the pipeline predicts, and `classes_` lists, what the data says."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, x: Any, y: Any) -> EncodedClassifier:
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = clone(self.estimator).fit(x, codes)
        return self

    def predict(self, x: Any) -> np.ndarray:
        return self.classes_[np.asarray(self.estimator_.predict(x), dtype=np.intp)]

    def predict_proba(self, x: Any) -> np.ndarray:
        return self.estimator_.predict_proba(x)

    @property
    def feature_importances_(self) -> np.ndarray:
        return self.estimator_.feature_importances_


def _trees(model: Any) -> Iterator[Any]:
    """Every fitted scikit-learn tree structure (`tree_`) inside a pipeline, forest or boosting model."""
    if hasattr(model, "tree_"):
        yield model.tree_
    for step in getattr(model, "steps", []):
        yield from _trees(step[1])
    estimators = getattr(model, "estimators_", None)
    if estimators is not None:
        for estimator in np.ravel(np.asarray(estimators, dtype=object)):
            yield from _trees(estimator)


def zero_tree_padding(model: Any) -> None:
    """Clear the padding bytes of every tree's node records, which the pickle writes as they are.

    A node is a C struct with padding after its one-byte field; scikit-learn never writes those
    bytes, so they hold whatever the allocator left there. A fresh process happens to leave the same
    bytes every time, a long-running one (ct.py running the train stage in-process) does not: the
    same fit then pickled to a different file and sha256. Zeroed, the file depends on the fit only.
    """
    for tree in _trees(model):
        state = tree.__getstate__()
        nodes = state["nodes"]
        clean = np.zeros(nodes.shape, dtype=nodes.dtype)
        for name in nodes.dtype.names:
            clean[name] = nodes[name]
        state["nodes"] = clean
        tree.__setstate__(state)


class _StableStringPickler(NumpyPickler):
    """joblib's pickler with equal strings written once, wherever they occur.

    Pickle shares an object it has written before by identity, and whether two equal strings are
    one object depends on what the process interned before (unpickling interns attribute names):
    a warm ct.py process and a fresh `dvc repro` pickled the same preprocessor to different bytes.
    Shared by value, the bytes depend on the model only.
    """

    def __init__(self, fp: Any, protocol: int | None = None) -> None:
        super().__init__(fp, protocol=protocol)
        self._strings: dict[str, str] = {}

    def save(self, obj: Any) -> None:
        if type(obj) is str:
            obj = self._strings.setdefault(obj, obj)
        super().save(obj)


def save_model(model: Any, path: str | Path) -> str:
    """Write atomically (zlib level 3, loadable with `joblib.load`) and return the sha256 of the bytes on
    disk. The same fit gives the same bytes in any process: see `zero_tree_padding`, `_StableStringPickler`."""
    zero_tree_padding(model)
    with atomic_path(path) as tmp, _write_fileobject(str(tmp), compress=("zlib", 3)) as handle:
        _StableStringPickler(handle).dump(model)
    return sha256_file(path)


_shared: dict[str, Any] = {}  # sha256 -> model, for `load_verified(shared=True)`: the newest two


def load_verified(model_path: str | Path, meta_path: str | Path, *, shared: bool = False) -> tuple[Any, dict[str, Any]]:
    """Unpickle only a file whose sha256 matches its metadata: a tampered model is never executed.

    `shared=True` is for callers that only predict: the same verified bytes give the one model object
    already unpickled in this process (ct.py runs the drift stage in-process at every step, and
    decompressing and unpickling the production forest again was a tenth of a no-drift step)."""
    model_path, meta = Path(model_path), read_json(meta_path)
    if not model_path.exists():
        raise UserError(f"{model_path}: model file not found")
    actual = sha256_file(model_path)
    expected = meta.get("model_sha256")
    if actual != expected:
        raise UserError(f"{model_path}: sha256 {actual[:12]}… does not match {meta_path} ({str(expected)[:12]}…); refusing to load")
    if not shared:
        return joblib.load(model_path), meta
    if actual not in _shared:
        _shared[actual] = joblib.load(model_path)
        for stale in list(_shared)[:-2]:
            del _shared[stale]
    return _shared[actual], meta
