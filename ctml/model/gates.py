"""Quality gates a candidate model must pass before it may replace the production model.

Each gate is a small function returning a `Gate` (passed, blocking, value, limit, detail); `report`
folds them into the `metrics/gates.json` shape. Blocking gates decide promotion; a failed
non-blocking gate (freshness) is an alert: recorded and logged, never a block.
The gate that compares the model's quality is named after the metric it compares (`accuracy`, `rmse`,
`f1`...: `gates.metric`), so a regressor is never "blocked by accuracy"; gates.json written before that
named it `accuracy` whatever the metric, which `quality_gate` still reads.
Directions: the metric gate passes at value >= limit for a score (accuracy, R²) and at value <= limit for an
error (RMSE, MAE, MAPE), freshness at value <= limit (age in hours), latency and fairness at value < limit.
Times are naive UTC throughout, as `ctml.data.tables.normalize` stores dates.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ctml.errors import UserError
from ctml.model.evaluate import METRIC_SPECS, classification_metrics, regression_metrics
from ctml.model.estimator import load_verified
from ctml.data.task import recorded_task, task_of_model


@dataclass(frozen=True)
class Gate:
    """One gate's outcome as written to gates.json: `value` measured against `limit` (None when not applicable)."""

    passed: bool
    blocking: bool
    value: Any
    limit: Any
    detail: str


def _utc_naive(moment: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tz is not None else stamp


def schema_gate(validation: Mapping[str, Any]) -> Gate:
    """The validate stage's verdict (it already stops the pipeline on a violation); records the row count."""
    passed = bool(validation.get("passed", False))
    rows, violations = validation.get("rows"), validation.get("violations", 0)
    detail = f"{rows} rows, {validation.get('columns')} columns match the schema" if passed else f"{violations} schema violations"
    return Gate(passed, True, rows, None, detail)


def newest_data_time(frame: pd.DataFrame | None, files: Iterable[str | Path]) -> tuple[pd.Timestamp | None, str]:
    """Newest data time (naive UTC) and where it came from.

    The latest value of the data's datetime columns when it has any; else the newest modification
    time of `files` (CT batches, the source file), which says when data arrived, not when it was
    observed; else (None, reason).
    """
    if frame is not None:
        dates = [name for name in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[name])]
        latest = {name: frame[name].max() for name in dates if frame[name].notna().any()}
        if latest:
            name = max(latest, key=lambda n: latest[n])
            return _utc_naive(latest[name]), f"latest value of column '{name}'"
    stamps = {Path(f): Path(f).stat().st_mtime for f in files if Path(f).is_file()}
    if stamps:
        newest = max(stamps, key=lambda f: stamps[f])
        return pd.Timestamp(stamps[newest], unit="s"), f"modification time of {newest}"
    return None, "no datetime column and no data file with a modification time"


