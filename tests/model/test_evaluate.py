"""Metrics and plot data on hand-checked predictions: binary, multiclass and regression."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from ctml.model.evaluate import (
    METRIC_NAMES,
    METRIC_SPECS,
    classification_metrics,
    confusion_rows,
    feature_importance,
    regression_metrics,
    residual_histogram,
    residual_rows,
    roc_points,
)


def test_binary_metrics_by_hand() -> None:
    y = pd.Series([0, 0, 1, 1])
    pred = np.array([0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.1, 0.9]])
    out = classification_metrics(y, pred, proba, np.array([0, 1]))
    assert tuple(out) == METRIC_NAMES
    assert out == pytest.approx({
        "accuracy": 0.75, "balanced_accuracy": 0.75, "precision": 2 / 3, "recall": 1.0, "f1": 0.8,
        "roc_auc": 0.75,  # positives (0.4, 0.9) outrank negatives (0.1, 0.6) in 3 of 4 pairs
    }, abs=1e-6)


def test_positive_class_is_the_second_class_for_text_labels() -> None:
    y = pd.Series(["no", "no", "yes", "yes"], dtype="str")
    pred = np.array(["no", "yes", "yes", "no"], dtype=object)
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4]])
    out = classification_metrics(y, pred, proba, np.array(["no", "yes"], dtype=object))
    assert out["precision"] == pytest.approx(0.5) and out["recall"] == pytest.approx(0.5)
    assert out["roc_auc"] == pytest.approx(0.75)


def test_multiclass_metrics_are_macro_averages() -> None:
    y = pd.Series([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 1, 2, 2, 2])
    proba = np.eye(3)[pred] * 0.8 + 0.2 / 3
    out = classification_metrics(y, pred, proba, np.array([0, 1, 2]))
    # per class precision 1, 1, 2/3; recall 1, 1/2, 1
    assert out["accuracy"] == pytest.approx(5 / 6, abs=1e-6)
    assert out["balanced_accuracy"] == pytest.approx(2.5 / 3, abs=1e-6)
    assert out["precision"] == pytest.approx((1 + 1 + 2 / 3) / 3, abs=1e-6)
    assert out["recall"] == pytest.approx((1 + 0.5 + 1) / 3, abs=1e-6)
    assert out["f1"] == pytest.approx((1 + 2 / 3 + 0.8) / 3, abs=1e-6)
    # one-vs-rest AUCs 1, 3/4 (a tie counts half), 7/8
    assert out["roc_auc"] == pytest.approx((1 + 0.75 + 0.875) / 3, abs=1e-6)


def test_roc_auc_left_out_when_a_class_is_absent_from_the_test_set() -> None:
    y = pd.Series([0, 0, 1])
    proba = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
    out = classification_metrics(y, np.array([0, 0, 1]), proba, np.array([0, 1, 2]))
    assert "roc_auc" not in out and out["accuracy"] == 1.0


def test_confusion_rows_are_one_per_example_as_text() -> None:
    rows = confusion_rows(pd.Series([0, 1]), np.array([1, 1]))
    assert rows.to_dict("list") == {"actual": ["0", "1"], "predicted": ["1", "1"]}


def test_roc_points_binary() -> None:
    y = pd.Series([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.1, 0.9]])
    points = roc_points(y, proba, np.array([0, 1]))
    assert points["class"].unique().tolist() == ["1"]
    assert points[["fpr", "tpr"]].iloc[0].tolist() == [0.0, 0.0] and points[["fpr", "tpr"]].iloc[-1].tolist() == [1.0, 1.0]
    assert np.trapezoid(points["tpr"], points["fpr"]) == pytest.approx(0.75)


def test_roc_points_one_curve_per_present_class() -> None:
    y = pd.Series(["a", "b", "b"])
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])
    points = roc_points(y, proba, np.array(["a", "b", "c"]))
    assert sorted(points["class"].unique()) == ["a", "b"]  # 'c' never occurs: no curve
    empty = roc_points(pd.Series([1, 1]), np.array([[0.2, 0.8], [0.1, 0.9]]), np.array([0, 1]))
    assert list(empty.columns) == ["fpr", "tpr", "class"] and empty.empty


def test_feature_importance_trees_and_linear_models() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 1] > 0).astype(int)
    tree = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    top = feature_importance(tree, ["a", "b", "c"], top=2)
    assert top["feature"].tolist()[0] == "b" and len(top) == 2
    assert top["importance"].iloc[0] > 0.5
    linear = LogisticRegression().fit(x, y)
    out = feature_importance(linear, ["a", "b", "c"], top=5)
    assert out["feature"].tolist()[0] == "b"
    assert out.set_index("feature")["importance"].to_dict() == pytest.approx(
        dict(zip("abc", np.abs(linear.coef_[0]).round(6))))


def test_feature_importance_ties_sorted_by_name() -> None:
    class Fixed:
        feature_importances_ = np.array([0.25, 0.5, 0.25])

    assert feature_importance(Fixed(), ["z", "m", "a"], top=3)["feature"].tolist() == ["m", "a", "z"]


def test_regression_metrics_by_hand() -> None:
    y, pred = pd.Series([10.0, 20.0, 30.0, 40.0]), np.array([12.0, 18.0, 33.0, 40.0])
    out = regression_metrics(y, pred)  # errors -2, 2, -3, 0
    assert out == {"rmse": pytest.approx(np.sqrt(17 / 4), abs=1e-6), "mae": 1.75,
                   "r2": pytest.approx(1 - 17 / 500, abs=1e-6),
                   "mape": pytest.approx((0.2 + 0.1 + 0.1 + 0.0) / 4, abs=1e-6)}


def test_mape_is_left_out_when_a_label_is_zero() -> None:
    assert set(regression_metrics(pd.Series([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 2.5]))) == {"rmse", "mae", "r2"}


def test_residual_rows_and_histogram() -> None:
    rows = residual_rows(pd.Series([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0]))
    assert rows.to_dict("list") == {"actual": [1.0, 2.0, 4.0], "predicted": [1.5, 2.0, 3.0], "residual": [-0.5, 0.0, 1.0]}
    hist = residual_histogram(rows["residual"], bins=3)
    assert hist.to_dict("list") == {"bin_start": [-0.5, 0.0, 0.5], "bin_end": [0.0, 0.5, 1.0], "count": [1, 1, 1]}
    wide = residual_histogram(pd.Series([-123.456789, 2.38, 20.3, 140.1]), bins=30)  # round edges, numeric, in order
    assert wide["bin_start"].tolist()[:3] == [-130.0, -120.0, -110.0] and wide["bin_start"].is_monotonic_increasing
    assert wide["count"].sum() == 4 and (wide["bin_end"] - wide["bin_start"]).nunique() == 1


def test_every_metric_has_a_direction() -> None:
    assert set(METRIC_SPECS) == set(METRIC_NAMES) | {"rmse", "mae", "r2", "mape"}
    assert [METRIC_SPECS[m].higher_is_better for m in ("accuracy", "r2", "rmse", "mae", "mape")] == [True, True, False, False, False]
    assert [METRIC_SPECS[m].relative_tolerance for m in ("roc_auc", "r2", "rmse")] == [False, False, True]
