"""Values beyond the ranges production was trained on: a drift signal, measured per feature and overall.

Why a signal and not a rule: a model meets new weather every season, and a value just beyond its
training range is what CT retrains for (values absurdly far out are refused earlier, by the schema
check). Measured against the schema that travelled with the production model
(`models/production/schema.json`), whose ranges are those of its training data, so after a retrain
on a batch its values are in range again. Numeric features: dates move forward by nature, so they
are not counted. Categorical features: the share of values outside the recorded categories
(`unknown_category_share`, per column and the largest of them), what `ct.max_unknown_category_share`
retrains on: a new level is data the model has not seen (it encodes it as no known level), not
broken data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ctml.drift.detect import rounded


def out_of_range(batch: pd.DataFrame, schema: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Numeric feature -> (present values beyond its recorded [min, max], present values) in `batch`."""
    counts = {}
    for name, spec in schema["columns"].items():
        if spec["kind"] != "numeric" or "min" not in spec or name not in batch.columns:
            continue
        values = pd.to_numeric(batch[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        present = values[~np.isnan(values)]
        counts[name] = (int(np.sum((present < spec["min"]) | (present > spec["max"]))), int(len(present)))
    return counts


def unknown_categories(batch: pd.DataFrame, schema: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Categorical feature -> (present values outside its recorded categories, present values) in `batch`."""
    counts = {}
    for name, spec in schema["columns"].items():
        if spec["kind"] != "categorical" or "categories" not in spec or name not in batch.columns:
            continue
        present = batch[name].dropna().astype(str)
        counts[name] = (int((~present.isin(set(spec["categories"]))).sum()), int(len(present)))
    return counts


def out_of_range_in_file(path: str | Path, schema: dict[str, Any], count: Any = out_of_range) -> dict[str, tuple[int, int]]:
    """`count` (`out_of_range`, `unknown_categories`) of a Parquet batch read one column at a time (the
    Dask engine's batches may not fit in memory whole), or of a CSV batch read whole."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix.lower() == ".csv":
        return count(pd.read_csv(path), schema)
    names = set(pq.read_schema(path).names)
    counts = {}
    for name in schema["columns"]:
        if name in names:
            counts.update(count(pq.read_table(path, columns=[name]).to_pandas(), schema))
    return counts


def _share(counts: dict[str, tuple[int, int]], name: str) -> float | None:
    found, present = counts.get(name, (0, 0))
    return rounded(found / present) if present else None


def annotate(report: dict[str, Any], counts: dict[str, tuple[int, int]],
             unknown: dict[str, tuple[int, int]] | None = None) -> dict[str, Any]:
    """The drift report with `out_of_range_share` (values beyond range / present values, over every
    numeric feature), `n_out_of_range` (features with any) and each feature's own share; and, from
    `unknown`, each categorical feature's `unknown_category_share`, the largest of them
    (`unknown_category_share`) and how many columns have any (`n_unknown_category`)."""
    unknown = unknown or {}
    beyond, present = sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
    features = {name: {**result, "out_of_range_share": _share(counts, name), "unknown_category_share": _share(unknown, name)}
                for name, result in report.get("features", {}).items()}
    shares = [found / seen for found, seen in unknown.values() if seen]
    return {**report, "out_of_range_share": rounded(beyond / present) if present else 0.0,
            "n_out_of_range": sum(1 for b, _ in counts.values() if b), "unknown_category_share": rounded(max(shares, default=0.0)),
            "n_unknown_category": sum(1 for u, _ in unknown.values() if u), "features": features}
