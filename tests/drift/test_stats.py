"""Each statistic on tiny hand-built samples, against the scipy/Evidently formula it mirrors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.spatial import distance

from ctml.drift import stats, summary


def ecdf(values) -> summary.Ecdf:
    return summary.ecdf(np.asarray(values, dtype="float64"))


def counts(values) -> summary.Counts:
    return summary.counts(pd.Series(values, dtype=object))


def test_ecdf_keeps_distinct_values_and_counts_and_drops_missing():
    s = summary.ecdf(np.array([3.0, 1.0, np.nan, 3.0, np.inf, -np.inf, 2.0, 3.0]))
    assert s.values.tolist() == [1.0, 2.0, 3.0] and s.counts.tolist() == [1, 1, 3] and s.n == 5


def test_counts_are_sorted_by_label_and_drop_missing():
    s = counts(["b", "a", None, "b", np.nan])
    assert s.labels.tolist() == ["a", "b"] and s.counts.tolist() == [1, 2]


def test_merging_partitions_gives_the_whole_column_summary():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 50, 1000).astype("float64")
    whole, parts = summary.ecdf(values), [summary.ecdf(p) for p in np.array_split(values, 7)]
    merged = parts[0]
    for p in parts[1:]:
        merged = summary.merge(merged, p)
    assert merged.values.tolist() == whole.values.tolist() and merged.counts.tolist() == whole.counts.tolist()
    cats = pd.Series(np.array(list("abcde"), dtype=object)[rng.integers(0, 5, 300)])
    merged_c = summary.merge(summary.counts(cats[:100]), summary.counts(cats[100:]))
    assert dict(zip(merged_c.labels, merged_c.counts)) == cats.value_counts().to_dict()


def test_quantiles_match_numpy_linear_interpolation():
    values = np.array([5.0, 1.0, 1.0, 2.0, 9.0, 7.0, 7.0, 7.0])
    q = np.array([0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
    assert stats.quantiles(ecdf(values), q) == pytest.approx(np.quantile(values, q))


def test_ks_matches_scipy_exact_and_asymptotic():
    ref, cur = [1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0, 7.0]
    got, want = stats.ks(ecdf(ref), ecdf(cur)), sps.ks_2samp(ref, cur)
    assert (got.score, got.p_value) == pytest.approx((want.statistic, want.pvalue))
    assert got.score == pytest.approx(0.6)
    rng = np.random.default_rng(1)
    big_ref, big_cur = rng.normal(size=12_000), rng.normal(0.03, 1, size=15_000)  # > 10,000: asymptotic
    got, want = stats.ks(ecdf(big_ref), ecdf(big_cur)), sps.ks_2samp(big_ref, big_cur)
    assert (got.score, got.p_value) == pytest.approx((want.statistic, want.pvalue), rel=1e-9)


def test_wasserstein_is_scipy_distance_over_reference_std():
    ref, cur = [0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0, 4.0]
    want = sps.wasserstein_distance(ref, cur) / np.std(ref)
    assert stats.wasserstein(ecdf(ref), ecdf(cur)).score == pytest.approx(want)
    assert stats.wasserstein(ecdf([0.0, 0.0]), ecdf([1.0])).score == pytest.approx(1 / 0.001)  # std floored at 0.001
    assert stats.wasserstein(ecdf(ref), ecdf(cur)).p_value is None


@pytest.mark.parametrize("n, m", [(1, 1), (1, 9), (7, 7), (12, 8), (8, 12), (6, 4), (1000, 37), (5000, 4999), (30_000, 2_000)])
def test_wasserstein_of_distinct_values_from_order_statistics_is_scipy_distance(n, m):
    """The no-merge path (every value once on both sides), shared values between the samples and
    breakpoints that coincide (12/8, 6/4) included."""
    rng = np.random.default_rng(n * 1000 + m)
    ref = rng.normal(size=n).round(2 if n < 100 else 6)
    cur = np.concatenate([rng.choice(ref, m // 2), rng.normal(0.4, 1.3, m - m // 2).round(2 if m < 100 else 6)])
    ref, cur = np.unique(ref), np.unique(cur)  # distinct within each sample, some values in both
    reference, current = ecdf(ref), ecdf(cur)
    assert reference.unit and current.unit
    want = sps.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
    assert stats.wasserstein(reference, current).score == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert stats.wasserstein(current, reference).score * max(np.std(cur), 0.001) == pytest.approx(
        sps.wasserstein_distance(ref, cur), rel=1e-12, abs=1e-15)  # symmetric


def test_chi2_uses_reference_shares_scaled_to_the_batch():
    ref, cur = ["a"] * 6 + ["b"] * 3 + ["c"] * 1, ["a"] * 2 + ["b"] * 2 + ["c"] * 1
    got = stats.chi2(counts(ref), counts(cur))
    want = sps.chisquare([2, 2, 1], [3.0, 1.5, 0.5])
    assert (got.score, got.p_value) == pytest.approx((want.statistic, want.pvalue))


def test_chi2_with_a_category_unseen_in_the_reference_is_infinite():
    got = stats.chi2(counts(["a", "b"]), counts(["a", "z"]))
    assert got.score == float("inf") and got.p_value == 0.0


def test_jensenshannon_matches_scipy_on_category_shares():
    ref, cur = ["a"] * 5 + ["b"] * 5, ["a"] * 2 + ["b"] * 6 + ["c"] * 2
    got = stats.jensenshannon(counts(ref), counts(cur)).score
    assert got == pytest.approx(distance.jensenshannon([0.5, 0.5, 0.0], [0.2, 0.6, 0.2]))


def test_psi_by_hand_on_two_categories():
    got = stats.psi(counts(["a"] * 5 + ["b"] * 5), counts(["a"] * 8 + ["b"] * 2)).score
    assert got == pytest.approx((0.5 - 0.8) * np.log(0.5 / 0.8) + (0.5 - 0.2) * np.log(0.5 / 0.2))


def test_psi_bins_numeric_columns_at_reference_quantiles():
    ref = np.arange(100, dtype="float64")  # deciles at 9.9, 19.8, ...: ten bins of ten
    ref_counts, cur_counts = stats.binned_counts(ecdf(ref), ecdf(np.arange(50, 150, dtype="float64")), 10)
    assert ref_counts.tolist() == [10] * 10
    assert cur_counts.tolist() == [0] * 5 + [10] * 4 + [60]  # beyond the reference max: last bin
    p = np.full(10, 0.1)
    q = np.where(cur_counts == 0, 1e-4, cur_counts / 100)
    assert stats.psi(ecdf(ref), ecdf(np.arange(50, 150, dtype="float64")), 10).score == pytest.approx(np.sum((p - q) * np.log(p / q)))


def test_tied_quantile_edges_merge_bins():
    ref = np.array([0.0] * 8 + [1.0, 2.0])
    assert stats.quantile_edges(ecdf(ref), 10).tolist() == [0.0, pytest.approx(0.2), pytest.approx(1.1)]
