"""The drift statistics: one function each, one signature, `(reference, current, bins) -> Stat`.

Each takes two summaries (see `summary`: `Ecdf` for numeric columns, `Counts` for categorical ones)
and returns the statistic and, for hypothesis tests, its p-value. Which side of the threshold means
drift is stated in each docstring and applied in one place, `methods.is_drifted`, never here.

Formulas follow Evidently's (legacy/calculations/stattests) so decisions agree with it, except
where noted: PSI bins numeric columns at reference quantiles (Evidently: Sturges bins of both
samples), and categorical tests on numeric columns use the same quantile bins.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy import special

from ctml.drift.summary import Counts, Ecdf, Summary

KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp(method="auto") is exact up to this sample size


class Stat(NamedTuple):
    score: float
    p_value: float | None = None


# --- shared pieces --------------------------------------------------------------------------------

def _cdf_gap(reference: Ecdf, current: Ecdf) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of both samples, ascending, and F_ref - F_cur just after each.

    One stable argsort of the two sorted value arrays put end to end: timsort sees two runs and
    merges them in linear time (measured faster than two binary searches). The gap is accumulated
    in integers (counts scaled to the common denominator n_ref * n_cur), so it is exact until the
    final division.
    """
    values = np.concatenate([reference.values, current.values])
    order = np.argsort(values, kind="stable")
    merged = values[order]
    if reference.unit and current.unit:
        steps = np.where(order < len(reference.values), current.n, -reference.n)
    else:
        steps = np.concatenate([reference.counts * current.n, current.counts * -reference.n])[order]
    cum = np.cumsum(steps)
    last = np.append(merged[1:] != merged[:-1], True)  # F and G are settled after the last tie
    if last.all():
        return merged, cum / (reference.n * current.n)
    return merged[last], cum[last] / (reference.n * current.n)


