"""The data contract: recorded once from the baseline data, then every dataset and batch is held to it.

Why recorded rather than declared: users bring arbitrary CSVs, and the baseline they trained on
is the only ground truth of what "normal" looks like. Recording again happens only when the
user points `data.source`/`data.target` somewhere else, or names another `data.task` (ctml.task).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ctml.config import ValidateParams
from ctml.data import cast_column, cast_to_kinds, feature_kinds, plain
from ctml.task import TaskDecision, missing_problem, recorded_task

SCHEMA_VERSION = 1


def recorded_kinds(schema: dict[str, Any]) -> dict[str, str]:
    """Feature column -> kind, as the schema recorded them (what a batch is typed to)."""
    return {name: spec["kind"] for name, spec in schema["columns"].items()}


def infer_schema(frame: pd.DataFrame, source: str, target: str, task: TaskDecision) -> dict[str, Any]:
    """The contract of `frame`: each feature's kind and range, the task and what its labels may be
    (the classes of a classifier, the range of a regression target)."""
    columns: dict[str, dict[str, Any]] = {}
    for name, kind in feature_kinds(frame, target).items():
        col = frame[name]
        spec: dict[str, Any] = {"kind": kind, "missing_share": float(col.isna().mean())}
        present = col.dropna()
        if kind == "numeric" and len(present):
            spec["min"], spec["max"] = float(present.min()), float(present.max())
        elif kind == "datetime" and len(present):
            spec["min"], spec["max"] = present.min().isoformat(), present.max().isoformat()
        elif kind == "categorical":
            spec["categories"] = sorted(map(str, present.unique()))
        columns[name] = spec
    labels = frame[target].dropna()
    schema: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "source": source,
        "target": target,
        "task": task.task,
        "task_reason": task.reason,
        "label_kind": "numeric" if pd.api.types.is_numeric_dtype(labels) else "categorical",
    }
    if task.task == "regression":
        values = cast_column(labels, "numeric")
        schema["label_kind"], schema["label_min"], schema["label_max"] = "numeric", float(values.min()), float(values.max())
    else:
        schema["classes"] = sorted(plain(v) for v in labels.unique())
    return {**schema, "columns": columns}


def _first(values: pd.Series) -> Any:
    return plain(values.iloc[0])


def _example(name: str, col: pd.Series, kind: str) -> Any:
    """What to show for a column not of its recorded kind: its first value that does not parse as
    that kind (by the rule batches are typed with), else its first present value."""
    _, mistyped = cast_to_kinds(col.to_frame(name), {name: kind})
    return mistyped[0].value if mistyped else _first(col.dropna())


def _check_numeric(name: str, col: pd.Series, spec: dict[str, Any], vp: ValidateParams) -> str | None:
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col.dtype):
        return f"column '{name}': recorded numeric, found non-numeric value {_example(name, col, 'numeric')!r}"
    values = col.to_numpy(dtype="float64", na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        return f"column '{name}': non-finite value {values[infinite][0]} (rule: values must be finite)"
    if "min" in spec:
        span = spec["max"] - spec["min"]
        width = span if span > 0 else max(abs(spec["max"]), 1.0)  # a constant column: its own magnitude
        lo, hi = spec["min"] - vp.range_tolerance * width, spec["max"] + vp.range_tolerance * width
        outside = (values < lo) | (values > hi)
        if outside.any():
            return (f"column '{name}': value {values[outside][0]:g} outside the allowed range "
                    f"[{lo:g}, {hi:g}] (rule: range_tolerance {vp.range_tolerance})")
    return None


def _check_kind(name: str, col: pd.Series, spec: dict[str, Any], vp: ValidateParams) -> str | None:
    kind = spec["kind"]
    if kind == "numeric":
        return _check_numeric(name, col, spec, vp)
    found = feature_kinds(col.to_frame(), target="")[name]
    if found != kind:
        shown = f" (e.g. {_example(name, col, kind)!r})" if col.notna().any() else ""
        return f"column '{name}': recorded {kind}, found {found}{shown}"
    if kind == "categorical":
        allowed = set(spec["categories"])
        present = col.dropna().astype(str)
        unknown = present[~present.isin(allowed)]
        if len(present) and len(unknown) / len(present) > vp.max_unknown_category_share:
            listed = ", ".join(sorted(allowed)[:10])
            return (f"column '{name}': unknown category {_first(unknown)!r} "
                    f"(allowed: {listed}; rule: max_unknown_category_share {vp.max_unknown_category_share})")
    return None


def check_frame(frame: pd.DataFrame, schema: dict[str, Any], vp: ValidateParams, *, require_target: bool = True) -> list[str]:
    """All violations of `schema` in `frame`, each one line naming the column and the rule."""
    problems: list[str] = []
    if frame.empty:
        return ["no rows"]
    target = schema["target"]
    expected = set(schema["columns"]) | ({target} if require_target else set())
    for name in schema["columns"]:
        if name not in frame.columns:
            problems.append(f"column '{name}': missing (recorded in the schema)")
    if require_target and target not in frame.columns:
        problems.append(f"label column '{target}': missing")
    for name in frame.columns:
        if name not in expected and name != target:
            problems.append(f"column '{name}': not in the schema (unexpected column)")
    for name, spec in schema["columns"].items():
        if name not in frame.columns:
            continue
        col = frame[name]
        share = float(col.isna().mean())
        limit = min(vp.max_missing_share, spec["missing_share"] + vp.missing_tolerance)
        if share > limit + 1e-12:
            problems.append(f"column '{name}': {share:.0%} missing, above the allowed {limit:.0%} (rule: missing share)")
        if share < 1.0 and (problem := _check_kind(name, col, spec, vp)):
            problems.append(problem)
    if target in frame.columns:
        problems.extend(_check_labels(frame[target], schema, vp))
    return problems


def _check_labels(labels: pd.Series, schema: dict[str, Any], vp: ValidateParams) -> list[str]:
    """Labels of the recorded task: known classes, or finite numbers within the recorded range
    (held to it as a numeric feature is, so an absurd magnitude is caught)."""
    target = schema["target"]
    if (problem := missing_problem(labels, target)) is not None:
        return [problem]
    if recorded_task(schema) == "regression":
        spec = {"min": schema["label_min"], "max": schema["label_max"]}
        problem = _check_numeric(target, labels, spec, vp)
        return [] if problem is None else [f"label {problem}"]
    recorded = schema["classes"]
    values = labels if schema["label_kind"] == "categorical" else pd.to_numeric(labels, errors="coerce")
    if values.isna().any():
        return [f"label column '{target}': non-numeric label {_first(labels[values.isna()])!r} (recorded classes: {recorded})"]
    unknown = values[~values.isin(recorded)]
    if len(unknown):
        return [f"label column '{target}': unknown class {_first(unknown)!r} (recorded classes: {recorded})"]
    return []

