"""The data contract: what the columns are (recorded once), and the ranges they had (following the data).

Why two halves: what a column *is* (its kind, how its dates are written, whether it is a feature
at all, the task and its classes) must not change under a running lineage, so it is recorded from
the first run on a source and kept until the user points `data.source`, `data.target`,
`data.task`, `data.id_column` or `data.date_columns` elsewhere. What a column's values *were* (its
missing share, [min, max], categories) is re-recorded from every training set (`follow`), so the
ranges a batch meets are those of the data the production model learned from: the ranges move with
the data CT retrains on instead of rejecting the drift CT exists for. A value beyond the recorded
range is drift (counted by the drift stage); only what is broken (wrong kind, non-finite, absurdly
far out, outside `validate.bounds`, missing or unexpected columns) is refused here.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ctml.config import ValidateParams
from ctml.data import profile
from ctml.data.tables import cast_column, cast_to_kinds, feature_kinds, plain
from ctml.data.rules import label_faults, numeric_faults
from ctml.data.task import TaskDecision, missing_problem, recorded_task

SCHEMA_VERSION = 2  # 2: excluded columns, date formats, id_column; ranges follow the training data


def recorded_kinds(schema: dict[str, Any]) -> dict[str, str]:
    """Feature column -> kind, as the schema recorded them (what a batch is typed to)."""
    return {name: spec["kind"] for name, spec in schema["columns"].items()}


def feature_kinds_of(schema: dict[str, Any], frame: pd.DataFrame) -> dict[str, str]:
    """The recorded features of `frame` and their kinds, in the frame's column order (the JSON file
    keeps them sorted; the model's inputs stay in the order of the data, as before columns were excluded)."""
    kinds = recorded_kinds(schema)
    return {name: kinds[name] for name in frame.columns if name in kinds}


def recorded_date_formats(schema: dict[str, Any]) -> dict[str, str]:
    """Date column -> how its text is written (`ctml.data.dates`), as recorded."""
    return {name: spec.get("date_format", "auto") for name, spec in schema["columns"].items() if spec["kind"] == "datetime"}


def excluded(schema: dict[str, Any]) -> dict[str, str]:
    """Column -> why it is no feature (older schemas excluded nothing)."""
    return schema.get("excluded", {})


def infer_schema(frame: pd.DataFrame, source: str, target: str, task: TaskDecision, **keys: Any) -> dict[str, Any]:
    """The contract of `frame`: each feature's kind (the columns of `excluded_columns` are none) and
    range, the task and what its labels may be (the classes of a classifier, the range of a
    regression target), and what the data params were that shaped it (`chosen`: data.features and
    data.exclude, recorded when set)."""
    return infer_from(profile.of_frame(frame, target), frame[target], source, target, task, **keys)


def infer_from(facts: dict[str, dict[str, Any]], labels: pd.Series, source: str, target: str, task: TaskDecision, *,
               excluded_columns: Mapping[str, str] | None = None, date_formats: Mapping[str, str] | None = None,
               id_column: str = "", chosen: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """`infer_schema` from the table's profile (`ctml.data.profile`) and its label column."""
    skip, formats = dict(excluded_columns or {}), dict(date_formats or {})
    columns = {name: {"kind": f["kind"], **({"date_format": formats.get(name, "auto")} if f["kind"] == "datetime" else {})}
               for name, f in facts.items() if name not in skip}
    labels = labels.dropna()
    schema: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "source": source,
        "target": target,
        "task": task.task,
        "task_reason": task.reason,
        "id_column": id_column,
        "date_columns": formats,
        **{key: list(names) for key, names in (chosen or {}).items() if names},
        "label_kind": "numeric" if pd.api.types.is_numeric_dtype(labels) or task.task == "regression" else "categorical",
        "excluded": skip,
        "columns": columns,
    }
    if task.task == "classification":
        schema["classes"] = sorted(plain(v) for v in labels.unique())
    return follow_from(schema, facts, labels)


