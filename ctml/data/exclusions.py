"""Columns that are no features: a named or detected row identifier, free text, a mostly empty column.

Decided once, when the schema is recorded from a new source, and recorded in it with the reason, so
preprocessing, training, the drift tests and prediction all leave the same columns out, and a batch
may carry them or not. Why detect rather than fail: a CSV written by `DataFrame.to_csv(path)` starts
with an unnamed column of row numbers, which as a feature is a perfect "drift" signal (every batch
is out of its range) and as a category an endless list of unknown levels; measured on a replay of
such a file, every batch was quarantined and CT never measured one.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ctml.config import DataParams, ValidateParams
from ctml.data.tables import kind_of
from ctml.errors import UserError

UNNAMED = re.compile(r"^Unnamed: \d+$")  # what pandas calls a CSV column without a header (the written index)


def excluded_columns(frame: pd.DataFrame, data: DataParams, vp: ValidateParams) -> dict[str, str]:
    """Column -> why it is no feature, naming the key that governs the rule; the label is never excluded."""
    target = data.target
    reasons: dict[str, str] = {}
    if data.id_column:
        if data.id_column not in frame.columns:
            raise UserError(f"data.id_column '{data.id_column}' is not a column (columns: {', '.join(list(frame.columns)[:20])})")
        if data.id_column == target:
            raise UserError(f"data.id_column '{data.id_column}' is the label column data.target")
        reasons[data.id_column] = "row identifier (named by data.id_column)"
    for name in frame.columns:
        if name != target and name not in reasons and (reason := _reason(name, frame[name], vp)) is not None:
            reasons[name] = reason
    return reasons


def _reason(name: str, values: pd.Series, vp: ValidateParams) -> str | None:
    missing = float(values.isna().mean())
    if missing > vp.max_missing_share:
        return f"mostly empty: {missing:.0%} missing, above validate.max_missing_share {vp.max_missing_share}"
    if len(values) < vp.detect_min_rows:
        return None
    if _row_numbers(values, increasing=not UNNAMED.match(name)):
        what = "unnamed column of row numbers (a CSV written with its index)" if UNNAMED.match(name) else \
            "unique per row and increasing"
        return (f"row identifier: {what}; name it in data.id_column to say so (detected in data of at least "
                f"validate.detect_min_rows {vp.detect_min_rows} rows)")
    present = values.dropna()
    if kind_of(values) == "categorical" and len(present):
        distinct = present.nunique() / len(present)
        if distinct > vp.max_distinct_share:
            return (f"free text or an identifier, not a category: {distinct:.0%} of its values are distinct, "
                    f"above validate.max_distinct_share {vp.max_distinct_share}")
    return None


def _row_numbers(values: pd.Series, increasing: bool) -> bool:
    """Whole numbers, none missing, each row its own (and rising row by row, unless the column is unnamed)."""
    if kind_of(values) != "numeric" or values.isna().any():
        return False
    numbers = values.to_numpy(dtype="float64")
    if not np.all(np.isfinite(numbers)) or np.any(numbers != np.round(numbers)):
        return False
    return bool(np.all(np.diff(numbers) > 0)) if increasing else len(np.unique(numbers)) == len(numbers)
