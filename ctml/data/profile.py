"""What validate learns of a table, a block of rows at a time, combined exactly.

Why blocks: on the dask engine each worker profiles one row group and the client combines the
profiles; the local engine profiles its whole frame as one block. Every fact combines without
rounding (counts, minima and maxima, sets of categories, booleans, the first value in row order),
so a schema recorded, a column excluded or a problem reported is the same on both engines, and the
same as before blocks existed.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ctml.data.tables import kind_of

UNNAMED = re.compile(r"^Unnamed: \d+$")  # what pandas calls a CSV column without a header (the written index)


def unnamed(name: str) -> bool:
    """A column whose name says it is a written index (no header, or 'index')."""
    return bool(UNNAMED.match(name)) or name.strip() in ("", "index")


def profile_block(frame: pd.DataFrame, target: str, offset: int = 0) -> dict[str, dict[str, Any]]:
    """Per column but the label: rows, missing values, kind (from the dtype), min and max (numbers,
    dates), the categories (as text), and whether its values could be row numbers (`offset`: the
    block's first row's position in the table)."""
    out = {}
    for name in frame.columns:
        if name == target:
            continue
        col = frame[name]
        present = col.dropna()
        kind = kind_of(col)
        facts: dict[str, Any] = {"n": len(col), "missing": len(col) - len(present), "kind": kind}
        if kind in ("numeric", "datetime") and len(present):
            facts["min"], facts["max"] = present.min(), present.max()
        elif kind != "numeric":
            facts["categories"] = set(map(str, present.unique()))
        if kind == "numeric" and not facts["missing"]:
            numbers = col.to_numpy(dtype="float64")
            whole = bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))
            positions = np.arange(offset, offset + len(numbers), dtype="float64")
            facts["whole"] = whole
            facts["at0"] = whole and bool(np.array_equal(numbers, positions))
            facts["at1"] = whole and bool(np.array_equal(numbers, positions + 1))
            if whole and unnamed(str(name)):
                facts["distinct"] = np.unique(numbers)
        out[name] = facts
    return out


def merge(blocks: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The profile of the blocks' rows together, the blocks in row order."""
    out: dict[str, dict[str, Any]] = {}
    for name in blocks[0]:
        parts = [b[name] for b in blocks]
        facts: dict[str, Any] = {"n": sum(p["n"] for p in parts), "missing": sum(p["missing"] for p in parts),
                                 "kind": parts[0]["kind"]}
        ranged = [p for p in parts if "min" in p]
        if ranged:
            facts["min"], facts["max"] = min(p["min"] for p in ranged), max(p["max"] for p in ranged)
        if "categories" in parts[0]:
            facts["categories"] = set().union(*(p["categories"] for p in parts))
        if all("whole" in p for p in parts):
            facts["whole"] = all(p["whole"] for p in parts)
            facts["at0"], facts["at1"] = all(p["at0"] for p in parts), all(p["at1"] for p in parts)
            if all("distinct" in p for p in parts):
                facts["distinct"] = len(np.unique(np.concatenate([p["distinct"] for p in parts])))
        out[name] = facts
    return out


def of_frame(frame: pd.DataFrame, target: str) -> dict[str, dict[str, Any]]:
    """The local engine: the whole frame as one block."""
    return merge([profile_block(frame, target)])
