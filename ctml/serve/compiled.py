"""A compiled runtime for the forest pipelines this project trains: the same numbers, a fraction of the cost.

Why: scikit-learn's `predict_proba` on one row is almost all per-call overhead: the ColumnTransformer
validates and splits the frame, and the forest walks its 120 trees one Python call at a time (about
7.5 ms quiet). Here the numeric preprocessing (SimpleImputer, then StandardScaler or MinMaxScaler)
is the same float64 arithmetic on one array, and all trees are walked at once with numpy (rows cast
to float32 as scikit-learn's trees do, each tree's leaf values normalised and summed in tree order,
as `RandomForestClassifier.predict_proba` does), so labels are identical and probabilities equal to
rounding (tests hold them to 1e-6 on the test split).

Only what it knows is compiled: a preprocessor with other transformers (booleans, dates,
categories) runs through scikit-learn and only the forest is compiled; another estimator
(gradient boosting, logistic regression, ridge) is not compiled at all (`compile_model` -> None),
and a compiled model that disagrees with scikit-learn on the rows given to `verified` is not used.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

FORESTS = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)
TOLERANCE = 1e-6  # largest difference from scikit-learn's probabilities (or predictions) accepted by `verified`


@dataclass(frozen=True)
class Forest:
    """Every node of every tree in flat arrays: node i's children are `children[2i]` (left) and
    `children[2i + 1]` (right), global indices; a leaf is its own two children, so walking `depth`
    levels from each tree's root ends on a leaf for every row, with one `take` per array per level."""

    children: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray  # (nodes, outputs): class fractions normalised per node, or the regression value
    roots: np.ndarray  # (trees, 1): each tree's root
    depth: int
    classifier: bool

    @classmethod
    def of(cls, forest: Any) -> Forest | None:
        if getattr(forest, "n_outputs_", 1) != 1:
            return None
        trees = [e.tree_ for e in forest.estimators_]
        classifier = hasattr(forest, "classes_")
        width = len(forest.classes_) if classifier else 1
        offsets = np.cumsum([0] + [t.node_count for t in trees])
        children, feature, threshold, value = [], [], [], []
        for offset, t in zip(offsets, trees):
            own = np.arange(t.node_count) + offset
            leaf = t.children_left < 0
            children.append(np.stack([np.where(leaf, own, t.children_left + offset),
                                      np.where(leaf, own, t.children_right + offset)], axis=1).ravel())
            feature.append(np.where(leaf, 0, t.feature))
            threshold.append(t.threshold)
            v = t.value[:, 0, :width]
            if classifier:  # DecisionTreeClassifier.predict_proba normalises each leaf
                total = v.sum(axis=1, keepdims=True)
                v = v / np.where(total == 0, 1.0, total)
            value.append(v)
        return cls(np.concatenate(children).astype(np.intp), np.concatenate(feature).astype(np.intp),
                   np.concatenate(threshold), np.concatenate(value), offsets[:-1, None].astype(np.intp),
                   max(t.max_depth for t in trees), classifier)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(rows, classes) probabilities, or (rows,) predictions."""
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        flat, row_base = x32.ravel(), (np.arange(len(x32)) * x32.shape[1])[None, :]
        node = np.repeat(self.roots, len(x32), axis=1)  # (trees, rows)
        for _ in range(self.depth):
            right = flat.take(row_base + self.feature.take(node)) > self.threshold.take(node)  # not `x <= threshold`
            node = self.children.take(2 * node + right)
        leaves = self.value.take(node, axis=0)  # (trees, rows, width)
        total = leaves[0].copy()
        for tree in leaves[1:]:  # tree order, as scikit-learn accumulates
            total += tree
        total /= len(leaves)
        return total if self.classifier else total[:, 0]


def _numeric_steps(pipe: Any) -> list[Any] | None:
    steps = [s for _, s in pipe.steps] if isinstance(pipe, Pipeline) else [pipe]
    ok = (len(steps) in (1, 2) and isinstance(steps[0], SimpleImputer) and not steps[0].add_indicator
          and all(s == "passthrough" or isinstance(s, (StandardScaler, MinMaxScaler)) for s in steps[1:]))
    return steps if ok else None


def numeric_preprocessor(pre: Any) -> Callable[[pd.DataFrame], np.ndarray] | None:
    """The numeric-only ColumnTransformer (impute, scale) as array arithmetic; None for anything else."""
    if not isinstance(pre, ColumnTransformer):
        return None
    fitted = [(n, t, c) for n, t, c in pre.transformers_ if not (n == "remainder" and t == "drop")]
    if len(fitted) != 1 or (steps := _numeric_steps(fitted[0][1])) is None:
        return None
    columns = list(fitted[0][2])
    imputer, scalers = steps[0], steps[1:]
    fill = np.asarray(imputer.statistics_, dtype=np.float64)

    def transform(frame: pd.DataFrame) -> np.ndarray:
        x = frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(x)
        if missing.any():
            x = np.where(missing, fill, x)
        for s in scalers:
            if isinstance(s, StandardScaler):
                if s.with_mean:
                    x = x - s.mean_
                if s.with_std:
                    x = x / s.scale_
            elif isinstance(s, MinMaxScaler):
                x = x * s.scale_ + s.min_
        return x
    return transform


def compile_model(model: Any) -> Callable[[pd.DataFrame], np.ndarray] | None:
    """A function from typed rows to what `predict_proba` (a classifier) or `predict` (a regressor) of
    `model` returns; None when the final estimator is not a forest."""
    if not isinstance(model, Pipeline) or not isinstance(model[-1], FORESTS) or (forest := Forest.of(model[-1])) is None:
        return None
    pre = numeric_preprocessor(model[0]) if len(model) == 2 else None
    head = pre if pre is not None else model[:-1].transform

    def run(frame: pd.DataFrame) -> np.ndarray:
        x = np.asarray(head(frame), dtype=np.float64)
        if np.isnan(x).any():  # a tree's missing-value routing is scikit-learn's business
            return model[-1].predict_proba(x) if forest.classifier else model[-1].predict(x)
        return forest(x)
    return run


def agrees(model: Any, fast: Callable[[pd.DataFrame], np.ndarray], x: pd.DataFrame) -> bool:
    """On the rows of `x`, the labels scikit-learn gives and (within TOLERANCE) its probabilities or predictions."""
    mine = fast(x)
    if hasattr(model, "classes_"):
        return bool(np.array_equal(model.classes_[mine.argmax(axis=1)], model.predict(x))
                    and np.abs(mine - model.predict_proba(x)).max() <= TOLERANCE)
    return bool(np.abs(mine - model.predict(x)).max() <= TOLERANCE)


def verified(model: Any, x: pd.DataFrame | None) -> Callable[[pd.DataFrame], np.ndarray] | None:
    """`compile_model`, kept only if it `agrees` with scikit-learn on `x` (when given)."""
    fast = compile_model(model)
    if fast is None or x is None or not len(x):
        return fast
    return fast if agrees(model, fast, x) else None
