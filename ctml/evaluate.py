"""Classification metrics and plot data, binary and multiclass alike."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

METRIC_NAMES = ("accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc")


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
    """Impurity importance for trees, mean |coefficient| for linear models; the top `top` features."""
    if hasattr(estimator, "feature_importances_"):
        values = np.asarray(estimator.feature_importances_)
    else:
        values = np.abs(np.atleast_2d(estimator.coef_)).mean(axis=0)
    frame = pd.DataFrame({"feature": names, "importance": values.round(6)})
    return frame.sort_values(["importance", "feature"], ascending=[False, True]).head(top).reset_index(drop=True)
