"""The validate stage in-process: the schema is recorded once, then held; failures keep the last good files."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ctml.errors import run_main
from ctml.io import write_parquet
from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("stage_validate", ROOT / "stages" / "validate.py")
validate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(validate)


def params_file(tmp_path: Path, source: str = "data/source/t.csv") -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(source=source, target="y")
    raw["tracking"]["enabled"] = False
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run(tmp_path: Path, frame: pd.DataFrame, source: str = "data/source/t.csv") -> int:
    write_parquet(tmp_path / "raw.parquet", frame)
    argv = ["--params", str(params_file(tmp_path, source)), "--data", str(tmp_path / "raw.parquet"),
            "--schema", str(tmp_path / "schema.json"), "--out", str(tmp_path / "validation.json")]
    return run_main(validate.main, argv)


def good() -> pd.DataFrame:
    return pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "a", None], "y": [0, 1, 0, 1]})


def test_records_once_then_checks_with_the_same_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, good()) == 0
    assert "(recorded now)" in capsys.readouterr().out
    schema, report = (tmp_path / "schema.json").read_bytes(), (tmp_path / "validation.json").read_bytes()
    assert yaml.safe_load(report) == {"rows": 4, "columns": 2, "violations": 0, "passed": True}
    assert run(tmp_path, good()) == 0
    assert "(recorded now)" not in capsys.readouterr().out
    assert (tmp_path / "schema.json").read_bytes() == schema and (tmp_path / "validation.json").read_bytes() == report


def test_violation_is_one_line_with_a_way_out_and_keeps_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, good()) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in (tmp_path / "schema.json", tmp_path / "validation.json")}
    bad = good().assign(c=["a", "b", "zebra", None])
    assert run(tmp_path, bad) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path / 'raw.parquet'}: column 'c': unknown category 'zebra'")
    assert f"delete {tmp_path / 'schema.json'} to record the data anew" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "schema.json", tmp_path / "validation.json")} == before


def test_a_new_source_is_recorded_anew(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, good()) == 0
    other = pd.DataFrame({"z": ["p", "q", "p"], "y": ["u", "v", "v"]})
    assert run(tmp_path, other, source="data/source/other.parquet") == 0
    schema = yaml.safe_load((tmp_path / "schema.json").read_text())
    assert (schema["source"], list(schema["columns"]), schema["classes"]) == ("data/source/other.parquet", ["z"], ["u", "v"])


def test_one_class_is_refused_before_recording(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, good().assign(y=1)) == 1
    assert capsys.readouterr().err == "error: label column 'y': has 1 class (1), need at least two\n"
    assert not (tmp_path / "schema.json").exists() and not (tmp_path / "validation.json").exists()
