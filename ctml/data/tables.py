"""Getting tabular data in: bundled scikit-learn datasets or a user's file, typed consistently.

Column kinds (numeric, boolean, datetime, categorical) are decided here once, so the schema,
the preprocessing and the drift tests all agree on what a column is; and a batch is typed to the
recorded kinds here (`cast_to_kinds`), so the drift stage, `ct.py check` and `ct.py predict` agree
on what a batch is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ctml.data import dates
from ctml.errors import UserError
from ctml.io import read_table

BUILTIN_PREFIX = "sklearn:"
BUILTIN_DATASETS = ("breast_cancer", "iris", "wine", "digits", "diabetes")  # diabetes: a numeric target (regression)
# The one list of boolean words: what inference calls a boolean column, and what a boolean cast reads.
_BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False}


def load_source(source: str, csv_format: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Load `sklearn:<name>` from the installed package (never a download) or a CSV/Parquet path
    (a CSV written as `csv_format`, params.yaml's data.csv, says)."""
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
    return read_table(source, csv_format)


def _is_text(values: pd.Series) -> bool:
    """Strings as read from a file: object dtype, or pandas' `str` dtype (the pandas 3 default)."""
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


@dataclass(frozen=True)
class Evidence:
    """What one chunk of a column says about its kind.

    Why not decide per chunk: a kind must hold for the whole column, and one chunk may be all
    missing or look numeric by chance. The local engine decides from one chunk (the whole column),
    the Dask engine from one per partition, with the same `decide_kind`, so both type alike.
    """

    present: int  # non-missing values
    native: str  # dtype family: datetime | boolean | numeric | text | raw (CSV text not yet inferred) | other
    dates: bool = False  # every present value is year-first date text that parses (for forced columns: parses)
    bools: bool = False  # every present value is a true/false/yes/no word
    numbers: bool = False  # every present value parses as a number
    bad_date: Any = None  # first present value that is not a date (the error of a forced column)
    ambiguous: Any = None  # first value, when every present value is a day- or month-first date (`01/02/2012`)


