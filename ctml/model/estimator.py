"""Model construction, fitting, saving with metadata, and integrity-checked loading."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import joblib
import numpy as np
from joblib.numpy_pickle import NumpyPickler
from joblib.numpy_pickle_utils import _write_fileobject  # joblib.dump's own writer (pinned joblib)

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