def read_datetime_columns(path: str | Path) -> pd.DataFrame:
    """Only the datetime columns of a Parquet file (none read when it has none): cheap on large data."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f.name for f in pq.read_schema(path) if pa.types.is_timestamp(f.type)]
    return pd.read_parquet(path, columns=names) if names else pd.DataFrame()


def freshness_gate(newest: pd.Timestamp | None, origin: str, now: datetime, max_age_hours: float) -> Gate:
    """Alert (non-blocking) when the newest data is older than `max_age_hours`; unknown age passes."""
    if newest is None:
        return Gate(True, False, None, max_age_hours, f"data age unknown: {origin}")
    newest = _utc_naive(newest)
    age = (_utc_naive(now) - newest).total_seconds() / 3600
    passed = age <= max_age_hours
    verdict = "" if passed else f", older than {max_age_hours:g} h"
    detail = f"newest data {newest.isoformat()} ({origin}), {readable_age(age)} old{verdict}"
    return Gate(passed, False, round(age, 3), max_age_hours, detail)


def readable_age(hours: float) -> str:
    """An age a person reads at a glance: hours, and beyond two days the days too (the freshness alert
    said `393878 (limit 24)`, which nobody reads as 45 years)."""
    if abs(hours) < 48:
        return f"{hours:,.1f} h"
    return f"{hours:,.0f} h = {hours / 24:,.0f} days"


def load_production(directory: str | Path) -> tuple[Any, dict[str, Any]] | None:
    """The production model (sha256-verified) from `directory`, or None when nothing is in production yet."""
    directory = Path(directory)
    if not (directory / "model.joblib").exists() and not (directory / "model.json").exists():
        return None
    return load_verified(directory / "model.joblib", directory / "model.json")


class Predicted:
    """A model's predictions of the test split, made elsewhere (by the dask workers, a row group each), in
    the place of the model for the gates: `predict` and `predict_proba` answer with them whatever rows
    they are given, and the rest (its task, `classes_`) is the model's. So each gate runs its own code
    on the same numbers as the local engine, and the client never holds the test split's features."""

    def __init__(self, model: Any, pred: np.ndarray, proba: np.ndarray | None) -> None:
        self.model, self.pred = model, pred
        if proba is not None:
            self.predict_proba = lambda x: proba

    def predict(self, x: Any) -> np.ndarray:
        return self.pred

    @property
    def classes_(self) -> np.ndarray:
        return self.model.classes_

    def __sklearn_tags__(self) -> Any:  # a regressor's predictions are a regressor's (task_of_model)
        return self.model.__sklearn_tags__()


def score(model: Any, x: pd.DataFrame, y: pd.Series, metric: str) -> float:
    """`metric` (a name from ctml.model.evaluate.METRIC_SPECS, of the model's task) of `model` on (x, y)."""
    if task_of_model(model) == "regression":
        values = regression_metrics(y, model.predict(x))
        if metric not in values:
            raise UserError(f"gates.metric '{metric}' cannot be computed on this test set (mape needs labels without zeros)")
        return values[metric]
    proba = model.predict_proba(x) if hasattr(model, "predict_proba") else None
    values = classification_metrics(y, model.predict(x), proba, model.classes_)
    if metric not in values:
        raise UserError(f"gates.metric '{metric}' cannot be computed on this test set "
                        f"(roc_auc needs every class of the model among the labels {sorted(map(str, y.unique()))})")
    return values[metric]


def not_comparable(candidate: Any, meta: Mapping[str, Any], x: pd.DataFrame) -> str | None:
    """Why the production model cannot be scored on this test set, or None when it can: it needs
    columns the test set lacks (the user moved to another data source), or it is a model of the
    other task (the user switched `data.task`): either way a new lineage begins."""
    missing = [c for c in meta.get("features", []) if c not in x.columns]
    if missing:
        return f"needs columns absent from the test set: {', '.join(missing[:5])}"
    ours, theirs = task_of_model(candidate), recorded_task(dict(meta))
    if ours != theirs:
        return f"production is a {theirs} model, the candidate a {ours} model"
    return None


def metric_gate(candidate: Any, production: tuple[Any, dict[str, Any]] | None, x: pd.DataFrame, y: pd.Series,
                  metric: str, tolerance: float) -> Gate:
    """Block when the candidate's `metric` is worse than the production model's on the same test set
    by more than `tolerance`: for a score (higher is better) by more than `tolerance` absolute, for
    an error (lower is better) by more than `tolerance` times production's error.

    A production model that is not comparable (`not_comparable`) lets the gate pass, saying why.
    """
    value = score(candidate, x, y, metric)
    if production is None:
        return Gate(True, True, value, None, f"candidate {metric} {value:.4f}; no production model")
    model, meta = production
    if (why := not_comparable(candidate, meta, x)) is not None:
        return Gate(True, True, value, None, f"candidate {metric} {value:.4f}; production model not comparable ({why})")
    prod = score(model, x, y, metric)
    spec = METRIC_SPECS[metric]
    if spec.higher_is_better:
        limit = round(prod - tolerance, 6)
        passed, allowed = value >= limit - 1e-9, f"- tolerance {tolerance:g}"
    else:
        limit = round(prod * (1 + tolerance), 6)
        passed, allowed = value <= limit + 1e-9, f"+ {tolerance:.0%} tolerance (lower is better)"
    return Gate(passed, True, value, limit, f"candidate {metric} {value:.4f} vs production {prod:.4f} "
                                            f"(sha256 {str(meta.get('model_sha256'))[:12]}) {allowed}")


