"""What the drift statistics need from a column, reduced once and mergeable across partitions.

A numeric column becomes its ECDF (`Ecdf`: sorted distinct values and their counts); a categorical
column its category counts (`Counts`). Every statistic is computed from these, so the local engine
(one summary per column) and the Dask engine (one per partition, merged) share the statistic code
and agree exactly: merging partition summaries gives the very summary of the whole column.

Missing values: NaN, None/NA and ±inf are dropped before summarizing (Evidently does the same), so
a statistic always compares the distributions of the values that are present. How many values are
missing is the validate stage's business (`validate.max_missing_share`), not drift's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Ecdf:
    """Present values of a numeric column: `values` strictly ascending, `counts` of each (int64)."""

    values: np.ndarray
    counts: np.ndarray
    n: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", int(self.counts.sum()))

    @property
    def unit(self) -> bool:
        """Every value occurs once (continuous data): cumulative counts are just ranks."""
        return len(self.values) == self.n


@dataclass(frozen=True)
class Counts:
    """Present values of a categorical column: `labels` (str, ascending) and their counts (int64)."""

    labels: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts.sum())


Summary = Ecdf | Counts


def _distinct_sorted(sorted_values: np.ndarray, weights: np.ndarray | None = None) -> Ecdf:
    """Collapse a sorted array (with optional per-element weights) into distinct values + counts."""
    n = len(sorted_values)
    if n == 0:
        return Ecdf(np.empty(0, dtype="float64"), np.empty(0, dtype="int64"))
    changes = sorted_values[1:] != sorted_values[:-1]
    if weights is None and changes.all():  # continuous data: every value distinct
        return Ecdf(sorted_values, np.ones(n, dtype="int64"))
    starts = np.flatnonzero(np.concatenate(([True], changes)))
    if weights is None:
        counts = np.diff(np.append(starts, n)).astype("int64")
    else:
        counts = np.add.reduceat(weights, starts).astype("int64")
    return Ecdf(sorted_values[starts], counts)


def numeric_values(values: pd.Series | np.ndarray) -> np.ndarray:
    """A numeric column as float64 with missing and infinite values dropped (a new array)."""
    if isinstance(values, pd.Series):
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            return epoch_seconds(values)
        array = values.to_numpy(dtype="float64", na_value=np.nan)
    else:
        array = np.asarray(values, dtype="float64")
    return array[np.isfinite(array)]


def epoch_seconds(values: pd.Series) -> np.ndarray:
    """Datetimes as float seconds since 1970 (missing dropped): the numeric tests run on these."""
    present = values.dropna()
    nanos = present.to_numpy(dtype="datetime64[ns]").astype("int64")
    return nanos / 1e9


def ecdf(values: pd.Series | np.ndarray) -> Ecdf:
    """Summarize a numeric (or datetime) column; NaN and ±inf are dropped."""
    array = numeric_values(values)
    array.sort()
    return _distinct_sorted(array)


def counts(values: pd.Series | np.ndarray) -> Counts:
    """Summarize a categorical or boolean column as counts per label (labels as str); NA dropped."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    tally = series.value_counts(dropna=True, sort=False)
    labels = np.array([str(v) for v in tally.index], dtype=object)
    order = np.argsort(labels, kind="stable")
    return Counts(labels[order], tally.to_numpy(dtype="int64")[order])


def merge(a: Summary, b: Summary) -> Summary:
    """The summary of two samples together (partitions of one column); order does not matter."""
    if isinstance(a, Ecdf) and isinstance(b, Ecdf):
        values = np.concatenate([a.values, b.values])
        order = np.argsort(values, kind="stable")
        return _distinct_sorted(values[order], np.concatenate([a.counts, b.counts])[order])
    if isinstance(a, Counts) and isinstance(b, Counts):
        labels = np.concatenate([a.labels, b.labels])
        uniq, inverse = np.unique(labels, return_inverse=True)
        return Counts(uniq.astype(object), np.bincount(inverse, weights=np.concatenate([a.counts, b.counts])).astype("int64"))
    raise TypeError(f"cannot merge {type(a).__name__} with {type(b).__name__}")


def as_counts(summary: Summary) -> Counts:
    """A numeric summary seen as categories (its distinct values), for low-cardinality columns."""
    if isinstance(summary, Counts):
        return summary
    return Counts(np.array([repr(float(v)) for v in summary.values], dtype=object), summary.counts)


def n_distinct(reference: Summary, current: Summary, cap: int) -> int:
    """Distinct present values over both samples (Evidently's `nunique` of the two together),
    counted exactly up to `cap`; any larger count is reported as `cap + 1` without counting."""
    if isinstance(reference, Ecdf):
        if max(len(reference.values), len(current.values)) > cap:
            return cap + 1
        return len(np.union1d(reference.values, current.values))
    return len(np.union1d(reference.labels.astype(str), current.labels.astype(str)))


