"""Values beyond the ranges production was trained on: a drift signal, measured per feature and overall.

Why a signal and not a rule: a model meets new weather every season, and a value just beyond its
training range is what CT retrains for (values absurdly far out are refused earlier, by the schema
check). Measured against the schema that travelled with the production model
(`models/production/schema.json`), whose ranges are those of its training data, so after a retrain
on a batch its values are in range again. Numeric features only: dates move forward by nature, and
unknown categories have their own rule (`validate.max_unknown_category_share`).
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


def out_of_range_in_file(path: str | Path, schema: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """`out_of_range` of a Parquet batch read one column at a time (the Dask engine's batches may not
    fit in memory whole), or of a CSV batch read whole."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix.lower() == ".csv":
        return out_of_range(pd.read_csv(path), schema)
    names = set(pq.read_schema(path).names)
    counts = {}
    for name in schema["columns"]:
        if name in names:
            counts.update(out_of_range(pq.read_table(path, columns=[name]).to_pandas(), schema))
    return counts


def annotate(report: dict[str, Any], counts: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """The drift report with `out_of_range_share` (values beyond range / present values, over every
    numeric feature), `n_out_of_range` (features with any) and each feature's own share."""
    beyond, present = sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
    features = {name: {**result, "out_of_range_share": rounded(counts[name][0] / counts[name][1])
                       if counts.get(name, (0, 0))[1] else None}
                for name, result in report.get("features", {}).items()}
    return {**report, "out_of_range_share": rounded(beyond / present) if present else 0.0,
            "n_out_of_range": sum(1 for b, _ in counts.values() if b), "features": features}
