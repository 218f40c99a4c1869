"""A delivered file above `ct.max_batch_mb` with `compute.engine: dask`: checked and staged a
partition at a time, never loaded whole; one bad partition anywhere refuses the whole file and the
staged batch of the step before stays as it was (never half-checked, never half-folded)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ctml import layout
from ctml.config import load_params
from ctml.ct.intake.deliveries import read_delivered
from ctml.ct.context import Context
from tests.helpers import set_params, sha256


def context(repo: Path) -> Context:
    set_params(repo, compute__engine="dask", compute__partition_rows=1000, ct__max_batch_mb=0.01)
    return Context(root=repo, params=load_params(repo / "params.yaml"), commit=False)


def feed(repo: Path, rows: int = 4500) -> pd.DataFrame:
    """Training rows drawn again, each made distinct (the duplicate-rows rule holds per partition)."""
    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(rows, random_state=4, replace=True).reset_index(drop=True)
    return frame.assign(**{"mean radius": frame["mean radius"] + np.arange(rows) * 1e-9})


def test_a_big_file_is_staged_a_partition_at_a_time(repo: Path, tmp_path: Path):
    ctx = context(repo)
    frame = feed(repo)
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    assert path.stat().st_size > ctx.params.ct.max_batch_mb * (1 << 20)
    batch = read_delivered(ctx, path)
    assert (batch.ok, batch.staged, batch.rows, batch.labelled, batch.typed) == (True, True, 4500, True, None)
    staged = pd.read_parquet(repo / layout.STAGED_BATCH)
    assert len(staged) == 4500 and list(staged.columns) == list(frame.columns)
    pd.testing.assert_series_equal(staged["mean radius"], frame["mean radius"], check_dtype=False)


def test_one_bad_partition_refuses_the_whole_file_and_stages_nothing(repo: Path, tmp_path: Path):
    ctx = context(repo)
    good = tmp_path / "good.csv"
    feed(repo).to_csv(good, index=False)
    read_delivered(ctx, good)
    before = sha256(repo / layout.STAGED_BATCH)
    frame = feed(repo).astype({"mean texture": object})
    frame.loc[4200, "mean texture"] = "abc"  # in the fifth partition, after four good ones
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    batch = read_delivered(ctx, bad)
    assert not batch.ok and batch.problems[0].startswith("rows 4001-4500: ")
    assert "column 'mean texture'" in batch.problems[0] and "'abc'" in batch.problems[0]
    assert sha256(repo / layout.STAGED_BATCH) == before
    assert [p.name for p in (repo / layout.CHECKED).iterdir() if p.name.startswith(".") or "tmp" in p.name] == []