def naive_gate(candidate: Any, x: pd.DataFrame, y: pd.Series, y_train: pd.Series, metric: str) -> Gate:
    """The first model of a lineage (a new source, target or task): no production model of its own to
    compare with, so it must beat a naive model fitted on the same training labels (the majority class,
    or the mean) on the same test set. Why not the production model of another lineage: its score on
    other data says nothing about this one (measured: a new source's first model 0.82 was blocked by
    the built-in data's 0.92)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    value = score(candidate, x, y, metric)
    regression = task_of_model(candidate) == "regression"
    naive = (DummyRegressor(strategy="mean") if regression else DummyClassifier(strategy="prior")).fit(
        np.zeros((len(y_train), 1)), y_train)
    frame = pd.DataFrame(np.zeros((len(y), 1)))
    if regression:
        base = regression_metrics(y, naive.predict(frame))[metric]
    else:
        base = classification_metrics(y, naive.predict(frame), naive.predict_proba(frame), naive.classes_)[metric]
    better = value > base if METRIC_SPECS[metric].higher_is_better else value < base
    name = "mean" if regression else "majority class"
    return Gate(bool(better), True, value, round(float(base), 6),
                f"candidate {metric} {value:.4f} vs a naive model ({name}) {base:.4f}: first model of its lineage, "
                "not compared with another lineage's production")


# What `metric_gate` and `naive_gate` write in their detail, read back by `held_against`.
_HELD_AGAINST = re.compile(r"^candidate \S+ \S+ vs (?:production (?P<production>\S+) \(sha256 (?P<sha256>[0-9a-fA-F]+)\)"
                           r"|a naive model \((?P<naive>[^)]+)\) (?P<naive_score>\S+):)")


def held_against(gate: Mapping[str, Any]) -> tuple[str, float | None, str | None]:
    """What a metric gate of gates.json held the candidate against on the same test rows: `("production",
    its score, its sha256 prefix)`, `("naive model (mean)", its score, None)`, or `("nothing", None, None)`
    (no production model, or one of another lineage). Read back from the detail, the one place the gate
    writes the other model's score (gates.json written by any version says it the same way), at the
    detail's precision."""
    found = _HELD_AGAINST.match(str(gate.get("detail", "")))
    if found is None:
        return "nothing", None, None
    if found["production"] is not None:
        return "production", float(found["production"]), found["sha256"]
    return f"naive model ({found['naive']})", float(found["naive_score"]), None


QUANTILE = 0.95  # the latency gate bounds the p95


def quantile_upper_bound(timings_ms: np.ndarray, confidence: float, quantile: float = QUANTILE) -> float:
    """A distribution-free upper confidence bound of a quantile: the k-th smallest timing, with k the
    smallest rank that the quantile exceeds with probability below 1 - confidence (binomial order
    statistic). inf when there are too few timings for any bound (fewer than 59 for a 95 % bound of the p95)."""
    from scipy.special import bdtr  # P(Binomial(n, q) <= k)

    ordered = np.sort(np.asarray(timings_ms, dtype=float))
    n = len(ordered)
    for k in range(1, n + 1):
        if bdtr(k - 1, n, quantile) >= confidence:
            return float(ordered[k - 1])
    return float("inf")


def samples_for_bound(confidence: float, quantile: float = QUANTILE) -> int:
    """Fewest timings whose largest is an upper confidence bound of the quantile (59 for 95 % / p95)."""
    return int(np.ceil(np.log(1 - confidence) / np.log(quantile)))


