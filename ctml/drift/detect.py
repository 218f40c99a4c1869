"""Dataset-level drift: align a batch to the reference, test every feature, add prediction and
performance drift, and assemble the report that becomes metrics/drift.json."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace as dataclass_replace
from pathlib import Path
from typing import Any

import pandas as pd

from ctml.config import DriftParams
from ctml.data.tables import cast_to_kinds
from ctml.drift import estimate, multivariate, stats, summary
from ctml.drift import methods
from ctml.drift.plots import distribution
from ctml.drift.reference import Reference, build as build_reference
from ctml.drift.results import DriftResult, FeatureResult, rounded
from ctml.drift.summary import Ecdf, Summary
from ctml.drift.tally import Tally, label_tally, parallel, predicted_summary, summarize
from ctml.errors import UserError


# --- batch alignment ------------------------------------------------------------------------------

_NOT_A = {"numeric": "numeric", "datetime": "a date", "boolean": "boolean"}  # categorical: every value is one


def align(batch: pd.DataFrame, kinds: dict[str, str], path: str | Path) -> pd.DataFrame:
    """The batch's feature columns (and only those), typed like the reference's by `cast_to_kinds`,
    the rule `ct.py check` types batches with; a value that does not parse is a UserError."""
    missing = [name for name in kinds if name not in batch.columns]
    if missing:
        raise UserError(f"{path}: missing feature column '{missing[0]}'" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""))
    typed, mistyped = cast_to_kinds(batch[list(kinds)], kinds)
    if mistyped:
        bad = mistyped[0]
        raise UserError(f"{path}: column '{bad.column}': value {bad.value!r} is not {_NOT_A[bad.kind]} like the reference")
    return typed


# --- per feature ----------------------------------------------------------------------------------

def _empty_side(kind: str, method: methods.Method, threshold: float, ref: Summary, cur: Summary) -> FeatureResult:
    """No present values on one side or both: drifted unless both are empty; there is no score."""
    both = ref.n == 0 and cur.n == 0
    test = method.drift_when == "p_value_below"
    p_value = (1.0 if both else 0.0) if test else None
    return FeatureResult(kind, method.name, 0.0 if both else None, p_value, threshold, not both,
                         0.0 if both else math.inf, pd.DataFrame(columns=["bin", "reference", "current"]))


def test_feature(name: str, kind: str, ref: Summary, cur: Summary, params: DriftParams) -> FeatureResult:
    """Pick the method for one column (override, drift.method or the auto table) and run it."""
    distinct = summary.n_distinct(ref, cur, params.auto.categorical_max_unique)
    sized = ref.n if params.auto.size_of == "reference" else min(ref.n, cur.n)
    method, threshold = methods.choose(name, kind, sized, distinct, params)
    if ref.n == 0 or cur.n == 0:
        return _empty_side(kind, method, threshold, ref, cur)
    if isinstance(ref, Ecdf) and method.name not in ("ks", "wasserstein") and \
            methods.group_of(kind, distinct, params.auto) == "categorical":
        ref, cur = summary.as_counts(ref), summary.as_counts(cur)
    stat = method.func(ref, cur, params.psi_bins)
    return FeatureResult(kind, method.name, stat.score, stat.p_value, threshold,
                         methods.is_drifted(method, stat, threshold), methods.severity(method, stat, threshold),
                         distribution(ref, cur), methods.effect(method, stat, cur.n), stat.p_value)


def finalize(features: dict[str, FeatureResult], params: DriftParams) -> dict[str, FeatureResult]:
    """The batch-level rules on top of each feature's own test: `drift.correction` of the p-values of
    every p-value test in the batch, then the `drift.min_effect` floor. With 30 features at p < 0.05,
    1.5 drift by chance in every batch; a floor keeps a large batch's trivial shift from counting."""
    tested = [n for n, f in features.items() if f.effect is not None and f.p_value is not None
              and methods.get(f.method).drift_when == "p_value_below"]
    adjusted = dict(zip(tested, methods.adjusted_p_values([features[n].p_value for n in tested], params.correction)))
    out = {}
    for name, f in features.items():
        if name not in adjusted:
            out[name] = f
            continue
        method, stat = methods.get(f.method), stats.Stat(f.score, adjusted[name])
        floor = params.min_effect.get(f.method, 0.0)
        severity = methods.severity(method, stat, f.threshold)
        if f.effect < floor:  # significant but too small to count: ranked below every drifted feature
            severity = min(severity, f.effect / floor)
        out[name] = dataclass_replace(f, p_adjusted=adjusted[name], severity=severity,
                                      drifted=methods.is_drifted(method, stat, f.threshold) and f.effect >= floor)
    return out


