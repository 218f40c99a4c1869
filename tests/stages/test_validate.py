"""The validate stage in-process: the schema is recorded once, then held; failures keep the last good files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ctml.errors import run_main
from ctml.io import write_parquet
from stages import validate
from tests.helpers import ROOT


def params_file(tmp_path: Path, source: str = "data/source/t.csv", task: str = "auto", validate_: dict | None = None,
                **data: object) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(source=source, target="y", task=task, **data)
    raw["validate"].update(validate_ or {})
    raw["tracking"]["enabled"] = False
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run(tmp_path: Path, frame: pd.DataFrame, source: str = "data/source/t.csv", task: str = "auto",
        validate_: dict | None = None, **data: object) -> int:
    write_parquet(tmp_path / "raw.parquet", frame)
    argv = ["--params", str(params_file(tmp_path, source, task, validate_, **data)), "--data", str(tmp_path / "raw.parquet"),
            "--schema", str(tmp_path / "schema.json"), "--out", str(tmp_path / "validation.json"),
            "--problems", str(tmp_path / "problems.txt")]
    return run_main(validate.main, argv)


def good() -> pd.DataFrame:
    return pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "a", None], "y": [0, 1, 0, 1]})


def test_records_once_then_checks_with_the_same_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, good()) == 0
    assert "(recorded now)" in capsys.readouterr().out
    schema, report = (tmp_path / "schema.json").read_bytes(), (tmp_path / "validation.json").read_bytes()
    assert yaml.safe_load(report) == {"rows": 4, "columns": 2, "excluded": 0, "violations": 0, "passed": True}
    assert (tmp_path / "problems.txt").read_text() == "no problems, no warnings\n"  # never empty: DVC warns on empty outputs
    assert run(tmp_path, good()) == 0
    assert "(recorded now)" not in capsys.readouterr().out
    assert (tmp_path / "schema.json").read_bytes() == schema and (tmp_path / "validation.json").read_bytes() == report


def test_violation_is_one_line_with_a_way_out_and_keeps_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, good()) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in (tmp_path / "schema.json", tmp_path / "validation.json")}
    bad = good().assign(c=["a", "b", "zebra", None])
    assert run(tmp_path, bad, validate_={"max_unknown_category_share": 0.0}) == 1  # default 1.0: drift, not breakage
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path / 'raw.parquet'}: column 'c': unknown category 'zebra'")
    assert f"all of them in {tmp_path / 'problems.txt'}; if the change is intended, delete {tmp_path / 'schema.json'}" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "schema.json", tmp_path / "validation.json")} == before


def test_a_new_source_is_recorded_anew(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, good()) == 0
    other = pd.DataFrame({"z": ["p", "q", "p"], "y": ["u", "v", "v"]})
    assert run(tmp_path, other, source="data/source/other.parquet") == 0
    schema = yaml.safe_load((tmp_path / "schema.json").read_text())
    assert (schema["source"], list(schema["columns"]), schema["classes"]) == ("data/source/other.parquet", ["z"], ["u", "v"])


def test_one_class_is_refused_before_recording(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, good().assign(y=1)) == 1
    assert capsys.readouterr().err == "error: label column 'y': has 1 class (1), need at least two\n"
    assert not (tmp_path / "schema.json").exists() and not (tmp_path / "validation.json").exists()


def prices(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "y": 100 + 10 * x + rng.normal(size=n)})


def test_auto_says_what_it_decided_and_why_in_the_output_and_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, prices()) == 0
    out = capsys.readouterr().out
    assert out.endswith("task regression (data.task auto: numbers that are not whole (e.g. 100.821))\n")
    schema = yaml.safe_load((tmp_path / "schema.json").read_text())
    assert (schema["task"], schema["task_reason"], "classes" in schema) == ("regression", "numbers that are not whole (e.g. 100.821)",
                                                                              False)
    assert (schema["label_min"], schema["label_max"]) == (prices()["y"].min(), prices()["y"].max())


def test_switching_data_task_records_the_schema_anew(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    whole = prices().assign(y=lambda f: (f["y"] > 100).astype(int))
    assert run(tmp_path, whole) == 0 and yaml.safe_load((tmp_path / "schema.json").read_text())["task"] == "classification"
    capsys.readouterr()
    assert run(tmp_path, whole, task="auto") == 0 and "(recorded now)" not in capsys.readouterr().out
    assert run(tmp_path, whole, task="regression") == 0
    assert "(recorded now); task regression (named by data.task)" in capsys.readouterr().out
    schema = yaml.safe_load((tmp_path / "schema.json").read_text())
    assert (schema["task"], schema["label_min"], schema["label_max"]) == ("regression", 0.0, 1.0)
    assert run(tmp_path, whole, task="auto") == 0 and "(recorded now)" not in capsys.readouterr().out  # auto keeps the record


@pytest.mark.parametrize("labels, message", [
    (["12.5", "abc", "14", "15.5"], "label column 'y': non-numeric label 'abc' (data.task regression needs numbers)"),
    ([3.0, 3.0, 3.0, 3.0], "label column 'y': every label is 3; a constant has nothing to learn"),
    ([1.0, float("inf"), 2.0, 3.0], "label column 'y': non-finite label inf (rule: labels must be finite)"),
    ([1.5, None, None, None], "label column 'y': 3 missing labels of 4 (rule: labels must be present)"),
])
def test_bad_regression_labels_are_one_line_and_record_nothing(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                               labels: list, message: str) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": pd.Series(labels, dtype=object if isinstance(labels[0], str) else None)})
    assert run(tmp_path, frame, task="regression") == 1
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not (tmp_path / "schema.json").exists() and not (tmp_path / "validation.json").exists()


def test_ambiguous_labels_stop_naming_data_task(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frame = pd.DataFrame({"x": np.arange(30.0), "y": np.arange(30)})
    assert run(tmp_path, frame) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "30 distinct whole-number labels" in err and "set data.task: classification or" in err
    assert not (tmp_path / "schema.json").exists()


def test_a_regression_batch_is_held_to_the_recorded_label_range(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, prices()) == 0
    capsys.readouterr()
    assert run(tmp_path, pd.concat([prices(), pd.DataFrame({"x": [0.0], "y": [1e9]})], ignore_index=True)) == 1
    assert "label column 'y': value 1e+09 absurdly far outside the recorded range" in capsys.readouterr().err


def test_every_problem_is_in_the_file_each_naming_its_key(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    wide = pd.DataFrame({f"c{i}": ["a", "b"] * 30 for i in range(34)} | {"y": [0, 1] * 30})
    assert run(tmp_path, wide) == 0
    capsys.readouterr()
    assert run(tmp_path, wide.assign(**{f"c{i}": ["a", "new"] * 30 for i in range(34)}),
               validate_={"max_unknown_category_share": 0.0}) == 1
    err = capsys.readouterr().err
    assert "(+33 more); all of them in" in err and err.count("\n") == 1
    lines = (tmp_path / "problems.txt").read_text().splitlines()
    assert len(lines) == 34 and all("validate.max_unknown_category_share" in line for line in lines)


def test_ranges_follow_the_training_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, good()) == 0
    grown = pd.concat([good(), good().assign(x=[8.0, 9.0, 30.0, 5.0])], ignore_index=True)  # beyond [1, 4]: drift, not broken
    assert run(tmp_path, grown) == 0
    spec = yaml.safe_load((tmp_path / "schema.json").read_text())["columns"]["x"]
    assert (spec["min"], spec["max"]) == (1.0, 30.0)
    assert run(tmp_path, grown.assign(x=[1.0] * 7 + [1e6])) == 1  # absurd against the ranges of the last training data
    assert "absurdly far outside the recorded range [1, 30]" in capsys.readouterr().err


def messy(n: int = 80) -> pd.DataFrame:
    """A first run on a new source: a CSV's index, row numbers, a day count (a feature), free text, a
    mostly empty column."""
    rng = np.random.default_rng(1)
    return pd.DataFrame({"Unnamed: 0": np.arange(n, dtype="float64"), "row": 1.0 + np.arange(n), "day": 730000.0 + np.arange(n),
                         "note": [f"called on day {i}" for i in range(n)], "sparse": [1.0] * 5 + [np.nan] * (n - 5),
                         "x": rng.normal(size=n), "city": rng.choice(["oslo", "rome"], n), "y": rng.integers(0, 2, n)})


def test_a_first_run_excludes_what_is_no_feature_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, messy()) == 0
    out = capsys.readouterr().out
    schema = yaml.safe_load((tmp_path / "schema.json").read_text())
    assert set(schema["columns"]) == {"day", "x", "city"}  # a day count is whole, unique and increasing: still a feature
    reasons = schema["excluded"]
    assert reasons["Unnamed: 0"].startswith("row identifier: unnamed column of row numbers (a CSV written with its index)")
    assert reasons["row"] == ("row identifier: its values are the row positions; to keep it as a feature list it in "
                              "data.features (or name it in data.id_column to confirm it is an identifier)")
    assert reasons["note"] == ("free text or names, not a category: 100% of its values are distinct, "
                               "above validate.max_distinct_share 0.5; to keep it list it in data.features")
    assert reasons["sparse"] == "mostly empty: 94% missing, above validate.max_missing_share 0.5"
    assert out.count("validate: warning: column ") == 4 and "(recorded now)" in out
    assert (tmp_path / "problems.txt").read_text().count("warning: column") == 4
    assert yaml.safe_load((tmp_path / "validation.json").read_text())["excluded"] == 4


def test_data_features_and_exclude_say_which_columns_are_features(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, messy(), features=["row", "note", "x"]) == 0
    schema = yaml.safe_load((tmp_path / "schema.json").read_text())
    assert set(schema["columns"]) == {"row", "note", "x"} and schema["features"] == ["row", "note", "x"]
    assert schema["excluded"]["city"] == "not listed in data.features"
    assert run(tmp_path, messy(), exclude=["day"]) == 0 and "(recorded now)" in capsys.readouterr().out
    schema = yaml.safe_load((tmp_path / "schema.json").read_text())
    assert set(schema["columns"]) == {"x", "city"} and schema["excluded"]["day"] == "left out by data.exclude"
    assert run(tmp_path, messy(), features=["x", "cty"]) == 1
    assert capsys.readouterr().err.startswith("error: data.features: 'cty' is not a feature column of data/source/t.csv")


def test_a_small_file_is_not_searched_for_identifiers(tmp_path: Path) -> None:
    assert run(tmp_path, messy(20)) == 0  # below validate.detect_min_rows 50: counting columns are features
    assert set(yaml.safe_load((tmp_path / "schema.json").read_text())["excluded"]) == {"sparse"}


def test_data_id_column_names_the_identifier_and_a_wrong_one_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frame = good().assign(ticket=["t1", "t2", "t3", "t4"])
    assert run(tmp_path, frame, id_column="ticket") == 0
    schema = yaml.safe_load((tmp_path / "schema.json").read_text())
    assert schema["excluded"] == {"ticket": "row identifier (named by data.id_column)"} and schema["id_column"] == "ticket"
    assert run(tmp_path, frame, id_column="tikcet") == 1
    assert capsys.readouterr().err.startswith("error: data.id_column 'tikcet' is not a column (columns: x, c, y, ticket)")


def test_the_output_says_which_columns_are_dates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frame = good().assign(when=pd.to_datetime(["2020-01-01", "2020-01-02", None, "2020-01-04"]),
                          day=pd.to_datetime(["2020-02-01", "2020-02-02", "2020-02-03", "2020-02-04"]))
    assert run(tmp_path, frame, date_columns={"day": "DMY"}) == 0
    assert "validate: dates: when (detected), day (data.date_columns: DMY)\n" in capsys.readouterr().out
    schema = yaml.safe_load((tmp_path / "schema.json").read_text())
    assert (schema["columns"]["day"]["date_format"], schema["columns"]["when"]["date_format"]) == ("DMY", "auto")


def test_declared_bounds_refuse_a_value_and_must_name_a_numeric_column(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, good(), validate_={"bounds": {"x": {"min": 0, "max": 10}}}) == 0
    capsys.readouterr()
    assert run(tmp_path, good().assign(x=[1.0, 2.0, -3.0, 4.0]), validate_={"bounds": {"x": {"min": 0}}}) == 1
    assert "column 'x': value -3 below the declared bound 0 (rule: validate.bounds.x.min)" in capsys.readouterr().err
    before = (tmp_path / "schema.json").read_bytes()
    for name in ("xx", "c"):  # misspelt, and not numeric
        assert run(tmp_path, good(), validate_={"bounds": {name: {"max": 1}}}) == 1
        assert capsys.readouterr().err == f"error: validate.bounds.{name}: not a numeric feature or label of the data (numeric: x)\n"
    assert (tmp_path / "schema.json").read_bytes() == before
