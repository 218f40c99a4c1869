"""Cached reference summaries: keyed by the md5 DVC records, served only for the bytes they came
from, and giving the very report an uncached run gives. Real `dvc add` in a temporary repo."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from ctml.config import load_params
from ctml.drift import detect
from ctml.drift.reference import open_reference, recorded_md5
from ctml.io import read_table
from tests.drift.frames import mixed
from tests.helpers import ROOT, dvc, git

PARAMS = load_params(ROOT / "params.yaml")
DRIFT = PARAMS.drift


@pytest.fixture
def tracked(tmp_path: Path) -> Path:
    """A git + DVC repo holding a `dvc add`-ed reference.parquet."""
    git("init", "-q", cwd=tmp_path)
    dvc("init", "-q", cwd=tmp_path)
    mixed(3000, 0).to_parquet(tmp_path / "reference.parquet", index=False)
    dvc("add", "-q", "reference.parquet", cwd=tmp_path)
    return tmp_path


def model() -> LogisticRegression:
    frame = mixed(500, 9)
    return LogisticRegression().fit(frame[["x", "level"]], frame["target"])


def view(m) -> detect.ModelView:
    return detect.ModelView(m, "model-sha", 0.9, None)


def run(repo: Path, cache: Path, batch: pd.DataFrame, m) -> tuple[dict, str]:
    reference, how = open_reference(repo / "reference.parquet", "target", DRIFT.multivariate.max_rows, 0, cache, DRIFT.cache,
                                    read_table, m, "model-sha")
    return detect.detect(reference, batch, "target", DRIFT, model=view(m)).report, how


class Picky(ClassifierMixin, BaseEstimator):
    """A fitted logistic regression over two of the columns, given every feature column."""

    def __init__(self) -> None:
        self.inner = model()
        self.classes_ = self.inner.classes_

    def predict(self, frame: pd.DataFrame):
        return self.inner.predict(frame[["x", "level"]])

    def predict_proba(self, frame: pd.DataFrame):
        return self.inner.predict_proba(frame[["x", "level"]])


def test_second_step_reads_the_cache_and_reports_the_same(tracked: Path, tmp_path: Path):
    cache, batch, m = tracked / ".ct" / "drift-cache", mixed(400, 1, shift=0.5), Picky()
    first, how_first = run(tracked, cache, batch, m)
    second, how_second = run(tracked, cache, batch, m)
    uncached = detect.detect(read_table(tracked / "reference.parquet"), batch, "target", DRIFT, model=view(m)).report
    assert (how_first, how_second) == ("summarized and cached", "cached")
    assert first == second == uncached
    assert recorded_md5(tracked / "reference.parquet") in [p.name.split("-")[0] for p in cache.iterdir()]


def test_a_file_changed_behind_dvcs_back_is_summarized_again(tracked: Path):
    cache, batch, m = tracked / ".ct" / "drift-cache", mixed(400, 1), Picky()
    run(tracked, cache, batch, m)
    mixed(2000, 5, shift=1.0).to_parquet(tracked / "reference.parquet", index=False)  # not `dvc add`-ed: the .dvc is stale
    report, how = run(tracked, cache, batch, m)
    assert how == "summarized and cached" and report["reference_rows"] == 2000
    assert report == detect.detect(read_table(tracked / "reference.parquet"), batch, "target", DRIFT, model=view(m)).report


def test_a_new_model_gets_its_predictions_computed_once(tracked: Path):
    cache, batch = tracked / ".ct" / "drift-cache", mixed(300, 2)
    run(tracked, cache, batch, Picky())
    reference, how = open_reference(tracked / "reference.parquet", "target", DRIFT.multivariate.max_rows, 0, cache, DRIFT.cache,
                                    read_table, Picky(), "another-sha")
    assert how == "cached; predictions of this model computed" and set(reference.predicted) == {"another-sha"}


def test_untracked_reference_or_cache_off_is_not_cached(tmp_path: Path):
    mixed(500, 0).to_parquet(tmp_path / "reference.parquet", index=False)
    reference, how = open_reference(tmp_path / "reference.parquet", "target", 100, 0, tmp_path / "cache", 4, read_table)
    assert how == "not cached (DVC records no hash for it)" and reference.rows == 500 and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("damage", ["truncated array", "missing array", "truncated predictions"])
def test_a_damaged_cache_entry_is_summarized_again_with_the_same_report(tracked: Path, damage: str):
    cache, batch, m = tracked / ".ct" / "drift-cache", mixed(400, 1, shift=0.5), Picky()
    first, _ = run(tracked, cache, batch, m)
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    if damage == "truncated predictions":
        target = sorted(entry.glob("predicted-*/*.npy"))[0]
    else:
        target = sorted((entry / "summaries").glob("*.values.npy"))[0]
    if damage == "missing array":
        target.unlink()
    else:
        target.write_bytes(target.read_bytes()[:40])  # the header cut short
    report, how = run(tracked, cache, batch, m)
    expected = "cached; predictions of this model computed" if damage == "truncated predictions" else "summarized and cached"
    assert how == expected and report == first


def test_training_segments_are_the_source_rows_then_each_batch_still_in_the_training_data(tmp_path):
    """Append: the head before the batches, then each batch. Window: batches the window cut into are head rows."""
    from ctml.drift.reference import Segment, training_segments

    rows = {"train.parquet": 1000, "batch-0001.parquet": 300, "batch-0002.parquet": 200}
    files = [tmp_path / "batch-0001.parquet", tmp_path / "batch-0002.parquet"]
    count = lambda path: rows[path.name]  # noqa: E731
    assert training_segments(tmp_path / "train.parquet", files, count) == [
        Segment("training data before CT batches", tmp_path / "train.parquet", 500), Segment("batch-0001.parquet", files[0]),
        Segment("batch-0002.parquet", files[1])]
    rows["train.parquet"] = 400  # a window of 400 rows: batch 2 whole, 200 rows of batch 1
    assert training_segments(tmp_path / "train.parquet", files, count) == [
        Segment("training data before CT batches", tmp_path / "train.parquet", 200), Segment("batch-0002.parquet", files[1])]
    assert training_segments(tmp_path / "train.parquet", [], count) == [Segment("training data", tmp_path / "train.parquet")]


def test_the_nearest_stretch_is_the_one_the_batch_is_like():
    """A batch like the shifted stretch the model learnt from is nearest to it, a normal one to the source rows."""
    from ctml.drift.reference import build

    rng = np.random.default_rng(0)
    normal = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600), "target": 0})
    shifted = normal.assign(a=normal["a"] + 3)
    refs = [build(normal.iloc[:400], "target", 100, 0), build(shifted.iloc[:200], "target", 100, 0)]
    kinds = refs[0].kinds
    params = PARAMS.drift
    assert detect.nearest([r.summaries for r in refs], shifted.iloc[400:][list(kinds)], kinds, params) == 1
    assert detect.nearest([r.summaries for r in refs], normal.iloc[400:][list(kinds)], kinds, params) == 0


def test_a_batch_in_a_dvc_tracked_folder_is_keyed_by_its_entry_in_the_folders_listing(tracked: Path):
    """CT tracks each lineage's folder of batches as one directory: a batch's md5 is its entry in the
    `.dir` listing DVC cached for that folder, the md5 `dvc add` of the file alone would record."""
    folder = tracked / "data" / "batches" / "iris-0a1b2c3d"
    folder.mkdir(parents=True)
    for step, seed in ((1, 3), (2, 4)):
        mixed(200, seed).to_parquet(folder / f"batch-000{step}.parquet", index=False)
    dvc("add", "-q", "data/batches/iris-0a1b2c3d", cwd=tracked)
    for name in ("batch-0001.parquet", "batch-0002.parquet"):
        assert recorded_md5(folder / name) == hashlib.md5((folder / name).read_bytes()).hexdigest()
    assert recorded_md5(folder / "batch-0003.parquet") is None
