"""The store of rows waiting for labels, on real files (in-process): labels that come before their rows
wait for them, label exactly the rows they name once those come, and expire."""
from __future__ import annotations

import os
import time

import pandas as pd

from ctml.ct.step.awaiting import LABEL, Store

KEY = "_ct_request_id"


def rows(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"x": range(len(ids)), KEY: ids})


def labels(ids: list[str], values: list[int]) -> pd.DataFrame:
    return pd.DataFrame({KEY: ids, "target": values})


def test_labels_before_their_rows_wait_and_label_them_when_they_come(tmp_path):
    store = Store.open(tmp_path, "lineage")
    store.add(1, rows(["a/0"]), KEY, None)
    join = store.join(labels(["a/0", "b/0", "c/0"], [1, 0, 1]), KEY, "target")
    assert (join.matched, join.unmatched) == (1, ["b/0", "c/0"])
    assert store.keep_early(labels(["a/0", "b/0", "c/0"], [1, 0, 1]), KEY, "target", join.unmatched) == 2
    store.save()

    later = Store.open(tmp_path, "lineage")  # another command: the early labels were saved
    later.add(2, rows(["b/0", "d/0"]), KEY, None)
    assert later.apply_early(wait_hours=1) == 1
    later.save()
    stored = Store.open(tmp_path, "lineage").frame("2")
    by_id = stored.set_index(KEY)[LABEL]
    assert by_id["b/0"] == 0 and pd.isna(by_id["d/0"])  # only the row the label named
    assert Store.open(tmp_path, "lineage").early()["id"].tolist() == ["c/0"]  # still waiting for its row


def test_an_early_label_older_than_the_wait_is_dropped(tmp_path):
    store = Store.open(tmp_path, "lineage")
    store.keep_early(labels(["a/0"], [1]), KEY, "target", ["a/0"])
    store.save()
    early = tmp_path / "data/awaiting/lineage/early.parquet"
    frame = pd.read_parquet(early).assign(arrived=time.time() - 7200)
    frame.to_parquet(early)
    store = Store.open(tmp_path, "lineage")
    store.add(1, rows(["a/0"]), KEY, None)
    assert store.apply_early(wait_hours=1) == 0
    store.save()
    assert not os.path.exists(early) and Store.open(tmp_path, "lineage").frame("1")[LABEL].isna().all()
