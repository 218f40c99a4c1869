"""Values beyond the recorded ranges: counted per numeric feature, a share over all of them."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ctml.drift.ranges import annotate, out_of_range, out_of_range_in_file

SCHEMA = {"columns": {"t": {"kind": "numeric", "min": -2.05, "max": 1.81}, "h": {"kind": "numeric", "min": 0.0, "max": 1.0},
                      "city": {"kind": "categorical", "categories": ["a"]},
                      "day": {"kind": "datetime", "min": "2012-01-01T00:00:00", "max": "2012-12-31T00:00:00"}}}


def batch() -> pd.DataFrame:
    return pd.DataFrame({"t": [2.09, -2.05, 1.81, 0.0, np.nan], "h": [0.5, 1.5, -0.1, 0.2, 0.3],
                         "city": ["z"] * 5, "day": pd.to_datetime(["2014-01-01"] * 5)})


def test_only_numeric_values_beyond_the_range_count_and_missing_ones_are_not_values() -> None:
    assert out_of_range(batch(), SCHEMA) == {"t": (1, 4), "h": (2, 5)}  # the bounds themselves are in range
    assert out_of_range(batch().drop(columns="h"), SCHEMA) == {"t": (1, 4)}


def test_the_share_is_over_every_numeric_value_and_each_feature_has_its_own() -> None:
    report = {"drift_score": 0.5, "features": {"t": {"score": 0.1}, "h": {"score": 0.2}, "city": {"score": 0.0}}}
    out = annotate(report, out_of_range(batch(), SCHEMA))
    assert (out["out_of_range_share"], out["n_out_of_range"], out["drift_score"]) == (round(3 / 9, 6), 2, 0.5)
    assert {n: f["out_of_range_share"] for n, f in out["features"].items()} == {"t": 0.25, "h": 0.4, "city": None}
    assert annotate({"features": {}}, {})["out_of_range_share"] == 0.0


def test_a_parquet_batch_read_column_by_column_counts_alike(tmp_path) -> None:
    batch().to_parquet(tmp_path / "b.parquet", index=False)
    batch().to_csv(tmp_path / "b.csv", index=False)
    assert out_of_range_in_file(tmp_path / "b.parquet", SCHEMA) == out_of_range_in_file(tmp_path / "b.csv", SCHEMA) == \
        {"t": (1, 4), "h": (2, 5)}
