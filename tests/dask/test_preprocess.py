"""ctml.dask.preprocess against the local engine on a real LocalCluster: the same train and test files
(byte for byte), and the same preprocessor, fitted from the workers' summaries of the train split."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ctml.config import PreprocessParams
from ctml.dask.preprocess import fit_on_cluster, split_on_cluster
from ctml.data.split import split
from ctml.data.task import labels_for_task
from ctml.io import write_parquet
from ctml.model import blocks
from ctml.model.estimator import save_model
from ctml.model.features import build_preprocessor

KINDS = {"a": "numeric", "b": "numeric", "flag": "boolean", "when": "datetime", "city": "categorical"}


def raw(rows: int, task: str) -> pd.DataFrame:
    """Every kind, missing values, a category rare enough to be grouped as infrequent."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({
        "a": rng.normal(size=rows),
        "b": np.where(rng.random(rows) < 0.1, np.nan, rng.integers(0, 9, rows).astype(float)),
        "flag": pd.array(rng.choice([True, False, None], rows), dtype="boolean"),
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 500, rows), unit="D"),
        "city": pd.Series(rng.choice(["oslo", "rome", "lima", "kyiv", "bern", None], rows,
                                     p=[0.4, 0.3, 0.15, 0.1, 0.01, 0.04]), dtype="str"),
    })
    frame["label"] = rng.choice(["no", "yes", "maybe"], rows, p=[0.6, 0.3, 0.1]) if task == "classification" \
        else frame["a"] * 3 + rng.normal(size=rows)
    return frame


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_split_and_preprocessor_on_the_cluster_are_the_local_engines(dask_client, tmp_path: Path, monkeypatch, task: str):
    params = PreprocessParams(test_size=0.25, numeric_imputer="median", scaler="standard", max_categories=4,
                              date_parts=["year", "month"])
    frame = raw(4001, task)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "raw.parquet", row_group_size=900)

    local = frame.copy()
    local["label"] = labels_for_task(local["label"], task)
    train, test = split(local, "label", 0.25, seed=3, task=task)
    write_parquet(tmp_path / "train.parquet", train)
    write_parquet(tmp_path / "test.parquet", test)
    rows = split_on_cluster(dask_client, tmp_path / "raw.parquet", tmp_path / "d-train.parquet", tmp_path / "d-test.parquet",
                            "label", task, 0.25, 3)
    assert rows == (len(train), len(test)) and 900 < len(test) < 1100
    assert sha(tmp_path / "d-train.parquet") == sha(tmp_path / "train.parquet")  # same rows, same order, same bytes
    assert sha(tmp_path / "d-test.parquet") == sha(tmp_path / "test.parquet")

    # the preprocessor: one block here, then blocks of 700 rows (several row groups on both engines)
    for size in (blocks.BLOCK, 700):
        monkeypatch.setattr(blocks, "BLOCK", size)
        split_on_cluster(dask_client, tmp_path / "raw.parquet", tmp_path / "d-train.parquet", tmp_path / "d-test.parquet",
                         "label", task, 0.25, 3)
        assert pq.ParquetFile(tmp_path / "d-train.parquet").num_row_groups == -(-len(train) // size)
        mine = fit_on_cluster(dask_client, tmp_path / "d-train.parquet", KINDS, params)
        theirs = blocks.fit_local(train[list(KINDS)], KINDS, params)
        assert save_model(mine, tmp_path / "mine.joblib") == save_model(theirs, tmp_path / "theirs.joblib")
        np.testing.assert_array_equal(mine.transform(test), theirs.transform(test))

    # against scikit-learn fitted on the whole split: medians, categories, the infrequent group exact;
    # means and variances combined block by block, equal to float rounding
    whole = build_preprocessor(KINDS, params).fit(train[list(KINDS)])
    np.testing.assert_allclose(mine.transform(test), whole.transform(test), rtol=0, atol=1e-12)
    imputer = mine.named_transformers_["num"].steps[0][1]
    assert imputer.statistics_.tolist() == whole.named_transformers_["num"].steps[0][1].statistics_.tolist()
    encoder, reference = (t.named_transformers_["cat"].steps[-1][1] for t in (mine, whole))
    assert [c.tolist() for c in encoder.categories_] == [["bern", "kyiv", "lima", "missing", "oslo", "rome"]]
    assert encoder.infrequent_categories_[0].tolist() == reference.infrequent_categories_[0].tolist() == ["bern", "kyiv", "missing"]
