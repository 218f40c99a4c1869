"""Loading sources and giving columns canonical dtypes (kinds are read back from dtypes)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ctml.data import (
    assemble_training_data,
    batch_files,
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
        normalize(raw, "y", ["d"])
    with pytest.raises(UserError, match=r"data.date_columns: 'when' is not a column"):
        normalize(raw, "y", ["when"])


def test_forced_date_column_in_another_format() -> None:
    frame = normalize(pd.DataFrame({"d": ["2020/01/31", None], "y": [0, 1]}), "y", ["d"])
    assert frame["d"].iloc[0] == pd.Timestamp("2020-01-31")


def test_unknown_target_lists_columns() -> None:
    with pytest.raises(UserError, match=r"^data.target 'churned' is not a column \(columns: amount, color,"):
        normalize(user_frame(), "churned")


def test_kind_of_reads_the_dtype() -> None:
    assert kind_of(pd.Series([1, 2])) == "numeric"
    assert kind_of(pd.Series([True, None], dtype="boolean")) == "boolean"
    assert kind_of(pd.Series(pd.to_datetime(["2020-01-01"]))) == "datetime"
    assert kind_of(pd.Series(["a"])) == "categorical"


def test_batch_files_in_arrival_order_and_missing_tracked_batch(tmp_path: Path) -> None:
    assert batch_files(tmp_path / "absent") == []
    for name in ("step-002.parquet", "step-001.parquet"):
        write_parquet(tmp_path / name, pd.DataFrame({"a": [1]}))
    assert [p.name for p in batch_files(tmp_path)] == ["step-001.parquet", "step-002.parquet"]
    (tmp_path / "step-003.parquet.dvc").write_text("outs: []\n")
    with pytest.raises(UserError, match=r"step-003.parquet: tracked by DVC but missing; run `dvc pull`"):
        batch_files(tmp_path)


def test_assemble_training_data_append_and_window() -> None:
    source = pd.DataFrame({"a": [1, 2, 3]}, index=[10, 11, 12])
    batches = [pd.DataFrame({"a": [4, 5]}), pd.DataFrame({"a": [6]})]
    assert assemble_training_data(source, batches, "append", 2)["a"].tolist() == [1, 2, 3, 4, 5, 6]
    window = assemble_training_data(source, batches, "window", 4)
    assert window["a"].tolist() == [3, 4, 5, 6] and window.index.tolist() == [0, 1, 2, 3]
    assert assemble_training_data(source, [], "window", 10).index.tolist() == [0, 1, 2]
    assert np.array_equal(assemble_training_data(source, [], "append", 1)["a"], [1, 2, 3])