def single_row_latencies_ms(query: Callable[[int], Any], max_samples: int, limit_ms: float = float("inf"),
                            confidence: float = 0.95) -> np.ndarray:
    """CPU time (ms) of single-row requests `query(i)`, i = 0, 1, ... (the caller prepares request i).

    The gates stage passes `ctml.serve.scoring.load_and_query`: the candidate loaded as the server
    loads it, each call one V2 request body parsed, validated, scored and answered by the server's
    own code (TFX's InfraValidator calls it load-and-query), so the bound is on what a request costs.

    CPU time of the calling thread, not wall time: it is what a request costs, whatever else the
    machine runs. Measured here, wall time followed the load instead: median 8 ms on a quiet 2-core
    machine, 97 ms at load average 7.7, which blocked good models in CI-like conditions.

    Sequential: it stops after the fewest timings whose bound already shows the p95 below `limit_ms`
    with `confidence` (59 for 95 %), and times up to `max_samples` otherwise, so a model far from the
    limit costs a third of the 200 calls a fixed sample took, and one near it gets the full sample.
    One untimed warm-up call comes first, so first-call imports are not counted.
    """
    first = min(max_samples, samples_for_bound(confidence))
    query(0)
    timings: list[float] = []
    for i in range(max_samples):
        if i == first and quantile_upper_bound(np.array(timings), confidence) < limit_ms:
            break
        start = time.thread_time()
        query(i)
        timings.append((time.thread_time() - start) * 1000)
    return np.array(timings)


def latency_gate(latencies_ms: np.ndarray, limit_ms: float, confidence: float = 0.95) -> Gate:
    """Block when the p95 single-row latency of the sample is not below `limit_ms`."""
    p95 = float(np.percentile(latencies_ms, 95))
    bound = quantile_upper_bound(latencies_ms, confidence)
    passed = p95 < limit_ms
    shown = f"<= {bound:.3f} ms with {confidence:.0%} confidence" if np.isfinite(bound) else "no confidence bound"
    detail = (f"p95 {p95:.3f} ms ({shown}), median {float(np.median(latencies_ms)):.3f} ms "
              f"over {len(latencies_ms)} single-row requests")
    return Gate(passed, True, round(p95, 4), limit_ms, detail)


def positive_rates(predictions: np.ndarray, groups: pd.Series, positive: Any) -> dict[str, float]:
    """Share of rows predicted `positive`, per group (missing values form the group '<missing>')."""
    keys = groups.astype(object).where(groups.notna(), "<missing>").astype(str).to_numpy()
    hits = pd.Series(np.asarray(predictions) == positive, index=keys)
    return {str(k): float(v) for k, v in hits.groupby(level=0).mean().items()}


def demographic_parity_difference(rates: Mapping[str, float]) -> float:
    """max - min of the per-group positive rates; 0 is parity, larger is less fair."""
    return float(max(rates.values()) - min(rates.values())) if rates else 0.0


def _groups(x: pd.DataFrame, column: str) -> pd.Series:
    if column not in x.columns:
        raise UserError(f"gates.fairness.sensitive_column '{column}' is not a feature column of the test set "
                        f"(columns: {', '.join(map(str, x.columns[:20]))})")
    return x[column]


def _disabled(limit: float) -> Gate:
    return Gate(True, True, None, limit, "disabled (gates.fairness.sensitive_column is empty)")


def _shown(values: Mapping[str, float]) -> str:
    """The groups, largest value first (at most eight)."""
    shown = ", ".join(f"{k} {v:.3f}" for k, v in sorted(values.items(), key=lambda kv: -kv[1])[:8])
    return shown + (f" (+{len(values) - 8} groups)" if len(values) > 8 else "")


def fairness_gate(model: Any, x: pd.DataFrame, column: str, max_dp_diff: float) -> Gate:
    """Block when the demographic parity difference across groups of `column` is not below `max_dp_diff`.

    The "positive" prediction is the model's last class (classes[1] for binary labels, the same
    positive class as metrics.json); for multiclass models the rate of predicting that last class
    is compared across groups. An empty `column` disables the gate.
    """
    if not column:
        return _disabled(max_dp_diff)
    groups = _groups(x, column)
    positive = model.classes_[-1]
    rates = positive_rates(model.predict(x), groups, positive)
    diff = demographic_parity_difference(rates)
    label = positive.item() if hasattr(positive, "item") else positive
    detail = f"rate of predicting {label!r} by '{column}': {_shown(rates)}"
    return Gate(diff < max_dp_diff, True, round(diff, 6), max_dp_diff, detail)


