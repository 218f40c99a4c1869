"""The preprocess stage on Dask: the local engine's split and preprocessor, the data never in one process.

1. The split's row positions (`ctml.data.split`): a classifier's from its label column, read alone on
   the client; a regressor's from each row's hash, computed by the workers a row group at a time.
2. The rows move to their place in two rounds of tasks (a shuffle through files): each task reads one
   row group of the data and writes, per output block, the rows that go there with their position;
   each output block's task gathers its pieces and sorts them. The client streams the blocks into
   the train and test files (`stream_to_parquet`, one row group in memory): the local engine's bytes.
3. The preprocessor is fitted from the train file's row groups, summarised by the workers
   (`ctml.model.blocks`): the same blocks and the same code as the local engine, so the same object.

Client memory: the label column and two small integers a row (each row's side and position).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ctml.config import PreprocessParams
from ctml.dask.ingest import stream_to_parquet
from ctml.dask.io import read_group, row_groups
from ctml.data.split import class_positions, hash_positions, row_sides
from ctml.data.task import labels_for_task
from ctml.model import blocks

POSITION = "__position__"


def _group(part: tuple[str, int], target: str, task: str) -> pd.DataFrame:
    frame = read_group(part)
    frame[target] = labels_for_task(frame[target], task)
    return frame


def _sides(part: tuple[str, int], target: str, task: str, test_size: float, seed: int) -> np.ndarray:
    return row_sides(_group(part, target, task), test_size, seed)


def _scatter(part: tuple[str, int], side: np.ndarray, where: np.ndarray, target: str, task: str, tmp: str,
             index: int) -> list[tuple[int, int]]:
    """Write the rows of one row group that go to each (side, output block), with their position."""
    frame = _group(part, target, task)
    frame[POSITION] = where
    written = []
    for (s, block), rows in frame.groupby([side, where // blocks.BLOCK], sort=True):
        rows.to_parquet(Path(tmp) / f"piece-{s}-{block:05d}-{index:05d}.parquet", index=False)
        written.append((int(s), int(block)))
    return written


def _gather(pieces: list[str], dest: str) -> pd.DataFrame:
    """One output block from its pieces, in position order; returns its first row (the dtypes)."""
    frame = pd.concat([pd.read_parquet(p) for p in pieces], ignore_index=True)
    frame = frame.sort_values(POSITION, kind="stable").drop(columns=[POSITION]).reset_index(drop=True)
    frame.to_parquet(dest, index=False)
    return frame.iloc[:1]


def _stats(part: tuple[str, int], kinds: dict[str, str], params: PreprocessParams) -> dict[str, Any]:
    return blocks.block_stats(read_group(part, list(kinds)), kinds, params)


def _between(part: tuple[str, int], kinds: dict[str, str], params: PreprocessParams,
             bounds: list[tuple[float, float] | None]) -> list[tuple[int, np.ndarray]]:
    return blocks.between(read_group(part, list(kinds)), kinds, params, bounds)


def split_on_cluster(client: Any, data: str | Path, train_out: str | Path, test_out: str | Path, target: str, task: str,
                     test_size: float, seed: int) -> tuple[int, int]:
    """Write the train and test splits of `data`, as the local engine would; returns their row counts."""
    import pyarrow.parquet as pq

    groups = row_groups(data)
    if task == "regression":
        test = np.concatenate(client.gather(client.map(_sides, groups, target=target, task=task, test_size=test_size,
                                                       seed=seed, pure=False)))
        train_at, test_at = hash_positions(test, test_size)
    else:
        labels = pq.read_table(data, columns=[target]).column(0).to_pandas()
        train_at, test_at = class_positions(labels, test_size, seed)
        del labels
    n = len(train_at) + len(test_at)
    side = np.zeros(n, dtype="int8")
    side[test_at] = 1
    where = np.empty(n, dtype="int64")
    where[train_at], where[test_at] = np.arange(len(train_at)), np.arange(len(test_at))
    sizes = [pq.ParquetFile(data).metadata.row_group(i).num_rows for _, i in groups]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    workdir = Path(train_out).resolve().parent  # beside the outputs: where the workers can write (a shared filesystem)
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ctml-split-", dir=workdir) as tmp:
        futures = [client.submit(_scatter, g, side[starts[i]:starts[i + 1]], where[starts[i]:starts[i + 1]], target, task,
                                 tmp, i, pure=False) for i, g in enumerate(groups)]
        written = client.gather(futures)
        outputs: dict[tuple[int, int], list[str]] = {}
        for i, pieces in enumerate(written):
            for key in pieces:
                outputs.setdefault(key, []).append(f"{tmp}/piece-{key[0]}-{key[1]:05d}-{i:05d}.parquet")
        keys = sorted(outputs)
        parts = [f"{tmp}/block-{s}-{b:05d}.parquet" for s, b in keys]
        heads = client.gather(client.map(_gather, [outputs[k] for k in keys], parts, pure=False))
        for s, out in ((0, train_out), (1, test_out)):
            chosen = [i for i, (side_of, _) in enumerate(keys) if side_of == s]
            stream_to_parquet([Path(parts[i]) for i in chosen], [heads[i] for i in chosen], out, None, row_group=blocks.BLOCK)
    return len(train_at), len(test_at)


def fit_on_cluster(client: Any, train: str | Path, kinds: dict[str, str], params: PreprocessParams) -> Any:
    """The preprocessor `ctml.model.blocks.fit_local` fits on the same split, from the workers' summaries."""
    groups = row_groups(train)
    stats = client.gather(client.map(_stats, groups, kinds=kinds, params=params, pure=False))
    middle: list[list[float]] = []
    if params.numeric_imputer == "median":
        bounds = [blocks.median_bounds(stats, j) for j in range(len(stats[0]["numbers"]))]
        found = client.gather(client.map(_between, groups, kinds=kinds, params=params, bounds=bounds, pure=False))
        middle = blocks.medians(stats, bounds, found)
    return blocks.fit_from_stats(kinds, params, stats, middle)
