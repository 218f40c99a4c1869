"""Dates written as text: which forms are taken as dates unasked, and how a declared order is read.

Why year-first forms only are detected: `2012-01-31`, `2012/01/31` and `2012.01.31 10:00` can only
mean one day, but `01/02/2012` is the 1st of February in most of the world and the 2nd of January in
the US, and a whole file can hold no day above 12 to tell. Guessing would silently swap months, so
such a column stops with one line asking for its order in `data.date_columns` (`DMY`, `MDY`), and
the order is recorded in the schema: batches and prediction requests are read the same way.
"""
from __future__ import annotations

import pandas as pd

YEAR_FIRST = r"^\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T]|$)"  # detected as a date (ISO and its slash/dot forms)
DAY_OR_MONTH_FIRST = r"^\s*\d{1,2}[-/.]\d{1,2}[-/.]\d{4}(?:[ T]|$)"  # a date, but whose order must be named
_SPLIT = r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(.*)$"


def year_first(words: pd.Series) -> bool:
    """Every value (as text) starts with a year-first date."""
    return bool(words.str.match(YEAR_FIRST).all())


def day_or_month_first(words: pd.Series) -> bool:
    """Every value (as text) starts with a date whose first field is a day or a month."""
    return bool(words.str.match(DAY_OR_MONTH_FIRST).all())


def parse(values: pd.Series, date_format: str = "auto") -> pd.Series:
    """Dates in UTC (tz-aware), NaT where a value is not a date of `date_format`.

    `auto` and `YMD`: ISO 8601 and its year-first variants (pandas' ISO parser takes `/` and `.`
    separators and an optional time); `DMY` / `MDY`: day or month first, then a four-digit year,
    with `-`, `/` or `.` between, and an optional time; anything with a `%`: that strptime format.
    """
    if "%" in date_format:
        return pd.to_datetime(values, errors="coerce", format=date_format, utc=True)
    if date_format in ("DMY", "MDY"):
        parts = values.astype(str).str.extract(_SPLIT)
        day, month = (parts[0], parts[1]) if date_format == "DMY" else (parts[1], parts[0])
        values = (parts[2] + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + parts[3]).where(values.notna())
    return pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
