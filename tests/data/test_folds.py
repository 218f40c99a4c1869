"""ctml.data.folds: a lineage folder's batches in arrival order, the manifest of where each came from, and
the per-batch `.dvc` pointers older versions left, read the same way."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from ctml import layout
from ctml.data.folds import (
    FoldedBatch,
    batch_files,
    from_pointer,
    legacy_pointers,
    read_manifest,
    write_manifest,
)
from ctml.errors import UserError
from ctml.io import write_parquet


def test_batch_files_in_arrival_order_and_missing_tracked_batch(tmp_path: Path) -> None:
    assert batch_files(tmp_path / "absent") == []
    for name in ("step-002.parquet", "step-001.parquet"):
        write_parquet(tmp_path / name, pd.DataFrame({"a": [1]}))
    assert [p.name for p in batch_files(tmp_path)] == ["step-001.parquet", "step-002.parquet"]
    (tmp_path / "step-003.parquet.dvc").write_text("outs: []\n")  # a per-file pointer of an older version
    with pytest.raises(UserError, match=r"step-003.parquet: tracked by DVC but missing; run `dvc pull`"):
        batch_files(tmp_path)


def test_a_batch_the_manifest_names_but_the_folder_lacks_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "iris-0a1b2c3d"
    folder.mkdir()
    write_parquet(folder / "batch-0002.parquet", pd.DataFrame({"a": [1]}))
    write_manifest(folder, [FoldedBatch("batch-0002.parquet", 2), FoldedBatch("batch-0005.parquet", 5)])
    with pytest.raises(UserError, match=r"iris-0a1b2c3d/batch-0005.parquet: tracked by DVC but missing; run `dvc pull`"):
        batch_files(folder)
    write_parquet(folder / "batch-0005.parquet", pd.DataFrame({"a": [2]}))
    assert [p.name for p in batch_files(folder)] == ["batch-0002.parquet", "batch-0005.parquet"]


def test_a_tracked_folder_absent_from_a_fresh_clone_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "iris-0a1b2c3d"
    layout.batch_pointer(folder).write_text("outs:\n- md5: 00.dir\n  path: iris-0a1b2c3d\n")
    with pytest.raises(UserError, match=r"iris-0a1b2c3d: tracked by DVC but missing; run `dvc pull`"):
        batch_files(folder)


def test_the_manifest_round_trips_and_a_damaged_one_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "my.csv-12345678"
    batches = [FoldedBatch("batch-0003.parquet", 3, "data/source/my.csv", "data/incoming/a.csv", "ab" * 32, "cd" * 16, 900, 150)]
    write_manifest(folder, batches)
    assert layout.batch_manifest(folder) == tmp_path / "my.csv-12345678.batches.json"
    assert read_manifest(folder) == batches and read_manifest(tmp_path / "other") == []
    layout.batch_manifest(folder).write_text('{"batches": [{"step": 3}]}')
    with pytest.raises(UserError, match=r"my.csv-12345678.batches.json: not a batch manifest .*git checkout HEAD"):
        read_manifest(folder)
    layout.batch_manifest(folder).write_text("{not json")
    with pytest.raises(UserError, match="not a batch manifest"):
        read_manifest(folder)


def test_an_older_per_file_pointer_reads_as_the_same_record(tmp_path: Path) -> None:
    text = yaml.safe_dump({"outs": [{"md5": "feed", "size": 42, "hash": "md5", "path": "batch-0004.parquet"}],
                           "meta": {"step": 4, "source": "sklearn:iris", "file": "data/incoming/x.csv", "file_sha256": "ee"}})
    assert from_pointer("data/batches/iris-0a1b2c3d/batch-0004.parquet.dvc", text) == FoldedBatch(
        "batch-0004.parquet", 4, "sklearn:iris", "data/incoming/x.csv", "ee", "feed", 42, None)
    assert from_pointer("batch-0001.parquet.dvc", "outs:\n- md5: aa\n  size: 1\n") == FoldedBatch("batch-0001.parquet", md5="aa", size=1)
    (tmp_path / "lin").mkdir()
    for rel in ("batch-0001.parquet.dvc", "lin/batch-0002.parquet.dvc", "lin.dvc", "lin.batches.json"):
        (tmp_path / rel).write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in legacy_pointers(tmp_path)] == \
        ["batch-0001.parquet.dvc", "lin/batch-0002.parquet.dvc"]
    assert legacy_pointers(tmp_path / "absent") == []
