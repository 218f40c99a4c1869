"""Dataset-level drift on in-memory frames: the report contract, column kinds, bad batches."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from ctml.config import FeatureDriftParams, load_params
from ctml.drift import detect
from ctml.errors import UserError
from tests.drift.frames import ONE_ZERO, mixed, spell_flag
from tests.helpers import ROOT

PARAMS = load_params(ROOT / "params.yaml").drift
FEATURE_KEYS = {"kind", "method", "score", "p_value", "p_adjusted", "effect", "threshold", "drifted", "counted"}


def realized(performance: dict) -> dict:
    """The performance section without its CBPE estimates (tests/drift/test_estimate.py has those)."""
    return {k: v for k, v in performance.items() if k not in (*detect.ESTIMATED, "estimation")}


def test_report_follows_the_contract_and_is_plain_json():
    result = detect.detect(mixed(3000, 0), mixed(2000, 1, shift=1.0), "target", PARAMS)
    report = json.loads(json.dumps(result.report))
    assert report == result.report
    assert set(report) == {"has_batch", "batch_rows", "reference_rows", "drift_score", "drifted_share", "n_features",
                           "n_drifted", "n_counted", "features", "prediction", "performance", "multivariate"}
    assert (report["has_batch"], report["batch_rows"], report["reference_rows"]) == (True, 2000, 3000)
    assert report["n_features"] == 6 and all(set(f) == FEATURE_KEYS for f in report["features"].values())
    kinds = {n: (f["kind"], f["method"]) for n, f in report["features"].items()}
    assert kinds == {"x": ("numeric", "wasserstein"), "y": ("numeric", "wasserstein"),
                     "level": ("numeric", "jensenshannon"), "flag": ("boolean", "jensenshannon"),
                     "when": ("datetime", "wasserstein"), "city": ("categorical", "jensenshannon")}
    drifted = sorted(n for n, f in report["features"].items() if f["drifted"])
    assert drifted == ["city", "flag", "when", "x"]
    # The date drifted (time moved on) and is reported, but counts toward the decision only with drift.dates: count.
    assert report["features"]["when"]["counted"] is False and report["n_counted"] == 5
    assert report["n_drifted"] == 3 and report["drift_score"] == report["drifted_share"] == round(3 / 5, 6)
    counted = detect.detect(mixed(3000, 0), mixed(2000, 1, shift=1.0), "target",
                            PARAMS.model_copy(update={"dates": "count"})).report
    assert (counted["n_drifted"], counted["drift_score"]) == (4, round(4 / 6, 6))
    assert report["features"]["y"]["p_value"] is None
    assert report["prediction"] is None and report["performance"]["labelled"] is False


def test_small_reference_uses_ks_and_chi2():
    report = detect.detect(mixed(400, 0), mixed(300, 1), "target", PARAMS).report
    methods = {n: f["method"] for n, f in report["features"].items()}
    assert methods == {"x": "ks", "y": "ks", "level": "chi2", "flag": "chi2", "when": "ks", "city": "chi2"}
    assert report["n_drifted"] == 0
    assert all(0 <= f["p_value"] <= 1 for f in report["features"].values())


def test_scores_are_rounded_to_six_decimals():
    report = detect.detect(mixed(3000, 0), mixed(2000, 1, shift=0.3), "target", PARAMS).report
    for f in report["features"].values():
        assert f["score"] == round(f["score"], 6)


def test_per_feature_override_changes_that_feature_only():
    params = PARAMS.model_copy(update={"per_feature": {"x": FeatureDriftParams(method="psi", threshold=5.0)}})
    report = detect.detect(mixed(3000, 0), mixed(2000, 1, shift=1.0), "target", params).report
    assert (report["features"]["x"]["method"], report["features"]["x"]["threshold"]) == ("psi", 5.0)
    assert report["features"]["x"]["drifted"] is False and report["features"]["when"]["drifted"] is True


def test_override_of_an_unknown_column_is_a_user_error():
    params = PARAMS.model_copy(update={"per_feature": {"nope": FeatureDriftParams(threshold=0.2)}})
    with pytest.raises(UserError, match="drift.per_feature.nope: not a feature column"):
        detect.detect(mixed(100, 0), mixed(100, 1), "target", params)


def test_batch_missing_a_feature_column_names_file_and_column():
    with pytest.raises(UserError, match=r"^in/batch.csv: missing feature column 'city'$"):
        detect.detect(mixed(100, 0), mixed(100, 1).drop(columns="city"), "target", PARAMS, batch_path="in/batch.csv")


def test_text_in_a_numeric_column_names_the_value():
    batch = mixed(100, 1).astype({"x": object})
    batch.loc[5, "x"] = "abc"
    with pytest.raises(UserError, match=r"batch.parquet: column 'x': value 'abc' is not numeric like the reference"):
        detect.detect(mixed(100, 0), batch, "target", PARAMS, batch_path="batch.parquet")


@pytest.mark.parametrize("spelling", ONE_ZERO)
def test_one_and_zero_in_a_boolean_column_are_true_and_false(spelling):
    ref, batch = mixed(2000, 0), mixed(1500, 1, shift=1.0)
    spelled = spell_flag(batch, spelling)
    typed = detect.align(spelled, {"flag": "boolean"}, "batch.csv")
    pd.testing.assert_series_equal(typed["flag"], batch["flag"])
    assert detect.detect(ref, spelled, "target", PARAMS).report == detect.detect(ref, batch, "target", PARAMS).report


@pytest.mark.parametrize("spelling, bad", [("ints", 2), ("int text", "2"), ("float text", "maybe")])
def test_a_flag_other_than_one_or_zero_names_the_column_and_value(spelling, bad):
    batch = spell_flag(mixed(100, 1), spelling, bad)
    message = rf"^batch.csv: column 'flag': value {bad!r} is not boolean like the reference$"
    with pytest.raises(UserError, match=message):
        detect.detect(mixed(100, 0), batch, "target", PARAMS, batch_path="batch.csv")


def test_booleans_in_a_numeric_column_are_refused():
    batch = mixed(100, 1).assign(x=lambda f: f["x"] > 0)  # what a CSV of true/false gives: a bool column
    first = bool(batch["x"].iloc[0])
    with pytest.raises(UserError, match=rf"^b.csv: column 'x': value {first} is not numeric like the reference$"):
        detect.detect(mixed(100, 0), batch, "target", PARAMS, batch_path="b.csv")


def test_a_csv_batch_is_typed_like_the_reference():
    ref, batch = mixed(2000, 0), mixed(1500, 1, shift=1.0)
    as_text = batch.astype(str).replace({"nan": None, "NaT": None, "<NA>": None, "None": None})
    typed, texted = detect.detect(ref, batch, "target", PARAMS).report, detect.detect(ref, as_text, "target", PARAMS).report
    assert typed["features"] == texted["features"]


def test_model_predictions_and_accuracy_on_a_labelled_batch():
    class Sign(ClassifierMixin, BaseEstimator):  # a fixed "model": predicts 1 when x > 0.5
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return (frame["x"].to_numpy() > 0.5).astype("int64")

    ref, batch = mixed(3000, 0), mixed(2000, 1, shift=1.0)
    report = detect.detect(ref, batch, "target", PARAMS, model=detect.ModelView(Sign(), reference_score=0.9)).report
    expected = float(((batch["x"] > 0.5).astype(int) == batch["target"]).mean())
    assert realized(report["performance"]) == {"labelled": True, "labelled_rows": 2000, "accuracy": round(expected, 6), "reference_accuracy": 0.9,
                                               "accuracy_drop": round(0.9 - expected, 6)}
    # A model without predict_proba: estimation unavailable, said so, not a crash.
    assert report["performance"]["estimated_accuracy"] is None
    assert report["performance"]["estimation"] == "not available: the model has no predict_proba"
    assert report["prediction"]["method"] == "jensenshannon" and report["prediction"]["drifted"] is True
    unlabelled = detect.detect(ref, batch.drop(columns="target"), "target", PARAMS, model=detect.ModelView(Sign())).report
    assert unlabelled["performance"]["labelled"] is False and unlabelled["prediction"] == report["prediction"]


class Double(RegressorMixin, BaseEstimator):
    """A fixed regressor: predicts 2 x."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return 2 * frame["x"].to_numpy()