def feature_drift(reference: pd.DataFrame, current: pd.DataFrame, kinds: dict[str, str],
                  params: DriftParams) -> dict[str, FeatureResult]:
    """Every feature of `kinds` tested, on in-memory frames (the local engine)."""
    names = list(kinds)

    def one(name: str) -> FeatureResult:
        kind = kinds[name]
        return test_feature(name, kind, summarize(reference[name], kind), summarize(current[name], kind), params)

    return finalize(dict(zip(names, parallel(one, [(n,) for n in names]))), params)


def compare(reference: dict[str, Summary], current: pd.DataFrame, kinds: dict[str, str],
            params: DriftParams) -> dict[str, FeatureResult]:
    """Every feature tested against the reference's summaries (cached or just made): only the batch is sorted."""
    def one(name: str) -> FeatureResult:
        return test_feature(name, kinds[name], reference[name], summarize(current[name], kinds[name]), params)

    return finalize(dict(zip(kinds, parallel(one, [(n,) for n in kinds]))), params)


def check_overrides(kinds: dict[str, str], params: DriftParams) -> None:
    unknown = [name for name in params.per_feature if name not in kinds]
    if unknown:
        raise UserError(f"params.yaml: drift.per_feature.{unknown[0]}: not a feature column "
                        f"(features: {', '.join(list(kinds)[:20])})")


# --- predictions and performance ------------------------------------------------------------------

def prediction_drift(ref_pred: Summary, cur_pred: Summary, params: DriftParams) -> dict[str, Any]:
    """Drift of the predictions, batch vs reference: of the predicted class shares by the categorical
    auto method, of a regressor's predicted numbers by the numeric one."""
    group = "numeric" if isinstance(ref_pred, Ecdf) else "categorical"
    method = methods.get(methods.auto_method(group, ref_pred.n, params.auto))
    threshold = params.thresholds.get(method.name, method.default_threshold)
    stat = method.func(ref_pred, cur_pred, params.psi_bins)
    return {"method": method.name, "score": rounded(stat.score), "p_value": rounded(stat.p_value),
            "drifted": methods.is_drifted(method, stat, threshold)}


def performance(correct: int, labelled: int, reference_accuracy: float | None) -> dict[str, Any]:
    """Accuracy of the production model on the labelled rows of the batch (how many: `labelled_rows`,
    the rows of a delayed-label file, or of a batch delivered with labels), and its drop."""
    if labelled == 0:
        return {"labelled": False, "labelled_rows": 0, "accuracy": None, "reference_accuracy": rounded(reference_accuracy),
                "accuracy_drop": None}
    accuracy = correct / labelled
    drop = None if reference_accuracy is None else reference_accuracy - accuracy
    return {"labelled": True, "labelled_rows": int(labelled), "accuracy": rounded(accuracy),
            "reference_accuracy": rounded(reference_accuracy), "accuracy_drop": rounded(drop)}


def error_performance(tally: Tally, reference_rmse: float | None) -> dict[str, Any]:
    """RMSE and MAE of a regressor on the labelled rows of the batch, and how much the RMSE rose
    over its test RMSE, as a share of it (0.25 = 25% worse): errors have the target's units, so
    only a relative rise means the same for a price and a temperature."""
    if tally.labelled == 0:
        return {"labelled": False, "labelled_rows": 0, "rmse": None, "mae": None, "reference_rmse": rounded(reference_rmse),
                "error_increase": None}
    rmse = math.sqrt(tally.squared_error / tally.labelled)
    increase = None if not reference_rmse else (rmse - reference_rmse) / reference_rmse
    return {"labelled": True, "labelled_rows": int(tally.labelled), "rmse": rounded(rmse),
            "mae": rounded(tally.absolute_error / tally.labelled), "reference_rmse": rounded(reference_rmse),
            "error_increase": rounded(increase)}


