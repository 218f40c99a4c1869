"""Properties every drift statistic must have, checked with hypothesis on generated samples.

- identical samples give no drift: score 0, and p-value 1 for a test (KS, chi-square);
- scores do not depend on row order;
- a larger shift never gives a smaller score (location shift for ks/wasserstein; for every method,
  mixing in a larger share of rows from another distribution at a fixed batch size, where
  p-values must also never grow);
- missing values (NaN, ±inf, None) are dropped: adding them changes nothing, and a side with no
  present values is defined (drifted, no score; both sides empty: no drift).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ctml.config import load_params
from ctml.drift import detect, results, summary, tally
from ctml.drift import methods
from tests.helpers import ROOT

PARAMS = load_params(ROOT / "params.yaml").drift
NUMERIC_METHODS = ["ks", "wasserstein", "psi", "chi2", "jensenshannon"]
CATEGORICAL_METHODS = ["psi", "chi2", "jensenshannon"]

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
numbers = st.lists(finite, min_size=2, max_size=60)
labels = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=2, max_size=60)
missing = st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), min_size=1, max_size=10)


def not_lower(far: float, near: float) -> bool:
    return far >= near or math.isclose(far, near, rel_tol=1e-9, abs_tol=1e-12)


def run(method: str, ref, cur, kind: str = "numeric"):
    """One statistic on raw values, summarized as the local engine does."""
    make = summary.ecdf if kind == "numeric" else summary.counts
    to = (lambda v: np.asarray(v, dtype="float64")) if kind == "numeric" else (lambda v: pd.Series(v, dtype=object))
    return methods.get(method).func(make(to(ref)), make(to(cur)), PARAMS.psi_bins)


def feature(method: str, ref, cur, kind: str = "numeric") -> results.FeatureResult:
    params = PARAMS.model_copy(update={"method": method})
    series = (lambda v: pd.Series(v, dtype="float64")) if kind == "numeric" else (lambda v: pd.Series(v, dtype=object))
    return detect.test_feature("x", kind, tally.summarize(series(ref), kind), tally.summarize(series(cur), kind), params)


def assert_identical(result: results.FeatureResult, values: list) -> None:
    """What a method must give two identical samples: no drift, score 0, and for a test p = 1
    (KS: D = 0, scipy's own ks_2samp agrees; chi-square: observed = expected counts, statistic 0,
    sf(0) = 1); a distance has no p-value."""
    assert not result.drifted and result.score == 0.0
    if methods.get(result.method).drift_when == "p_value_below":
        assert result.p_value == 1.0
        if result.method == "ks":
            assert result.p_value == stats.ks_2samp(values, values).pvalue
    else:
        assert result.p_value is None


@settings(max_examples=60, deadline=None)
@given(values=numbers, method=st.sampled_from(NUMERIC_METHODS))
def test_identical_numeric_samples_do_not_drift(values, method):
    result = feature(method, values, list(values))
    assert result.method == method
    assert_identical(result, values)


@settings(max_examples=60, deadline=None)
@given(values=labels, method=st.sampled_from(CATEGORICAL_METHODS))
def test_identical_categorical_samples_do_not_drift(values, method):
    result = feature(method, values, list(values), kind="categorical")
    assert result.method == method
    assert_identical(result, values)


@settings(max_examples=60, deadline=None)
@given(ref=numbers, cur=numbers, method=st.sampled_from(NUMERIC_METHODS), seed=st.integers(0, 2**32 - 1))
def test_numeric_scores_do_not_depend_on_row_order(ref, cur, method, seed):
    rng = np.random.default_rng(seed)
    assert run(method, ref, cur) == run(method, rng.permutation(ref), rng.permutation(cur))


@settings(max_examples=60, deadline=None)
@given(ref=labels, cur=labels, method=st.sampled_from(CATEGORICAL_METHODS), seed=st.integers(0, 2**32 - 1))
def test_categorical_scores_do_not_depend_on_row_order(ref, cur, method, seed):
    rng = np.random.default_rng(seed)
    assert run(method, ref, cur, "categorical") == run(method, list(rng.permutation(ref)), list(rng.permutation(cur)), "categorical")


@settings(max_examples=80, deadline=None)
@given(ref=st.lists(finite, min_size=2, max_size=60, unique=True), small=st.floats(0, 1e3), extra=st.floats(0, 1e3),
       method=st.sampled_from(["ks", "wasserstein"]))
def test_a_larger_location_shift_never_scores_lower(ref, small, extra, method):
    ref = np.asarray(ref)
    near, far = run(method, ref, ref + small), run(method, ref, ref + small + extra)
    assert not_lower(far.score, near.score)


def mixed_batch(ref: list, other, share: int) -> list:
    """A batch of 4 x len(ref) rows: (4 - share) copies of the reference and `share` x len(ref) rows
    of `other`. Its distribution moves along a straight line away from the reference as `share`
    grows, at a fixed size, so scores must grow and p-values shrink."""
    return ref * (MIX - share) + [other] * (len(ref) * share)


MIX = 4


@settings(max_examples=80, deadline=None)
@given(ref=numbers, other=finite, share=st.integers(0, MIX), more=st.integers(0, MIX),
       method=st.sampled_from(NUMERIC_METHODS))
def test_mixing_in_more_shifted_rows_never_scores_lower(ref, other, share, more, method):
    near = run(method, ref, mixed_batch(ref, other, share))
    far = run(method, ref, mixed_batch(ref, other, min(MIX, share + more)))
    assert not_lower(far.score, near.score)
    if near.p_value is not None:
        assert not_lower(near.p_value, far.p_value)


@settings(max_examples=80, deadline=None)
@given(ref=labels, other=st.sampled_from(["a", "b", "z"]), share=st.integers(0, MIX), more=st.integers(0, MIX),
       method=st.sampled_from(CATEGORICAL_METHODS))
def test_mixing_in_more_of_one_category_never_scores_lower(ref, other, share, more, method):
    near = run(method, ref, mixed_batch(ref, other, share), "categorical")
    far = run(method, ref, mixed_batch(ref, other, min(MIX, share + more)), "categorical")
    assert not_lower(far.score, near.score)
    if near.p_value is not None:
        assert not_lower(near.p_value, far.p_value)


@settings(max_examples=60, deadline=None)
@given(ref=numbers, cur=numbers, ref_gaps=missing, cur_gaps=missing, method=st.sampled_from(NUMERIC_METHODS),
       seed=st.integers(0, 2**32 - 1))
def test_missing_and_infinite_values_are_dropped(ref, cur, ref_gaps, cur_gaps, method, seed):
    rng = np.random.default_rng(seed)
    clean = feature(method, ref, cur)
    dirty = feature(method, rng.permutation(ref + ref_gaps), rng.permutation(cur + cur_gaps))
    assert (dirty.score, dirty.p_value, dirty.drifted) == (clean.score, clean.p_value, clean.drifted)


@settings(max_examples=40, deadline=None)
@given(ref=numbers, n_missing=st.integers(1, 20), method=st.sampled_from(NUMERIC_METHODS))
def test_a_side_with_no_present_values_is_drifted_without_a_score(ref, n_missing, method):
    gone = feature(method, ref, [np.nan] * n_missing)
    assert gone.drifted and gone.score is None and math.isinf(gone.severity)
    assert gone.p_value == (0.0 if methods.get(gone.method).drift_when == "p_value_below" else None)
    both = feature(method, [np.nan], [np.nan] * n_missing)
    assert not both.drifted and both.score == 0.0