def _native(values: pd.Series, raw: bool) -> str:
    if raw:
        return "raw"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_bool_dtype(values.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    return "text" if _is_text(values) else "other"


def evidence(values: pd.Series, forced: bool = False, raw: bool = False, date_format: str = "auto") -> Evidence:
    """The Evidence of one chunk; `raw` marks CSV text read without pandas' type inference, `forced`
    a column `data.date_columns` names (written as `date_format`, see `ctml.data.dates`)."""
    present = values.dropna()
    native = _native(values, raw)
    if native == "datetime" or not len(present) or (native in ("boolean", "numeric") and not forced):
        return Evidence(len(present), native)
    words, text = present.astype(str), native in ("text", "raw")
    found, bad, ambiguous = False, None, None
    if forced or (text and dates.year_first(words)):
        parsed = dates.parse(present, date_format if forced else "auto")
        found = bool(parsed.notna().all())
        bad = None if found or not forced else present[parsed.isna()].iloc[0]
    elif text and dates.day_or_month_first(words):
        ambiguous = present.iloc[0]
    bools = text and bool(words.str.strip().str.lower().isin(list(_BOOL_WORDS)).all())
    numbers = bool(_numbers(present).notna().all())
    return Evidence(len(present), native, found, bools, numbers, bad, ambiguous)


def decide_kind(name: str, chunks: list[Evidence], forced: bool = False) -> str:
    """The kind of a column from the evidence of all its chunks (the rules: see `normalize`)."""
    if forced:
        bad = next((e.bad_date for e in chunks if e.bad_date is not None), None)
        if bad is not None:
            raise UserError(f"column '{name}': listed in data.date_columns but {bad!r} is not a date")
        return "datetime"
    seen = [e for e in chunks if e.present]
    if seen and all(e.ambiguous is not None for e in seen):
        raise UserError(f"column '{name}': dates like {seen[0].ambiguous!r} may be day or month first; name the order "
                        f"in data.date_columns, e.g. data.date_columns: {{{name}: DMY}} (or MDY)")
    if not seen:  # no values at all: what the dtype says; CSV text of nothing reads as float NaN
        natives = {e.native for e in chunks}
        only = natives.pop() if len(natives) == 1 else "other"
        return {"datetime": "datetime", "boolean": "boolean", "numeric": "numeric", "raw": "numeric"}.get(only, "categorical")
    if all(e.native == "datetime" or e.dates for e in seen):
        return "datetime"
    if all(e.native == "boolean" or e.bools for e in seen):
        return "boolean"
    if all(e.native == "numeric" or e.numbers for e in seen):
        return "numeric"
    return "categorical"


def cast_column(values: pd.Series, kind: str, date_format: str = "auto") -> pd.Series:
    """One chunk of a column in the canonical dtype of its kind (a date text as `date_format` says it
    is written); a present value that does not parse as the kind comes out missing (`cast_to_kinds`
    reports it)."""
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(values):
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            return values.astype("datetime64[ns]")
        return dates.parse(values, date_format).dt.tz_localize(None).astype("datetime64[ns]")
    if kind == "boolean":
        return values.astype("boolean") if pd.api.types.is_bool_dtype(values.dtype) else _booleans(values)
    if kind == "numeric":
        return _numbers(values)
    return as_text(values)


def _numbers(values: pd.Series) -> pd.Series:
    """Values as float64 numbers, missing where one is not a number or number text.

    Booleans and dates are not numbers, though pandas would convert both (the schema check
    agrees): true/false or a date in a numeric column is a feed fault, not 1/0 or nanoseconds.
    """
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return pd.Series(np.nan, index=values.index, name=values.name, dtype="float64")
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    if values.dtype == object:  # how read_csv gives true/false with blanks
        values = values.mask(values.map(lambda v: isinstance(v, (bool, np.bool_))))
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _booleans(values: pd.Series) -> pd.Series:
    """Values cast to the boolean kind: a `_BOOL_WORDS` word, or a number equal to 1 or 0.

    Why numbers count only here: inference must not call a 0/1 column boolean (pandas reads one
    from a CSV as numbers, and the local and Dask ingest must type alike), but in a column already
    decided boolean, 1/0 (as numbers or text: 1, "0", 1.0, "0.0") can only mean true and false,
    and is how many exports write flags. Anything else, 2 or "maybe", comes out missing.
    """
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _one_zero(values)
    text = values.astype(str).str.strip().str.lower()
    flags = text.map(_BOOL_WORDS).astype("boolean")
    rest = flags.isna() & values.notna()
    if rest.any():  # parsed as numbers only where needed: the words of an inferred column never are
        flags[rest] = _one_zero(text[rest])
    return flags


def _one_zero(values: pd.Series) -> pd.Series:
    """True for a number (or number text) equal to 1, False for 0, missing for anything else."""
    numbers = _numbers(values)
    return numbers.where(numbers.isin([0, 1])).astype("boolean")


@dataclass(frozen=True)
class Mistyped:
    """The first present value of a column that does not parse as the kind recorded for it."""

    column: str
    kind: str
    value: Any


def plain(value: Any) -> Any:
    """A Python scalar for a numpy or pandas one: JSON-friendly, and shown as `2`, not `np.int64(2)`."""
    return value.item() if hasattr(value, "item") else value


def cast_to_kinds(frame: pd.DataFrame, kinds: Mapping[str, str], label: str | None = None,
                  date_formats: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, list[Mistyped]]:
    """A batch typed by the kinds recorded for its columns (the schema's, the drift reference's).

    Why one function: the drift stage, `ct.py check`/`simulate` and `ct.py predict` must agree on
    what a batch means, or a batch one of them accepts is refused by another. The kinds come from
    the record, never from the batch, whose few rows prove nothing (a category "7" stays a category).
    Each column of `kinds` that `frame` has is cast by `cast_column` (dates as `date_formats`, the
    schema's record of how each is written, says, default year-first); the `label` column, if given
    and present, as training labels are; other columns are left as they are. A column with a value
    that does not parse as its kind keeps its values as given and is listed with that value: the
    drift stage raises on it, the schema check reports the column as not of its recorded kind.
    """
    frame = frame.rename(columns=str)
    mistyped: list[Mistyped] = []
    for name, kind in kinds.items():
        if name not in frame.columns:
            continue
        values = frame[name]
        cast = cast_column(values, kind, (date_formats or {}).get(name, "auto"))
        wrong = values.notna() & cast.isna()
        if wrong.any():
            mistyped.append(Mistyped(name, kind, plain(values[wrong].iloc[0])))
        else:
            frame[name] = cast
    if label is not None and label in frame.columns:
        frame[label] = cast_label(frame[label])
    return frame, mistyped


def as_text(values: pd.Series) -> pd.Series:
    """str values (object dtype), missing values kept missing."""
    if values.dtype != object and pd.api.types.is_string_dtype(values.dtype):
        return values.astype(object)  # already str: the same values, without a Python call for each
    return values.map(lambda v: v if pd.isna(v) else str(v)).astype(object)


def cast_label(values: pd.Series) -> pd.Series:
    """Labels keep their values: numeric (and bool) dtypes as they are, anything else as str."""
    return values if pd.api.types.is_numeric_dtype(values) else as_text(values)


def check_columns(columns: list[str], target: str, date_columns: Iterable[str]) -> None:
    if target not in columns:
        raise UserError(f"data.target '{target}' is not a column (columns: {', '.join(columns[:20])})")
    for name in date_columns:
        if name not in columns:
            raise UserError(f"data.date_columns: '{name}' is not a column")


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


def normalize(frame: pd.DataFrame, target: str, date_formats: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Give every feature a canonical dtype from which its kind can be read back.

    numeric -> float64, boolean -> pandas boolean, datetime -> datetime64[ns],
    categorical -> str values (object). Labels keep their values; text labels become str.
    The dtypes survive a Parquet round trip, so later stages need no side file.
    A feature is a date when its dtype is, when `data.date_columns` names it (`date_formats`:
    column -> how it is written), or when all its values are year-first date text; boolean when
    all are true/false/yes/no words; numeric when all parse as numbers; else categorical.
    """
    formats = dict(date_formats or {})
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    check_columns(list(frame.columns), target, formats)
    for name in frame.columns:
        if name != target:
            forced, fmt = name in formats, formats.get(name, "auto")
            kind = decide_kind(name, [evidence(frame[name], forced, date_format=fmt)], forced)
            frame[name] = cast_column(frame[name], kind, fmt)
    frame[target] = cast_label(frame[target])
    return frame


def no_label_error(target: str) -> UserError:
    """A source without one labelled row: nothing to learn, and nothing to write."""
    return UserError(f"data.source: no row has a label in column '{target}' (data.target names the label column)")


def drop_unlabelled(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, int]:
    """The rows that carry a label, and how many did not: training cannot learn from a row without one."""
    labelled = frame[target].notna()
    if labelled.all():
        return frame, 0
    if not labelled.any():
        raise no_label_error(target)
    return frame[labelled].reset_index(drop=True), int((~labelled).sum())


def assemble_training_data(source: pd.DataFrame, batches: list[pd.DataFrame], policy: str, window_rows: int, *,
                           target: str = "", max_growth: float = 0.2, cap_min_rows: int = 1_000_000,
                           seed: int = 0) -> pd.DataFrame:
    """Fold CT batches into the source data by the policy (`fold_keep`): all rows, the newest window,
    or a cap with the older rows downsampled (stratified by the `target` column)."""
    frame = pd.concat([source, *batches], ignore_index=True) if batches else source.reset_index(drop=True)
    labels = frame[target] if target in frame else np.zeros(len(frame))
    keep = fold_keep(labels, len(source), len(batches[-1]) if batches else 0, policy, window_rows, max_growth,
                     cap_min_rows, seed)
    return frame if keep is None else frame[keep].reset_index(drop=True)


def fold_keep(labels: pd.Series | np.ndarray, source_rows: int, newest_rows: int, policy: str, window_rows: int,
              max_growth: float, cap_min_rows: int, seed: int) -> np.ndarray | None:
    """Which rows of source + batches (in that order; `labels` is their label column) training keeps;
    None: all of them. Both engines call this, so they keep the same rows.

    - append: all rows; a retrain costs more with every batch.
    - window: the newest `window_rows` (0: as many as the source has, so the data keeps the source's
      size and a batch in pushes as many of the oldest rows out).
    - cap: at most max(cap_min_rows, (1 + max_growth) x source rows) rows. Over it, the newest batch
      (what the retrain is about) is kept whole and the older rows are downsampled to fill the rest,
      stratified by label (each class keeps its share) with the seed: the retrain's cost stays within
      max_growth of the first fit's, and no class or period is dropped whole. Below cap_min_rows
      nothing is dropped, so small sources behave as under append.
    """
    total = len(labels)
    if policy == "window":
        width = window_rows or source_rows
        if total <= width:
            return None
        keep = np.zeros(total, dtype=bool)
        keep[total - width:] = True
        return keep
    if policy != "cap":
        return None
    cap = max(cap_min_rows, int((1 + max_growth) * source_rows))
    if total <= cap:
        return None
    older = total - newest_rows
    keep = np.zeros(total, dtype=bool)
    keep[older:] = True
    keep[stratified_sample(np.asarray(labels)[:older], max(0, cap - newest_rows), seed)] = True
    return keep


def stratified_sample(labels: np.ndarray, size: int, seed: int, max_classes: int = 50) -> np.ndarray:
    """`size` positions of `labels`, sorted, each class (label value, when there are at most
    `max_classes`: a quantity is sampled uniformly) holding its share by largest remainder."""
    rng = np.random.default_rng(seed)
    codes, uniques = pd.factorize(pd.Series(labels), use_na_sentinel=False)
    if len(uniques) > max_classes:
        codes = np.zeros(len(labels), dtype=np.intp)
    counts = np.bincount(codes)
    exact = counts * size / max(1, len(labels))
    quota = np.floor(exact).astype(int)
    quota[np.argsort(quota - exact, kind="stable")[: size - quota.sum()]] += 1
    chosen = [rng.choice(np.flatnonzero(codes == c), quota[c], replace=False) for c in range(len(counts)) if quota[c]]
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.intp)
