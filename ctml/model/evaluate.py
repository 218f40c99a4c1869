"""Test-set metrics and plot data: classification (binary and multiclass alike) and regression.

Each metric's direction is known (`METRIC_SPECS`), so a gate can compare any of them: a higher
accuracy or R² is better, a lower RMSE is better; a bounded score is compared with an absolute
tolerance, an error (in the target's units) with a relative one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from ctml.config import METRICS

METRIC_NAMES = METRICS["classification"]


@dataclass(frozen=True)
class MetricSpec:
    higher_is_better: bool
    relative_tolerance: bool  # errors in the target's units: tolerance is a share of production's value


METRIC_SPECS = {**{name: MetricSpec(True, False) for name in METRICS["classification"]},
                "r2": MetricSpec(True, False), "rmse": MetricSpec(False, True), "mae": MetricSpec(False, True),
                "mape": MetricSpec(False, True)}


def classification_metrics(y_true: pd.Series, y_pred: np.ndarray, proba: np.ndarray | None, classes: np.ndarray) -> dict[str, float]:
    """The metrics of metrics.json; macro averages when there are more than two classes."""
    binary = len(classes) == 2
    kw: dict[str, Any] = {"average": "binary", "pos_label": classes[1]} if binary else {"average": "macro"}
    out = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "f1": skm.f1_score(y_true, y_pred, zero_division=0, **kw),
        "precision": skm.precision_score(y_true, y_pred, zero_division=0, **kw),
        "recall": skm.recall_score(y_true, y_pred, zero_division=0, **kw),
    }
    if proba is not None and len(np.unique(y_true)) == len(classes):
        if binary:
            out["roc_auc"] = skm.roc_auc_score(y_true == classes[1], proba[:, 1])
        else:
            out["roc_auc"] = skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
    return {k: round(float(v), 6) for k, v in out.items()}


def confusion_rows(y_true: pd.Series, y_pred: np.ndarray) -> pd.DataFrame:
    """One row per test example, the shape DVC's confusion template expects."""
    return pd.DataFrame({"actual": pd.Series(y_true).astype(str).to_numpy(), "predicted": pd.Series(y_pred).astype(str).to_numpy()})


