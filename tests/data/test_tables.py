"""Loading sources and giving columns canonical dtypes (kinds are read back from dtypes)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ctml.data.tables import (
    Mistyped,
    assemble_training_data,
    cast_to_kinds,
    feature_kinds,
    kind_of,
    load_source,
    normalize,
)
from ctml.errors import UserError
from ctml.io import write_parquet

USER_CSV = """amount,color,member,paid,signup,code,note,label
1.5,red,yes,True,2023-01-05,10,x1,churn
,blue,no,False,2023-02-11,20,,stay
3.0,,,,,30,7,churn
4.5,red,Yes,True,2023-03-01 10:30:00,,y,stay
"""


def user_frame() -> pd.DataFrame:
    """The CSV as pandas reads it (strings come back with pandas' `str` dtype)."""
    return pd.read_csv(io.StringIO(USER_CSV))


def test_builtin_datasets_load_from_the_installed_package() -> None:
    cancer = load_source("sklearn:breast_cancer")
    assert cancer.shape == (569, 31)
    assert sorted(cancer["target"].unique()) == [0, 1]
    iris = load_source("sklearn:iris")
    assert iris.shape == (150, 5)
    assert iris["target"].value_counts().to_dict() == {0: 50, 1: 50, 2: 50}


@pytest.mark.parametrize("name, shape, classes", [("wine", (178, 14), 3), ("digits", (1797, 65), 10)])
def test_every_bundled_dataset_normalizes(name: str, shape: tuple[int, int], classes: int) -> None:
    frame = normalize(load_source(f"sklearn:{name}"), "target")
    assert frame.shape == shape and frame["target"].nunique() == classes
    assert set(feature_kinds(frame, "target").values()) == {"numeric"}


def test_unknown_builtin_is_named_with_the_choices() -> None:
    with pytest.raises(UserError) as info:
        load_source("sklearn:titanic")
    assert "data.source 'sklearn:titanic' is not a bundled dataset" in str(info.value)
    assert "sklearn:iris" in str(info.value)


def test_file_source_goes_through_read_table(tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text(USER_CSV)
    assert load_source(str(tmp_path / "u.csv")).shape == (4, 8)
    with pytest.raises(UserError, match="missing.csv: file not found"):
        load_source(str(tmp_path / "missing.csv"))


def test_normalize_gives_each_kind_its_canonical_dtype() -> None:
    frame = normalize(user_frame(), "label")
    assert feature_kinds(frame, "label") == {
        "amount": "numeric", "color": "categorical", "member": "boolean", "paid": "boolean",
        "signup": "datetime", "code": "numeric", "note": "categorical",
    }
    assert str(frame["amount"].dtype) == "float64"
    assert str(frame["member"].dtype) == "boolean" and str(frame["signup"].dtype) == "datetime64[ns]"
    assert frame["member"].tolist()[:2] == [True, False] and frame["member"].isna().tolist() == [False, False, True, False]
    assert frame["signup"].iloc[3] == pd.Timestamp("2023-03-01 10:30:00")
    assert frame["note"].tolist()[2] == "7"  # a mixed column keeps numbers as text
    assert frame["label"].tolist() == ["churn", "stay", "churn", "stay"]
    assert frame["amount"].isna().sum() == 1 and frame["color"].isna().sum() == 1


def test_kinds_survive_a_parquet_round_trip(tmp_path: Path) -> None:
    frame = normalize(user_frame(), "label")
    write_parquet(tmp_path / "t.parquet", frame)
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert feature_kinds(back, "label") == feature_kinds(frame, "label")
    assert back["signup"].isna().tolist() == frame["signup"].isna().tolist()


def test_numeric_text_becomes_numbers_and_numeric_labels_stay() -> None:
    frame = normalize(pd.DataFrame({"n": ["1", "2.5", None], "y": [0, 1, 0]}), "y")
    assert frame["n"].tolist()[:2] == [1.0, 2.5] and str(frame["n"].dtype) == "float64"
    assert str(frame["y"].dtype) == "int64"


def test_timezone_aware_dates_become_naive_utc() -> None:
    when = pd.to_datetime(pd.Series(["2020-01-01T00:00:00+02:00", None]))
    frame = normalize(pd.DataFrame({"when": when, "y": [0, 1]}), "y")
    assert frame["when"].iloc[0] == pd.Timestamp("2019-12-31 22:00:00")
    assert kind_of(frame["when"]) == "datetime"


def test_forced_date_column_must_parse() -> None:
    raw = pd.DataFrame({"d": ["2020-01-01", "someday"], "y": [0, 1]})
    assert kind_of(normalize(raw, "y")["d"]) == "categorical"
    with pytest.raises(UserError, match=r"column 'd': listed in data.date_columns but 'someday' is not a date"):
        normalize(raw, "y", {"d": "auto"})
    with pytest.raises(UserError, match=r"data.date_columns: 'when' is not a column"):
        normalize(raw, "y", {"when": "auto"})


def test_forced_date_column_in_another_format() -> None:
    frame = normalize(pd.DataFrame({"d": ["2020/01/31", None], "y": [0, 1]}), "y", {"d": "auto"})
    assert frame["d"].iloc[0] == pd.Timestamp("2020-01-31")


@pytest.mark.parametrize("values, formats, want", [
    (["2012/01/01", "2012/02/13", None], None, ["2012-01-01", "2012-02-13", None]),  # year first: detected
    (["2012-01-01 10:00", "2012-02-13 23:59", "2012-03-01"], None, ["2012-01-01 10:00", "2012-02-13 23:59", "2012-03-01"]),
    (["2012.01.05", "2012.1.6", "2012.12.31"], None, ["2012-01-05", "2012-01-06", "2012-12-31"]),
    (["01.02.2012", "13.02.2012", "31.12.2012 08:30"], {"d": "DMY"}, ["2012-02-01", "2012-02-13", "2012-12-31 08:30"]),
    (["01/02/2012", "02/13/2012", "12/31/2012"], {"d": "MDY"}, ["2012-01-02", "2012-02-13", "2012-12-31"]),
    (["2012-01-02", "2012-02-13", "2012-12-31"], {"d": "YMD"}, ["2012-01-02", "2012-02-13", "2012-12-31"]),
    (["1 Feb 2012", "13 Feb 2012", "31 Dec 2012"], {"d": "%d %b %Y"}, ["2012-02-01", "2012-02-13", "2012-12-31"]),
])
def test_each_supported_date_form_is_a_date(values: list, formats: dict | None, want: list) -> None:
    frame = normalize(pd.DataFrame({"d": values, "y": [0, 1, 0]}), "y", formats)
    assert kind_of(frame["d"]) == "datetime"
    assert frame["d"].tolist() == [pd.NaT if w is None else pd.Timestamp(w) for w in want]


@pytest.mark.parametrize("values", [["01/02/2012", "03/04/2012"], ["01.02.2012", "13.02.2012"], ["1-2-2012 10:00", "3-4-2012"]])
def test_a_day_or_month_first_date_asks_for_its_order_in_one_line(values: list) -> None:
    with pytest.raises(UserError) as info:
        normalize(pd.DataFrame({"d": values, "y": [0, 1]}), "y")
    assert str(info.value) == (f"column 'd': dates like {values[0]!r} may be day or month first; name the order in "
                               "data.date_columns, e.g. data.date_columns: {d: DMY} (or MDY)")


def test_a_declared_order_that_the_values_break_names_the_value() -> None:
    with pytest.raises(UserError, match=r"^column 'd': listed in data.date_columns but '31.02.2012' is not a date$"):
        normalize(pd.DataFrame({"d": ["01.02.2012", "31.02.2012"], "y": [0, 1]}), "y", {"d": "DMY"})
    with pytest.raises(UserError, match=r"^column 'd': listed in data.date_columns but '2012-02-01' is not a date$"):
        normalize(pd.DataFrame({"d": ["01.02.2012", "2012-02-01"], "y": [0, 1]}), "y", {"d": "DMY"})


def test_unknown_target_lists_columns() -> None:
    with pytest.raises(UserError, match=r"^data.target 'churned' is not a column \(columns: amount, color,"):
        normalize(user_frame(), "churned")


def test_zero_one_columns_are_inferred_numeric_from_csv_and_from_text() -> None:
    """Inference keeps pandas' reading of a 0/1 column (numbers), so both ingest engines agree."""
    from_csv = normalize(pd.read_csv(io.StringIO("f,g,y\n1,1.0,0\n0,0.0,1\n1,,0\n")), "y")
    from_text = normalize(pd.DataFrame({"f": ["1", "0", "1"], "g": ["1.0", "0.0", None], "y": [0, 1, 0]}), "y")
    assert feature_kinds(from_csv, "y") == feature_kinds(from_text, "y") == {"f": "numeric", "g": "numeric"}


FLAGS = [True, False, None, True]


@pytest.mark.parametrize("spelling", [
    pd.Series(FLAGS, dtype="boolean"),
    pd.Series(["yes", " No", None, "TRUE"]),
    pd.Series([1, 0, None, 1], dtype="Int64"),
    pd.Series([1.0, 0.0, np.nan, 1.0]),
    pd.Series(["1", "0", None, "1"]),
    pd.Series(["1.0", "0.0", None, " 1 "]),
    pd.Series([1, "0", None, True], dtype=object),
], ids=["booleans", "words", "ints", "floats", "int text", "float text", "mixed"])
def test_a_recorded_boolean_column_takes_words_and_one_zero(spelling: pd.Series) -> None:
    typed, mistyped = cast_to_kinds(pd.DataFrame({"flag": spelling}), {"flag": "boolean"})
    assert mistyped == []
    pd.testing.assert_series_equal(typed["flag"], pd.Series(FLAGS, dtype="boolean", name="flag"))


def test_a_csv_zero_one_column_casts_to_a_recorded_boolean() -> None:
    frame = pd.read_csv(io.StringIO("flag,other\n1,a\n0,b\n,c\n"))
    typed, mistyped = cast_to_kinds(frame, {"flag": "boolean"})
    assert mistyped == [] and typed["flag"].tolist() == [True, False, pd.NA]
    assert typed["other"].tolist() == ["a", "b", "c"]  # not in `kinds`: left as it is


@pytest.mark.parametrize("values, bad", [
    ([1, 0, 2], 2), ([1.0, 0.5, 0.0], 0.5), (["yes", "maybe", None], "maybe"), (["1", "-1"], "-1"),
], ids=["2", "0.5", "maybe", "-1 text"])
def test_a_value_that_is_not_boolean_is_listed_and_the_column_kept_as_given(values: list, bad) -> None:
    frame = pd.DataFrame({"flag": values, "n": range(len(values))})
    typed, mistyped = cast_to_kinds(frame, {"flag": "boolean", "n": "numeric"})
    assert mistyped == [Mistyped("flag", "boolean", bad)] and repr(mistyped[0].value) == repr(bad)
    pd.testing.assert_series_equal(typed["flag"], frame["flag"])
    assert str(typed["n"].dtype) == "float64"


def test_booleans_and_dates_are_not_numbers() -> None:
    frame = pd.read_csv(io.StringIO("a,b,c\ntrue,true,2024-01-05\nfalse,,2024-01-06\n"), parse_dates=["c"])
    assert [str(t) for t in frame.dtypes] == ["bool", "object", "datetime64[us]"]  # what a CSV gives
    _, mistyped = cast_to_kinds(frame, {"a": "numeric", "b": "numeric", "c": "numeric"})
    assert mistyped == [Mistyped("a", "numeric", True), Mistyped("b", "numeric", True),
                        Mistyped("c", "numeric", pd.Timestamp("2024-01-05"))]


def test_cast_to_kinds_types_every_kind_from_text_and_the_label() -> None:
    text = pd.DataFrame({"n": ["1.5", None], "d": ["2024-01-05T10:00:00+01:00", None], "c": ["7", None],
                         "y": pd.Series(["a", "b"], dtype="str")})
    typed, mistyped = cast_to_kinds(text, {"n": "numeric", "d": "datetime", "c": "categorical"}, label="y")
    assert mistyped == []
    assert {n: kind_of(typed[n]) for n in "ndc"} == {"n": "numeric", "d": "datetime", "c": "categorical"}
    assert typed["n"].iloc[0] == 1.5 and typed["d"].iloc[0] == pd.Timestamp("2024-01-05 09:00:00")
    assert typed["c"].iloc[0] == "7" and typed["y"].dtype == object  # a category stays one; labels as in training
    _, bad = cast_to_kinds(pd.DataFrame({"d": ["2024-01-05", "soon"]}), {"d": "datetime"})
    assert bad == [Mistyped("d", "datetime", "soon")]


def test_kind_of_reads_the_dtype() -> None:
    assert kind_of(pd.Series([1, 2])) == "numeric"
    assert kind_of(pd.Series([True, None], dtype="boolean")) == "boolean"
    assert kind_of(pd.Series(pd.to_datetime(["2020-01-01"]))) == "datetime"
    assert kind_of(pd.Series(["a"])) == "categorical"


def test_assemble_training_data_append_and_window() -> None:
    source = pd.DataFrame({"a": [1, 2, 3]}, index=[10, 11, 12])
    batches = [pd.DataFrame({"a": [4, 5]}), pd.DataFrame({"a": [6]})]
    assert assemble_training_data(source, batches, "append", 2)["a"].tolist() == [1, 2, 3, 4, 5, 6]
    window = assemble_training_data(source, batches, "window", 4)
    assert window["a"].tolist() == [3, 4, 5, 6] and window.index.tolist() == [0, 1, 2, 3]
    assert assemble_training_data(source, [], "window", 10).index.tolist() == [0, 1, 2]
    assert np.array_equal(assemble_training_data(source, [], "append", 1)["a"], [1, 2, 3])
    # window_rows 0: as many rows as the source has, so a batch pushes out as many of the oldest rows
    assert assemble_training_data(source, batches, "window", 0)["a"].tolist() == [4, 5, 6]


def test_cap_keeps_the_newest_batch_and_a_stratified_sample_of_older_rows() -> None:
    """1000 source rows (10% of them class 1) and two batches of 100: a cap of 1.1x the source keeps
    the newest batch whole and 1000 older rows, each class with its share, the same for the same seed."""
    rng = np.random.default_rng(0)
    source = pd.DataFrame({"x": np.arange(1000), "y": (np.arange(1000) % 10 == 0).astype(int)})
    batches = [pd.DataFrame({"x": np.arange(1000, 1100), "y": rng.integers(0, 2, 100)}),
               pd.DataFrame({"x": np.arange(1100, 1200), "y": rng.integers(0, 2, 100)})]
    fold = {"target": "y", "max_growth": 0.1, "cap_min_rows": 10, "seed": 3}
    kept = assemble_training_data(source, batches, "cap", 0, **fold)
    assert len(kept) == 1100 and kept["x"].is_monotonic_increasing
    assert kept["x"].tail(100).tolist() == list(range(1100, 1200))  # the newest batch whole
    older = pd.concat([source, batches[0]], ignore_index=True)
    assert kept["y"].head(1000).mean() == pytest.approx(older["y"].mean(), abs=0.001)  # each class keeps its share
    assert kept.equals(assemble_training_data(source, batches, "cap", 0, **fold))
    assert not kept.equals(assemble_training_data(source, batches, "cap", 0, **{**fold, "seed": 4}))
    # under the cap (and below cap_min_rows) nothing is dropped: small data behaves as under append
    assert len(assemble_training_data(source, batches, "cap", 0, **{**fold, "cap_min_rows": 5000})) == 1200
    assert len(assemble_training_data(source, batches, "cap", 0, **{**fold, "max_growth": 0.2})) == 1200
