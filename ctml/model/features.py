"""Feature preprocessing as one scikit-learn ColumnTransformer, fitted on the training split only.

Everything lives inside the fitted transformer (including date expansion), so the saved model
pipeline takes raw rows exactly as they arrive and prediction needs no separate feature code.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

from ctml.config import PreprocessParams


def date_parts(frame: pd.DataFrame, parts: tuple[str, ...] | dict[str, tuple[str, ...]]) -> np.ndarray:
    """Expand each datetime column into numeric calendar parts (NaN where the date is missing): the
    same `parts` for every column, or per column. (Models saved before `DateParts` call it from a
    FunctionTransformer with one tuple for all columns: it stays, so they still load and predict.)"""
    columns = []
    for name in frame.columns:
        dates = pd.to_datetime(frame[name], errors="coerce")
        for part in (parts[name] if isinstance(parts, dict) else parts):
            columns.append(getattr(dates.dt, part).to_numpy(dtype="float64", na_value=np.nan))
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


# The parts a date of each precision can tell: a year-only date ("1999", read as 1999-01-01) has a
# day of week, but it is the weekday of 1 January, which says nothing about the row.
_PRECISION_PARTS = {"year": {"year"}, "month": {"year", "month"},
                    "day": {"year", "month", "day", "dayofweek", "dayofyear"},
                    "time": {"year", "month", "day", "dayofweek", "dayofyear", "hour"}}


def precision(dates: pd.Series) -> str:
    """year | month | day | time: the finest unit the (non-missing) dates use. All on 1 January at
    midnight is a year written alone, all on the 1st a month; all at midnight a date without time."""
    dates = pd.to_datetime(dates, errors="coerce").dropna()
    if len(dates) and (dates.dt.normalize() != dates).any():
        return "time"
    if len(dates) and (dates.dt.day != 1).any():
        return "day"
    return "month" if len(dates) and (dates.dt.month != 1).any() else "year"


def informative_parts(dates: pd.Series, parts: tuple[str, ...]) -> tuple[str, ...]:
    """Of the requested `parts`, those the column's precision can tell and that vary among the training
    dates; the year when none does (a column of one date), so every date column keeps one feature."""
    dates = pd.to_datetime(dates, errors="coerce").dropna()
    allowed = _PRECISION_PARTS[precision(dates)]
    varying = tuple(p for p in parts if p in allowed and getattr(dates.dt, p).nunique() > 1)
    return varying or ("year",)


class DateParts(TransformerMixin, BaseEstimator):
    """Calendar parts of each date column, chosen on the training rows (`informative_parts`): a
    year-only column gives its year, not a constant month and the weekday of 1 January."""

    def __init__(self, parts: tuple[str, ...] = ("year",)):
        self.parts = parts

    def fit(self, frame: pd.DataFrame, y=None) -> DateParts:
        self.parts_ = {str(name): informative_parts(frame[name], tuple(self.parts)) for name in frame.columns}
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return date_parts(frame, self.parts_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array([f"{name}_{part}" for name, parts in self.parts_.items() for part in parts], dtype=object)


def to_float(frame: pd.DataFrame) -> np.ndarray:
    """Booleans (nullable) as 0/1 floats with NaN for missing, ready for imputation."""
    return frame.astype("float64").to_numpy()


def to_text(frame: pd.DataFrame) -> np.ndarray:
    """Categories as str with NaN kept, so the imputer sees one consistent type."""
    return frame.astype(object).where(frame.notna(), np.nan).to_numpy()


def _scaler(name: str):
    return {"standard": StandardScaler(), "minmax": MinMaxScaler(), "none": "passthrough"}[name]


def build_preprocessor(kinds: dict[str, str], params: PreprocessParams) -> ColumnTransformer:
    by_kind = {kind: [c for c, k in kinds.items() if k == kind] for kind in ("numeric", "boolean", "datetime", "categorical")}
    numeric = lambda: [SimpleImputer(strategy=params.numeric_imputer, keep_empty_features=True), _scaler(params.scaler)]  # noqa: E731
    parts = tuple(params.date_parts)
    transformers = [
        ("num", make_pipeline(*numeric()), by_kind["numeric"]),
        ("bool", make_pipeline(FunctionTransformer(to_float), SimpleImputer(strategy="most_frequent", keep_empty_features=True)), by_kind["boolean"]),
        ("date", make_pipeline(DateParts(parts), *numeric()), by_kind["datetime"]),
        ("cat", make_pipeline(
            FunctionTransformer(to_text),
            SimpleImputer(strategy="constant", fill_value="missing"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=params.max_categories, sparse_output=False),
        ), by_kind["categorical"]),
    ]
    return ColumnTransformer([t for t in transformers if t[2]], remainder="drop", verbose_feature_names_out=True)


def feature_names(preprocessor: ColumnTransformer) -> list[str]:
    """Output column names, with date parts named after their column (`{column}_{part}`)."""
    names: list[str] = []
    for name, transformer, columns in preprocessor.transformers_:
        if name == "remainder":
            continue
        if name == "date":
            names.extend(transformer.steps[0][1].get_feature_names_out())
        elif name == "cat":
            names.extend(transformer.steps[-1][1].get_feature_names_out(columns))
        else:
            names.extend(columns)
    return [str(n) for n in names]


def split_xy(frame: pd.DataFrame, target: str, features: list[str] | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """(features, labels): the `features` columns (the schema's; excluded columns are none), else every other column."""
    return (frame.drop(columns=[target]) if features is None else frame[features]), frame[target]


def full_pipeline(preprocessor: ColumnTransformer, estimator) -> Pipeline:
    """Raw rows in, predictions out: what is saved, served and timed by the latency gate."""
    return Pipeline([("preprocess", preprocessor), ("model", estimator)])