def follow(schema: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """The schema with each feature's missing share, [min, max] or categories (and a regression
    target's range) re-recorded from `frame`, the training data: kinds, exclusions, task and classes
    stay as recorded."""
    return follow_from(schema, profile.of_frame(frame, schema["target"]), frame[schema["target"]])


def follow_from(schema: dict[str, Any], facts: dict[str, dict[str, Any]], labels: pd.Series) -> dict[str, Any]:
    """`follow` from the training data's profile and its label column."""
    columns = {name: {"kind": spec["kind"], **({"date_format": spec["date_format"]} if "date_format" in spec else {}),
                      **_profile(facts[name], spec["kind"])} for name, spec in schema["columns"].items()}
    out = {**schema, "columns": columns}
    if recorded_task(schema) == "regression":
        values = cast_column(labels.dropna(), "numeric")
        out["label_min"], out["label_max"] = float(values.min()), float(values.max())
    return out


def _profile(facts: dict[str, Any], kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"missing_share": facts["missing"] / facts["n"] if facts["n"] else float("nan")}
    present = facts["n"] - facts["missing"]
    if kind == "numeric" and present:
        spec["min"], spec["max"] = float(facts["min"]), float(facts["max"])
    elif kind == "datetime" and present:
        spec["min"], spec["max"] = facts["min"].isoformat(), facts["max"].isoformat()
    elif kind == "categorical":
        spec["categories"] = sorted(facts.get("categories", set()))
    return spec


def _first(values: pd.Series) -> Any:
    return plain(values.iloc[0])


def _example(name: str, col: pd.Series, kind: str) -> Any:
    """What to show for a column not of its recorded kind: its first value that does not parse as
    that kind (by the rule batches are typed with), else its first present value."""
    _, mistyped = cast_to_kinds(col.to_frame(name), {name: kind})
    return mistyped[0].value if mistyped else _first(col.dropna())


def _check_numeric(name: str, col: pd.Series, spec: dict[str, Any], vp: ValidateParams, what: str = "column") -> list[str]:
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col.dtype):
        return [f"{what} '{name}': recorded numeric, found non-numeric value {_example(name, col, 'numeric')!r} "
                "(kinds recorded from data.source)"]
    return [fault.message(name, what) for fault in numeric_faults(name, col, spec, vp)]


def check_block(frame: pd.DataFrame, schema: dict[str, Any], vp: ValidateParams) -> dict[str, dict[str, Any]]:
    """What `check_frame` needs to know of one block of rows, per recorded column it has: rows, missing
    values and, when some are present, the kind's findings (each combines exactly across blocks)."""
    out = {}
    for name, spec in schema["columns"].items():
        if name in frame.columns:
            col = frame[name]
            facts: dict[str, Any] = {"n": len(col), "missing": int(col.isna().sum())}
            if facts["missing"] < len(col):
                facts.update(_kind_facts(name, col, spec, vp))
            out[name] = facts
    return out


def _kind_facts(name: str, col: pd.Series, spec: dict[str, Any], vp: ValidateParams) -> dict[str, Any]:
    kind = spec["kind"]
    if kind == "numeric":
        found = "non-numeric" if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col.dtype) else kind
    else:
        found = feature_kinds(col.to_frame(), target="")[name]
    if found != kind:  # what to show: the first value that does not parse as the kind (the rule batches are typed by), else the first
        _, mistyped = cast_to_kinds(col.to_frame(name), {name: kind})
        return {"found": found, "mistyped": [mistyped[0].value] if mistyped else [], "first": _first(col.dropna())}
    if kind == "numeric":
        return {"faults": [(fault.order, fault.message(name)) for fault in numeric_faults(name, col, spec, vp)]}
    if kind == "categorical":
        present = col.dropna().astype(str)
        unknown = present[~present.isin(set(spec["categories"]))]
        return {"present": len(present), "unknown": len(unknown), "first_unknown": [_first(unknown)] if len(unknown) else []}
    return {}


def _kind_problems(name: str, spec: dict[str, Any], parts: list[dict[str, Any]], vp: ValidateParams) -> list[str]:
    """The kind's problems of a column from its blocks' findings (blocks without a value left out)."""
    kind = spec["kind"]
    wrong = [p for p in parts if "found" in p]
    if wrong:
        example = next((p["mistyped"][0] for p in wrong if p["mistyped"]), wrong[0]["first"])
        if kind == "numeric":
            return [f"column '{name}': recorded numeric, found non-numeric value {example!r} (kinds recorded from data.source)"]
        return [f"column '{name}': recorded {kind}, found {wrong[0]['found']} (e.g. {example!r}) (kinds recorded from data.source"
                f"{'; data.date_columns says how dates are written' if kind == 'datetime' else ''})"]
    if kind == "numeric":
        first: dict[int, str] = {}
        for part in parts:
            for order, message in part["faults"]:
                first.setdefault(order, message)  # each rule about its first offending row
        return [first[order] for order in sorted(first)]
    if kind == "categorical":
        present, unknown = sum(p["present"] for p in parts), sum(p["unknown"] for p in parts)
        if present and unknown / present > vp.max_unknown_category_share:
            example = next(p["first_unknown"][0] for p in parts if p["first_unknown"])
            listed = ", ".join(sorted(spec["categories"])[:10])
            return [f"column '{name}': unknown category {example!r} "
                    f"(allowed: {listed}; rule: validate.max_unknown_category_share {vp.max_unknown_category_share})"]
    return []


