"""The domain classifier (multivariate drift), the multiple-testing correction and the effect floors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from ctml.config import load_params
from ctml.drift import detect, multivariate
from ctml.drift import methods
from tests.drift.frames import mixed
from tests.helpers import ROOT

PARAMS = load_params(ROOT / "params.yaml")
DRIFT = PARAMS.drift


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    return data.frame.rename(columns={"target": "label"})


def shuffled(frame: pd.DataFrame, columns: list[str], seed: int) -> pd.DataFrame:
    """Each of `columns` permuted on its own: every column keeps its values, rows no longer go together."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for name in columns:
        out[name] = rng.permutation(out[name].to_numpy())
    return out


def test_columns_that_no_longer_go_together_are_caught_by_it_alone(cancer):
    numeric = [c for c in cancer.columns if c != "label"]
    batch = shuffled(cancer.sample(300, random_state=1), numeric[::2], seed=2)
    report = detect.detect(cancer, batch, "label", DRIFT, seed=PARAMS.seed).report
    assert report["drift_score"] <= PARAMS.ct.threshold  # the per-feature tests see nothing that matters
    multi = report["multivariate"]
    assert multi["method"] == "domain_classifier" and multi["drifted"] is True and multi["score"] > 0.9
    unshuffled = detect.detect(cancer, cancer.sample(300, random_state=1), "label", DRIFT, seed=PARAMS.seed).report
    assert unshuffled["multivariate"]["drifted"] is False


def test_score_is_the_cross_validated_auc_and_p_value_the_mann_whitney_one(cancer):
    features = [c for c in cancer.columns if c != "label"]
    reference, batch = cancer.iloc[:250][features], shuffled(cancer.iloc[250:450][features], features[:10], 3)
    params = DRIFT.multivariate
    found = multivariate.domain_classifier(reference, batch, {n: "numeric" for n in features}, params, 7)
    # The same computation, spelled out with scikit-learn and scipy: reference rows 0, batch rows 1.
    ref = reference.head(len(batch))  # the classifier balances the sides: the reference is a shuffled sample
    x, y = np.vstack([ref.to_numpy(), batch.to_numpy()]), np.r_[np.zeros(len(ref)), np.ones(len(batch))]
    scores = np.empty(len(y))
    for train, test in StratifiedKFold(params.folds, shuffle=True, random_state=7).split(x, y):
        forest = ExtraTreesClassifier(n_estimators=params.n_estimators, min_samples_leaf=3, random_state=7, n_jobs=1)
        scores[test] = forest.fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    assert found["score"] == pytest.approx(roc_auc_score(y, scores), abs=1e-6)
    expected_p = sps.mannwhitneyu(scores[y == 1], scores[y == 0], alternative="greater", method="asymptotic").pvalue
    assert found["p_value"] == pytest.approx(expected_p, abs=1e-6)
    assert (found["reference_rows"], found["batch_rows"]) == (200, 200)


def test_a_batch_of_one_row_is_not_tested_and_says_why(cancer):
    report = detect.detect(cancer, cancer.head(1), "label", DRIFT).report
    multi = report["multivariate"]
    assert (multi["drifted"], multi["score"]) == (False, None) and "too few rows" in multi["note"]
    assert report["batch_rows"] == 1 and report["n_features"] == 30


def test_a_reference_smaller_than_the_batch_is_compared(cancer):
    report = detect.detect(cancer.head(60), cancer.iloc[60:560], "label", DRIFT).report
    multi = report["multivariate"]
    assert (multi["reference_rows"], multi["batch_rows"]) == (60, 500) and multi["score"] is not None
    assert report["reference_rows"] == 60 and report["batch_rows"] == 500


def test_a_column_all_missing_in_the_batch_drifts_and_the_classifier_copes():
    reference, batch = mixed(600, 0), mixed(300, 1)
    batch["y"] = np.nan
    report = detect.detect(reference, batch, "target", DRIFT).report
    assert report["features"]["y"]["drifted"] is True and report["features"]["y"]["score"] is None
    assert report["multivariate"]["score"] is not None


def test_disabled_classifier_reports_not_drifted():
    params = DRIFT.model_copy(update={"multivariate": DRIFT.multivariate.model_copy(update={"enabled": False})})
    multi = detect.detect(mixed(300, 0), mixed(300, 1, shift=2.0), "target", params).report["multivariate"]
    assert (multi["drifted"], multi["note"]) == (False, "drift.multivariate.enabled is false")


@pytest.mark.parametrize("correction", ["bonferroni", "fdr"])
def test_corrections_equal_scipys(correction):
    p = list(np.random.default_rng(0).uniform(0, 0.2, 25)) + [1e-9, 0.5]
    if correction == "fdr":
        expected = sps.false_discovery_control(p, method="bh")
    else:
        expected = np.minimum(1, np.array(p) * len(p))
    assert methods.adjusted_p_values(p, correction) == pytest.approx(expected)
    assert methods.adjusted_p_values(p, "none") == p


def test_correction_and_effect_floor_decide_which_p_value_tests_drift():
    rng = np.random.default_rng(4)
    n = 100_000  # a trivial shift (0.05 std) at a size where KS finds it certain
    reference = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n), "target": 0})
    batch = pd.DataFrame({"a": rng.normal(0.05, 1, n), "b": rng.normal(0.0, 1, n), "target": 0})
    ks = DRIFT.model_copy(update={"method": "ks", "multivariate": DRIFT.multivariate.model_copy(update={"enabled": False})})
    plain = detect.detect(reference, batch, "target", ks).report["features"]
    assert plain["a"]["drifted"] is True and plain["a"]["effect"] == plain["a"]["score"] < 0.05
    floored = detect.detect(reference, batch, "target", ks.model_copy(update={"min_effect": {"ks": 0.1}})).report["features"]
    assert floored["a"]["drifted"] is False and floored["a"]["p_value"] == plain["a"]["p_value"]
    bonferroni = detect.detect(reference, batch, "target", ks.model_copy(update={"correction": "bonferroni"})).report
    for name, f in bonferroni["features"].items():
        assert f["p_adjusted"] == pytest.approx(min(1.0, 2 * plain[name]["p_value"]), abs=2e-6)


def test_chi2_effect_is_cohens_w():
    reference = pd.DataFrame({"c": ["a"] * 500 + ["b"] * 500, "target": 0})
    batch = pd.DataFrame({"c": ["a"] * 300 + ["b"] * 100, "target": 0})
    chi2 = DRIFT.model_copy(update={"method": "chi2", "multivariate": DRIFT.multivariate.model_copy(update={"enabled": False})})
    feature = detect.detect(reference, batch, "target", chi2).report["features"]["c"]
    statistic = sps.chisquare([300, 100], [200, 200]).statistic
    assert feature["effect"] == pytest.approx(np.sqrt(statistic / 400), abs=1e-6)
