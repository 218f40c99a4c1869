"""Simulated batches: seeded, shaped like the reference, shifted exactly as the scenario says."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from ctml.ct.intake.scenarios import flip_labels, make_batch, mirror_targets, replay_batches, shift_fraction, shifted_columns



@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame.astype({"target": "int64"})


def test_same_seed_same_batch_and_other_seed_differs(reference, params):
    a = make_batch(reference, "target", "gradual", 2, 5, 50, 7, params.ct)
    b = make_batch(reference, "target", "gradual", 2, 5, 50, 7, params.ct)
    c = make_batch(reference, "target", "gradual", 2, 5, 50, 8, params.ct)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert list(a.columns) == list(reference.columns) and len(a) == 50


def test_shift_fraction_per_scenario():
    assert shift_fraction("none", 3, 5, 3) == 0.0
    assert shift_fraction("gradual", 1, 4, 3) == pytest.approx(0.25)
    assert shift_fraction("gradual", 4, 4, 3) == pytest.approx(1.0)
    assert [shift_fraction("sudden", s, 5, 3) for s in range(1, 6)] == [0, 0, 1, 1, 1]
    assert shift_fraction("concept", 5, 5, 3) == 0.0


def test_sudden_shifts_only_the_chosen_columns_by_the_magnitude(reference, params):
    chosen = shifted_columns(reference, "target", params.ct.shift_share, 7)
    assert len(chosen) == round(params.ct.shift_share * 30)
    before = make_batch(reference, "target", "sudden", params.ct.start_step - 1, 6, 400, 7, params.ct)
    after = make_batch(reference, "target", "sudden", params.ct.start_step, 6, 400, 7, params.ct)
    std = reference[chosen].std(ddof=0)
    moved = (after[chosen].mean() - reference[chosen].mean()) / std
    assert moved.min() > params.ct.shift_magnitude - 0.3
    stable = [c for c in reference.columns if c not in chosen and c != "target"]
    assert ((before[stable].mean() - reference[stable].mean()).abs() / reference[stable].std(ddof=0)).max() < 0.3


def test_concept_keeps_features_and_flips_labels_above_the_pivot(reference, params):
    plain = make_batch(reference, "target", "none", params.ct.start_step, 6, 300, 7, params.ct)
    concept = make_batch(reference, "target", "concept", params.ct.start_step, 6, 300, 7, params.ct)
    features = [c for c in reference.columns if c != "target"]
    pd.testing.assert_frame_equal(plain[features], concept[features])
    pivot = shifted_columns(reference, "target", params.ct.shift_share, 7)[0]
    above = (plain[pivot] > reference[pivot].median()).to_numpy()
    assert (concept["target"][above] != plain["target"][above]).all()
    assert (concept["target"][~above] == plain["target"][~above]).all()


def test_flip_labels_cycles_classes():
    labels = pd.Series(["a", "b", "c", "a"])
    out = flip_labels(labels, np.array([True, True, True, False]), ["a", "b", "c"])
    assert out.tolist() == ["b", "c", "a", "a"]


def test_replay_streams_rows_after_the_reference_in_order():
    frame = pd.DataFrame({"x": range(25)})
    batches = list(replay_batches(frame, 10, 6))
    assert [b["x"].tolist() for b in batches] == [[10, 11, 12, 13, 14, 15], [16, 17, 18, 19, 20, 21], [22, 23, 24]]


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


def test_concept_mirrors_a_numeric_target_above_the_pivot(diabetes, params):
    plain = make_batch(diabetes, "target", "none", params.ct.start_step, 6, 300, 7, params.ct, "regression")
    concept = make_batch(diabetes, "target", "concept", params.ct.start_step, 6, 300, 7, params.ct, "regression")
    features = [c for c in diabetes.columns if c != "target"]
    pd.testing.assert_frame_equal(plain[features], concept[features])
    pivot = shifted_columns(diabetes, "target", params.ct.shift_share, 7)[0]
    above = (plain[pivot] > diabetes[pivot].median()).to_numpy()
    centre = diabetes["target"].mean()
    np.testing.assert_allclose(concept["target"][above], 2 * centre - plain["target"][above])
    assert (concept["target"][~above] == plain["target"][~above]).all()


def test_mirror_targets_by_hand():
    out = mirror_targets(pd.Series([1, 5, 9]), np.array([True, False, True]), centre=4.0)
    assert out.tolist() == [7.0, 5.0, -1.0]


def test_discrete_columns_are_not_jittered(diabetes, params):
    """diabetes' `sex` has 2 values and `s4` steps: noise would make an undrifted batch look drifted."""
    batch = make_batch(diabetes, "target", "none", 1, 6, 200, 7, params.ct, "regression")
    assert set(batch["sex"]) <= set(diabetes["sex"]) and set(batch["s4"]) <= set(diabetes["s4"])
    continuous = make_batch(load_breast_cancer(as_frame=True).frame, "target", "none", 1, 6, 200, 7, params.ct)
    assert not set(continuous["mean radius"]) <= set(load_breast_cancer(as_frame=True).frame["mean radius"])
