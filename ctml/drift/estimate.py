"""Confidence-based performance estimation (CBPE): a classifier's accuracy on a batch without labels.

Why it works: if the model's probabilities are calibrated (of the rows given 0.8, 80% are right),
the expected accuracy of a batch is the mean probability of the predicted class, whatever the
features did, as long as P(label | features) stayed (covariate shift). Raw forest or boosting
probabilities are not calibrated, so they are first mapped through an isotonic curve fitted on the
test split of the model's release (data it did not train on): `fit_calibration` in the evaluate
stage writes the curve to models/calibration.json, which travels with the release into
models/production. NannyML's CBPE does the same; formulas follow its code (calibration check,
per-class curves normalised for multiclass, sampling errors from the reference), except the ROC AUC
estimate, which groups tied scores as scikit-learn's roc_auc_score does.

`EstimateTally` holds sums only, so the Dask engine merges partitions into the local engine's figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ctml.config import CalibrationParams
from ctml.data.tables import plain

FORMAT = 1  # models/calibration.json layout version


# --- calibration (the evaluate stage) ------------------------------------------------------------

def expected_calibration_error(truth: np.ndarray, scores: np.ndarray, bins: int) -> float:
    """Mean |mean score - share of positives| over equal-count bins of the sorted scores (NannyML's ECE)."""
    order = np.argsort(scores, kind="stable")
    scores, truth = scores[order], truth[order]
    count = max(2, min(bins, len(scores) // 2))
    width = len(scores) // count
    edges = list(range(0, len(scores) + 1, width))
    edges[-1] = len(scores)
    return float(sum((r - l) / len(scores) * abs(scores[l:r].mean() - truth[l:r].mean())
                     for l, r in zip(edges[:-1], edges[1:])))


def _isotonic(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(scores, truth)
    return np.asarray(fitted.X_thresholds_, dtype="float64"), np.asarray(fitted.y_thresholds_, dtype="float64")


def apply_curve(scores: np.ndarray, curve: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """An isotonic curve applied as scikit-learn's IsotonicRegression.predict (linear, clipped); None = identity."""
    if curve is None:
        return np.asarray(scores, dtype="float64")
    x, y = curve
    return np.interp(np.clip(scores, x[0], x[-1]), x, y)


def needs_calibration(truth: np.ndarray, scores: np.ndarray, params: CalibrationParams, seed: int) -> bool:
    """NannyML's rule: calibrate when isotonic curves fitted on 90% lower the ECE of the other 10%,
    over `splits` stratified shuffles; never for one class or already separable scores (AUC > 0.999)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedShuffleSplit

    if params.method != "auto":
        return params.method == "isotonic"
    if len(np.unique(truth)) < 2 or np.bincount(truth.astype("int64")).min() < 2:
        return False
    if roc_auc_score(truth, scores) > 0.999:
        return False
    splits = StratifiedShuffleSplit(n_splits=params.splits, test_size=0.1, random_state=seed)
    held, raw, calibrated = [], [], []
    for train, test in splits.split(scores.reshape(-1, 1), truth):
        curve = _isotonic(scores[train], truth[train])
        held.append(truth[test])
        raw.append(scores[test])
        calibrated.append(apply_curve(scores[test], curve))
    truth_all = np.concatenate(held)
    return (expected_calibration_error(truth_all, np.concatenate(raw), params.bins)
            > expected_calibration_error(truth_all, np.concatenate(calibrated), params.bins))


def _components_f1(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """NannyML's F1 sampling-error components: (std of per-row F1 contributions, share of rows that count)."""
    tp = np.ones(int(((truth == pred) & (pred == 1)).sum()))
    others = np.zeros(int(((truth != pred) & (pred == 1)).sum() + ((truth != pred) & (pred == 0)).sum()))
    rows = np.concatenate([tp, others])
    if not len(rows):
        return float("nan"), 0.0
    factor = len(rows) / (len(others) * 0.5 + len(tp))
    return float(np.std(rows * factor)), len(rows) / len(truth)


def _components_auc(truth: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """NannyML's ROC AUC sampling-error components (AUC as a Mann-Whitney statistic)."""
    if truth.mean() > 0.5:
        truth, scores = 1 - truth, 1 - scores
    order = np.argsort(scores, kind="stable")
    ranks = np.flatnonzero(truth[order])  # ranks of the positives, ascending
    n_pos = len(ranks)
    n_neg = len(truth) - n_pos
    if not n_pos or not n_neg:
        return float("nan"), 0.0
    return float(np.std((ranks - np.arange(n_pos)) / n_neg)), n_pos / len(truth)


def fit_calibration(model: Any, proba: np.ndarray, labels: Any, model_sha256: str, params: CalibrationParams,
                    seed: int) -> dict[str, Any]:
    """models/calibration.json for a classifier: per-class isotonic curves (or none) fitted on the test
    split, its realized metrics, and the sampling-error components the bands need."""
    classes = list(model.classes_)
    labels = np.asarray(labels, dtype=object)
    onehot = np.stack([labels == c for c in classes], axis=1).astype("float64")
    columns = [1] if len(classes) == 2 else range(len(classes))
    curves: list[Any] = [None] * len(classes)
    for k in columns:
        if needs_calibration(onehot[:, k], proba[:, k], params, seed):
            x, y = _isotonic(proba[:, k], onehot[:, k])
            curves[k] = {"x": x.round(12).tolist(), "y": y.round(12).tolist()}
    pred_index = np.argmax(proba, axis=1)
    correct = (onehot[np.arange(len(labels)), pred_index] == 1).astype("float64")
    reference: dict[str, Any] = {"rows": len(labels), "accuracy": float(correct.mean()), "accuracy_std": float(np.std(correct))}
    if len(classes) == 2:
        truth, pred = onehot[:, 1], (pred_index == 1).astype("float64")
        reference["f1_components"] = list(_components_f1(truth, pred))
        reference["roc_auc_components"] = list(_components_auc(truth, proba[:, 1]))
    return {"format": FORMAT, "available": True, "model_sha256": model_sha256, "classes": [plain(c) for c in classes],
            "calibrated": [c is not None for c in curves], "curves": curves, "reference": reference}


def unavailable(note: str, model_sha256: str = "") -> dict[str, Any]:
    """calibration.json for a model CBPE does not apply to (a regressor, no predict_proba)."""
    return {"format": FORMAT, "available": False, "model_sha256": model_sha256, "note": note}


# --- estimation (the drift stage) ----------------------------------------------------------------

def calibrated_proba(proba: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """Probabilities through the stored curves; multiclass rows renormalised to sum to 1 (uniform if all 0)."""
    curves = [None if c is None else (np.asarray(c["x"]), np.asarray(c["y"])) for c in calibration["curves"]]
    if proba.shape[1] == 2:
        positive = apply_curve(proba[:, 1], curves[1])
        return np.stack([1 - positive, positive], axis=1)
    out = np.stack([apply_curve(proba[:, k], curves[k]) for k in range(proba.shape[1])], axis=1)
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=np.full_like(out, 1 / proba.shape[1]), where=total != 0)


@dataclass(frozen=True)
class EstimateTally:
    """What CBPE needs from a batch, as sums: rows, expected hits; for a binary model the expected
    confusion cells and, per distinct raw score, the expected positive and negative weight (the ROC)."""

    rows: int
    expected_correct: float
    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0
    scores: np.ndarray | None = None  # distinct raw positive-class scores, ascending (binary only)
    positive: np.ndarray | None = None  # calibrated P(positive) summed per score
    negative: np.ndarray | None = None  # ... and 1 - P(positive)


def _by_score(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.argsort(scores, kind="stable")
    scores, positive, negative = scores[order], positive[order], negative[order]
    starts = np.flatnonzero(np.concatenate(([True], scores[1:] != scores[:-1]))) if len(scores) else np.empty(0, "int64")
    if not len(starts):
        return scores, positive, negative
    return scores[starts], np.add.reduceat(positive, starts), np.add.reduceat(negative, starts)


def tally(proba: np.ndarray, calibration: dict[str, Any]) -> EstimateTally:
    """One batch's (or partition's) estimation sums from the model's raw probabilities."""
    calibrated = calibrated_proba(proba, calibration)
    pred = np.argmax(proba, axis=1)
    hit = calibrated[np.arange(len(proba)), pred]
    if proba.shape[1] != 2:
        return EstimateTally(len(proba), float(hit.sum()))
    p, predicted_positive = calibrated[:, 1], pred == 1
    scores, positive, negative = _by_score(proba[:, 1].astype("float64"), p, 1 - p)
    return EstimateTally(len(proba), float(hit.sum()), float(p[predicted_positive].sum()),
                         float((1 - p)[predicted_positive].sum()), float(p[~predicted_positive].sum()),
                         scores, positive, negative)


def merge(a: EstimateTally, b: EstimateTally) -> EstimateTally:
    """Two partitions' sums as one (exact: the ROC weights are merged per distinct score)."""
    if a.scores is None or b.scores is None:
        return EstimateTally(a.rows + b.rows, a.expected_correct + b.expected_correct)
    scores, positive, negative = _by_score(np.concatenate([a.scores, b.scores]), np.concatenate([a.positive, b.positive]),
                                           np.concatenate([a.negative, b.negative]))
    return EstimateTally(a.rows + b.rows, a.expected_correct + b.expected_correct, a.tp + b.tp, a.fp + b.fp, a.fn + b.fn,
                         scores, positive, negative)


def expected_roc_auc(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> float | None:
    """ROC AUC with each row a positive of weight p and a negative of weight 1 - p, ties counted half
    (= sklearn's roc_auc_score on the rows doubled with those sample weights); None without both."""
    total_pos, total_neg = float(positive.sum()), float(negative.sum())
    if total_pos <= 0 or total_neg <= 0:
        return None
    # Descending thresholds: a positive beats every negative with a lower score, and half of those tied with it.
    pos, neg = positive[::-1], negative[::-1]
    neg_above = np.concatenate(([0.0], np.cumsum(neg)[:-1]))
    beaten = total_neg - neg_above - neg
    return float(np.sum(pos * (beaten + 0.5 * neg)) / (total_pos * total_neg))


def _band(value: float | None, stderr: float, sigmas: float) -> list[float] | None:
    if value is None or not np.isfinite(stderr):
        return None
    return [max(0.0, value - sigmas * stderr), min(1.0, value + sigmas * stderr)]


def _stderr(components: list[float] | None, rows: int) -> float:
    """NannyML's sampling error: reference std / sqrt(rows x share of rows that count)."""
    if not components or not components[1] or not rows:
        return float("nan")
    return components[0] / np.sqrt(rows * components[1])


def estimates(t: EstimateTally, calibration: dict[str, Any], sigmas: float) -> dict[str, Any]:
    """Estimated accuracy (and, binary, F1 and ROC AUC) with bands of `sigmas` sampling errors."""
    reference = calibration["reference"]
    accuracy = t.expected_correct / t.rows
    out: dict[str, Any] = {"estimated_accuracy": accuracy,
                           "estimated_accuracy_band": _band(accuracy, reference["accuracy_std"] / np.sqrt(t.rows), sigmas),
                           "estimated_f1": None, "estimated_f1_band": None,
                           "estimated_roc_auc": None, "estimated_roc_auc_band": None}
    if t.scores is not None:
        denominator = t.tp + 0.5 * (t.fp + t.fn)
        f1 = t.tp / denominator if denominator else 0.0
        auc = expected_roc_auc(t.scores, t.positive, t.negative)
        out.update(estimated_f1=f1, estimated_f1_band=_band(f1, _stderr(reference.get("f1_components"), t.rows), sigmas),
                   estimated_roc_auc=auc,
                   estimated_roc_auc_band=_band(auc, _stderr(reference.get("roc_auc_components"), t.rows), sigmas))
    return out


def inapplicable(model: Any) -> str | None:
    """Why CBPE does not apply to a model at all (a regressor, no probabilities), or None."""
    from ctml.data.task import task_of_model

    if task_of_model(model) == "regression":
        return "a regressor: CBPE estimates classification metrics"
    if not hasattr(model, "predict_proba"):
        return "the model has no predict_proba"
    return None


def usable(calibration: dict[str, Any] | None, model: Any, model_sha256: str) -> str | None:
    """Why CBPE cannot run for this model and calibration (a note for the report), or None when it can."""
    if (note := inapplicable(model)) is not None:
        return f"not available: {note}"
    if calibration is None:
        return "not available: no calibration.json beside the model (released before estimation existed)"
    if not calibration.get("available"):
        return f"not available: {calibration.get('note', 'no calibration')}"
    if calibration.get("model_sha256") != model_sha256:
        return "not available: calibration.json was fitted for another model (sha256 differs)"
    if [str(c) for c in calibration["classes"]] != [str(plain(c)) for c in model.classes_]:
        return "not available: calibration.json lists other classes than the model"
    return None
