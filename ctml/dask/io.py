"""Dask plumbing shared by the stages on the dask engine: a client, files as Parquet parts, row groups as tasks.

Paths handed to the cluster must be readable by its workers: with a LocalCluster they are; with a
remote cluster the project directory (and the system temp directory) must be on a shared filesystem.
"""
from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from ctml.errors import UserError

ROW_GROUP = 1024 * 1024  # rows per row group: pyarrow's default, which `DataFrame.to_parquet` uses


@contextmanager
def client_for(scheduler: str) -> Iterator[Any]:
    """A client of the cluster at `scheduler`, or of a LocalCluster started (and stopped) here."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise UserError(f"params.yaml: compute.scheduler '{scheduler}': cannot connect ({exc})") from None
        with client, _workers_killed(scheduler):
            yield client
        return
    workers = max(1, os.cpu_count() or 1)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client, _workers_killed("a LocalCluster"):
        yield client


@contextmanager
def _workers_killed(cluster: str) -> Iterator[None]:
    """Dask's KilledWorker (a task whose workers kept dying, nearly always past their memory limit) as
    one line that says what to change, not a traceback: measured at 4M rows, workers limited to
    700 MB died profiling one row group (up to ROW_GROUP rows, the Parquet writer's default)."""
    from distributed import KilledWorker

    try:
        yield
    except KilledWorker as exc:
        task = getattr(exc, "task", "") or "a task"
        raise UserError(f"compute.engine dask ({cluster}): the workers running {task} died each time it ran, most likely "
                        f"past their memory limit; one task holds a row group of up to {ROW_GROUP:,} rows: give each "
                        "worker more memory (`dask worker --memory-limit`) or use compute.engine: local") from None


def engine_client(compute: Any) -> Any:
    """A context with a client of the cluster on the dask engine (`client_for`), with None locally: a stage
    opens one for all its work (a LocalCluster starts in seconds)."""
    return client_for(compute.scheduler) if compute.engine == "dask" else nullcontext(None)


def partition(src: str | Path, dest: str | Path, rows: int, csv_format: Mapping[str, str] | None = None) -> Path:
    """Stream `src` (Parquet, or CSV written as `csv_format`, params.yaml's data.csv, says: its fields as
    text) into `dest/part-NNNNN.parquet` files of at most `rows` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ctml.io import read_table_chunks

    src, dest = Path(src), Path(dest)
    if src.is_file() and src.stat().st_size == 0:
        raise UserError(f"{src}: file is empty")
    dest.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        if src.suffix.lower() == ".csv":  # the local reader's one-line errors: encoding, delimiter, a cut last row
            chunks = (pa.Table.from_pandas(chunk, preserve_index=False)
                      for chunk in read_table_chunks(src, rows, csv_format, text=True))
        else:
            chunks = (pa.Table.from_batches([b]) for b in pq.ParquetFile(src).iter_batches(batch_size=rows))
        for table in chunks:
            pq.write_table(table, dest / f"part-{written:05d}.parquet")
            written += 1
    except (pd.errors.ParserError, pd.errors.EmptyDataError, pa.ArrowException, UnicodeDecodeError, OSError) as exc:
        raise UserError(f"{src}: cannot be parsed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if written == 0:
        raise UserError(f"{src}: has no rows")
    return dest


def row_groups(path: str | Path) -> list[tuple[str, int]]:
    """(file, row group) of every row group of a Parquet file: the unit of work of a task. The path is
    absolute: a worker's working directory is its own."""
    import pyarrow.parquet as pq

    return [(str(Path(path).resolve()), i) for i in range(pq.ParquetFile(path).num_row_groups)]


def read_group(part: tuple[str, int], columns: list[str] | None = None) -> pd.DataFrame:
    """One row group (of `row_groups`) as a frame, only `columns` when given."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(part[0]).read_row_group(part[1], columns=columns).to_pandas()


def _take(part: tuple[str, int], positions: np.ndarray) -> pd.DataFrame:
    return read_group(part).iloc[positions]


def take(client: Any, path: str | Path, positions: np.ndarray | None) -> pd.DataFrame:
    """The rows of a Parquet file at `positions` (sorted; None: every row), each row group's read by a
    worker: the client holds the rows taken only."""
    import pyarrow.parquet as pq

    groups = row_groups(path)
    meta = pq.ParquetFile(path).metadata
    starts = np.cumsum([0] + [meta.row_group(i).num_rows for _, i in groups])
    wanted = [None if positions is None else positions[(positions >= starts[k]) & (positions < starts[k + 1])] - starts[k]
              for k in range(len(groups))]
    parts = client.gather([client.submit(_take, g, slice(None) if w is None else w, pure=False) for g, w in zip(groups, wanted)])
    return pd.concat(parts, ignore_index=True)