def roc_points(y_true: pd.Series, proba: np.ndarray, classes: np.ndarray) -> pd.DataFrame:
    """ROC curve points; one curve per class (one-vs-rest) when multiclass."""
    frames = []
    targets = [classes[1]] if len(classes) == 2 else list(classes)
    onehot = label_binarize(y_true, classes=classes)
    for label in targets:
        idx = list(classes).index(label)
        truth = onehot[:, 0] if len(classes) == 2 else onehot[:, idx]
        if truth.min() == truth.max():
            continue
        fpr, tpr, _ = skm.roc_curve(truth, proba[:, idx])
        frames.append(pd.DataFrame({"fpr": fpr.round(6), "tpr": tpr.round(6), "class": str(label)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["fpr", "tpr", "class"])


def feature_importance(estimator, names: list[str], top: int) -> pd.DataFrame:
    """Impurity (or XGBoost's gain) importance for trees, mean |coefficient| for linear models; the top
    `top` features. A model that keeps neither (hist_gradient_boosting) has no rows: computing a
    permutation importance would cost more than its fit."""
    if hasattr(estimator, "feature_importances_"):
        values = np.asarray(estimator.feature_importances_)
    elif not hasattr(estimator, "coef_"):
        return pd.DataFrame({"feature": pd.Series(dtype=str), "importance": pd.Series(dtype=float)})
    else:
        values = np.abs(np.atleast_2d(estimator.coef_)).mean(axis=0)
    frame = pd.DataFrame({"feature": names, "importance": values.round(6)})
    return frame.sort_values(["importance", "feature"], ascending=[False, True]).head(top).reset_index(drop=True)


def regression_metrics(y_true: pd.Series, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² of metrics.json; MAPE too when no label is zero (it divides by the label)."""
    truth, pred = np.asarray(y_true, dtype="float64"), np.asarray(y_pred, dtype="float64")
    out = {
        "rmse": float(np.sqrt(skm.mean_squared_error(truth, pred))),
        "mae": skm.mean_absolute_error(truth, pred),
        "r2": skm.r2_score(truth, pred) if len(truth) > 1 else float("nan"),
    }
    if len(truth) and (truth != 0).all():
        out["mape"] = skm.mean_absolute_percentage_error(truth, pred)
    return {k: round(float(v), 6) for k, v in out.items()}


def residual_rows(y_true: pd.Series, y_pred: np.ndarray) -> pd.DataFrame:
    """One row per test example: actual, predicted and residual (actual - predicted)."""
    truth, pred = np.asarray(y_true, dtype="float64"), np.asarray(y_pred, dtype="float64")
    return pd.DataFrame({"actual": truth.round(6), "predicted": pred.round(6), "residual": (truth - pred).round(6)})


def nice_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """About `bins` equal-width bins whose width is 1, 2 or 5 times a power of ten and whose edges are
    multiples of it: edges a person reads (-20, -10, 0, 10) instead of -123.456789."""
    lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    if hi <= lo:
        return np.array([lo - 0.5, lo + 0.5])
    raw = (hi - lo) / max(bins, 1)
    power = 10.0 ** np.floor(np.log10(raw))
    width = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = np.floor(lo / width) * width
    count = max(int(np.ceil((hi - start) / width - 1e-9)), 1)  # the last bin holds its right edge (np.histogram)
    return np.round(start + width * np.arange(count + 1), 10)


def residual_histogram(residuals: pd.Series, bins: int) -> pd.DataFrame:
    """Residual counts in about `bins` equal-width bins with round edges (`nice_edges`), each bin as
    its numeric start and end, so a plot draws a numeric axis rather than sorting bin names as text."""
    values = np.asarray(residuals, dtype="float64")
    edges = nice_edges(values[np.isfinite(values)], bins)
    counts, _ = np.histogram(values, bins=edges)
    return pd.DataFrame({"bin_start": edges[:-1], "bin_end": edges[1:], "count": counts.astype("int64")})


REFERENCE_MODELS = {"classification": "HistGradientBoostingClassifier()", "regression": "HistGradientBoostingRegressor()"}


REFERENCE_ROWS = 200_000  # rows of the train split the reference model learns from, at most


def reference_rows(n: int, seed: int) -> np.ndarray | None:
    """Positions of the train split's rows the reference model is fitted on: None (every row) up to
    `REFERENCE_ROWS`, else a seeded sample in row order. Why a sample: the reference is a yardstick
    for the configured model, not a candidate; on a big split it would cost as much as training, and
    on the dask engine it would bring the whole split into the client process. Both engines take the
    same positions, so the reference's metrics are the same on both."""
    if n <= REFERENCE_ROWS:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, REFERENCE_ROWS, replace=False))


def fit_reference(model: Any, x_train: pd.DataFrame, y_train: pd.Series, task: str, seed: int) -> Any:
    """A library-default model of the task (`REFERENCE_MODELS`), fitted on (a sample of, `reference_rows`)
    the same training split with the configured model's preprocessing.

    Why: a test score alone does not say whether it is good; a model that trails a default one of the
    same library on the same rows is a configuration to revisit (measured: a depth-5 forest had twice a
    default model's RMSE on a daily series, and nothing said so)."""
    from sklearn.base import clone
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    default = (HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor)(random_state=seed)
    return clone(model).set_params(model=default).fit(x_train, y_train)


def reference_scores(fitted: Any, y_test: pd.Series, pred: Any, proba: Any, task: str) -> dict[str, Any]:
    """The reference model's test metrics, under the configured model's metric names."""
    if task == "regression":
        return {"name": REFERENCE_MODELS[task], **regression_metrics(y_test, pred)}
    return {"name": REFERENCE_MODELS[task], **classification_metrics(y_test, pred, proba, fitted.classes_)}


def trails(scores: dict[str, float], reference: dict[str, Any], metric: str, tolerance: float) -> bool:
    """Whether the configured model's `metric` is worse than the reference model's beyond `tolerance`
    (absolute for scores, a share of the reference's value for errors, as the gates compare)."""
    if metric not in scores or reference.get(metric) is None:
        return False
    spec, ours, theirs = METRIC_SPECS[metric], scores[metric], reference[metric]
    margin = tolerance * abs(theirs) if spec.relative_tolerance else tolerance
    return ours < theirs - margin if spec.higher_is_better else ours > theirs + margin
