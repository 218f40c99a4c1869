"""The preprocessor fitted from per-block statistics, so both engines fit the same one.

Why blocks: on the dask engine the train split never sits in one process; each worker summarises
one row group (counts, moments, extremes, a sorted sample, category counts) and the client
combines the summaries. The local engine cuts its frame into the same blocks (`BLOCK` rows, the
row groups `DataFrame.to_parquet` writes) and runs the same code, so the fitted preprocessor is the
same object on both engines, to the byte. Medians are exact (a second pass collects the values
between two bounds known to hold the middle); category sets, most-frequent values, minima and
maxima are exact by nature; means and variances are combined block by block (Chan's formula), so
they differ from scikit-learn's one-pass numbers by float rounding only (about 1e-15 relative).

What is fitted from the statistics: every imputer and scaler, and the one-hot encoder (its
categories and which are grouped as infrequent); scikit-learn fits the ColumnTransformer itself
on a small frame built from them, so the saved object is the usual scikit-learn pipeline.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from ctml.config import PreprocessParams
from ctml.model.features import build_preprocessor, date_parts, to_float, to_text

BLOCK = 1024 * 1024  # rows per block: the row group `DataFrame.to_parquet` (pyarrow) writes
SAMPLES = 256  # sorted sample points per block and column: bounds the median's second pass to ~2/256 of the rows
MISSING = "missing"  # what the categorical imputer fills in (features.build_preprocessor)


def _by_kind(kinds: dict[str, str]) -> dict[str, list[str]]:
    return {kind: [c for c, k in kinds.items() if k == kind] for kind in ("numeric", "boolean", "datetime", "categorical")}


def _parts(params: PreprocessParams) -> tuple[str, ...]:
    """The date parts summarised: those asked for, and the year (what `DateParts` keeps when none varies)."""
    return tuple(dict.fromkeys([*params.date_parts, "year"]))


def _numbers(frame: pd.DataFrame, kinds: dict[str, str], params: PreprocessParams) -> np.ndarray:
    """The numeric inputs summarised: numeric columns, then each date's parts (`_parts`), in the order of
    the ColumnTransformer's "num" and "date" pipelines."""
    by = _by_kind(kinds)
    num = frame[by["numeric"]].to_numpy(dtype="float64", na_value=np.nan) if by["numeric"] else np.empty((len(frame), 0))
    dates = date_parts(frame[by["datetime"]], _parts(params)) if by["datetime"] else np.empty((len(frame), 0))
    return np.column_stack([num, dates]) if num.size or dates.size else np.empty((len(frame), 0))


def block_stats(frame: pd.DataFrame, kinds: dict[str, str], params: PreprocessParams) -> dict[str, Any]:
    """What the fit needs to know of one block of the train split."""
    by = _by_kind(kinds)
    numbers = _numbers(frame, kinds, params)
    columns = []
    for j in range(numbers.shape[1]):
        present = np.sort(numbers[:, j][~np.isnan(numbers[:, j])])
        n = len(present)
        mean = float(present.mean()) if n else 0.0
        stats = {"n": n, "missing": len(numbers) - n, "mean": mean, "m2": float(((present - mean) ** 2).sum()),
                 "sample": present[np.linspace(0, n - 1, min(n, SAMPLES + 1)).round().astype(int)] if n else present,
                 "positions": np.linspace(0, n - 1, min(n, SAMPLES + 1)).round().astype(int) if n else np.empty(0, int)}
        if params.numeric_imputer == "most_frequent":
            stats["counts"] = dict(zip(*np.unique(present, return_counts=True)))
        columns.append(stats)
    flags = to_float(frame[by["boolean"]]) if by["boolean"] else np.empty((len(frame), 0))
    return {
        "rows": len(frame),
        "numbers": columns,
        "precision": [_precision_facts(frame[name]) for name in by["datetime"]],
        "booleans": [{v: int((flags[:, j] == v).sum()) for v in (0.0, 1.0)} for j in range(flags.shape[1])],
        "categories": [_category_counts(frame[name]) for name in by["categorical"]],
    }