ESTIMATED = ("estimated_accuracy", "estimated_accuracy_lower", "estimated_accuracy_upper", "estimated_f1",
             "estimated_f1_lower", "estimated_f1_upper", "estimated_roc_auc", "estimated_roc_auc_lower",
             "estimated_roc_auc_upper", "estimated_drop")


def estimated_performance(tally: Tally | None, calibration: dict[str, Any] | None, note: str | None,
                          reference_accuracy: float | None, sigmas: float) -> dict[str, Any]:
    """The CBPE part of the performance section: estimates with their bands (lower/upper), the drop
    of the estimated accuracy below the test accuracy, and `estimation` (cbpe, or why not)."""
    if tally is None or tally.estimate is None or not tally.estimate.rows or calibration is None:
        return {**{k: None for k in ESTIMATED}, "estimation": note or "not available: no rows with predictions"}
    found = estimate.estimates(tally.estimate, calibration, sigmas)
    out: dict[str, Any] = {"estimation": "cbpe"}
    for metric in ("accuracy", "f1", "roc_auc"):
        band = found[f"estimated_{metric}_band"] or [None, None]
        out.update({f"estimated_{metric}": rounded(found[f"estimated_{metric}"]),
                    f"estimated_{metric}_lower": rounded(band[0]), f"estimated_{metric}_upper": rounded(band[1])})
    accuracy = found["estimated_accuracy"]
    out["estimated_drop"] = None if reference_accuracy is None else rounded(reference_accuracy - accuracy)
    return {k: out[k] for k in (*ESTIMATED, "estimation")}


def performance_of(tally: Tally, reference_score: float | None, estimated: dict[str, Any]) -> dict[str, Any]:
    """The performance section of the report, by what the model is: realized (labelled rows) and estimated."""
    if tally.regression:
        return {**error_performance(tally, reference_score), **estimated}
    return {**performance(tally.correct, tally.labelled, reference_score), **estimated}


# --- the report -----------------------------------------------------------------------------------

def counted_features(kinds: dict[str, str], params: DriftParams) -> list[str]:
    """The features whose drift counts toward the decision: all but dates, unless `drift.dates: count`.

    Why dates are left out: on time-ordered data a date column always moves (every batch is later
    than the training data), so counting it retrained on almost every batch of a stable stream. They
    are still tested and reported (`counted: false`). When every feature is a date, all count.
    """
    counted = [name for name, kind in kinds.items() if params.dates == "count" or kind != "datetime"]
    return counted or list(kinds)


def build_report(features: dict[str, FeatureResult], reference_rows: int, batch_rows: int,
                 prediction: dict[str, Any] | None, perf: dict[str, Any], multi: dict[str, Any],
                 counted: list[str] | None = None) -> dict[str, Any]:
    """`counted`: the features drift_score is the share of (default all); the others are reported only."""
    counted = list(features) if counted is None else [n for n in counted if n in features]
    n_drifted = sum(1 for n in counted if features[n].drifted)
    share = n_drifted / len(counted) if counted else 0.0
    return {"has_batch": True, "batch_rows": int(batch_rows), "reference_rows": int(reference_rows),
            "drift_score": rounded(share), "drifted_share": rounded(share), "n_features": len(features),
            "n_drifted": n_drifted, "n_counted": len(counted),
            "features": {name: {**f.as_json(), "counted": name in counted} for name, f in features.items()},
            "prediction": prediction, "performance": perf, "multivariate": multi}


def nearest(references: list[dict[str, Summary]], current: pd.DataFrame, kinds: dict[str, str],
            params: DriftParams) -> int:
    """Index of the reference (a stretch of the training data) the batch is most like: fewest counted
    features drifted, then the smallest summed severity. Why the nearest and not the newest: a model
    has seen data like the batch when any stretch it learnt from matches it, so a return to normal
    after a shift, or a shift that persists after the retrain on it, retrains no more."""
    counted = counted_features(kinds, params)

    def distance(summaries: dict[str, Summary]) -> tuple[int, float]:
        found = compare(summaries, current, kinds, params)
        return (sum(found[n].drifted for n in counted),
                sum(min(found[n].severity, 10.0) for n in counted if math.isfinite(found[n].severity)))

    scores = [distance(summaries) for summaries in references]
    return min(range(len(scores)), key=lambda i: (scores[i], -i))


