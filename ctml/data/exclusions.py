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

from typing import Any

import pandas as pd

from ctml.config import DataParams, ValidateParams
from ctml.data import profile
from ctml.errors import UserError


def excluded_columns(frame: pd.DataFrame, data: DataParams, vp: ValidateParams) -> dict[str, str]:
    """Column -> why it is no feature, naming the key that governs the rule; the label is never excluded."""
    return excluded_from(list(frame.columns), profile.of_frame(frame, data.target), data, vp)


def excluded_from(columns: list[str], facts: dict[str, dict[str, Any]], data: DataParams, vp: ValidateParams) -> dict[str, str]:
    """`excluded_columns` from the table's column names and its profile (`ctml.data.profile`)."""
    target = data.target
    reasons: dict[str, str] = {}
    if data.id_column:
        if data.id_column not in columns:
            raise UserError(f"data.id_column '{data.id_column}' is not a column (columns: {', '.join(columns[:20])})")
        if data.id_column == target:
            raise UserError(f"data.id_column '{data.id_column}' is the label column data.target")
        reasons[data.id_column] = "row identifier (named by data.id_column)"
    for key in ("features", "exclude"):
        unknown = [name for name in getattr(data, key) if name not in columns or name == target]
        if unknown:
            raise UserError(f"data.{key}: '{unknown[0]}' is not a feature column of {data.source} "
                            f"(columns: {', '.join(c for c in columns[:20] if c != target)})")
    for name in data.exclude:
        reasons.setdefault(name, "left out by data.exclude")
    chosen = set(data.features)
    for name in columns:
        if name == target or name in reasons:
            continue
        if chosen and name not in chosen:
            reasons[name] = "not listed in data.features"
        elif name not in chosen and (reason := _reason(name, facts[name], vp)) is not None:
            reasons[name] = reason
    return reasons


def _reason(name: str, facts: dict[str, Any], vp: ValidateParams) -> str | None:
    missing = facts["missing"] / facts["n"] if facts["n"] else float("nan")
    if missing > vp.max_missing_share:
        return f"mostly empty: {missing:.0%} missing, above validate.max_missing_share {vp.max_missing_share}"
    if facts["n"] < vp.detect_min_rows:
        return None
    named = profile.unnamed(str(name))
    if _row_numbers(facts, named):
        what = "unnamed column of row numbers (a CSV written with its index)" if named else \
            "its values are the row positions"
        return (f"row identifier: {what}; to keep it as a feature list it in data.features (or name it in "
                f"data.id_column to confirm it is an identifier)")
    present = facts["n"] - facts["missing"]
    if facts["kind"] == "categorical" and present:
        distinct = len(facts["categories"]) / present
        if distinct > vp.max_distinct_share:
            return (f"free text or names, not a category: {distinct:.0%} of its values are distinct, "
                    f"above validate.max_distinct_share {vp.max_distinct_share}; to keep it list it in data.features")
    return None


def _row_numbers(facts: dict[str, Any], unnamed: bool) -> bool:
    """Whole numbers, none missing: unique (an unnamed column: a written index, maybe shuffled) or,
    named, exactly the row positions (0, 1, 2, ... or 1, 2, 3, ...)."""
    if not facts.get("whole"):
        return False
    if unnamed:
        return facts["distinct"] == facts["n"]
    return facts["at0"] or facts["at1"]