def test_regressor_error_and_numeric_prediction_drift_on_a_labelled_batch():
    ref, batch = mixed(3000, 0), mixed(2000, 1, shift=1.0)
    batch["target"] = 2 * batch["x"] + np.where(np.arange(len(batch)) % 2, 1.0, -3.0)  # errors 3 and -1, alternating
    report = detect.detect(ref, batch, "target", PARAMS, model=detect.ModelView(Double(), reference_score=1.5)).report
    rmse = float(np.sqrt((9 + 1) / 2))
    assert realized(report["performance"]) == {"labelled": True, "labelled_rows": 2000, "rmse": round(rmse, 6), "mae": 2.0, "reference_rmse": 1.5,
                                               "error_increase": round((rmse - 1.5) / 1.5, 6)}
    assert report["performance"]["estimated_accuracy"] is None
    assert report["performance"]["estimation"] == "not available: a regressor: CBPE estimates classification metrics"
    assert report["prediction"]["method"] == "wasserstein" and report["prediction"]["drifted"] is True
    unlabelled = detect.detect(ref, batch.drop(columns="target"), "target", PARAMS, model=detect.ModelView(Double(), reference_score=1.5)).report
    assert realized(unlabelled["performance"]) == {"labelled": False, "labelled_rows": 0, "rmse": None, "mae": None, "reference_rmse": 1.5,
                                         "error_increase": None}


def test_most_drifted_ranks_by_distance_past_threshold():
    result = detect.detect(mixed(3000, 0), mixed(2000, 1, shift=1.0), "target", PARAMS)
    top = detect.most_drifted(result.features, 2)
    assert len(top) == 2 and all(result.features[n].drifted for n in top)
    assert result.features[top[0]].severity >= result.features[top[1]].severity


def test_no_batch_report_has_zero_drift():
    report = detect.no_batch_report(569)
    assert (report["has_batch"], report["drift_score"], report["reference_rows"], report["features"]) == (False, 0.0, 569, {})


@pytest.mark.parametrize("policy, n_drifted, prediction, drawn", [
    ("drifted", 0, {"drifted": False}, False),
    ("drifted", 2, {"drifted": False}, True),
    ("drifted", 0, {"drifted": True}, True),
    ("drifted", 0, None, False),
    ("always", 0, None, True),
    ("never", 5, {"drifted": True}, False),
])
def test_images_are_drawn_by_the_drift_images_policy(policy, n_drifted, prediction, drawn):
    assert detect.wants_images({"n_drifted": n_drifted, "prediction": prediction}, policy) is drawn
