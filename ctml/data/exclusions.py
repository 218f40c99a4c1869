"""Columns that are no features: a named or detected row identifier, free text, a mostly empty column,
and those the user leaves out (`data.exclude`) or does not list (`data.features`).

Decided once, when the schema is recorded from a new source, and recorded in it with the reason, so
preprocessing, training, the drift tests and prediction all leave the same columns out, and a batch
may carry them or not. Why detect rather than fail: a CSV written by `DataFrame.to_csv(path)` starts
with an unnamed column of row numbers, which as a feature is a perfect "drift" signal (every batch
is out of its range) and as a category an endless list of unknown levels; measured on a replay of
such a file, every batch was quarantined and CT never measured one. Only what is surely an
identifier is detected (an unnamed column, or values equal to the row position): a day count or a
serial number is whole, unique and increasing too, and can be the best feature of a time series.
The user has the last word: `data.features` keeps a column whatever it looks like.
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
    for key in ("features", "exclude"):
        unknown = [name for name in getattr(data, key) if name not in frame.columns or name == target]
        if unknown:
            raise UserError(f"data.{key}: '{unknown[0]}' is not a feature column of {data.source} "
                            f"(columns: {', '.join(c for c in list(frame.columns)[:20] if c != target)})")
    for name in data.exclude:
        reasons.setdefault(name, "left out by data.exclude")
    chosen = set(data.features)
    for name in frame.columns:
        if name == target or name in reasons:
            continue
        if chosen and name not in chosen:
            reasons[name] = "not listed in data.features"
        elif name not in chosen and (reason := _reason(name, frame[name], vp)) is not None:
            reasons[name] = reason
    return reasons


def _reason(name: str, values: pd.Series, vp: ValidateParams) -> str | None:
    missing = float(values.isna().mean())
    if missing > vp.max_missing_share:
        return f"mostly empty: {missing:.0%} missing, above validate.max_missing_share {vp.max_missing_share}"
    if len(values) < vp.detect_min_rows:
        return None
    unnamed = bool(UNNAMED.match(name)) or name.strip() in ("", "index")
    if _row_numbers(values, unnamed):
        what = "unnamed column of row numbers (a CSV written with its index)" if unnamed else \
            "its values are the row positions"
        return (f"row identifier: {what}; to keep it as a feature list it in data.features (or name it in "
                f"data.id_column to confirm it is an identifier)")
    present = values.dropna()
    if kind_of(values) == "categorical" and len(present):
        distinct = present.nunique() / len(present)
        if distinct > vp.max_distinct_share:
            return (f"free text or names, not a category: {distinct:.0%} of its values are distinct, "
                    f"above validate.max_distinct_share {vp.max_distinct_share}; to keep it list it in data.features")
    return None


def _row_numbers(values: pd.Series, unnamed: bool) -> bool:
    """Whole numbers, none missing: unique (an unnamed column: a written index, maybe shuffled) or,
    named, exactly the row positions (0, 1, 2, ... or 1, 2, 3, ...)."""
    if kind_of(values) != "numeric" or values.isna().any():
        return False
    numbers = values.to_numpy(dtype="float64")
    if not np.all(np.isfinite(numbers)) or np.any(numbers != np.round(numbers)):
        return False
    if unnamed:
        return len(np.unique(numbers)) == len(numbers)
    positions = np.arange(len(numbers), dtype="float64")
    return bool(np.array_equal(numbers, positions) or np.array_equal(numbers, positions + 1))