def check_frame(frame: pd.DataFrame, schema: dict[str, Any], vp: ValidateParams, *, require_target: bool = True) -> list[str]:
    """All violations of `schema` in `frame`, each one line naming the column, the rule and its key.
    Excluded columns (identifiers, free text, mostly empty) may be there or not and are not checked."""
    if frame.empty:
        return ["no rows"]
    target = schema["target"]
    labels = frame[target] if target in frame.columns else None
    return check_table(list(frame.columns), [check_block(frame, schema, vp)], labels, schema, vp, require_target=require_target)


def check_table(columns: list[str], blocks: list[dict[str, dict[str, Any]]], labels: pd.Series | None, schema: dict[str, Any],
                vp: ValidateParams, *, require_target: bool = True) -> list[str]:
    """`check_frame` of a table from its column names, its blocks' findings (`check_block`, in row
    order) and its label column (None when it has none)."""
    problems: list[str] = []
    target = schema["target"]
    expected = set(schema["columns"]) | set(excluded(schema)) | ({target} if require_target else set())
    for name in schema["columns"]:
        if name not in columns:
            problems.append(f"column '{name}': missing (recorded in the schema from data.source)")
    if require_target and target not in columns:
        problems.append(f"label column '{target}': missing (data.target)")
    for name in columns:
        if name not in expected and name != target:
            problems.append(f"column '{name}': not in the schema (unexpected column; the schema is recorded from data.source)")
    for name, spec in schema["columns"].items():
        if name not in columns:
            continue
        parts = [b[name] for b in blocks]
        share = sum(p["missing"] for p in parts) / sum(p["n"] for p in parts)
        limit = min(vp.max_missing_share, spec["missing_share"] + vp.missing_tolerance)
        if share > limit + 1e-12:
            problems.append(f"column '{name}': {share:.0%} missing, above the allowed {limit:.0%} (rules: "
                            f"validate.max_missing_share {vp.max_missing_share}, validate.missing_tolerance {vp.missing_tolerance} "
                            f"over the recorded {spec['missing_share']:.0%})")
        if share < 1.0:
            problems.extend(_kind_problems(name, spec, [p for p in parts if p["missing"] < p["n"]], vp))
    if labels is not None:
        problems.extend(_check_labels(labels, schema, vp))
    return problems


def _check_labels(labels: pd.Series, schema: dict[str, Any], vp: ValidateParams) -> list[str]:
    """Labels of the recorded task: known classes, or finite numbers not absurdly far from the
    recorded range and within `validate.bounds` (held to it as a numeric feature is)."""
    target = schema["target"]
    if (problem := missing_problem(labels, target)) is not None:
        return [problem]
    if recorded_task(schema) == "regression":
        spec = {"min": schema["label_min"], "max": schema["label_max"]}
        return _check_numeric(target, labels, spec, vp, what="label column")
    return [fault.message(target, "label column") for fault in label_faults(labels, schema)]


def row_faults(frame: pd.DataFrame, schema: dict[str, Any], vp: ValidateParams) -> pd.Series:
    """Per row of `frame` (as read, untyped), why it is broken ("" when it is not): a value that is not
    of its column's recorded kind, or one that breaks a value rule (`ctml.data.rules`), features first, then
    the label; the first reason of each row. What `validate.bad_rows: drop_rows` drops."""
    frame = frame.rename(columns=str)
    reasons = pd.Series("", index=frame.index, dtype=object)

    def mark(rows: Any, texts: list[str]) -> None:
        rows = np.asarray(rows, dtype=bool)
        fresh = reasons.to_numpy()[rows] == ""  # a row keeps its first reason
        where = frame.index[rows][fresh]
        reasons[where] = np.asarray(texts, dtype=object)[fresh]

    formats = recorded_date_formats(schema)
    for name, spec in schema["columns"].items():
        if name in frame.columns:
            _mark_column(mark, name, frame[name], spec["kind"], formats.get(name, "auto"), spec, vp, "column")
    target = schema["target"]
    if target in frame.columns:
        labels = frame[target]
        if recorded_task(schema) == "regression":
            spec = {"min": schema["label_min"], "max": schema["label_max"]}
            _mark_column(mark, target, labels, "numeric", "auto", spec, vp, "label column")
        else:
            for fault in label_faults(labels.reset_index(drop=True), schema):
                mark(fault.rows, fault.reasons(target, "label column"))
    return reasons


def _mark_column(mark: Any, name: str, values: pd.Series, kind: str, date_format: str, spec: dict[str, Any],
                 vp: ValidateParams, what: str) -> None:
    cast = cast_column(values, kind, date_format)
    wrong = (values.notna() & cast.isna()).to_numpy()
    if wrong.any():
        mark(wrong, [f"{what} '{name}': value {plain(v)!r} is not {kind} (kinds recorded from data.source)"
                     for v in values[wrong]])
    if kind == "numeric":
        for fault in numeric_faults(name, cast, spec, vp):
            mark(fault.rows, fault.reasons(name, what))