def group_means(predictions: np.ndarray, groups: pd.Series) -> dict[str, float]:
    """Mean prediction per group (missing values form the group '<missing>')."""
    keys = groups.astype(object).where(groups.notna(), "<missing>").astype(str).to_numpy()
    means = pd.Series(np.asarray(predictions, dtype="float64"), index=keys).groupby(level=0).mean()
    return {str(k): float(v) for k, v in means.items()}


def mean_gap_gate(model: Any, x: pd.DataFrame, y: pd.Series, column: str, max_mean_gap: float) -> Gate:
    """Regression's fairness gate: block when the groups of `column` get mean predictions further
    apart than `max_mean_gap` standard deviations of the test labels (scale-free, so one bound
    fits a price and a temperature). An empty `column` disables the gate."""
    if not column:
        return _disabled(max_mean_gap)
    means = group_means(model.predict(x), _groups(x, column))
    spread = float(np.std(np.asarray(y, dtype="float64")))
    raw = max(means.values()) - min(means.values())
    gap = raw / spread if spread > 0 else 0.0
    detail = f"mean prediction by '{column}': {_shown(means)}; gap {raw:.4g} = {gap:.3f} test-label standard deviations"
    return Gate(gap < max_mean_gap, True, round(gap, 6), max_mean_gap, detail)


def quality_gate(result: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(name, gate) of the gate that compared the candidate's metric in a gates.json document: the one
    named after a metric (gates.json before the rename called it `accuracy`, also a metric's name)."""
    return next(((name, g) for name, g in (result.get("gates") or {}).items() if name in METRIC_SPECS), None)


UNITS = {"freshness": "h", "latency": "ms"}  # the other gates' values are counts, scores or errors in the label's units


def _value(name: str, value: Any) -> str:
    """A gate's value as the summary line shows it: with its unit, an age also in days."""
    if not isinstance(value, (int, float)):
        return f" {value}"
    if name == "freshness":
        return f" {readable_age(value)}"
    return f" {value:g}" + (f" {UNITS[name]}" if name in UNITS else "")


def report(gates: Mapping[str, Gate], checked_at: datetime) -> dict[str, Any]:
    """The metrics/gates.json document: passed is True when every blocking gate passed."""
    return {
        "passed": all(g.passed for g in gates.values() if g.blocking),
        "blocked_by": [name for name, g in gates.items() if g.blocking and not g.passed],
        "alerts": [name for name, g in gates.items() if not g.blocking and not g.passed],
        "checked_at": pd.Timestamp(checked_at).isoformat(),
        "gates": {name: asdict(g) for name, g in gates.items()},
    }


def verdict(result: Mapping[str, Any]) -> dict[str, Any]:
    """metrics/gates_summary.json, what `dvc metrics show` and `dvc exp show` compare: passed or not and
    how many gates blocked or alerted. Values, limits, details and the time stay in metrics/gates.json
    (an output, not a metric): text and timestamps made `dvc exp show` columns too wide to read."""
    return {"passed": bool(result["passed"]), "blocked": len(result["blocked_by"]), "alerts": len(result["alerts"])}


def summary_line(result: Mapping[str, Any]) -> str:
    """One line: the verdict first, then each gate's state with its value and limit."""
    verdict = "PASSED" if result["passed"] else f"BLOCKED by {', '.join(result['blocked_by'])}"
    if result["alerts"]:
        verdict += f" (alerts: {', '.join(result['alerts'])})"
    parts = []
    for name, g in result["gates"].items():
        state = "ok" if g["passed"] else ("blocked" if g["blocking"] else "alert")
        state = "off" if g["value"] is None and g["detail"].startswith("disabled") else state
        shown = "" if g["value"] is None else _value(name, g["value"])
        unit = f" {UNITS[name]}" if name in UNITS else ""
        limit = "" if g["limit"] is None or g["value"] is None else f" (limit {g['limit']:g}{unit})"
        parts.append(f"{name} {state}{shown}{limit}")
    return f"gates: {verdict} | " + " | ".join(parts)
