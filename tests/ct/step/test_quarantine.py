"""The quarantine on real files (in-process): a step number used twice never overwrites a quarantined
batch or its reason, and a reason is whole or absent."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ctml.config import load_params
from ctml.ct.context import Context
from ctml.ct.records import Batch
from ctml.ct.step.quarantine import quarantine, quarantine_rows

ROOT = Path(__file__).resolve().parents[3]


def context(tmp_path: Path) -> Context:
    return Context(root=tmp_path, params=load_params(ROOT / "params.yaml"), commit=False)


def test_the_same_step_number_twice_keeps_both_batches_and_both_reasons(tmp_path):
    ctx = context(tmp_path)
    moved = []
    for text in ("first,1\n", "second,2\n"):  # a step a kill cut short, then its number used again
        source = tmp_path / "data/incoming/bad.csv"
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(text)
        moved.append(quarantine(ctx, 7, Batch(source, None, None, [f"bad.csv: {text.strip()}"]), "data/incoming/bad.csv"))
    folder = tmp_path / "data/quarantine"
    assert [p.name for p in moved] == ["step-0007.csv", "step-0007.2.csv"]
    assert [p.read_text() for p in moved] == ["first,1\n", "second,2\n"]
    assert (folder / "step-0007.reason.txt").read_text() == "bad.csv: first,1\ndelivered as data/incoming/bad.csv\n"
    assert (folder / "step-0007.2.reason.txt").read_text().startswith("bad.csv: second,2\n")
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]


def test_a_name_that_is_not_utf8_reaches_the_reason_escaped(tmp_path):
    ctx = context(tmp_path)
    name = os.fsdecode(b"bad-\xff")  # no extension: the quarantined batch keeps none
    source = tmp_path / "data/incoming" / name
    source.parent.mkdir(parents=True)
    source.write_bytes(b"\x00\x01")
    dest = quarantine(ctx, 3, Batch(source, None, None, [f"{name}: not a table"]), f"data/incoming/{name}")
    assert dest.name == "step-0003" and dest.read_bytes() == b"\x00\x01"
    assert (dest.parent / "step-0003.reason.txt").read_text() == \
        "bad-\\xff: not a table\ndelivered as data/incoming/bad-\\xff\n"


def test_dropped_rows_of_a_reused_step_number_are_kept_apart(tmp_path):
    ctx = context(tmp_path)
    first = quarantine_rows(ctx, 4, pd.DataFrame({"row": [1]}))
    second = quarantine_rows(ctx, 4, pd.DataFrame({"row": [2]}))
    assert (first.name, second.name) == ("step-0004.rows.csv", "step-0004.2.rows.csv")
    assert pd.read_csv(first)["row"].tolist() == [1] and pd.read_csv(second)["row"].tolist() == [2]
