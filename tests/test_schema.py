"""The recorded data contract: what is recorded, and one line per rule broken."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ctml.config import ValidateParams
from ctml.errors import UserError
from ctml.schema import check_frame, infer_schema
from ctml.task import TaskDecision, check_training_labels

CLASSES = TaskDecision("classification", "test")
VP = ValidateParams(max_missing_share=0.5, missing_tolerance=0.1, range_tolerance=1.0, max_unknown_category_share=0.0)


def baseline() -> pd.DataFrame:
    return pd.DataFrame({
        "x": [0.0, 2.5, 10.0, np.nan],
        "color": ["red", "blue", None, "red"],
        "flag": pd.array([True, False, None, True], dtype="boolean"),
        "when": pd.to_datetime(["2020-01-01", "2020-03-01", None, "2020-02-01"]),
        "y": [0, 1, 1, 0],
    })


def test_infer_schema_records_kinds_ranges_categories_and_classes() -> None:
    schema = infer_schema(baseline(), "data/source/b.csv", "y", CLASSES)
    assert (schema["source"], schema["target"], schema["version"]) == ("data/source/b.csv", "y", 1)
    assert schema["label_kind"] == "numeric" and schema["classes"] == [0, 1]
    cols = schema["columns"]
    assert cols["x"] == {"kind": "numeric", "missing_share": pytest.approx(0.25), "min": 0.0, "max": 10.0}
    assert cols["color"] == {"kind": "categorical", "missing_share": pytest.approx(0.25), "categories": ["blue", "red"]}
    assert cols["flag"] == {"kind": "boolean", "missing_share": pytest.approx(0.25)}
    assert cols["when"]["min"] == "2020-01-01T00:00:00" and cols["when"]["max"] == "2020-03-01T00:00:00"
    json.dumps(schema)  # stored as JSON: plain Python values only


def test_text_labels_are_recorded_as_categorical_classes() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": ["stay", "churn", "stay"]})
    schema = infer_schema(frame, "s", "y", CLASSES)
    assert schema["label_kind"] == "categorical" and schema["classes"] == ["churn", "stay"]
    assert check_frame(frame, schema, VP) == []


def test_baseline_passes_its_own_schema() -> None:
    assert check_frame(baseline(), infer_schema(baseline(), "s", "y", CLASSES), VP) == []


def with_column(name: str, values: list) -> pd.DataFrame:
    frame = baseline()
    frame[name] = values
    return frame


def problems(frame: pd.DataFrame, vp: ValidateParams = VP) -> list[str]:
    return check_frame(frame, infer_schema(baseline(), "s", "y", CLASSES), vp)


def test_non_numeric_value_in_a_numeric_column() -> None:
    frame = with_column("x", pd.Series(["1.0", "abc", "3", None], dtype=object))
    assert problems(frame) == ["column 'x': recorded numeric, found non-numeric value 'abc'"]


def test_range_tolerance_is_in_widths_of_the_recorded_range() -> None:
    # recorded [0, 10], tolerance 1 -> allowed [-10, 20]
    assert problems(with_column("x", [-10.0, 20.0, 5.0, np.nan])) == []
    assert problems(with_column("x", [20.5, 1.0, 5.0, np.nan])) == [
        "column 'x': value 20.5 outside the allowed range [-10, 20] (rule: range_tolerance 1.0)"]
    tight = VP.model_copy(update={"range_tolerance": 0.0})
    assert problems(with_column("x", [10.5, 1.0, 5.0, np.nan]), tight)[0].startswith("column 'x': value 10.5 outside")


def test_constant_column_range_uses_its_magnitude() -> None:
    frame = pd.DataFrame({"c": [4.0, 4.0], "y": [0, 1]})
    schema = infer_schema(frame, "s", "y", CLASSES)
    assert check_frame(pd.DataFrame({"c": [8.0, 0.0], "y": [0, 1]}), schema, VP) == []
    assert "outside the allowed range [0, 8]" in check_frame(pd.DataFrame({"c": [8.5, 4.0], "y": [0, 1]}), schema, VP)[0]


def test_infinite_value() -> None:
    assert problems(with_column("x", [np.inf, 1.0, 2.0, 3.0])) == [
        "column 'x': non-finite value inf (rule: values must be finite)"]


def test_missing_share_above_baseline_plus_tolerance() -> None:
    # baseline 25% missing, tolerance 0.1 -> at most 35%; 50% is too many
    found = problems(with_column("x", [1.0, np.nan, np.nan, 2.0]))
    assert found == ["column 'x': 50% missing, above the allowed 35% (rule: missing share)"]


def test_missing_share_never_above_the_absolute_maximum() -> None:
    frame = pd.DataFrame({"a": [np.nan, np.nan, np.nan, 1.0], "y": [0, 1, 0, 1]})
    found = check_frame(frame, infer_schema(frame, "s", "y", CLASSES), VP)
    assert found == ["column 'a': 75% missing, above the allowed 50% (rule: missing share)"]


def test_unknown_category_and_its_tolerated_share() -> None:
    frame = with_column("color", ["red", "green", "blue", "red"])
    assert problems(frame) == [
        "column 'color': unknown category 'green' (allowed: blue, red; rule: max_unknown_category_share 0.0)"]
    assert problems(frame, VP.model_copy(update={"max_unknown_category_share": 0.25})) == []


def test_kind_changed() -> None:
    frame = with_column("flag", ["maybe", "no", None, "yes"])
    assert problems(frame) == ["column 'flag': recorded boolean, found categorical (e.g. 'maybe')"]


def test_missing_unexpected_and_label_columns() -> None:
    frame = baseline().drop(columns=["color", "y"]).assign(extra=1)
    assert problems(frame) == [
        "column 'color': missing (recorded in the schema)",
        "label column 'y': missing",
        "column 'extra': not in the schema (unexpected column)",
    ]
    assert check_frame(baseline().drop(columns=["y"]), infer_schema(baseline(), "s", "y", CLASSES), VP, require_target=False) == []


def test_label_rules() -> None:
    assert problems(with_column("y", [0, 1, 2, 0])) == ["label column 'y': unknown class 2 (recorded classes: [0, 1])"]
    assert problems(with_column("y", [0, None, 1, 0])) == ["label column 'y': 1 missing labels of 4 (rule: labels must be present)"]
    assert problems(with_column("y", ["0", "one", "1", "0"])) == [
        "label column 'y': non-numeric label 'one' (recorded classes: [0, 1])"]


def test_empty_frame() -> None:
    assert problems(baseline().iloc[:0]) == ["no rows"]


def test_training_labels_need_two_classes() -> None:
    check_training_labels(pd.Series([0, 1, 1]), "y", "classification")
    with pytest.raises(UserError, match=r"^label column 'y': has 1 class \('yes'\), need at least two$"):
        check_training_labels(pd.Series(["yes", "yes"]), "y", "classification")
    with pytest.raises(UserError, match=r"^label column 'y': 2 missing labels of 2 \(rule: labels must be present\)$"):
        check_training_labels(pd.Series([None, None], dtype=object), "y", "classification")
