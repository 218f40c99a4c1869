"""params.yaml parsing: the shipped file is valid, and every mistake is one line naming the key."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ctml.config import Params, gate_metric, load_params, parse_params
from ctml.errors import UserError
from tests.helpers import ROOT


def shipped() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def error_of(edit: Callable[[dict[str, Any]], None]) -> str:
    raw = shipped()
    edit(raw)
    with pytest.raises(UserError) as info:
        parse_params(raw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_shipped_params_parse_with_documented_defaults() -> None:
    params = load_params(ROOT / "params.yaml")
    assert isinstance(params, Params)
    assert params.data.source == "sklearn:breast_cancer"
    assert params.data.target == "target"
    assert (params.train.model, params.train.n_estimators, params.train.max_depth) == ("random_forest", 120, 5)
    assert params.preprocess.test_size == pytest.approx(0.25)
    assert params.validate_.max_missing_share == pytest.approx(0.5)


def test_as_dict_uses_the_users_key_names() -> None:
    out = load_params(ROOT / "params.yaml").as_dict()
    assert "validate" in out and "validate_" not in out
    assert out["train"]["n_estimators"] == 120


def test_misspelled_key_is_named_with_a_suggestion() -> None:
    message = error_of(lambda raw: raw["train"].update(n_estimatorz=raw["train"].pop("n_estimators")))
    assert message.startswith("params.yaml: unknown key 'train.n_estimatorz'")
    assert "did you mean 'n_estimators'?" in message


def test_unknown_top_level_key_lists_allowed_sections() -> None:
    message = error_of(lambda raw: raw.update(sed=raw.pop("seed")))
    assert "unknown key 'sed'" in message and "did you mean 'seed'?" in message
    assert "allowed: seed, data, validate, preprocess, train" in message


def test_unknown_key_under_a_free_form_mapping() -> None:
    message = error_of(lambda raw: raw["drift"].update(per_feature={"age": {"methd": "ks"}}))
    assert "unknown key 'drift.per_feature.age.methd' (did you mean 'method'?" in message


def test_missing_key_is_named() -> None:
    assert error_of(lambda raw: raw["train"].pop("max_depth")) == "params.yaml: missing key 'train.max_depth'"


@pytest.mark.parametrize("value", [1, 1.5, 0])
def test_test_size_outside_0_1_is_rejected(value: float) -> None:
    message = error_of(lambda raw: raw["preprocess"].update(test_size=value))
    assert message.startswith(f"params.yaml: key 'preprocess.test_size' = {value!r}:")


def test_unknown_model_type_lists_the_choices() -> None:
    message = error_of(lambda raw: raw["train"].update(model="catboost"))
    assert "key 'train.model' = 'catboost'" in message
    assert "random_forest" in message and "gradient_boosting" in message and "xgboost" in message


def test_wrong_type_is_named() -> None:
    assert "key 'train.n_estimators' = 'many'" in error_of(lambda raw: raw["train"].update(n_estimators="many"))


def test_top_level_not_a_mapping() -> None:
    with pytest.raises(UserError, match=r"^params.yaml: expected a mapping of sections, got list$"):
        parse_params([1, 2])


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("seed: 42\ndata: [unclosed\n")
    with pytest.raises(UserError) as info:
        load_params(path)
    assert str(info.value).startswith(f"{path}: malformed YAML at line 3")
    assert "\n" not in str(info.value)


def test_empty_params_file(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("")
    with pytest.raises(UserError, match="expected a mapping of sections, got NoneType"):
        load_params(path)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"params.yaml: file not found$"):
        load_params(tmp_path / "params.yaml")


def test_unknown_drift_images_policy_lists_the_choices() -> None:
    message = error_of(lambda raw: raw["drift"].update(images="sometimes"))
    assert "key 'drift.images' = 'sometimes'" in message
    assert all(choice in message for choice in ("drifted", "always", "never")) and "\n" not in message


def test_max_depth_null_is_unbounded_and_bad_depths_name_the_key() -> None:
    raw = shipped()
    raw["train"]["max_depth"] = None
    assert parse_params(raw).train.max_depth is None
    assert error_of(lambda r: r["train"].update(max_depth=-1)) == \
        "params.yaml: key 'train.max_depth' = -1: Input should be greater than or equal to 1"
    assert error_of(lambda r: r["train"].update(max_depth="deep")).startswith("params.yaml: key 'train.max_depth' = 'deep'")


def test_unknown_task_lists_the_choices() -> None:
    message = error_of(lambda raw: raw["data"].update(task="ranking"))
    assert message.startswith("params.yaml: key 'data.task' = 'ranking':") and "'regression'" in message


def test_a_model_of_the_other_task_is_named_up_front() -> None:
    message = error_of(lambda raw: (raw["data"].update(task="regression"), raw["train"].update(model="logistic_regression")))
    assert message == ("params.yaml: key 'train.model' = 'logistic_regression' is not a regression model "
                       "(the task is regression; allowed: random_forest, ridge, gradient_boosting, hist_gradient_boosting, xgboost)")
    message = error_of(lambda raw: (raw["data"].update(task="classification"), raw["train"].update(model="ridge")))
    assert message.startswith("params.yaml: key 'train.model' = 'ridge' is not a classification model")


def test_a_metric_of_the_other_task_is_named_up_front() -> None:
    message = error_of(lambda raw: (raw["data"].update(task="regression"), raw["gates"].update(metric="accuracy")))
    assert message == ("params.yaml: key 'gates.metric' = 'accuracy' is not a regression metric "
                       "(the task is regression; allowed: auto, rmse, mae, r2, mape)")
    message = error_of(lambda raw: (raw["data"].update(task="classification"), raw["gates"].update(metric="rmse")))
    assert message.startswith("params.yaml: key 'gates.metric' = 'rmse' is not a classification metric")


def test_auto_metric_is_the_tasks_default_and_a_wrong_one_is_named() -> None:
    assert (gate_metric("auto", "classification"), gate_metric("auto", "regression"), gate_metric("r2", "regression")) == \
        ("accuracy", "rmse", "r2")
    with pytest.raises(UserError, match=r"^params.yaml: key 'gates.metric' = 'f1' is not a regression metric"):
        gate_metric("f1", "regression")


def test_auto_task_bounds_must_leave_a_gap() -> None:
    message = error_of(lambda raw: raw["data"]["auto_task"].update(min_distinct=10, max_classes=20))
    assert message.startswith("params.yaml: key 'data.auto_task'") and "must be above max_classes" in message


@pytest.mark.parametrize("section, key, value, message", [
    ("data", "date_columns", {"when": "DDMM"}, "key 'data.date_columns' = {'when': 'DDMM'}: Value error, column 'when': 'DDMM' "
                                               "is not a date order (auto, YMD, DMY, MDY) or a strptime format such as '%d.%m.%Y'"),
    ("data", "date_columns", "when", "key 'data.date_columns' = 'when': Value error, expected a list of columns ([when]) "
                                     "or a mapping of column to order ({when: DMY})"),
    ("data", "id_column", 3, "key 'data.id_column' = 3: Input should be a valid string"),
    ("validate", "bad_rows", "drop", "key 'validate.bad_rows' = 'drop': Input should be 'quarantine_batch' or 'drop_rows'"),
    ("validate", "max_bad_row_share", 1.5, "key 'validate.max_bad_row_share' = 1.5: Input should be less than or equal to 1"),
    ("validate", "absurd_factor", 0, "key 'validate.absurd_factor' = 0: Input should be greater than 0"),
    ("validate", "bounds", {"x": {"mni": 0}}, "unknown key 'validate.bounds.x.mni' (did you mean 'min'? allowed: min, max)"),
    ("validate", "bounds", {"x": {"min": "low"}}, "key 'validate.bounds.x.min' = 'low': Input should be a valid number"),
    ("validate", "bounds", {"x": {"min": 5, "max": 1}}, "key 'validate.bounds.x' = {'min': 5, 'max': 1}: Value error, "
                                                       "min 5 is above max 1"),
    ("validate", "max_distinct_share", 0, "key 'validate.max_distinct_share' = 0: Input should be greater than 0"),
    ("validate", "detect_min_rows", 0, "key 'validate.detect_min_rows' = 0: Input should be greater than or equal to 1"),
    ("ct", "max_out_of_range_share", -0.1, "key 'ct.max_out_of_range_share' = -0.1: Input should be greater than or equal to 0"),
    ("validate", "range_tolerance", 1.0, "key 'validate.range_tolerance' is retired: a value beyond the recorded range is now "
                                         "drift (counted, ct.max_out_of_range_share); only one absurdly far out is refused "
                                         "(validate.absurd_factor); see docs/validation.md"),
])
def test_each_validation_key_names_itself_when_wrong(section: str, key: str, value: Any, message: str) -> None:
    assert error_of(lambda raw: raw[section].update({key: value})).startswith(f"params.yaml: {message}")


def test_date_columns_take_a_list_or_orders_and_bounds_either_end() -> None:
    raw = shipped()
    raw["data"]["date_columns"] = ["when"]
    raw["validate"]["bounds"] = {"humidity": {"min": 0}, "rain": {"min": 0, "max": 500}}
    params = parse_params(raw)
    assert params.data.date_formats == {"when": "auto"}
    assert (params.validate_.bounds["humidity"].max, params.validate_.bounds["rain"].max) == (None, 500.0)
    raw["data"]["date_columns"] = {"day": "DMY", "stamp": "%d %b %Y"}
    assert parse_params(raw).data.date_formats == {"day": "DMY", "stamp": "%d %b %Y"}


@pytest.mark.parametrize("edit, key, says", [
    (lambda r: r["drift"].update(correction="holm"), "drift.correction", "'bonferroni'"),
    (lambda r: r["drift"].update(min_effect={"wasserstein": 0.1}), "drift.min_effect.wasserstein", "unknown key"),
    (lambda r: r["drift"].update(min_effect={"ks": -0.1}), "drift.min_effect.ks", "greater than or equal to 0"),
    (lambda r: r["drift"]["multivariate"].update(threshold=0.4), "drift.multivariate.threshold", "greater than or equal to 0.5"),
    (lambda r: r["drift"]["multivariate"].update(p_value=0), "drift.multivariate.p_value", "greater than 0"),
    (lambda r: r["drift"]["multivariate"].update(folds=1), "drift.multivariate.folds", "greater than or equal to 2"),
    (lambda r: r["drift"]["multivariate"].update(enabled="sometimes"), "drift.multivariate.enabled", "boolean"),
    (lambda r: r["drift"]["multivariate"].update(max_rows=5), "drift.multivariate.max_rows", "greater than or equal to 10"),
    (lambda r: r["drift"]["estimation"].update(band_sigmas=0), "drift.estimation.band_sigmas", "greater than 0"),
    (lambda r: r["drift"].update(cache=-1), "drift.cache", "greater than or equal to 0"),
    (lambda r: r["evaluate"]["calibration"].update(method="platt"), "evaluate.calibration.method", "'isotonic'"),
    (lambda r: r["evaluate"]["calibration"].update(bins=1), "evaluate.calibration.bins", "greater than or equal to 2"),
    (lambda r: r["ct"].update(max_estimated_drop=1.5), "ct.max_estimated_drop", "less than or equal to 1"),
    (lambda r: r["ct"].update(multivariate_trigger="yes please"), "ct.multivariate_trigger", "boolean"),
])
def test_bad_monitoring_keys_are_named(edit, key: str, says: str) -> None:
    message = error_of(edit)
    assert message.startswith("params.yaml: ") and f"key '{key}'" in message and says in message


@pytest.mark.parametrize("csv, key, says", [
    ({"decimal": ";"}, "data.csv.decimal", "Input should be '.' or ','"),
    ({"sep": ""}, "data.csv.sep", "at least 1 character"),
    ({"encoding": "klingon"}, "data.csv.encoding", "'klingon' is not a known text encoding"),
    ({"sep": ",", "decimal": ","}, "data.csv", "sep and decimal are both ','"),
    ({"seperator": ";"}, "data.csv.seperator", "allowed: sep, decimal, encoding"),
])
def test_a_bad_csv_dialect_is_one_line_naming_the_key(csv: dict, key: str, says: str) -> None:
    message = error_of(lambda r: r["data"].update(csv=csv))
    assert message.startswith("params.yaml: ") and f"key '{key}'" in message and says in message, message


def test_a_csv_dialect_of_semicolons_and_decimal_commas_parses() -> None:
    raw = shipped()
    raw["data"]["csv"] = {"sep": ";", "decimal": ",", "encoding": "latin-1"}
    assert parse_params(raw).data.csv.model_dump() == {"sep": ";", "decimal": ",", "encoding": "latin-1"}


def test_classifier_needs_at_least_as_many_rows_as_folds() -> None:
    message = error_of(lambda r: r["drift"]["multivariate"].update(min_rows=2, folds=5))
    assert message.startswith("params.yaml: key 'drift.multivariate'") and "min_rows (2) must be at least folds (5)" in message


def test_set_scalars_changes_only_the_keys_it_must():
    """Replay points params.yaml at its source: the user's quotes, indentation, flow lists and comments stay."""
    from ctml.config import set_scalars

    text = ("# mine\ndata:\n    source: 'data/source/a.csv'   # where\n    target:   y\n    date_columns: [when,\n      day]\n"
            "alerts:\n  events: [drift, retrained]  # keep\n")
    out = set_scalars(text, {("data", "source"): "data/source/replay-a.parquet", ("data", "target"): "class label"})
    assert out == ("# mine\ndata:\n    source: 'data/source/replay-a.parquet' # where\n    target:   \"class label\"\n"
                   "    date_columns: [when,\n      day]\nalerts:\n  events: [drift, retrained]  # keep\n")
    with pytest.raises(ValueError, match="data.date_columns is not a one-line value"):
        set_scalars(text, {("data", "date_columns"): "x"})
