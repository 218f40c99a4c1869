"""Getting tabular data in: bundled scikit-learn datasets or a user's file, typed consistently.

Column kinds (numeric, boolean, datetime, categorical) are decided here once, so the schema,
the preprocessing and the drift tests all agree on what a column is.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ctml.errors import UserError
from ctml.io import read_table

BUILTIN_PREFIX = "sklearn:"
BUILTIN_DATASETS = ("breast_cancer", "iris", "wine", "digits")
_BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False}


def load_source(source: str) -> pd.DataFrame:
    """Load `sklearn:<name>` from the installed package (never a download) or a CSV/Parquet path."""
    if source.startswith(BUILTIN_PREFIX):
        name = source[len(BUILTIN_PREFIX):]
        if name not in BUILTIN_DATASETS:
            raise UserError(
                f"params.yaml: data.source '{source}' is not a bundled dataset "
                f"(allowed: {', '.join(BUILTIN_PREFIX + n for n in BUILTIN_DATASETS)} or a file path)"
            )
        from sklearn import datasets

        frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
        return frame
    return read_table(source)


def _is_text(values: pd.Series) -> bool:
    """Strings as read from a file: object dtype, or pandas' `str` dtype (the pandas 3 default)."""
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


def _as_bool(values: pd.Series) -> pd.Series | None:
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    if not _is_text(present) or not len(present):
        return None
    words = present.astype(str).str.strip().str.lower()
    if words.isin(list(_BOOL_WORDS)).all():
        return values.map(lambda v: pd.NA if pd.isna(v) else _BOOL_WORDS[str(v).strip().lower()]).astype("boolean")
    return None


def _as_datetime(values: pd.Series, forced: bool) -> pd.Series | None:
    present = values.dropna()
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.astype("datetime64[ns]")
    if not forced and (not _is_text(present) or not len(present) or not present.astype(str).str.match(r"^\d{4}-\d{2}-\d{2}").all()):
        return None
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True).dt.tz_localize(None)
    if parsed.notna().sum() != len(present):
        if forced:
            bad = present[parsed[present.index].isna()].iloc[0]
            raise UserError(f"column '{values.name}': listed in data.date_columns but {bad!r} is not a date")
        return None
    return parsed.astype("datetime64[ns]")


def kind_of(values: pd.Series) -> str:
    """Kind of a normalized column, read off its dtype (see `normalize`)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_bool_dtype(values.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    return "categorical"


def feature_kinds(frame: pd.DataFrame, target: str) -> dict[str, str]:
    return {name: kind_of(frame[name]) for name in frame.columns if name != target}


def normalize(frame: pd.DataFrame, target: str, date_columns: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Give every feature a canonical dtype from which its kind can be read back.

    numeric -> float64, boolean -> pandas boolean, datetime -> datetime64[ns],
    categorical -> str values (object). Labels keep their values; text labels become str.
    The dtypes survive a Parquet round trip, so later stages need no side file.
    """
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if target not in frame.columns:
        raise UserError(f"data.target '{target}' is not a column (columns: {', '.join(frame.columns[:20])})")
    for name in date_columns:
        if name not in frame.columns:
            raise UserError(f"data.date_columns: '{name}' is not a column")
    for name in frame.columns:
        if name == target:
            continue
        col = frame[name]
        if (as_date := _as_datetime(col, name in date_columns)) is not None:
            frame[name] = as_date
        elif (as_bool := _as_bool(col)) is not None:
            frame[name] = as_bool
        elif pd.api.types.is_numeric_dtype(col):
            frame[name] = col.astype("float64")
        else:
            numbers = pd.to_numeric(col, errors="coerce")
            if col.notna().any() and numbers.notna().sum() == col.notna().sum():
                frame[name] = numbers.astype("float64")
            else:
                frame[name] = col.map(lambda v: v if pd.isna(v) else str(v)).astype(object)
    labels = frame[target]
    if not pd.api.types.is_numeric_dtype(labels):
        frame[target] = labels.map(lambda v: v if pd.isna(v) else str(v)).astype(object)
    return frame


def batch_files(batches_dir: str | Path) -> list[Path]:
    """CT batches folded into training, in the order they arrived.

    A batch that DVC tracks but is absent (fresh clone without `dvc pull`) is an error, not a
    silently smaller training set.
    """
    batches_dir = Path(batches_dir)
    if not batches_dir.is_dir():
        return []
    for pointer in sorted(batches_dir.glob("*.parquet.dvc")):
        data_file = pointer.with_suffix("")
        if not data_file.exists():
            raise UserError(f"{data_file}: tracked by DVC but missing; run `dvc pull`")
    return sorted(batches_dir.glob("*.parquet"))


def assemble_training_data(source: pd.DataFrame, batches: list[pd.DataFrame], policy: str, window_rows: int) -> pd.DataFrame:
    """Fold CT batches into the source data by the policy: keep all rows, or the newest window."""
    frame = pd.concat([source, *batches], ignore_index=True) if batches else source.reset_index(drop=True)
    if policy == "window" and len(frame) > window_rows:
        frame = frame.iloc[-window_rows:].reset_index(drop=True)
    return frame
