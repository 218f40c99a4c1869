"""CBPE: calibration fitted as NannyML fits it, estimates against scikit-learn computed here, the
merge of partition sums, and the report's performance section for every kind of model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

from ctml.config import load_params
from ctml.drift import detect, estimate
from tests.helpers import ROOT

PARAMS = load_params(ROOT / "params.yaml")
CAL = PARAMS.evaluate.calibration


def binary(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Two features, labels from a fixed logistic relation (so P(label | features) never changes)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    z = rng.normal(0.0, 1.0, n)
    p = 1 / (1 + np.exp(-(2.5 * x - z)))
    return pd.DataFrame({"x": x, "z": z, "target": (rng.random(n) < p).astype("int64")})


@pytest.fixture(scope="module")
def fitted():
    """A deliberately over-regularized (so miscalibrated) model, and its calibration on a test split."""
    train, test = binary(2000, 0), binary(3000, 1)
    model = LogisticRegression(C=0.002).fit(train[["x", "z"]], train["target"])
    proba = model.predict_proba(test[["x", "z"]])
    calibration = estimate.fit_calibration(model, proba, test["target"], "sha", CAL, 0)
    return model, calibration, test


def test_isotonic_curves_equal_sklearns_isotonic_regression(fitted):
    model, calibration, test = fitted
    proba = model.predict_proba(test[["x", "z"]])[:, 1]
    assert calibration["calibrated"] == [False, True]  # the squashed probabilities need it (auto said so)
    iso = IsotonicRegression(out_of_bounds="clip").fit(proba, test["target"])
    probe = np.linspace(-0.1, 1.1, 57)
    curve = calibration["curves"][1]
    assert estimate.apply_curve(probe, (np.array(curve["x"]), np.array(curve["y"]))) == pytest.approx(iso.predict(probe), abs=1e-9)


def test_well_separated_scores_need_no_calibration():
    truth = np.r_[np.zeros(100), np.ones(100)]
    scores = np.r_[np.linspace(0, 0.3, 100), np.linspace(0.7, 1, 100)]  # AUC 1: NannyML skips calibration
    assert estimate.needs_calibration(truth, scores, CAL, 0) is False


def test_estimates_equal_the_expected_metrics_computed_with_sklearn(fitted):
    model, calibration, _ = fitted
    batch = binary(800, 7, shift=0.7)  # covariate shift: features move, P(label | features) stays
    proba = model.predict_proba(batch[["x", "z"]])
    p = estimate.calibrated_proba(proba, calibration)[:, 1]
    pred = proba[:, 1] > 0.5
    found = estimate.estimates(estimate.tally(proba, calibration), calibration, 3.0)
    assert found["estimated_accuracy"] == pytest.approx(np.mean(np.where(pred, p, 1 - p)))
    tp, fp, fn = p[pred].sum(), (1 - p)[pred].sum(), p[~pred].sum()
    assert found["estimated_f1"] == pytest.approx(tp / (tp + 0.5 * (fp + fn)))
    doubled = roc_auc_score(np.r_[np.ones(len(p)), np.zeros(len(p))], np.r_[proba[:, 1], proba[:, 1]],
                            sample_weight=np.r_[p, 1 - p])
    assert found["estimated_roc_auc"] == pytest.approx(doubled, abs=1e-12)
    # The band: NannyML's sampling error, the test split's std of hits / sqrt(batch rows), 3 of them.
    test_hits = calibration["reference"]["accuracy_std"]
    lower, upper = found["estimated_accuracy_band"]
    assert upper - lower == pytest.approx(2 * 3 * test_hits / np.sqrt(800))
    # And the estimate is close to the truth the labels then tell.
    assert found["estimated_accuracy"] == pytest.approx(accuracy_score(batch["target"], pred.astype(int)), abs=0.03)


def test_roc_estimate_counts_tied_scores_half():
    scores, weights = np.array([0.2, 0.2, 0.9, 0.9, 0.5]), np.array([0.1, 0.8, 0.7, 0.3, 0.5])
    merged = estimate._by_score(scores, weights, 1 - weights)
    doubled = roc_auc_score(np.r_[np.ones(5), np.zeros(5)], np.r_[scores, scores], sample_weight=np.r_[weights, 1 - weights])
    assert estimate.expected_roc_auc(*merged) == pytest.approx(doubled, abs=1e-12)


def test_partition_sums_merge_into_the_whole_batchs(fitted):
    model, calibration, _ = fitted
    proba = model.predict_proba(binary(900, 3)[["x", "z"]]).round(2)  # rounded: tied scores across the parts
    whole = estimate.estimates(estimate.tally(proba, calibration), calibration, 3.0)
    parts = [estimate.tally(proba[i:i + 300], calibration) for i in (0, 300, 600)]
    merged = estimate.merge(estimate.merge(parts[0], parts[1]), parts[2])
    flat = lambda found: [v for value in found.values() for v in (value if isinstance(value, list) else [value])]  # noqa: E731
    assert flat(estimate.estimates(merged, calibration, 3.0)) == pytest.approx(flat(whole))


def test_multiclass_calibrates_each_class_and_estimates_accuracy():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (3000, 2))
    labels = np.argmax(x @ np.array([[2.0, -1.0, 0.0], [0.0, 1.5, -1.5]]) + rng.gumbel(size=(3000, 3)), axis=1)
    model = LogisticRegression(C=0.01).fit(x[:1500], labels[:1500])
    proba = model.predict_proba(x[1500:])
    calibration = estimate.fit_calibration(model, proba, labels[1500:], "sha", CAL, 0)
    calibrated = estimate.calibrated_proba(proba, calibration)
    assert calibrated.sum(axis=1) == pytest.approx(np.ones(1500))
    found = estimate.estimates(estimate.tally(proba, calibration), calibration, 3.0)
    assert found["estimated_accuracy"] == pytest.approx(calibrated[np.arange(1500), proba.argmax(axis=1)].mean())
    assert found["estimated_f1"] is None and found["estimated_roc_auc"] is None  # binary only


def report(model, calibration, batch, reference, labelled: bool) -> dict:
    view = detect.ModelView(model, "sha", 0.9, calibration)
    data = batch if labelled else batch.drop(columns="target")
    return detect.detect(reference, data, "target", PARAMS.drift, model=view).report["performance"]


def test_report_has_estimates_labelled_or_not_and_realized_beside_them(fitted):
    model, calibration, test = fitted
    batch = binary(500, 11, shift=0.5)
    labelled, unlabelled = report(model, calibration, batch, test, True), report(model, calibration, batch, test, False)
    assert labelled["estimation"] == unlabelled["estimation"] == "cbpe"
    assert labelled["estimated_accuracy"] == unlabelled["estimated_accuracy"] is not None
    assert labelled["estimated_accuracy_lower"] < labelled["estimated_accuracy"] < labelled["estimated_accuracy_upper"]
    assert labelled["estimated_drop"] == pytest.approx(0.9 - labelled["estimated_accuracy"], abs=2e-6)
    assert labelled["accuracy"] is not None and unlabelled["accuracy"] is None


def test_estimation_unavailable_is_a_note_not_a_crash(fitted):
    model, calibration, test = fitted
    batch = binary(300, 12)
    other = {**calibration, "model_sha256": "another"}
    assert report(model, None, batch, test, False)["estimation"].startswith("not available: no calibration.json")
    assert report(model, other, batch, test, False)["estimation"].endswith("fitted for another model (sha256 differs)")
    assert report(model, other, batch, test, False)["estimated_accuracy"] is None


def test_a_batch_of_one_row_is_estimated(fitted):
    model, calibration, test = fitted
    performance = report(model, calibration, binary(1, 13), test, False)
    assert performance["estimation"] == "cbpe" and 0 <= performance["estimated_accuracy"] <= 1


def test_one_class_in_the_batch_two_in_the_reference(fitted):
    model, calibration, test = fitted
    batch = binary(400, 14, shift=3.0)
    batch = batch[model.predict(batch[["x", "z"]]) == 1].assign(target=1)  # every row predicted and labelled 1
    performance = report(model, calibration, batch, test, True)
    assert performance["accuracy"] == 1.0 and performance["estimation"] == "cbpe"
    assert performance["estimated_accuracy"] > 0.9 and performance["estimated_f1"] > 0.9
