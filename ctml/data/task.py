"""The learning task, classification or regression: named by `data.task`, or decided from the label column.

Why decided once, when the schema is recorded, and then read from it: batches grow the data, and
a rule on distinct values could flip the task of a running lineage (an integer label with 45
values gains a 50th). The schema records the task and the reason; only a new source, target or an
explicitly different `data.task` records it again (a new lineage). Downstream of training the task
is the model's own (`task_of_model`): a regressor is a regressor whatever the params say now.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ctml.config import AutoTaskParams, DataParams, Task
from ctml.data.tables import cast_column, plain
from ctml.errors import UserError

LEGACY_TASK: Task = "classification"  # a schema or model recorded before tasks existed was a classifier


@dataclass(frozen=True)
class TaskDecision:
    task: Task
    reason: str  # why, in words, for the validate output and the schema


def recorded_task(record: dict[str, Any] | None) -> Task:
    """The task a schema or model metadata records (older records: classification)."""
    return (record or {}).get("task") or LEGACY_TASK


def task_of_model(model: Any) -> Task:
    """A fitted model (or pipeline) is a regressor or a classifier; scikit-learn knows which."""
    from sklearn.base import is_regressor

    return "regression" if is_regressor(model) else "classification"


def _is_text(labels: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(labels.dtype) and not pd.api.types.is_bool_dtype(labels.dtype)


def missing_problem(labels: pd.Series, target: str) -> str | None:
    """Training labels must all be present: a row without one teaches nothing and hides a feed fault."""
    missing = int(labels.isna().sum())
    if not missing:
        return None
    return f"label column '{target}': {missing} missing labels of {len(labels)} (rule: labels must be present)"


def decide_auto(labels: pd.Series, target: str, auto: AutoTaskParams) -> TaskDecision:
    """`data.task: auto`: text or boolean labels are classes; numbers with a fraction are a quantity;
    whole numbers are classes up to `max_classes` distinct values and a quantity from `min_distinct`;
    anything in between, or text that is mostly numbers, stops with one line naming `data.task`."""
    present = labels.dropna()
    if pd.api.types.is_bool_dtype(present.dtype):
        return TaskDecision("classification", "boolean labels")
    numbers = cast_column(present, "numeric")
    if _is_text(present) and numbers.isna().any():
        parsed = int(numbers.notna().sum())
        first = plain(present[numbers.isna()].iloc[0])
        if parsed * 2 > len(present):
            raise UserError(f"label column '{target}': {parsed} of {len(present)} labels are numbers but {first!r} is not; "
                            "set data.task: regression (and fix the value) or data.task: classification")
        return TaskDecision("classification", f"text labels (e.g. {first!r})")
    values = numbers.to_numpy(dtype="float64")
    finite = values[np.isfinite(values)]
    fractional = finite[finite != np.round(finite)]
    if len(fractional) or len(finite) < len(values):
        shown = fractional[0] if len(fractional) else values[~np.isfinite(values)][0]
        return TaskDecision("regression", f"numbers that are not whole (e.g. {shown:g})")
    distinct = len(np.unique(finite))
    if distinct <= auto.max_classes:
        return TaskDecision("classification", f"{distinct} distinct whole-number labels "
                                              f"(at most data.auto_task.max_classes={auto.max_classes})")
    if distinct >= auto.min_distinct:
        return TaskDecision("regression", f"{distinct} distinct whole-number labels "
                                          f"(at least data.auto_task.min_distinct={auto.min_distinct})")
    raise UserError(f"label column '{target}': {distinct} distinct whole-number labels, between "
                    f"data.auto_task.max_classes={auto.max_classes} and min_distinct={auto.min_distinct}: "
                    "classes or a quantity? set data.task: classification or data.task: regression")


def in_force(labels: pd.Series, data: DataParams, schema: dict[str, Any] | None) -> TaskDecision:
    """The task for this training data: `data.task` when it names one, else the recorded schema's
    (when it is of this source and target), else auto's decision from the labels."""
    if data.task != "auto":
        return TaskDecision(data.task, f"data.task: {data.task}")
    same = schema is not None and (schema.get("source"), schema.get("target")) == (data.source, data.target)
    if same and schema.get("task"):
        return TaskDecision(schema["task"], schema.get("task_reason") or "recorded in the schema")
    if (problem := missing_problem(labels, data.target)) is not None:
        raise UserError(problem)
    return decide_auto(labels, data.target, data.auto_task)


def check_training_labels(labels: pd.Series, target: str, task: str) -> None:
    """Labels a model of `task` can learn from; else one line naming the column and the value."""
    if (problem := missing_problem(labels, target)) is not None:
        raise UserError(problem)
    if task == "classification":
        _check_classes(labels, target)
    else:
        _check_quantity(labels, target)


def _check_classes(labels: pd.Series, target: str) -> None:
    """At least two classes, and no numbers with a fraction (a quantity is not a class)."""
    if not _is_text(labels) and not pd.api.types.is_bool_dtype(labels.dtype):
        values = labels.to_numpy(dtype="float64")
        odd = values[~np.isfinite(values) | (values != np.round(values))]
        if len(odd):
            raise UserError(f"label column '{target}': label {odd[0]:g} is not a class (classification labels are text, "
                            "booleans or whole numbers; set data.task: regression for a quantity)")
    classes = labels.unique()
    if len(classes) < 2:
        shown = f" ({plain(classes[0])!r})" if len(classes) else ""
        noun = "class" if len(classes) == 1 else "classes"
        raise UserError(f"label column '{target}': has {len(classes)} {noun}{shown}, need at least two")


def _check_quantity(labels: pd.Series, target: str) -> None:
    """Finite numbers that vary: text, booleans, ±inf and a constant cannot be regressed on."""
    if pd.api.types.is_bool_dtype(labels.dtype):
        raise UserError(f"label column '{target}': boolean labels cannot be a regression target (set data.task: classification)")
    values = cast_column(labels, "numeric")
    if values.isna().any():
        first = plain(labels[values.isna()].iloc[0])
        raise UserError(f"label column '{target}': non-numeric label {first!r} (data.task regression needs numbers)")
    array = values.to_numpy(dtype="float64")
    if not np.isfinite(array).all():
        raise UserError(f"label column '{target}': non-finite label {array[~np.isfinite(array)][0]} "
                        "(rule: labels must be finite)")
    if array.min() == array.max():
        raise UserError(f"label column '{target}': every label is {array[0]:g}; a constant has nothing to learn")


def labels_for_task(labels: pd.Series, task: str) -> pd.Series:
    """Training labels as the model of `task` is fitted on: numbers (float64) for a regressor,
    unchanged for a classifier (its classes are the values as given)."""
    return cast_column(labels, "numeric") if task == "regression" else labels
