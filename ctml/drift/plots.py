"""Drift plots: per-feature score vs threshold, and reference-vs-batch distributions of the most
drifted features, as DVC plot data (CSV) and PNG images. Matplotlib is imported only to draw."""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ctml.drift import methods
from ctml.drift.summary import Counts, Summary

if TYPE_CHECKING:
    from ctml.drift.results import FeatureResult

DIST_BINS = 20
SCORES = "scores"
DISTRIBUTIONS = "distributions"
NO_BATCH = "(no batch)"  # the one row of each plot file when no batch was compared


def distribution(reference: Summary, current: Summary, bins: int = DIST_BINS) -> pd.DataFrame:
    """Shares of both samples on common bins: equal-width over the joint range, or categories
    (the `bins - 1` most common, the rest as '(other)')."""
    if isinstance(reference, Counts):
        table = pd.DataFrame({"reference": pd.Series(reference.counts, index=reference.labels, dtype="float64"),
                              "current": pd.Series(current.counts, index=current.labels, dtype="float64")}).fillna(0.0)
        table = table / [max(reference.n, 1), max(current.n, 1)]
        table = table.sort_values(["reference", "current"], ascending=False)
        if len(table) > bins:
            head, tail = table.iloc[: bins - 1], table.iloc[bins - 1:].sum().to_frame("(other)").T
            table = pd.concat([head, tail])
        return table.rename_axis("bin").reset_index().round(6)
    lo = min(reference.values[0], current.values[0])
    hi = max(reference.values[-1], current.values[-1])
    edges = np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo, lo + 1.0])
    out = {"bin": ((edges[:-1] + edges[1:]) / 2).round(6)}
    for name, sample in (("reference", reference), ("current", current)):
        below = np.searchsorted(sample.values, edges[1:-1], side="left")
        if not sample.unit:
            below = np.concatenate(([0], np.cumsum(sample.counts)))[below]
        out[name] = (np.diff(np.concatenate(([0], below, [sample.n]))) / sample.n).round(6)
    return pd.DataFrame(out)


def scores_table(features: dict[str, FeatureResult]) -> pd.DataFrame:
    """One row per feature, most drifted first. `value` and `mark` put every method on one
    "drift past the mark" scale: 1 - p-value against 1 - threshold for tests, the distance against
    the threshold otherwise."""
    rows = []
    for name, f in features.items():
        test = methods.get(f.method).drift_when == "p_value_below"
        value = (None if f.p_value is None else 1 - f.p_value) if test else f.score
        rows.append({"feature": name, "method": f.method, "score": f.score, "p_value": f.p_value, "threshold": f.threshold,
                     "value": value, "mark": 1 - f.threshold if test else f.threshold, "drifted": f.drifted,
                     "severity": f.severity})
    frame = pd.DataFrame(rows, columns=["feature", "method", "score", "p_value", "threshold", "value", "mark", "drifted",
                                        "severity"])
    frame = frame.sort_values(["severity", "feature"], ascending=[False, True]).drop(columns="severity")
    frame["rank"] = range(1, len(frame) + 1)  # the order every view draws (Vega sorts the bars by it)
    return frame.round(6).reset_index(drop=True)


def bin_labels(frame: pd.DataFrame, kind: str) -> list[str]:
    """What a person reads under each bar: a category as it is, a date bin's middle as a date (not
    epoch seconds), a number with 4 significant digits."""
    if kind == "datetime" and pd.api.types.is_numeric_dtype(frame["bin"]):
        stamps = pd.to_datetime(frame["bin"].astype("float64"), unit="s")
        span = stamps.max() - stamps.min() if len(stamps) else pd.Timedelta(0)
        return stamps.dt.strftime("%Y-%m-%d %H:%M" if span < pd.Timedelta(days=3) else "%Y-%m-%d").tolist()
    return [f"{b:.4g}" if isinstance(b, (float, np.floating)) else str(b) for b in frame["bin"]]


