"""The ingest stage in-process: a source's rows without a label are dropped and counted, never trained on."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ctml.errors import run_main
from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("stage_ingest", ROOT / "stages" / "ingest.py")
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)


def run(tmp_path: Path, frame: pd.DataFrame) -> int:
    frame.to_csv(tmp_path / "source.csv", index=False)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(source=str(tmp_path / "source.csv"), target="y")
    raw["tracking"]["enabled"] = False
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "batches").mkdir(exist_ok=True)
    return run_main(ingest.main, ["--params", str(tmp_path / "params.yaml"), "--batches", str(tmp_path / "batches"),
                                  "--out", str(tmp_path / "train.parquet")])


def test_rows_without_a_label_are_dropped_with_their_count(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frame = pd.DataFrame({"x": np.arange(10.0), "y": ["a", "b", None, "a", "b", None, None, "a", "b", "a"]})
    assert run(tmp_path, frame) == 0
    out = capsys.readouterr().out
    assert (f"ingest: warning: 3 rows of {tmp_path / 'source.csv'} without a label 'y' dropped "
            "(training cannot use them; rule: data.target)\n") in out
    written = pd.read_parquet(tmp_path / "train.parquet")
    assert written["x"].tolist() == [0.0, 1.0, 3.0, 4.0, 7.0, 8.0, 9.0] and written["y"].notna().all()


def test_a_source_with_every_label_present_warns_of_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]})) == 0
    assert "warning" not in capsys.readouterr().out and len(pd.read_parquet(tmp_path / "train.parquet")) == 2


def test_a_source_without_any_label_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, pd.DataFrame({"x": [1.0, 2.0], "y": [None, None]})) == 1
    assert capsys.readouterr().err == "error: data.source: no row has a label in column 'y' (data.target names the label column)\n"
    assert not (tmp_path / "train.parquet").exists()