def split_report(report: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(summary, per-feature results): metrics/drift.json holds the summary a person compares in
    `dvc metrics show`; the per-feature detail (5-6 values per column) goes to metrics/drift_features.json."""
    return {k: v for k, v in report.items() if k != "features"}, report.get("features", {})


def no_batch_report(reference_rows: int = 0) -> dict[str, Any]:
    return {"has_batch": False, "batch_rows": 0, "reference_rows": int(reference_rows), "drift_score": 0.0,
            "drifted_share": 0.0, "n_features": 0, "n_drifted": 0, "n_counted": 0, "features": {}, "prediction": None,
            "performance": {"labelled": False, "labelled_rows": 0, "accuracy": None, "reference_accuracy": None, "accuracy_drop": None,
                            **estimated_performance(None, None, "no batch", None, 0.0)},
            "multivariate": multivariate.not_tested("no batch")}


@dataclass(frozen=True)
class ModelView:
    """The model the batch is held to, as the drift stage loaded it: the model, its sha256, its test
    score (accuracy, or a regressor's RMSE) and its CBPE calibration (None when it has none)."""

    model: Any
    sha256: str = ""
    reference_score: float | None = None
    calibration: dict[str, Any] | None = None

    def usable_calibration(self) -> tuple[dict[str, Any] | None, str | None]:
        """(calibration, None) when CBPE can run, else (None, why not)."""
        note = estimate.usable(self.calibration, self.model, self.sha256)
        return (None, note) if note else (self.calibration, None)


def detect(reference: pd.DataFrame | Reference, batch: pd.DataFrame, target: str, params: DriftParams, *,
           model: ModelView | None = None, batch_path: str | Path = "batch", seed: int = 0,
           kinds: dict[str, str] | None = None) -> DriftResult:
    """Local engine: the whole comparison on an in-memory batch, against a reference frame or its
    (cached) `Reference`, which must then carry the model's predictions on it. `kinds`: the features
    to test (the schema's: excluded columns are none), default every column of the reference frame."""
    if isinstance(reference, pd.DataFrame):
        frame = reference
        reference = build_reference(frame, target, params.multivariate.max_rows, seed, kinds)
        if model is not None:
            reference.predicted[model.sha256] = predicted_summary(model.model, frame, list(reference.kinds))
    kinds = reference.kinds
    check_overrides(kinds, params)
    current = align(batch, kinds, batch_path)
    features = compare(reference.summaries, current, kinds, params)
    counted = counted_features(kinds, params)
    multi = multivariate.domain_classifier(reference.sample, current, {n: kinds[n] for n in counted}, params.multivariate,
                                           seed)
    reference_score = model.reference_score if model is not None else None
    prediction = None
    perf = {**performance(0, 0, reference_score), **estimated_performance(None, None, "not available: no model", None, 0.0)}
    if model is not None:
        calibration, note = model.usable_calibration()
        labelled_batch = current.assign(**{target: batch[target]}) if target in batch.columns else current
        cur_tally = label_tally(model.model, labelled_batch, list(kinds), target, calibration)
        prediction = prediction_drift(reference.predicted[model.sha256], cur_tally.predicted, params)
        estimated = estimated_performance(cur_tally, calibration, note, reference_score, params.estimation.band_sigmas)
        perf = performance_of(cur_tally, reference_score, estimated)
    return DriftResult(build_report(features, reference.rows, len(batch), prediction, perf, multi, counted), features)


def most_drifted(features: dict[str, FeatureResult], top: int) -> list[str]:
    """The `top` features furthest past their thresholds (drifted first), ties by name."""
    ranked = sorted(features, key=lambda n: (-features[n].severity, n))
    return ranked[:top]


def wants_images(report: dict[str, Any], policy: str) -> bool:
    """`drift.images`: always, never, or only when a feature or the model's predictions drifted."""
    if policy != "drifted":
        return policy == "always"
    return report.get("n_drifted", 0) > 0 or bool((report.get("prediction") or {}).get("drifted"))
