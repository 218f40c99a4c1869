"""The task: auto's decision from the label column, the task in force, and labels a task can learn from."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ctml.config import AutoTaskParams, DataParams
from ctml.errors import UserError
from ctml.data.task import check_training_labels, decide_auto, in_force, labels_for_task, recorded_task, task_of_model

AUTO = AutoTaskParams(max_classes=20, min_distinct=50)


def data(task: str = "auto", source: str = "s.csv") -> DataParams:
    return DataParams(source=source, target="y", task=task, auto_task=AUTO)


@pytest.mark.parametrize("labels, task, reason", [
    (pd.Series(["cat", "dog", "cat"], dtype=object), "classification", "text labels (e.g. 'cat')"),
    (pd.Series(["cat", "dog", "7"], dtype=object), "classification", "text labels (e.g. 'cat')"),
    (pd.Series([True, False, True]), "classification", "boolean labels"),
    (pd.Series([0, 1, 2, 1] * 10), "classification", "3 distinct whole-number labels (at most data.auto_task.max_classes=20)"),
    (pd.Series([0.0, 1.0, 1.0]), "classification", "2 distinct whole-number labels (at most data.auto_task.max_classes=20)"),
    (pd.Series([1.5, 2.0, 2.0]), "regression", "numbers that are not whole (e.g. 1.5)"),
    (pd.Series(range(3000, 3060)), "regression", "60 distinct whole-number labels (at least data.auto_task.min_distinct=50)"),
    (pd.Series(["1.5", "2", "3"], dtype=object), "regression", "numbers that are not whole (e.g. 1.5)"),
])
def test_auto_decides_from_the_labels_and_says_why(labels: pd.Series, task: str, reason: str) -> None:
    decision = decide_auto(labels, "y", AUTO)
    assert (decision.task, decision.reason) == (task, reason)


def test_auto_stops_between_few_and_many_whole_numbers_naming_data_task() -> None:
    with pytest.raises(UserError, match=r"^label column 'y': 30 distinct whole-number labels, between "
                                        r"data.auto_task.max_classes=20 and min_distinct=50: classes or a quantity\? "
                                        r"set data.task: classification or data.task: regression$"):
        decide_auto(pd.Series(range(30)), "y", AUTO)


def test_auto_stops_on_numbers_with_a_stray_word_naming_data_task() -> None:
    labels = pd.Series(["12.5", "13", "abc", "14.25"], dtype=object)
    with pytest.raises(UserError, match=r"^label column 'y': 3 of 4 labels are numbers but 'abc' is not; set data.task"):
        decide_auto(labels, "y", AUTO)


def test_in_force_named_recorded_or_decided() -> None:
    floats = pd.Series(np.linspace(0, 1, 10))
    assert in_force(floats, data("classification"), None).task == "classification"
    recorded = {"source": "s.csv", "target": "y", "task": "classification", "task_reason": "recorded"}
    assert (in_force(floats, data(), recorded).task, in_force(floats, data(), recorded).reason) == ("classification", "recorded")
    assert in_force(floats, data(source="other.csv"), recorded).task == "regression"  # a new source decides anew
    legacy = {"source": "s.csv", "target": "y"}  # recorded before tasks: decided now, compared with classification
    assert in_force(floats, data(), legacy).task == "regression" and recorded_task(legacy) == "classification"


def test_auto_on_labels_missing_in_most_rows_says_how_many() -> None:
    labels = pd.Series([1.5] * 10 + [None] * 90)
    with pytest.raises(UserError, match=r"^label column 'y': 90 missing labels of 100 \(rule: labels must be present\)$"):
        in_force(labels, data(), None)
    with pytest.raises(UserError, match=r"^label column 'y': 90 missing labels of 100"):
        check_training_labels(labels, "y", "regression")


@pytest.mark.parametrize("labels, message", [
    (pd.Series(["3.5", "abc", "4"], dtype=object), r"^label column 'y': non-numeric label 'abc' \(data.task regression needs numbers\)$"),
    (pd.Series([2.0, 2.0, 2.0]), r"^label column 'y': every label is 2; a constant has nothing to learn$"),
    (pd.Series([1.0, np.inf, 3.0]), r"^label column 'y': non-finite label inf \(rule: labels must be finite\)$"),
    (pd.Series([True, False]), r"^label column 'y': boolean labels cannot be a regression target"),
])
def test_regression_labels_that_cannot_be_learned_are_one_line(labels: pd.Series, message: str) -> None:
    with pytest.raises(UserError, match=message):
        check_training_labels(labels, "y", "regression")


def test_regression_accepts_number_text_and_casts_it() -> None:
    labels = pd.Series(["1.5", "2", "10"], dtype=object)
    check_training_labels(labels, "y", "regression")
    assert labels_for_task(labels, "regression").tolist() == [1.5, 2.0, 10.0]
    classes = pd.Series(["a", "b"], dtype=object)
    assert labels_for_task(classes, "classification") is classes


def test_a_number_with_a_fraction_is_not_a_class() -> None:
    with pytest.raises(UserError, match=r"^label column 'y': label 2.5 is not a class .*set data.task: regression"):
        check_training_labels(pd.Series([1.0, 2.5, 3.0]), "y", "classification")
    check_training_labels(pd.Series([1.0, 2.0, 1.0]), "y", "classification")  # whole numbers read as floats are classes


def test_task_of_a_fitted_model_or_pipeline() -> None:
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 2
    assert task_of_model(RandomForestRegressor(n_estimators=2).fit(x, y)) == "regression"
    assert task_of_model(RandomForestClassifier(n_estimators=2).fit(x, y)) == "classification"
    assert task_of_model(Pipeline([("s", StandardScaler()), ("m", Ridge())]).fit(x, y)) == "regression"