def _w1_distinct(x: np.ndarray, y: np.ndarray) -> float:
    """W1 = integral of |Qx(u) - Qy(u)| over u in [0, 1], for two ascending samples of distinct values.

    The quantile form needs no merge of the two samples (the merge is most of `_cdf_gap`'s time):
    with n >= m, u's breakpoints are i/n and j/m, on the integer lattice i*m and j*n of [0, n*m].
    Every x interval (width m) is paired with y's quantile at its start, one np.repeat; a y breakpoint
    strictly inside x interval i (spacing n >= m: at most one per interval) moves the rest of that
    interval to the next y value, one correction per y breakpoint. Exact integer weights; agrees with
    scipy.stats.wasserstein_distance to rounding (tests/drift/test_stats.py).
    """
    if len(x) < len(y):
        x, y = y, x  # W1 is symmetric; walk the longer sample with repeat
    n, m = len(x), len(y)
    first = -(-(np.arange(m + 1, dtype="int64") * n) // m)  # ceil(k*n/m): first x interval at y quantile k
    total = float(np.abs(x - np.repeat(y, np.diff(first))).sum()) * m
    at = np.arange(1, m, dtype="int64") * n  # y breakpoints
    i = at // m  # the x interval each falls in
    inside = np.flatnonzero(at != i * m)  # those on an x breakpoint split nothing
    if len(inside):
        i, at, xi = i[inside], at[inside], x[i[inside]]
        total += float(np.dot((i + 1) * m - at, np.abs(xi - y[inside + 1]) - np.abs(xi - y[inside])))
    return total / (float(n) * m)


def quantiles(sample: Ecdf, q: np.ndarray) -> np.ndarray:
    """np.quantile(sample, q) (linear interpolation) computed from the ECDF."""
    cum = np.cumsum(sample.counts)
    pos = (sample.n - 1) * np.asarray(q, dtype="float64")
    lo = np.floor(pos).astype("int64")
    hi = np.minimum(lo + 1, sample.n - 1)
    a = sample.values[np.searchsorted(cum, lo, side="right")]
    b = sample.values[np.searchsorted(cum, hi, side="right")]
    return a + (pos - lo) * (b - a)


def quantile_edges(reference: Ecdf, bins: int) -> np.ndarray:
    """Inner edges of `bins` equal-frequency bins of the reference; tied edges merge bins."""
    return np.unique(quantiles(reference, np.arange(1, bins) / bins))


def _counts_below(sample: Ecdf, edges: np.ndarray) -> np.ndarray:
    cum = np.concatenate(([0], np.cumsum(sample.counts)))
    return cum[np.searchsorted(sample.values, edges, side="left")]


def binned_counts(reference: Summary, current: Summary, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples over shared bins: categories (union of labels) or reference quantile bins.

    Numeric bins are [edge_i, edge_i+1) with open outer ends, so batch values outside the
    reference range fall into the first or last bin.
    """
    if isinstance(reference, Counts):
        labels = np.union1d(reference.labels.astype(str), current.labels.astype(str))
        out = []
        for sample in (reference, current):
            aligned = np.zeros(len(labels), dtype="int64")
            aligned[np.searchsorted(labels, sample.labels.astype(str))] = sample.counts
            out.append(aligned)
        return out[0], out[1]
    edges = quantile_edges(reference, bins)
    out = []
    for sample in (reference, current):
        below = np.concatenate(([0], _counts_below(sample, edges), [sample.n]))
        out.append(np.diff(below))
    return out[0], out[1]


def _fill_zeros(shares: np.ndarray) -> np.ndarray:
    """Evidently's rule for empty bins: 1e-4, or a millionth of the smallest share if that is ≤ 1e-4."""
    nonzero = shares[shares > 0]
    if not len(nonzero):
        return shares
    smallest = nonzero.min()
    return np.where(shares == 0, smallest / 1e6 if smallest <= 1e-4 else 1e-4, shares)


# --- the statistics -------------------------------------------------------------------------------

def ks(reference: Summary, current: Summary, bins: int = 10) -> Stat:
    """Two-sample Kolmogorov–Smirnov test: score = D = max |F_ref - F_cur|; drift when the p-value
    is below the threshold. p-value as scipy.stats.ks_2samp(method="auto"): exact up to 10,000
    values per sample, Smirnov's asymptotic distribution above."""
    from scipy import stats as sps  # 0.5 s to import; only this test needs it

    n_ref, n_cur = reference.n, current.n
    if max(n_ref, n_cur) <= KS_EXACT_MAX_N:
        with warnings.catch_warnings():  # "exact calculation unsuccessful": scipy falls back to asymp, as intended
            warnings.simplefilter("ignore", RuntimeWarning)
            res = sps.ks_2samp(np.repeat(reference.values, reference.counts), np.repeat(current.values, current.counts))
        return Stat(float(res.statistic), float(res.pvalue))
    _, gap = _cdf_gap(reference, current)
    d = float(np.abs(gap).max())
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    p = float(np.clip(sps.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))
    return Stat(d, p)


def wasserstein(reference: Summary, current: Summary, bins: int = 10) -> Stat:
    """First Wasserstein distance divided by the reference standard deviation (floored at 0.001,
    as Evidently does): how far values moved, in reference stds; drift at or above the threshold."""
    if reference.unit and current.unit:  # continuous data: from the order statistics, no merge
        distance = _w1_distinct(reference.values, current.values)
    else:
        points, gap = _cdf_gap(reference, current)
        distance = float(np.sum(np.abs(gap[:-1]) * np.diff(points)))
    if reference.unit:
        std = float(np.std(reference.values))
    else:
        weights = reference.counts / reference.n
        mean = float(np.sum(reference.values * weights))
        std = float(np.sqrt(np.sum(weights * (reference.values - mean) ** 2)))
    return Stat(distance / max(std, 0.001))


def psi(reference: Summary, current: Summary, bins: int = 10) -> Stat:
    """Population stability index over reference quantile bins (or categories):
    sum((p_ref - p_cur) * ln(p_ref / p_cur)), empty bins filled as Evidently does; drift at or above
    the threshold (0.1 slight, 0.2 significant by the usual rule of thumb)."""
    ref, cur = binned_counts(reference, current, bins)
    p, q = _fill_zeros(ref / reference.n), _fill_zeros(cur / current.n)
    return Stat(float(np.sum((p - q) * np.log(p / q))))


def chi2(reference: Summary, current: Summary, bins: int = 10) -> Stat:
    """Chi-square goodness of fit of the batch's category (or reference-quantile bin) counts to the
    reference shares: score = the chi-square statistic; drift when the p-value is below the threshold.
    A category absent from the reference but present in the batch makes the statistic infinite (p = 0)."""
    ref, cur = binned_counts(reference, current, bins)
    used = (ref > 0) | (cur > 0)
    observed, expected = cur[used].astype("float64"), ref[used] * (current.n / reference.n)
    if len(observed) < 2:
        return Stat(0.0, 1.0)
    if np.any((expected == 0) & (observed > 0)):
        return Stat(float("inf"), 0.0)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return Stat(statistic, float(special.chdtrc(len(observed) - 1, statistic)))  # = scipy.stats.chi2.sf


def jensenshannon(reference: Summary, current: Summary, bins: int = 10) -> Stat:
    """Jensen–Shannon distance (natural log, so 0 to sqrt(ln 2) ≈ 0.83) between category (or
    reference-quantile bin) shares; drift at or above the threshold."""
    ref, cur = binned_counts(reference, current, bins)
    p, q = ref / reference.n, cur / current.n
    m = (p + q) / 2.0
    js = np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))
    return Stat(float(np.sqrt(max(js, 0.0) / 2.0)))