def _precision_facts(values: pd.Series) -> dict[str, bool]:
    """What `features.precision` asks of a date column, per block: any time of day, day, month."""
    dates = pd.to_datetime(values, errors="coerce").dropna()
    return {"time": bool(len(dates) and (dates.dt.normalize() != dates).any()), "day": bool(len(dates) and (dates.dt.day != 1).any()),
            "month": bool(len(dates) and (dates.dt.month != 1).any())}


def _date_inputs(stats: list[dict[str, Any]], kinds: dict[str, str], params: PreprocessParams) -> tuple[dict[str, tuple[str, ...]], list[int]]:
    """The parts `DateParts` keeps per date column (`features.informative_parts`, from the blocks), and
    the numeric inputs (`_numbers` positions) they are."""
    from ctml.model.features import _PRECISION_PARTS

    by, summarised = _by_kind(kinds), _parts(params)
    chosen, inputs = {}, []
    for c, name in enumerate(by["datetime"]):
        facts = [s["precision"][c] for s in stats]
        level = next((lv for lv in ("time", "day", "month") if any(f[lv] for f in facts)), "year")
        at = {part: len(by["numeric"]) + c * len(summarised) + k for k, part in enumerate(summarised)}

        def varies(part: str) -> bool:
            cols = [s["numbers"][at[part]] for s in stats if s["numbers"][at[part]]["n"]]
            return bool(cols) and min(c["sample"][0] for c in cols) != max(c["sample"][-1] for c in cols)

        parts = tuple(p for p in params.date_parts if p in _PRECISION_PARTS[level] and varies(p)) or ("year",)
        chosen[str(name)] = parts
        inputs.extend(at[p] for p in parts)
    return chosen, inputs


def _category_counts(values: pd.Series) -> dict[str, int]:
    text = pd.Series(to_text(values.to_frame())[:, 0]).fillna(MISSING)
    return {str(k): int(v) for k, v in text.value_counts(sort=False).items()}


def median_bounds(stats: list[dict[str, Any]], j: int) -> tuple[float, float] | None:
    """Two values between which the middle value(s) of column `j` surely lie, from the blocks' sorted
    samples; None for a column without values. A value v of block b's sample at sorted position p has
    at most p values of the block below it and at least p + 1 at or below it."""
    cols = [s["numbers"][j] for s in stats if s["numbers"][j]["n"]]
    total = sum(c["n"] for c in cols)
    if not total:
        return None
    low_rank, high_rank = (total - 1) // 2, total // 2
    candidates = np.unique(np.concatenate([c["sample"] for c in cols]))

    def below_at_most(v: float) -> int:  # values < v, an upper bound
        return sum(int(c["positions"][np.searchsorted(c["sample"], v, "left")]) if np.searchsorted(c["sample"], v, "left")
                   < len(c["sample"]) else c["n"] for c in cols)

    def at_or_below_at_least(v: float) -> int:  # values <= v, a lower bound
        return sum(int(c["positions"][i - 1]) + 1 if (i := np.searchsorted(c["sample"], v, "right")) else 0 for c in cols)

    low = max(v for v in candidates if below_at_most(v) <= low_rank)
    high = min(v for v in candidates if at_or_below_at_least(v) >= high_rank + 1)
    return float(low), float(high)


def between(frame: pd.DataFrame, kinds: dict[str, str], params: PreprocessParams,
            bounds: list[tuple[float, float] | None]) -> list[tuple[int, np.ndarray]]:
    """Per numeric input of one block: how many values lie below its low bound, and the sorted values
    within its bounds (the median's second pass)."""
    numbers = _numbers(frame, kinds, params)
    out = []
    for j, bound in enumerate(bounds):
        column = numbers[:, j][~np.isnan(numbers[:, j])]
        if bound is None:
            out.append((0, np.empty(0)))
            continue
        out.append((int((column < bound[0]).sum()), np.sort(column[(column >= bound[0]) & (column <= bound[1])])))
    return out


