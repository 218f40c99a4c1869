"""The recorded data contract: what is recorded, ranges that follow the data, and one line per rule broken,
each naming the params.yaml key that governs it."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ctml.config import BoundsParams, ValidateParams
from ctml.errors import UserError
from ctml.data.schema import check_frame, follow, infer_schema, recorded_date_formats, row_faults
from ctml.data.task import TaskDecision, check_training_labels

CLASSES = TaskDecision("classification", "test")
VP = ValidateParams(max_missing_share=0.5, missing_tolerance=0.1, absurd_factor=10.0, max_unknown_category_share=0.0)


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
    assert (schema["source"], schema["target"], schema["version"]) == ("data/source/b.csv", "y", 2)
    assert (schema["excluded"], schema["id_column"], schema["date_columns"]) == ({}, "", {})
    assert schema["label_kind"] == "numeric" and schema["classes"] == [0, 1]
    cols = schema["columns"]
    assert cols["x"] == {"kind": "numeric", "missing_share": pytest.approx(0.25), "min": 0.0, "max": 10.0}
    assert cols["color"] == {"kind": "categorical", "missing_share": pytest.approx(0.25), "categories": ["blue", "red"]}
    assert cols["flag"] == {"kind": "boolean", "missing_share": pytest.approx(0.25)}
    assert cols["when"]["min"] == "2020-01-01T00:00:00" and cols["when"]["max"] == "2020-03-01T00:00:00"
    assert cols["when"]["date_format"] == "auto"
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
    assert problems(frame) == ["column 'x': recorded numeric, found non-numeric value 'abc' (kinds recorded from data.source)"]


def test_beyond_the_range_is_drift_and_only_absurdly_far_is_broken() -> None:
    # recorded [0, 10]: scale 10, factor 10 -> absurd beyond [-100, 110]
    assert problems(with_column("x", [-100.0, 110.0, 10.5, np.nan])) == []
    assert problems(with_column("x", [110.5, 1.0, 5.0, np.nan])) == [
        "column 'x': value 110.5 absurdly far outside the recorded range [0, 10] (beyond [-100, 110]; "
        "rule: validate.absurd_factor 10.0)"]
    tight = VP.model_copy(update={"absurd_factor": 0.01})
    assert problems(with_column("x", [10.5, 1.0, 5.0, np.nan]), tight)[0].startswith("column 'x': value 10.5 absurdly far")


def test_absurd_is_orders_of_magnitude_for_any_scale() -> None:
    # a standardized reading and a narrow range far from zero: the scale is the larger of width and |bound|
    standardized = pd.DataFrame({"z": [-2.05, 1.81], "y": [0, 1]})
    schema = infer_schema(standardized, "s", "y", CLASSES)
    assert check_frame(pd.DataFrame({"z": [2.09, 40.0], "y": [0, 1]}), schema, VP) == []
    assert "beyond [-40.65, 40.41]" in check_frame(pd.DataFrame({"z": [-41.0, 0.0], "y": [0, 1]}), schema, VP)[0]
    pressure = infer_schema(pd.DataFrame({"p": [1000.0, 1010.0], "y": [0, 1]}), "s", "y", CLASSES)
    assert check_frame(pd.DataFrame({"p": [1100.0, 980.0], "y": [0, 1]}), pressure, VP) == []  # weather, not a fault
    assert "beyond [-9100, 11110]" in check_frame(pd.DataFrame({"p": [1e5, 1000.0], "y": [0, 1]}), pressure, VP)[0]
    constant = infer_schema(pd.DataFrame({"c": [4.0, 4.0], "y": [0, 1]}), "s", "y", CLASSES)
    assert check_frame(pd.DataFrame({"c": [44.0, -36.0], "y": [0, 1]}), constant, VP) == []
    assert "beyond [-36, 44]" in check_frame(pd.DataFrame({"c": [44.5, 4.0], "y": [0, 1]}), constant, VP)[0]


def test_declared_bounds_are_broken_values() -> None:
    vp = VP.model_copy(update={"bounds": {"x": BoundsParams(min=0.0, max=9.0), "y": BoundsParams(max=0.5)}})
    assert problems(with_column("x", [-0.5, 9.5, 5.0, np.nan]), vp) == [
        "column 'x': value -0.5 below the declared bound 0 (rule: validate.bounds.x.min)",
        "column 'x': value 9.5 above the declared bound 9 (rule: validate.bounds.x.max)"]


def test_ranges_follow_the_training_data_and_the_contract_stays() -> None:
    schema = infer_schema(baseline(), "s", "y", CLASSES)
    grown = pd.concat([baseline(), baseline().assign(x=[30.0, 40.0, 20.0, 25.0], color="blue")], ignore_index=True)
    after = follow(schema, grown)
    assert (after["columns"]["x"]["min"], after["columns"]["x"]["max"]) == (0.0, 40.0)
    assert after["columns"]["x"]["missing_share"] == pytest.approx(1 / 8)
    assert {k: v for k, v in after.items() if k != "columns"} == {k: v for k, v in schema.items() if k != "columns"}
    assert {n: s["kind"] for n, s in after["columns"].items()} == {n: s["kind"] for n, s in schema["columns"].items()}


def test_excluded_columns_are_recorded_and_never_checked() -> None:
    frame = baseline().assign(row=[0, 1, 2, 3])
    schema = infer_schema(frame, "s", "y", CLASSES, excluded_columns={"row": "row identifier (named by data.id_column)"},
                          date_formats={"when": "DMY"}, id_column="row")
    assert "row" not in schema["columns"] and schema["excluded"] == {"row": "row identifier (named by data.id_column)"}
    assert (schema["id_column"], recorded_date_formats(schema)) == ("row", {"when": "DMY"})
    assert check_frame(frame.assign(row=["a", None, "b", "c"]), schema, VP) == []
    assert check_frame(baseline(), schema, VP) == []  # an excluded column may be absent


def test_infinite_value() -> None:
    assert problems(with_column("x", [np.inf, 1.0, 2.0, 3.0])) == [
        "column 'x': non-finite value inf (rule: values must be finite)"]


def test_missing_share_above_baseline_plus_tolerance() -> None:
    # baseline 25% missing, tolerance 0.1 -> at most 35%; 50% is too many
    found = problems(with_column("x", [1.0, np.nan, np.nan, 2.0]))
    assert found == ["column 'x': 50% missing, above the allowed 35% (rules: validate.max_missing_share 0.5, "
                     "validate.missing_tolerance 0.1 over the recorded 25%)"]


def test_missing_share_never_above_the_absolute_maximum() -> None:
    frame = pd.DataFrame({"a": [np.nan, np.nan, np.nan, 1.0], "y": [0, 1, 0, 1]})
    found = check_frame(frame, infer_schema(frame, "s", "y", CLASSES), VP)
    assert found == ["column 'a': 75% missing, above the allowed 50% (rules: validate.max_missing_share 0.5, "
                     "validate.missing_tolerance 0.1 over the recorded 75%)"]


def test_unknown_category_and_its_tolerated_share() -> None:
    frame = with_column("color", ["red", "green", "blue", "red"])
    assert problems(frame) == [
        "column 'color': unknown category 'green' (allowed: blue, red; rule: validate.max_unknown_category_share 0.0)"]
    assert problems(frame, VP.model_copy(update={"max_unknown_category_share": 0.25})) == []


def test_kind_changed() -> None:
    frame = with_column("flag", ["maybe", "no", None, "yes"])
    assert problems(frame) == ["column 'flag': recorded boolean, found categorical (e.g. 'maybe') (kinds recorded from data.source)"]


def test_missing_unexpected_and_label_columns() -> None:
    frame = baseline().drop(columns=["color", "y"]).assign(extra=1)
    assert problems(frame) == [
        "column 'color': missing (recorded in the schema from data.source)",
        "label column 'y': missing (data.target)",
        "column 'extra': not in the schema (unexpected column; the schema is recorded from data.source)",
    ]
    assert check_frame(baseline().drop(columns=["y"]), infer_schema(baseline(), "s", "y", CLASSES), VP, require_target=False) == []


def test_label_rules() -> None:
    assert problems(with_column("y", [0, 1, 2, 0])) == [
        "label column 'y': unknown class 2 (recorded classes: [0, 1], from data.source)"]
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


def test_row_faults_name_each_broken_row_and_only_those() -> None:
    schema = infer_schema(baseline(), "s", "y", CLASSES)
    vp = VP.model_copy(update={"bounds": {"x": BoundsParams(min=0.0)}})
    raw = pd.DataFrame({"x": ["1", "abc", "1e6", "-1", "5", None], "color": ["red", "red", "blue", "red", "pink", "red"],
                        "when": ["2020-01-05", "2020-02-01", "soon", "2020-01-02", "2020-01-03", None],
                        "y": [0, 1, 0, 1, 7, 0]})
    assert row_faults(raw, schema, vp).tolist() == [
        "",
        "column 'x': value 'abc' is not numeric (kinds recorded from data.source)",
        "column 'x': value 1e+06 absurdly far outside the recorded range [0, 10] (beyond [-100, 110]; rule: validate.absurd_factor 10.0)",
        "column 'x': value -1 below the declared bound 0 (rule: validate.bounds.x.min)",
        "label column 'y': unknown class 7 (recorded classes: [0, 1], from data.source)",  # 'pink': a batch rule, not a row's
        "",
    ]
    assert row_faults(raw.assign(x="2").iloc[[2]], schema, vp).tolist() == [
        "column 'when': value 'soon' is not datetime (kinds recorded from data.source)"]


def test_a_regression_label_is_held_like_a_numeric_feature() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [10.0, 20.0, 30.0]})
    schema = infer_schema(frame, "s", "y", TaskDecision("regression", "test"))
    assert (schema["label_min"], schema["label_max"]) == (10.0, 30.0)
    assert check_frame(frame.assign(y=[40.0, 5.0, 300.0]), schema, VP) == []
    assert check_frame(frame.assign(y=[1e9, 5.0, 3.0]), schema, VP) == [
        "label column 'y': value 1e+09 absurdly far outside the recorded range [10, 30] (beyond [-290, 330]; "
        "rule: validate.absurd_factor 10.0)"]
    assert row_faults(frame.assign(y=["1e9", "x", "12"]), schema, VP).tolist() == [
        "label column 'y': value 1e+09 absurdly far outside the recorded range [10, 30] (beyond [-290, 330]; "
        "rule: validate.absurd_factor 10.0)", "label column 'y': value 'x' is not numeric (kinds recorded from data.source)", ""]
