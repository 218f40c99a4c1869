"""Feature preprocessing as one scikit-learn ColumnTransformer, fitted on the training split only.

Everything lives inside the fitted transformer (including date expansion), so the saved model
pipeline takes raw rows exactly as they arrive and prediction needs no separate feature code.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

from ctml.config import PreprocessParams


def date_parts(frame: pd.DataFrame, parts: tuple[str, ...]) -> np.ndarray:
    """Expand each datetime column into numeric calendar parts (NaN where the date is missing)."""
    columns = []
    for name in frame.columns:
        dates = pd.to_datetime(frame[name], errors="coerce")
        for part in parts:
            columns.append(getattr(dates.dt, part).to_numpy(dtype="float64", na_value=np.nan))
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


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
        ("date", make_pipeline(FunctionTransformer(date_parts, kw_args={"parts": parts}), *numeric()), by_kind["datetime"]),
        ("cat", make_pipeline(
            FunctionTransformer(to_text),
            SimpleImputer(strategy="constant", fill_value="missing"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=params.max_categories, sparse_output=False),
        ), by_kind["categorical"]),
    ]
    return ColumnTransformer([t for t in transformers if t[2]], remainder="drop", verbose_feature_names_out=True)


def feature_names(preprocessor: ColumnTransformer) -> list[str]:
    """Output column names, with date parts named after their column (FunctionTransformer has none)."""
    names: list[str] = []
    for name, transformer, columns in preprocessor.transformers_:
        if name == "remainder":
            continue
        if name == "date":
            parts = transformer.steps[0][1].kw_args["parts"]
            names.extend(f"{col}_{part}" for col in columns for part in parts)
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
