"""The Dask engine against the local one on the same data, on a real distributed.LocalCluster."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from ctml.config import load_params
from ctml.dask import io as dask_io
from ctml.drift import detect
from ctml.dask import drift as dask_engine
from ctml.errors import UserError
from tests.drift.frames import mixed
from tests.helpers import ROOT

PARAMS = load_params(ROOT / "params.yaml").drift


class Sign(ClassifierMixin, BaseEstimator):
    """A fixed model: predicts 1 when x > 0.5."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (frame["x"].to_numpy() > 0.5).astype("int64")


class Double(RegressorMixin, BaseEstimator):
    """A fixed regressor: predicts 2 x."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return 2 * frame["x"].to_numpy()


def assert_same(local: dict, distributed: dict) -> None:
    """Equal reports, but for the domain classifier's score: each engine samples its own rows."""
    apart = ("features", "multivariate")
    assert {k: v for k, v in local.items() if k not in apart} == {k: v for k, v in distributed.items() if k not in apart}
    assert (local["multivariate"]["method"], local["multivariate"]["batch_rows"]) == \
           (distributed["multivariate"]["method"], distributed["multivariate"]["batch_rows"])
    assert local["features"].keys() == distributed["features"].keys()
    for name, want in local["features"].items():
        got = distributed["features"][name]
        assert (got["kind"], got["method"], got["drifted"], got["threshold"]) == \
               (want["kind"], want["method"], want["drifted"], want["threshold"]), name
        for key in ("score", "p_value"):
            assert (got[key] is None) == (want[key] is None), name
            assert want[key] is None or got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-6), name


@pytest.mark.parametrize("shift, ref_rows, batch_rows", [(1.0, 5000, 3500), (0.0, 800, 600)])
def test_dask_engine_equals_local_engine(dask_client, tmp_path: Path, shift: float, ref_rows: int, batch_rows: int):
    ref, batch = mixed(ref_rows, 0), mixed(batch_rows, 1, shift=shift)
    ref.to_parquet(tmp_path / "train.parquet", index=False)
    batch.to_parquet(tmp_path / "batch.parquet", index=False)
    local = detect.detect(ref, batch, "target", PARAMS, model=detect.ModelView(Sign(), reference_score=0.8)).report
    distributed = dask_engine.detect_partitioned(tmp_path / "train.parquet", tmp_path / "batch.parquet", "target", PARAMS,
                                                 dask_client, partition_rows=700, model=detect.ModelView(Sign(), reference_score=0.8)).report
    assert local["n_drifted"] == (3 if shift else 0)  # x, flag, city; the moved date is monitored, not counted (drift.dates)
    assert_same(local, distributed)


def test_dask_engine_reads_a_csv_batch_in_chunks(dask_client, tmp_path: Path):
    ref, batch = mixed(3000, 0), mixed(2500, 1, shift=0.5)
    ref.to_parquet(tmp_path / "train.parquet", index=False)
    batch.to_csv(tmp_path / "batch.csv", index=False)
    local = detect.detect(ref, pd.read_csv(tmp_path / "batch.csv"), "target", PARAMS, model=detect.ModelView(Sign())).report
    distributed = dask_engine.detect_partitioned(tmp_path / "train.parquet", tmp_path / "batch.csv", "target", PARAMS,
                                                 dask_client, partition_rows=1000, model=detect.ModelView(Sign())).report
    assert_same(local, distributed)


def test_partitioning_streams_into_parts_of_at_most_the_given_rows(tmp_path: Path):
    import pyarrow.parquet as pq

    mixed(2500, 0).to_parquet(tmp_path / "train.parquet", index=False, row_group_size=2500)
    parts = sorted(dask_io.partition(tmp_path / "train.parquet", tmp_path / "parts", 1000).glob("*.parquet"))
    assert [pq.ParquetFile(p).metadata.num_rows for p in parts] == [1000, 1000, 500]


def test_unreadable_batch_is_a_user_error(tmp_path: Path):
    (tmp_path / "batch.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(UserError, match=r"batch.parquet: cannot be parsed"):
        dask_io.partition(tmp_path / "batch.parquet", tmp_path / "parts", 1000)


def test_dask_engine_equals_local_engine_for_a_regressor(dask_client, tmp_path: Path):
    ref, batch = mixed(3000, 0), mixed(2100, 1, shift=0.5)
    ref["target"], batch["target"] = 2 * ref["x"] + 0.5, 2 * batch["x"] + np.linspace(-2, 2, len(batch))
    ref.to_parquet(tmp_path / "train.parquet", index=False)
    batch.to_parquet(tmp_path / "batch.parquet", index=False)
    local = detect.detect(ref, batch, "target", PARAMS, model=detect.ModelView(Double(), reference_score=0.5)).report
    distributed = dask_engine.detect_partitioned(tmp_path / "train.parquet", tmp_path / "batch.parquet", "target", PARAMS,
                                                 dask_client, partition_rows=700, model=detect.ModelView(Double(), reference_score=0.5)).report
    assert local["performance"]["rmse"] > 0.5 and local["prediction"]["method"] == "wasserstein"
    assert local["performance"] == pytest.approx(distributed["performance"]) and local["prediction"] == distributed["prediction"]
    assert_same(local, distributed)
