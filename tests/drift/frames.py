"""Hand-built reference/batch frames with every column kind, shared by the drift and CT tests."""
from __future__ import annotations

import numpy as np
import pandas as pd


def mixed(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """numeric (two), low-cardinality numeric, boolean, datetime, categorical columns and a label;
    `shift` moves `x`, the dates and the category shares, and leaves `y` alone."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    frame = pd.DataFrame({
        "x": x,
        "y": rng.normal(0.0, 1.0, n),
        "level": rng.integers(0, 3, n).astype("float64"),
        "flag": pd.array(rng.random(n) < 0.3 + 0.2 * min(shift, 1.0), dtype="boolean"),
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n) + int(60 * shift), unit="D"),
        "city": np.array(["paris", "oslo", "rome", "lima"], dtype=object)[
            np.minimum(rng.integers(0, 4, n) + (rng.random(n) < 0.5 * min(shift, 1.0)), 3)],
        "target": (x > 0).astype("int64"),
    })
    frame["when"] = frame["when"].astype("datetime64[ns]")
    frame["city"] = frame["city"].astype("str")
    frame.loc[::17, "y"] = np.nan
    frame.loc[::23, "city"] = None
    return frame


ONE_ZERO = ("ints", "int text", "floats", "float text")


def spell_flag(frame: pd.DataFrame, spelling: str, bad: object = None) -> pd.DataFrame:
    """`frame` with its boolean `flag` as 1/0, spelled as a feed may spell it (`ints` 1, `int text`
    "1", `floats` 1.0, `float text` "1.0"); `bad`, when given, is row 5's value instead."""
    ones = frame["flag"].astype("int64")
    spelled = {"ints": ones, "int text": ones.astype(str), "floats": ones.astype("float64"),
               "float text": ones.astype("float64").astype(str)}[spelling]
    if bad is not None:
        spelled = spelled.where(spelled.index != 5, bad)
    return frame.assign(flag=spelled)
