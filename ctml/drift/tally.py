"""What drift needs from a batch, reduced once and mergeable across partitions: each column's summary by kind,
and the model's predictions with, where labels exist, its hits or error sums."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from ctml.data.task import task_of_model
from ctml.drift import estimate, methods, summary
from ctml.drift.summary import Ecdf, Summary


def summarize(values: pd.Series, kind: str) -> Summary:
    """A column's summary by kind: ECDF for numeric and datetime, counts for boolean and categorical."""
    return summary.ecdf(values) if kind in methods.NUMERIC_KINDS else summary.counts(values)


def parallel(func: Callable[..., Any], items: Iterable[Any]) -> list[Any]:
    """Columns side by side: the NumPy sorts release the GIL, so threads use every core."""
    items = list(items)
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [func(*item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda item: func(*item), items))


def model_outputs(model: Any, frame: pd.DataFrame) -> tuple[pd.Series, np.ndarray | None]:
    """Predictions, and a classifier's probabilities: one predict_proba and its argmax (what a
    scikit-learn forest's predict is) instead of predicting twice."""
    if task_of_model(model) == "classification" and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(frame))
        return pd.Series(np.asarray(model.classes_)[np.argmax(proba, axis=1)]), proba
    return pd.Series(model.predict(frame)), None


def predicted_summary(model: Any, frame: pd.DataFrame, features: list[str]) -> Summary:
    """What prediction drift compares: the summary of the model's predictions on `frame` (the reference)."""
    return label_tally(model, frame, features, target=None).predicted


@dataclass(frozen=True)
class Tally:
    """What a model did on a sample: its predictions, and on the labelled rows how far off it was.

    Sums and a mergeable summary only, so the Dask engine adds up partitions (`merge_tallies`) and
    gets the local engine's figures. A classifier's predictions are class counts and its hits are
    `correct`; a regressor's predictions are an ECDF and its misses the error sums.
    """

    predicted: Summary
    labelled: int = 0
    correct: int = 0
    squared_error: float = 0.0
    absolute_error: float = 0.0
    estimate: estimate.EstimateTally | None = None  # a classifier's CBPE sums, when it has a calibration

    @property
    def regression(self) -> bool:
        return isinstance(self.predicted, Ecdf)


def merge_tallies(*tallies: Tally) -> Tally:
    merged = tallies[0]
    for t in tallies[1:]:
        both = merged.estimate is not None and t.estimate is not None
        merged = Tally(summary.merge(merged.predicted, t.predicted), merged.labelled + t.labelled,
                       merged.correct + t.correct, merged.squared_error + t.squared_error,
                       merged.absolute_error + t.absolute_error, estimate.merge(merged.estimate, t.estimate) if both else None)
    return merged


def label_tally(model: Any, frame: pd.DataFrame, features: list[str], target: str | None,
                calibration: dict[str, Any] | None = None) -> Tally:
    """The model's predictions on `frame`, and where `frame` carries labels, its hits (a classifier)
    or its error sums (a regressor); with a `calibration`, a classifier's CBPE sums."""
    predicted, proba = model_outputs(model, frame[features])
    estimated = estimate.tally(proba, calibration) if calibration is not None and proba is not None else None
    regression = task_of_model(model) == "regression"
    if target is None or target not in frame.columns:
        return Tally(summary.ecdf(predicted) if regression else summary.counts(predicted), estimate=estimated)
    labels = frame[target].reset_index(drop=True)
    if regression:
        truth = pd.to_numeric(labels, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        known = np.isfinite(truth)
        errors = truth[known] - predicted.to_numpy(dtype="float64")[known]
        return Tally(summary.ecdf(predicted), int(known.sum()), 0, float(np.sum(errors ** 2)), float(np.sum(np.abs(errors))))
    known = labels.notna().to_numpy()
    truth, guess = labels[known], predicted[known]
    if pd.api.types.is_numeric_dtype(guess.dtype):  # labels read from CSV text compare as numbers
        truth = pd.to_numeric(truth, errors="coerce")
        correct = int((truth.to_numpy(dtype="float64", na_value=float("nan")) == guess.to_numpy(dtype="float64")).sum())
    else:
        correct = int((truth.astype("str").to_numpy() == guess.astype("str").to_numpy()).sum())
    return Tally(summary.counts(predicted), int(known.sum()), correct, estimate=estimated)
