"""The ColumnTransformer: imputation, scaling, one-hot and date parts, fitted on the training rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ctml.config import PreprocessParams
from ctml.data.tables import feature_kinds
from ctml.model.features import (
    build_preprocessor,
    date_parts,
    feature_names,
    full_pipeline,
    informative_parts,
    precision,
    split_xy,
    to_float,
    to_text,
)


def params(**changes) -> PreprocessParams:
    base = {"test_size": 0.25, "numeric_imputer": "median", "scaler": "none", "max_categories": 20,
                "date_parts": ["year", "month", "dayofweek"]}
    return PreprocessParams(**{**base, **changes})


def mixed() -> pd.DataFrame:
    return pd.DataFrame({
        "n": [1.0, 3.0, np.nan, 5.0],
        "b": pd.array([True, None, False, True], dtype="boolean"),
        "d": pd.to_datetime(["2020-01-06", None, "2021-03-10", "2020-12-31"]),
        "c": pd.Series(["a", "b", None, "a"], dtype="str"),
    })


def fitted(frame: pd.DataFrame, **changes):
    return build_preprocessor(feature_kinds(frame, target=""), params(**changes)).fit(frame)


def test_date_parts_are_numeric_with_nan_for_missing() -> None:
    frame = pd.DataFrame({"d": pd.to_datetime(["2024-02-29 13:00", None])})
    out = date_parts(frame, ("year", "month", "day", "dayofweek", "dayofyear", "hour"))
    assert out[0].tolist() == [2024, 2, 29, 3, 60, 13]
    assert np.isnan(out[1]).all()
    assert date_parts(pd.DataFrame(index=range(3)), ("year",)).shape == (3, 0)


ALL_PARTS = ("year", "month", "day", "dayofweek", "dayofyear", "hour")


def test_a_year_only_date_gives_its_year_and_no_weekday_of_1_january() -> None:
    """A column of years ("1999", read as 1999-01-01): Jan 1 falls on a different weekday each year,
    so a day of week would vary and mean nothing; month and day are constant."""
    years = pd.DataFrame({"Year": pd.to_datetime(["1999", "2000", "2003", "2010", None], format="%Y")})
    assert precision(years["Year"]) == "year"
    pre = fitted(years, date_parts=list(ALL_PARTS))
    assert feature_names(pre) == ["Year_year"]
    assert pre.transform(years)[:, 0].tolist() == [1999, 2000, 2003, 2010, 2001.5]  # missing: the median year
    months = pd.to_datetime(["2020-01-01", "2020-04-01", "2021-07-01"])
    assert precision(pd.Series(months)) == "month"
    assert informative_parts(pd.Series(months), ALL_PARTS) == ("year", "month")


def test_date_parts_are_those_the_training_dates_tell_and_vary() -> None:
    days = pd.Series(pd.to_datetime(["2024-03-01", "2024-03-05", "2024-03-09"]))  # one year, one month
    assert precision(days) == "day" and informative_parts(days, ALL_PARTS) == ("day", "dayofweek", "dayofyear")
    stamps = pd.Series(pd.to_datetime(["2024-03-01 08:00", "2024-03-01 17:30"]))
    assert precision(stamps) == "time" and informative_parts(stamps, ALL_PARTS) == ("hour",)
    assert informative_parts(pd.Series(pd.to_datetime(["2024-03-01", "2024-03-01"])), ALL_PARTS) == ("year",)
    assert informative_parts(pd.Series(pd.to_datetime([None, None])), ALL_PARTS) == ("year",)
    # a model saved before the parts were chosen per column called date_parts with one tuple for all
    frame = pd.DataFrame({"a": pd.to_datetime(["2024-03-05"]), "b": pd.to_datetime(["1999-01-01"])})
    assert date_parts(frame, ("year", "day")).tolist() == [[2024, 5, 1999, 1]]
    assert date_parts(frame, {"a": ("day",), "b": ("year",)}).tolist() == [[5, 1999]]


def test_to_float_and_to_text_keep_missing_as_nan() -> None:
    floats = to_float(pd.DataFrame({"b": pd.array([True, None, False], dtype="boolean")}))
    assert floats[:, 0][[0, 2]].tolist() == [1.0, 0.0] and np.isnan(floats[1, 0])
    text = to_text(pd.DataFrame({"c": pd.Series(["x", None], dtype="str")}))
    assert text[0, 0] == "x" and isinstance(text[1, 0], float) and np.isnan(text[1, 0])


def test_every_kind_becomes_named_numeric_features() -> None:
    pre = fitted(mixed())
    assert feature_names(pre) == ["n", "b", "d_year", "d_month", "d_dayofweek", "c_a", "c_b", "c_missing"]
    out = pre.transform(mixed())
    assert out.shape == (4, 8)
    # median imputation of n (1, 3, 5 -> 3), most frequent boolean (True), date parts imputed by median
    assert out[:, 0].tolist() == [1.0, 3.0, 3.0, 5.0]
    assert out[:, 1].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert out[0, 2:5].tolist() == [2020, 1, 0]  # 2020-01-06 is a Monday
    assert out[1, 2:5].tolist() == [2020, 3, 2]  # medians of year, month, day of week
    assert out[:, 5:].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]


def test_unseen_category_and_all_missing_row_still_transform() -> None:
    pre = fitted(mixed())
    row = pd.DataFrame({"n": [np.nan], "b": pd.array([None], dtype="boolean"), "d": pd.to_datetime([None]),
                        "c": ["zzz"]})
    assert pre.transform(row).tolist() == [[3.0, 1.0, 2020.0, 3.0, 2.0, 0.0, 0.0, 0.0]]


def test_scalers_and_imputers_are_fitted_on_the_given_rows_only() -> None:
    train = pd.DataFrame({"n": [0.0, 2.0, 4.0, np.nan]})
    standard = fitted(train, scaler="standard", numeric_imputer="mean")
    # mean 2 imputes the gap; population std of (0, 2, 4, 2) is sqrt(2)
    assert standard.transform(pd.DataFrame({"n": [4.0, 100.0]}))[:, 0] == pytest.approx([2 / np.sqrt(2), 98 / np.sqrt(2)])
    minmax = fitted(train, scaler="minmax")
    assert minmax.transform(pd.DataFrame({"n": [1.0, 8.0]}))[:, 0] == pytest.approx([0.25, 2.0])


def test_rare_levels_are_grouped_beyond_max_categories() -> None:
    frame = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 4 + ["c", "d"]})
    pre = fitted(frame, max_categories=3)
    assert feature_names(pre) == ["c_a", "c_b", "c_infrequent_sklearn"]
    assert pre.transform(pd.DataFrame({"c": ["d", "b"]})).tolist() == [[0, 0, 1], [0, 1, 0]]


def test_split_xy_and_full_pipeline_take_raw_rows() -> None:
    frame = mixed().assign(y=[0, 1, 0, 1])
    x, y = split_xy(frame, "y")
    assert list(x.columns) == ["n", "b", "d", "c"] and y.tolist() == [0, 1, 0, 1]
    pre = fitted(x, scaler="standard")
    model = full_pipeline(pre, LogisticRegression().fit(pre.transform(x), y))
    assert model.predict(x).shape == (4,)
    assert model.predict_proba(x).sum(axis=1) == pytest.approx([1, 1, 1, 1])