def long_distribution(name: str, kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A feature's distribution as DVC plot data: one row per (bin, sample), named by its feature
    (the plot's header), its bins as labels in their order (categories and dates draw as bars too)."""
    labels = bin_labels(frame, kind)
    rows = [{"feature": name, "kind": kind, "bin": label, "order": i, "series": series, "share": share}
            for series, column in (("reference", "reference"), ("batch", "current"))
            for i, (label, share) in enumerate(zip(labels, frame[column]))]
    return pd.DataFrame(rows, columns=["feature", "kind", "bin", "order", "series", "share"])


def file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "feature"


def _scores_png(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(shown) + 1.2))
    y = np.arange(len(shown))
    values = shown["value"].astype("float64").fillna(shown["mark"] * 2).to_numpy(dtype="float64")
    ax.barh(y, values, color=np.where(shown["drifted"].astype(bool), "tab:red", "tab:blue"))
    ax.scatter(shown["mark"], y, marker="|", s=200, color="black", label="threshold")
    ax.set_yticks(y, [f"{f} ({m})" for f, m in zip(shown["feature"], shown["method"])], fontsize=7)
    ax.set_xlabel("1 - p-value (ks, chi2) or distance (psi, wasserstein, jensenshannon); drift at the mark or past it")
    ax.set_title(f"Drift per feature: {int(table['drifted'].sum())} of {len(table)} drifted (red)")
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)


def _distributions_png(frames: dict[str, tuple[pd.DataFrame, FeatureResult]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(2, len(frames))
    rows = -(-len(frames) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(frames):]:
        ax.set_visible(False)
    for ax, (name, (frame, f)) in zip(axes.flat, frames.items()):
        x = np.arange(len(frame))
        ax.bar(x - 0.2, frame["reference"], width=0.4, label="reference")
        ax.bar(x + 0.2, frame["current"], width=0.4, label="batch")
        labels = bin_labels(frame, f.kind)
        step = max(1, len(labels) // 8)
        ax.set_xticks(x[::step], labels[::step], fontsize=7, rotation=30)
        score = "null" if f.score is None else f"{f.score:.3g}"
        ax.set_title(f"{name}: {f.method} {score}{' (drifted)' if f.drifted else ''}", fontsize=9)
        ax.set_ylabel("share")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _no_batch(out_dir: Path) -> None:
    """One "(no batch)" row per plot file: every plot dvc.yaml declares then exists at every revision
    (the baseline release included), so `dvc plots diff` against it has nothing to warn about, and an
    empty file would render as a blank chart."""
    pd.DataFrame([{"feature": NO_BATCH, "method": "", "score": None, "p_value": None, "threshold": None, "value": 0.0,
                   "mark": 0.0, "drifted": False, "rank": 1}]).to_csv(out_dir / f"{SCORES}.csv", index=False)
    (out_dir / DISTRIBUTIONS).mkdir()
    long_distribution(NO_BATCH, "categorical", pd.DataFrame({"bin": [NO_BATCH], "reference": [0.0], "current": [0.0]})).to_csv(
        out_dir / DISTRIBUTIONS / "no_batch.csv", index=False)


def write_plots(features: dict[str, FeatureResult], top: list[str], out_dir: str | Path, images: bool = True) -> list[Path]:
    """Replace `out_dir` with scores.csv and distributions/<feature>.csv (what `dvc plots` renders;
    a distribution file is long: feature, kind, bin, order, series, share),
    plus scores.png and distributions.png when `images` is set.

    Images are optional because drawing them costs ~0.6 s, ten times the drift computation on a
    CT-sized batch. Written to a temporary directory first, so a failure leaves the previous plots
    in place. Returns the PNG paths.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        pngs = []
        if not features:
            _no_batch(tmp)
        else:
            table = scores_table(features)
            table.to_csv(tmp / f"{SCORES}.csv", index=False)
            if images:
                _scores_png(table, tmp / f"{SCORES}.png")
                pngs.append(SCORES)
        shown = {name: (features[name].distribution, features[name]) for name in top if len(features[name].distribution)}
        if shown:
            (tmp / DISTRIBUTIONS).mkdir()
            for name, (frame, f) in shown.items():
                long_distribution(name, f.kind, frame).to_csv(tmp / DISTRIBUTIONS / f"{file_stem(name)}.csv", index=False)
            if images:
                _distributions_png(shown, tmp / f"{DISTRIBUTIONS}.png")
                pngs.append(DISTRIBUTIONS)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return [out_dir / f"{name}.png" for name in pngs]
