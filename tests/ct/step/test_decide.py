"""The CT decision and the batch rules, on hand-built inputs (no subprocess)."""
from __future__ import annotations

import pytest

from ctml.ct.release.promotion import tag_message
from ctml.ct.step.decide import decide as decide_on
from ctml.drift.results import DriftSummary


def decide(report: dict, params):
    """The decision on a hand-built metrics/drift.json, read back typed as a CT step reads it."""
    return decide_on(DriftSummary.from_json(report), params)


def drift(score: float | None, drop: float | None = None) -> dict:
    return {"drift_score": score, "performance": {"accuracy_drop": drop}}


@pytest.mark.parametrize(("report", "retrain", "reason"), [
    (drift(0.31), True, "drift 0.310 > 0.3"),
    (drift(0.3), False, "drift 0.300 <= 0.3"),  # the threshold itself does not retrain
    (drift(0.0, drop=0.11), True, "accuracy drop 0.110 > 0.1"),
    (drift(0.0, drop=0.1), False, "drift 0.000 <= 0.3"),
    (drift(None), False, "drift 0.000 <= 0.3"),  # no batch: nothing to compare
    ({"drift_score": 0.5, "performance": None}, True, "drift 0.500 > 0.3"),
])
def test_decide_retrains_above_the_threshold_or_on_an_accuracy_drop(params, report, retrain, reason):
    decision = decide(report, params)
    assert (decision.retrain, decision.reason) == (retrain, reason)


@pytest.mark.parametrize(("increase", "retrain", "reason"), [
    (0.25, True, "rmse increase 25.0% > 20%"),
    (0.2, False, "drift 0.100 <= 0.3"),  # ct.max_error_increase itself does not retrain
    (-0.3, False, "drift 0.100 <= 0.3"),  # a better batch error is no reason
    (None, False, "drift 0.100 <= 0.3"),  # unlabelled batch
])
def test_decide_retrains_a_regressor_whose_error_rose(params, increase, retrain, reason):
    report = {"drift_score": 0.1, "performance": {"labelled": True, "rmse": 5.0, "error_increase": increase}}
    decision = decide(report, params)
    assert (decision.retrain, decision.reason) == (retrain, reason)


@pytest.mark.parametrize(("beyond", "retrain", "reason"), [
    (0.051, True, "out of range 0.051 > 0.05"),
    (0.05, False, "drift 0.100 <= 0.3"),  # ct.max_out_of_range_share itself does not retrain
    (None, False, "drift 0.100 <= 0.3"),  # a report from before ranges were measured
])
def test_decide_retrains_when_values_leave_the_training_ranges(params, beyond, retrain, reason):
    decision = decide({"drift_score": 0.1, "out_of_range_share": beyond, "performance": {"accuracy_drop": 0.0}}, params)
    assert (decision.retrain, decision.reason) == (retrain, reason)


def test_drift_is_checked_before_the_accuracy_drop(params):
    assert decide(drift(0.9, drop=0.5), params).reason == "drift 0.900 > 0.3"


def unlabelled(estimated_drop: float | None, auc: float | None = 0.5, drifted: bool = False) -> dict:
    return {"drift_score": 0.1, "multivariate": {"method": "domain_classifier", "score": auc, "threshold": 0.6, "drifted": drifted},
            "performance": {"labelled": False, "estimated_accuracy": None if estimated_drop is None else 0.9 - estimated_drop,
                            "estimated_drop": estimated_drop}}


@pytest.mark.parametrize(("report", "retrain", "reason"), [
    (unlabelled(0.15), True, "estimated accuracy drop 0.150 > 0.1 (CBPE, no labels)"),
    (unlabelled(0.1), False, "drift 0.100 <= 0.3"),  # ct.max_estimated_drop itself does not retrain
    (unlabelled(None), False, "drift 0.100 <= 0.3"),  # no estimate (a regressor, no predict_proba)
    (unlabelled(0.0, auc=0.71, drifted=True), True, "multivariate drift: domain classifier AUC 0.710 >= 0.6"),
    (unlabelled(0.0, auc=0.65, drifted=False), False, "drift 0.100 <= 0.3"),  # AUC past the threshold, not significant
])
def test_decide_retrains_on_multivariate_drift_or_an_estimated_drop(params, report, retrain, reason):
    decision = decide(report, params)
    assert (decision.retrain, decision.reason) == (retrain, reason)


def test_a_labelled_batch_is_judged_on_its_realized_accuracy_not_the_estimate(params):
    report = unlabelled(0.3)
    report["performance"].update(labelled=True, accuracy=0.88, accuracy_drop=0.02)
    assert decide(report, params).retrain is False


def test_the_multivariate_trigger_can_be_turned_off(params):
    off = params.model_copy(update={"ct": params.ct.model_copy(update={"multivariate_trigger": False})})
    assert decide(unlabelled(0.0, auc=0.9, drifted=True), off).retrain is False


def test_tag_message_says_why_then_drift_then_sorted_metrics():
    message = tag_message("v1.2.0", "drift 0.400 > 0.3", {"roc_auc": 0.99, "accuracy": 0.95},
                          DriftSummary(drift_score=0.4))
    assert message.splitlines() == ["model v1.2.0: drift 0.400 > 0.3", "drift_score: 0.4", "accuracy: 0.95", "roc_auc: 0.99"]
    assert tag_message("v1.0.0", "baseline", {"accuracy": 0.9}, None).splitlines() == ["model v1.0.0: baseline", "accuracy: 0.9"]


def test_the_decision_names_every_trigger_fired_with_its_value_and_limit(params):
    report = {"drift_score": 0.5, "out_of_range_share": 0.2,
              "multivariate": {"score": 0.8, "threshold": 0.6, "drifted": True},
              "performance": {"labelled": True, "accuracy_drop": 0.25, "error_increase": None, "estimated_drop": 0.4}}
    decision = decide(report, params)
    assert decision.names == ("drift", "out_of_range", "multivariate", "accuracy_drop")  # estimated: labelled, so not
    assert [(t.value, t.limit) for t in decision.fired] == [(0.5, 0.3), (0.2, 0.05), (0.8, 0.6), (0.25, 0.1)]
    assert decision.reason == "drift 0.500 > 0.3"  # the first one fired is the history note
    assert decide({"drift_score": 0.1}, params).fired == ()


def test_categories_production_never_saw_retrain_above_their_share(params):
    assert decide({"drift_score": 0.0, "unknown_category_share": 0.04}, params).retrain is False
    found = decide({"drift_score": 0.0, "unknown_category_share": 0.3}, params)
    assert found.names == ("unknown_category",) and found.reason == "unknown categories 0.300 > 0.05"