def medians(stats: list[dict[str, Any]], bounds: list[tuple[float, float] | None],
            found: list[list[tuple[int, np.ndarray]]]) -> list[list[float]]:
    """Per numeric input, its middle value(s): one or two values (the imputer averages two), none when empty."""
    out = []
    for j, bound in enumerate(bounds):
        if bound is None:
            out.append([])
            continue
        total = sum(s["numbers"][j]["n"] for s in stats)
        below = sum(f[j][0] for f in found)
        values = np.sort(np.concatenate([f[j][1] for f in found]))
        ranks = sorted({(total - 1) // 2, total // 2})
        out.append([float(values[r - below]) for r in ranks])
    return out


def _moments(stats: list[dict[str, Any]], j: int, fill: float) -> tuple[int, float, float]:
    """(count, mean, sum of squared deviations) of numeric input `j` after imputing `fill`: the blocks
    combined in order, then the imputed values (Chan et al.'s pairwise update)."""
    n, mean, m2 = 0, 0.0, 0.0
    parts = [(s["numbers"][j]["n"], s["numbers"][j]["mean"], s["numbers"][j]["m2"]) for s in stats]
    parts.append((sum(s["numbers"][j]["missing"] for s in stats), fill, 0.0))
    for nb, mb, m2b in parts:
        if not nb:
            continue
        delta = mb - mean
        total = n + nb
        mean += delta * nb / total
        m2 += m2b + delta * delta * n * nb / total
        n = total
    return n, mean, m2


def _fill_rows(stats: list[dict[str, Any]], j: int, strategy: str, middle: list[float]) -> list[float]:
    """Two values from which `SimpleImputer(strategy)` computes the statistic of the whole column."""
    present = sum(s["numbers"][j]["n"] for s in stats)
    if not present:
        return [np.nan, np.nan]
    if strategy == "median":
        return middle * (2 // len(middle))
    if strategy == "mean":
        mean = _moments([{**s, "numbers": [{**s["numbers"][j], "missing": 0}]} for s in stats], 0, 0.0)[1]
        return [mean, mean]
    counts: dict[float, int] = {}
    for s in stats:
        for value, count in s["numbers"][j]["counts"].items():
            counts[value] = counts.get(value, 0) + int(count)
    top = max(counts.values())
    return [min(v for v, c in counts.items() if c == top)] * 2  # ties: the smallest, as scikit-learn


def _category_column(counts: dict[str, int], max_categories: int) -> list[str]:
    """A column whose one-hot encoding fits as the whole column's does: every category, and the ones the
    encoder keeps (the `max_categories - 1` most frequent, ties by its stable sort) twice."""
    names = sorted(counts)
    if len(names) < max_categories:
        return names
    order = np.argsort(np.array([counts[n] for n in names]), kind="mergesort")
    kept = [names[i] for i in order[len(names) - (max_categories - 1):]]
    return names + kept


def fit_from_stats(kinds: dict[str, str], params: PreprocessParams, stats: list[dict[str, Any]],
                   middle: list[list[float]]) -> ColumnTransformer:
    """The preprocessor `build_preprocessor(kinds, params).fit(x_train)` would be, from the blocks' statistics
    (`block_stats`) and the medians (`medians`; empty unless the imputer is the median); `kinds` in the
    order of the train split's columns."""
    by = _by_kind(kinds)
    booleans = [{v: sum(s["booleans"][j][v] for s in stats) for v in (0.0, 1.0)} for j in range(len(by["boolean"]))]
    categories = [_merge([s["categories"][j] for s in stats]) for j in range(len(by["categorical"]))]
    cat_columns = [_category_column(c, params.max_categories) for c in categories]
    rows = max([2, *map(len, cat_columns)])
    skeleton = pd.DataFrame(index=range(rows))
    for name, kind in kinds.items():
        if kind == "numeric":
            skeleton[name] = 0.0
        elif kind == "datetime":
            skeleton[name] = pd.Timestamp("2000-01-01")
        elif kind == "boolean":
            count = booleans[by["boolean"].index(name)]
            winner = np.nan if not sum(count.values()) else (1.0 if count[1.0] > count[0.0] else 0.0)
            skeleton[name] = pd.array([None if np.isnan(winner) else bool(winner)] * rows, dtype="boolean")
        else:
            values = cat_columns[by["categorical"].index(name)]
            skeleton[name] = (values + [values[-1]] * (rows - len(values))) if values else [None] * rows
    fitted = build_preprocessor(kinds, params).fit(skeleton)
    chosen, date_inputs = _date_inputs(stats, kinds, params)
    inputs = {"num": list(range(len(by["numeric"]))), "date": date_inputs}
    for key in ("num", "date"):
        if key not in fitted.named_transformers_:
            continue
        steps = fitted.named_transformers_[key].steps
        at = 1 if key == "date" else 0
        if key == "date":
            steps[0][1].parts_ = chosen
        js = inputs[key]
        fill = np.array([_fill_rows(stats, j, params.numeric_imputer, middle[j] if middle else []) for j in js]).T
        names = by["numeric"] if key == "num" else None  # the "num" pipeline is fitted on named columns
        imputer = SimpleImputer(strategy=params.numeric_imputer, keep_empty_features=True).fit(
            pd.DataFrame(fill, columns=names) if names else fill)
        steps[at] = (steps[at][0], imputer)
        statistics = imputer.statistics_
        if params.scaler == "minmax":
            extremes = np.array([_extremes(stats, j, statistics[i]) for i, j in enumerate(js)]).T
            scaler = MinMaxScaler().fit(extremes)
            scaler.n_samples_seen_ = stats_rows(stats)
            steps[at + 1] = (steps[at + 1][0], scaler)
        elif params.scaler == "standard":
            steps[at + 1] = (steps[at + 1][0], _standard(stats, js, statistics))
    return fitted


def stats_rows(stats: list[dict[str, Any]]) -> np.int64:
    return np.int64(sum(s["rows"] for s in stats))


def _merge(counts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for block in counts:
        for key, value in block.items():
            out[key] = out.get(key, 0) + value
    return out


def _extremes(stats: list[dict[str, Any]], j: int, fill: float) -> list[float]:
    values = [v for s in stats if s["numbers"][j]["n"] for v in (s["numbers"][j]["sample"][0], s["numbers"][j]["sample"][-1])]
    if any(s["numbers"][j]["missing"] for s in stats) or not values:
        values.append(fill)
    return [min(values), max(values)]


def _standard(stats: list[dict[str, Any]], js: list[int], fill: np.ndarray) -> StandardScaler:
    from sklearn.preprocessing._data import _handle_zeros_in_scale, _is_constant_feature

    moments = [_moments(stats, j, float(fill[i])) for i, j in enumerate(js)]
    scaler = StandardScaler().fit(np.zeros((2, len(moments))))
    n = stats_rows(stats)
    scaler.mean_ = np.array([m[1] for m in moments])
    scaler.var_ = np.array([m[2] / m[0] if m[0] else 0.0 for m in moments])
    scaler.n_samples_seen_ = n
    scaler.scale_ = _handle_zeros_in_scale(np.sqrt(scaler.var_), copy=False,
                                           constant_mask=_is_constant_feature(scaler.var_, scaler.mean_, n))
    return scaler


def fit_local(frame: pd.DataFrame, kinds: dict[str, str], params: PreprocessParams) -> ColumnTransformer:
    """The local engine: the same blocks, statistics and fit as the dask engine's, in one process
    (`frame`: the train split's feature columns, in the order of `kinds`)."""
    blocks = [frame.iloc[i:i + BLOCK] for i in range(0, len(frame), BLOCK)] or [frame]
    stats = [block_stats(b, kinds, params) for b in blocks]
    middle: list[list[float]] = []
    if params.numeric_imputer == "median":
        bounds = [median_bounds(stats, j) for j in range(len(stats[0]["numbers"]))]
        middle = medians(stats, bounds, [between(b, kinds, params, bounds) for b in blocks])
    return fit_from_stats(kinds, params, stats, middle)
