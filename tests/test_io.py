"""Atomic writes and readable table errors."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ctml.errors import UserError
from ctml.io import (
    atomic_path,
    describe_data,
    file_digests,
    read_json,
    read_table,
    sha256_file,
    write_csv,
    write_json,
    write_parquet,
)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_text("last good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "last good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]  # no temp file left behind
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]


def test_atomic_write_gets_the_usual_file_mode_and_creates_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "metrics.json"
    write_json(path, {"x": 1})
    assert path.stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_json_roundtrip_is_sorted_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_json(path, {"b": 1.5, "a": [1, 2]})
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1.5\n}\n'
    assert read_json(path) == {"a": [1, 2], "b": 1.5}


def test_read_json_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"nope.json: file not found$"):
        read_json(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  'a': 1}")
    with pytest.raises(UserError, match=r"bad.json: not valid JSON \(.* at line 2\)$"):
        read_json(bad)


def test_parquet_bytes_repeat_for_the_same_frame(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.5, np.nan, 3.0], "c": ["a", None, "b"], "when": pd.to_datetime(["2020-01-01", None, "2021-06-30"])})
    write_parquet(tmp_path / "one.parquet", frame)
    write_parquet(tmp_path / "two.parquet", frame)
    assert sha256_file(tmp_path / "one.parquet") == sha256_file(tmp_path / "two.parquet")
    back = pd.read_parquet(tmp_path / "one.parquet")
    assert list(back.columns) == ["x", "c", "when"]
    assert back["x"].isna().tolist() == [False, True, False]


def test_write_csv_has_no_index(tmp_path: Path) -> None:
    write_csv(tmp_path / "t.csv", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert (tmp_path / "t.csv").read_text() == "a,b\n1,x\n2,y\n"


def test_read_table_csv_and_parquet(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,x\n2,\n")
    csv = read_table(tmp_path / "t.csv")
    assert csv["a"].tolist() == [1, 2] and csv["b"].isna().tolist() == [False, True]
    pd.DataFrame({"a": [1.0, 2.0]}).to_parquet(tmp_path / "t.parquet")
    assert read_table(tmp_path / "t.parquet")["a"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("empty.csv", b"", "file is empty"),
        ("blank.csv", b"\n\n", "file is empty"),
        ("header.csv", b"a,b,target\n", "has a header but no rows"),
        ("latin1.csv", "a,b\ncaf\u00e9,1\n".encode("latin-1"), "not UTF-8 text"),
        ("ragged.csv", b"a,b\n1,2\n1,2,3,4\n", "cannot be parsed"),
        ("broken.parquet", b"not parquet at all", "cannot be parsed"),
        ("data.xlsx", b"PK", "unsupported file type '.xlsx'"),
    ],
)
def test_read_table_errors_are_one_line_naming_the_file(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {expected}")
    assert "\n" not in message


def test_data_csv_reads_semicolons_decimal_commas_and_latin1(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_bytes("stadt;preis;y\nZ\u00fcrich;1,5;0\nBern;2,25;1\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"not UTF-8 text .*; save it as UTF-8 or set data.csv.encoding"):
        read_table(path)
    with pytest.raises(UserError, match=r"the file looks ';'-delimited \(expected comma-separated; set data.csv.sep\)$"):
        read_table(path, {"encoding": "latin-1"})
    frame = read_table(path, {"sep": ";", "decimal": ",", "encoding": "latin-1"})
    assert frame["preis"].tolist() == [1.5, 2.25] and frame["stadt"].tolist() == ["Z\u00fcrich", "Bern"]
    comma = tmp_path / "comma.csv"
    comma.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match=r"looks ','-delimited \(expected ';'-separated; set data.csv.sep\)$"):
        read_table(comma, {"sep": ";"})
    with pytest.raises(UserError, match="data.csv.encoding 'klingon' is not a known text encoding"):
        read_table(comma, {"encoding": "klingon"})


def test_read_table_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"gone.csv: file not found$"):
        read_table(tmp_path / "gone.csv")
    with pytest.raises(UserError, match="is a directory"):
        read_table(tmp_path)


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_000)
    assert sha256_file(path, chunk=1 << 16) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def test_file_digests_are_sha256_and_md5_of_one_read(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"xy" * 100_001)  # not a whole number of chunks
    assert file_digests(path, chunk=1 << 16) == (hashlib.sha256(b"xy" * 100_001).hexdigest(),
                                                  hashlib.md5(b"xy" * 100_001).hexdigest())


def test_describe_data_parquet_csv_and_directory(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(7), "y": list("abcdefg")})
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    (tmp_path / "d").mkdir()
    frame.to_csv(tmp_path / "d" / "a.csv", index=False)
    (tmp_path / "d" / "b.csv").write_text("x,y\n1,2\n3,4")  # no final newline
    info = describe_data(tmp_path / "t.parquet")
    assert info["rows"] == 7 and info["bytes"] == (tmp_path / "t.parquet").stat().st_size
    assert info["sha256"] == hashlib.sha256((tmp_path / "t.parquet").read_bytes()).hexdigest()
    assert info["md5"] == hashlib.md5((tmp_path / "t.parquet").read_bytes()).hexdigest()
    assert describe_data(tmp_path / "d" / "a.csv")["rows"] == 7
    folder = describe_data(tmp_path / "d")
    assert (folder["files"], folder["rows"]) == (2, 9)
    (tmp_path / "d" / "b.csv").write_text("x,y\n1,2\n3,5")
    assert describe_data(tmp_path / "d")["sha256"] != folder["sha256"]
    assert describe_data(tmp_path / "missing.parquet") == {"path": str(tmp_path / "missing.parquet"), "exists": False}
