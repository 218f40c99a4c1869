"""The validate stage on Dask: each worker profiles and checks one row group of the training data,
the client combines their findings (`ctml.data.profile`, `ctml.data.schema.check_block`), which
combine exactly: the schema recorded and the problems reported are the local engine's. The client
reads the label column alone (the task, the classes, the labels' own checks)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ctml.config import ValidateParams
from ctml.dask.io import read_group, row_groups
from ctml.data import profile
from ctml.data.schema import check_block


def _profile(part: tuple[str, int], offset: int, target: str) -> dict[str, dict[str, Any]]:
    return profile.profile_block(read_group(part), target, offset)


def _check(part: tuple[str, int], schema: dict[str, Any], vp: ValidateParams) -> dict[str, dict[str, Any]]:
    return check_block(read_group(part), schema, vp)


def profile_on_cluster(client: Any, data: str | Path, target: str) -> dict[str, dict[str, Any]]:
    """The training data's profile, the whole file's as `profile.of_frame` gives it."""
    import pyarrow.parquet as pq

    groups = row_groups(data)
    meta = pq.ParquetFile(data).metadata
    offsets, start = [], 0
    for _, i in groups:
        offsets.append(start)
        start += meta.row_group(i).num_rows
    return profile.merge(client.gather(client.map(_profile, groups, offsets, target=target, pure=False)))


def check_on_cluster(client: Any, data: str | Path, schema: dict[str, Any], vp: ValidateParams) -> list[dict[str, dict[str, Any]]]:
    """Each row group's findings against `schema`, in row order (for `ctml.data.schema.check_table`)."""
    return client.gather(client.map(_check, row_groups(data), schema=schema, vp=vp, pure=False))
