"""The CT history: one CSV row per step (a DVC plot source) and a timeline PNG redrawn each step."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd

from ctml.io import atomic_path

COLUMNS = ("step", "time", "scenario", "status", "drift_score", "threshold", "drifted_share",
           "batch_rows", "batch_accuracy", "accuracy_drop", "retrained", "gates", "model_version", "note")


def read(path: Path) -> pd.DataFrame:
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.read_csv(path, dtype={"model_version": str, "gates": str, "note": str, "status": str})


def next_step(path: Path) -> int:
    frame = read(path)
    return int(frame["step"].max()) + 1 if len(frame) else 1


def append(path: Path, row: dict[str, Any]) -> None:
    """Append one row, rewriting the file atomically so a crash never leaves half a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text() if path.exists() else ""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        if existing:
            handle.write(existing if existing.endswith("\n") else existing + "\n")
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        if not existing:
            writer.writeheader()
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS})


def draw_timeline(history: pd.DataFrame, path: Path) -> None:
    """Drift score per step against the threshold, retrains marked, batch accuracy on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 3.5))
    if len(history):
        ax.plot(history["step"], history["drift_score"], marker="o", label="drift score")
        ax.step(history["step"], history["threshold"], where="mid", linestyle="--", color="red", label="threshold")
        retrained = history[history["retrained"].astype(str).str.lower() == "true"]
        ax.scatter(retrained["step"], retrained["drift_score"], s=120, facecolors="none", edgecolors="green",
                   linewidths=2, label="retrained", zorder=3)
        if history["batch_accuracy"].notna().any():
            acc = ax.twinx()
            acc.plot(history["step"], history["batch_accuracy"], color="grey", alpha=0.6, label="batch accuracy")
            acc.set_ylabel("batch accuracy (grey)")
            acc.set_ylim(0, 1.05)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("CT step")
    ax.set_ylabel("drift score")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Continuous training timeline")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
