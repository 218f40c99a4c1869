"""The inbox rules on real files (no subprocess): which files are ready, in which order, and that
archiving moves a file without ever overwriting one."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ctml.ct.intake import inbox


@pytest.mark.parametrize(("name", "ready"), [
    ("batch.csv", True), ("orders 2026-12-01.parquet", True), ("no-extension", True),
    (".hidden.csv", False), ("batch.csv.tmp", False), ("batch.csv.part", False), ("batch.partial", False),
    ("README.md", False),  # the inbox's own documentation, shipped with the project
])
def test_a_file_is_ready_unless_it_is_still_being_written(name, ready):
    assert inbox.is_ready(name) is ready


def deliver(root: Path, rel: str, mtime: int, text: str = "a\n1\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, ns=(mtime, mtime))
    return path


def test_pending_takes_both_inboxes_oldest_first_then_by_name(tmp_path):
    deliver(tmp_path, "data/incoming/b.csv", 2_000)
    deliver(tmp_path, "data/incoming/a.csv", 2_000)  # same time: by name
    deliver(tmp_path, "data/labels/early.csv", 1_000)
    deliver(tmp_path, "data/incoming/late.parquet", 3_000)
    deliver(tmp_path, "data/incoming/writing.csv.part", 500)
    deliver(tmp_path, "data/incoming/nested/deep.csv", 100)  # only the top level of the folder
    found = inbox.pending(tmp_path)
    assert [(d.kind, d.rel) for d in found] == [("labels", "data/labels/early.csv"), ("batch", "data/incoming/a.csv"),
                                                ("batch", "data/incoming/b.csv"), ("batch", "data/incoming/late.parquet")]
    assert found[1].size == 4 and found[1].path == tmp_path / "data/incoming/a.csv"


def test_no_inbox_folder_is_nothing_pending(tmp_path):
    assert inbox.pending(tmp_path) == []


def test_archive_moves_the_file_beside_its_step_and_hash_and_never_overwrites(tmp_path):
    paths = []
    for text in ("first\n", "second\n"):  # the same name delivered twice, archived under the same step (a re-run)
        deliver(tmp_path, "data/incoming/batch.csv", 1_000, text)
        paths.append(inbox.archive(tmp_path, inbox.pending(tmp_path)[0], 12, "ab" * 32))
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "data/archive/incoming/step-0012.abababababab.batch.csv", "data/archive/incoming/step-0012.abababababab.2.batch.csv"]
    assert [p.read_text() for p in paths] == ["first\n", "second\n"]
    assert inbox.pending(tmp_path) == []
