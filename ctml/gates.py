"""Quality gates a candidate model must pass before it may replace the production model.

Each gate is a small function returning a `Gate` (passed, blocking, value, limit, detail); `report`
folds them into the `metrics/gates.json` shape. Blocking gates decide promotion; a failed
non-blocking gate (freshness) is an alert: recorded and logged, never a block.
Directions: accuracy passes at value >= limit, freshness at value <= limit (age in hours), latency and
fairness at value < limit. Times are naive UTC throughout, as `ctml.data.normalize` stores dates.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ctml.errors import UserError
from ctml.evaluate import classification_metrics
from ctml.model import load_verified


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
    detail = f"newest data {newest.isoformat()} ({origin}), {age:.1f} h old{verdict}"
    return Gate(passed, False, round(age, 3), max_age_hours, detail)


def load_production(directory: str | Path) -> tuple[Any, dict[str, Any]] | None:
    """The production model (sha256-verified) from `directory`, or None when nothing is in production yet."""
    directory = Path(directory)
    if not (directory / "model.joblib").exists() and not (directory / "model.json").exists():
        return None
    return load_verified(directory / "model.joblib", directory / "model.json")


def score(model: Any, x: pd.DataFrame, y: pd.Series, metric: str) -> float:
    """`metric` (a name from ctml.evaluate.METRIC_NAMES) of `model` on (x, y)."""
    proba = model.predict_proba(x) if hasattr(model, "predict_proba") else None
    values = classification_metrics(y, model.predict(x), proba, model.classes_)
    if metric not in values:
        raise UserError(f"gates.metric '{metric}' cannot be computed on this test set "
                        f"(roc_auc needs every class of the model among the labels {sorted(map(str, y.unique()))})")
    return values[metric]


def accuracy_gate(candidate: Any, production: tuple[Any, dict[str, Any]] | None, x: pd.DataFrame, y: pd.Series,
                  metric: str, tolerance: float) -> Gate:
    """Block when the candidate's `metric` trails the production model's on the same test set by more than `tolerance`.

    A production model that needs columns the test set lacks (the user moved to another data
    source) is not comparable; the gate then passes and says so.
    """
    value = score(candidate, x, y, metric)
    if production is None:
        return Gate(True, True, value, None, f"candidate {metric} {value:.4f}; no production model")
    model, meta = production
    missing = [c for c in meta.get("features", []) if c not in x.columns]
    if missing:
        return Gate(True, True, value, None, f"candidate {metric} {value:.4f}; production model not comparable "
                                             f"(needs columns absent from the test set: {', '.join(missing[:5])})")
    prod = score(model, x, y, metric)
    limit = round(prod - tolerance, 6)
    passed = value >= limit - 1e-9
    return Gate(passed, True, value, limit, f"candidate {metric} {value:.4f} vs production {prod:.4f} "
                                            f"(sha256 {str(meta.get('model_sha256'))[:12]}) - tolerance {tolerance:g}")


def single_row_latencies_ms(model: Any, x: pd.DataFrame, samples: int) -> np.ndarray:
    """Wall time (ms) of `samples` full-pipeline `.predict` calls on one raw row each, cycling through `x`.

    Rows are sliced before timing and one untimed warm-up call comes first, so the figures are
    what a served request costs the model, not pandas indexing or first-call imports.
    """
    rows = [x.iloc[[i % len(x)]] for i in range(samples)]
    model.predict(rows[0])
    timings = np.empty(samples)
    for i, row in enumerate(rows):
        start = time.perf_counter()
        model.predict(row)
        timings[i] = time.perf_counter() - start
    return timings * 1000


def latency_gate(latencies_ms: np.ndarray, limit_ms: float) -> Gate:
    """Block when the p95 single-row latency is not below `limit_ms`."""
    p95 = float(np.percentile(latencies_ms, 95))
    passed = p95 < limit_ms
    detail = f"p95 {p95:.3f} ms, median {float(np.median(latencies_ms)):.3f} ms over {len(latencies_ms)} single-row predictions"
    return Gate(passed, True, round(p95, 4), limit_ms, detail)


def positive_rates(predictions: np.ndarray, groups: pd.Series, positive: Any) -> dict[str, float]:
    """Share of rows predicted `positive`, per group (missing values form the group '<missing>')."""
    keys = groups.astype(object).where(groups.notna(), "<missing>").astype(str).to_numpy()
    hits = pd.Series(np.asarray(predictions) == positive, index=keys)
    return {str(k): float(v) for k, v in hits.groupby(level=0).mean().items()}


def demographic_parity_difference(rates: Mapping[str, float]) -> float:
    """max - min of the per-group positive rates; 0 is parity, larger is less fair."""
    return float(max(rates.values()) - min(rates.values())) if rates else 0.0


def fairness_gate(model: Any, x: pd.DataFrame, column: str, max_dp_diff: float) -> Gate:
    """Block when the demographic parity difference across groups of `column` is not below `max_dp_diff`.

    The "positive" prediction is the model's last class (classes[1] for binary labels, the same
    positive class as metrics.json); for multiclass models the rate of predicting that last class
    is compared across groups. An empty `column` disables the gate.
    """
    if not column:
        return Gate(True, True, None, max_dp_diff, "disabled (gates.fairness.sensitive_column is empty)")
    if column not in x.columns:
        raise UserError(f"gates.fairness.sensitive_column '{column}' is not a feature column of the test set "
                        f"(columns: {', '.join(map(str, x.columns[:20]))})")
    positive = model.classes_[-1]
    rates = positive_rates(model.predict(x), x[column], positive)
    diff = demographic_parity_difference(rates)
    shown = ", ".join(f"{k} {v:.3f}" for k, v in sorted(rates.items(), key=lambda kv: -kv[1])[:8])
    more = f" (+{len(rates) - 8} groups)" if len(rates) > 8 else ""
    label = positive.item() if hasattr(positive, "item") else positive
    detail = f"rate of predicting {label!r} by '{column}': {shown}{more}"
    return Gate(diff < max_dp_diff, True, round(diff, 6), max_dp_diff, detail)


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
        shown = "" if g["value"] is None else f" {g['value']:g}" if isinstance(g["value"], (int, float)) else f" {g['value']}"
        limit = "" if g["limit"] is None or g["value"] is None else f" (limit {g['limit']:g})"
        parts.append(f"{name} {state}{shown}{limit}")
    return f"gates: {verdict} | " + " | ".join(parts)
