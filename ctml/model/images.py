"""PNG versions of the plots, for Neptune runs and people who open files: `dvc plots show` draws the
same data as Vega (dvc.yaml declares the CSVs only, so each picture shows once there)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ctml.io import atomic_path  # noqa: E402


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def confusion_png(rows: pd.DataFrame, path: str | Path) -> None:
    table = pd.crosstab(rows["actual"], rows["predicted"])
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(table.to_numpy(), cmap="Blues")
    ax.set_xticks(range(len(table.columns)), table.columns)
    ax.set_yticks(range(len(table.index)), table.index)
    for (i, j), value in pd.DataFrame(table.to_numpy()).stack().items():
        ax.text(j, i, str(value), ha="center", va="center")
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (test set)")
    _save(fig, path)


def roc_png(points: pd.DataFrame, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for label, curve in points.groupby("class", sort=True):
        ax.plot(curve["fpr"], curve["tpr"], label=f"class {label}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve (test set)")
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)


def importance_png(frame: pd.DataFrame, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(frame) + 1))
    ax.barh(frame["feature"][::-1], frame["importance"][::-1])
    ax.set_xlabel("importance")
    ax.set_title("Feature importance")
    _save(fig, path)


def _finish(fig, ax, xlabel: str, ylabel: str, title: str, path: str | Path) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _save(fig, path)


def predicted_vs_actual_png(rows: pd.DataFrame, path: str | Path) -> None:
    """Each test example at (actual, predicted); the diagonal is a perfect model."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(rows["actual"], rows["predicted"], s=10, alpha=0.6)
    if len(rows):
        lo = min(rows["actual"].min(), rows["predicted"].min())
        hi = max(rows["actual"].max(), rows["predicted"].max())
        ax.plot([lo, hi], [lo, hi], linestyle="--", color="grey", linewidth=0.8)
    _finish(fig, ax, "actual", "predicted", "Predicted vs actual (test set)", path)


def residuals_png(rows: pd.DataFrame, path: str | Path) -> None:
    """Residual (actual - predicted) against the prediction: a pattern means the model misses one."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(rows["predicted"], rows["residual"], s=10, alpha=0.6)
    ax.axhline(0, linestyle="--", color="grey", linewidth=0.8)
    _finish(fig, ax, "predicted", "residual (actual - predicted)", "Residuals vs predicted (test set)", path)


def residual_hist_png(bins: pd.DataFrame, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.bar(bins["bin_start"], bins["count"], width=(bins["bin_end"] - bins["bin_start"]) * 0.95, align="edge")
    _finish(fig, ax, "residual (actual - predicted)", "test examples", "Residual histogram (test set)", path)
