"""ctml.drift.plots.write_plots: the CSVs `dvc plots` renders always, PNGs only when asked."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ctml.config import load_params
from ctml.drift import detect
from ctml.drift.plots import write_plots
from tests.drift.frames import mixed
from tests.helpers import ROOT

PARAMS = load_params(ROOT / "params.yaml").drift
PNG = b"\x89PNG\r\n\x1a\n"


def _features():
    return detect.detect(mixed(3000, 0), mixed(2000, 1, shift=1.0), "target", PARAMS).features


def _names(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_without_images_only_the_plot_csvs_are_written(tmp_path: Path):
    features = _features()
    top = detect.most_drifted(features, 2)
    assert write_plots(features, top, tmp_path / "plots", images=False) == []
    assert _names(tmp_path / "plots") == ["distributions", "distributions/when.csv", "distributions/x.csv", "scores.csv"]
    scores = pd.read_csv(tmp_path / "plots/scores.csv")
    assert len(scores) == 6 and scores["drifted"].sum() == 4


def test_with_images_the_pngs_replace_the_previous_folder(tmp_path: Path):
    features = _features()
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots/stale.png").write_bytes(b"old")
    pngs = write_plots(features, detect.most_drifted(features, 2), tmp_path / "plots", images=True)
    assert [p.name for p in pngs] == ["scores.png", "distributions.png"]
    assert all(p.read_bytes()[:8] == PNG for p in pngs)
    assert not (tmp_path / "plots/stale.png").exists()


def test_distribution_files_name_their_feature_and_draw_dates_as_dates(tmp_path: Path):
    features = _features()
    write_plots(features, list(features), tmp_path / "plots", images=False)
    when = pd.read_csv(tmp_path / "plots/distributions/when.csv")
    assert list(when.columns) == ["feature", "kind", "bin", "order", "series", "share"]
    assert set(when["feature"]) == {"when"} and set(when["kind"]) == {"datetime"} and set(when["series"]) == {"reference", "batch"}
    assert when["bin"].str.fullmatch(r"\d{4}-\d\d-\d\d( \d\d:\d\d)?").all()  # a date, not epoch seconds
    for series, shares in when.groupby("series")["share"]:
        assert shares.sum() == pytest.approx(1.0, abs=1e-4), series
    kinds = {f: r.kind for f, r in features.items()}
    for name, kind in kinds.items():
        frame = pd.read_csv(tmp_path / "plots/distributions" / f"{name}.csv")
        assert set(frame["feature"]) == {name} and set(frame["kind"]) == {kind}
        for _, series in frame.groupby("series"):  # bars in their bins' order
            assert series["order"].tolist() == list(range(len(series)))
    scores = pd.read_csv(tmp_path / "plots/scores.csv")
    assert scores["rank"].tolist() == list(range(1, len(scores) + 1))
