"""The CT history: metrics/ct_history.csv, one row per step (a DVC plot source), and its timeline PNG.

Rows are `StepRecord`s. The columns are the record's fields; a file written by an older version
with other columns is migrated on the next append (rewritten under today's header, each value
kept under its own column name), so a new column never misaligns old rows.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from ctml.ct.records import COLUMNS, StepRecord
from ctml.io import atomic_path

if TYPE_CHECKING:
    import pandas as pd


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows as column -> text) of the file as it is on disk; ([], []) when absent or empty."""
    if not path.exists() or path.stat().st_size == 0:
        return [], []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def read(path: Path) -> list[StepRecord]:
    """Every step recorded, oldest first, typed."""
    return [StepRecord.from_row(row) for row in _rows(path)[1]]


def frame(records: list[StepRecord]) -> pd.DataFrame:
    """The records as a table with the history's columns (typed; None as missing)."""
    import pandas as pd

    return pd.DataFrame([r.as_json() for r in records], columns=list(COLUMNS))


def next_step(path: Path) -> int:
    records = read(path)
    return max(r.step for r in records) + 1 if records else 1


def append(path: Path, record: StepRecord) -> None:
    """Append one row, rewriting the file atomically so a crash never leaves half a line.

    A header that is not today's (a file from an older version) is migrated in the same write.
    """
    header, rows = _rows(path)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    if header == list(COLUMNS):
        existing = path.read_text()
        out.write(existing if existing.endswith("\n") else existing + "\n")
    else:
        writer.writeheader()
        writer.writerows(rows)  # by column name: columns the old file lacks stay empty
    writer.writerow(record.as_row())
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(out.getvalue())


def ensure_file(path: Path) -> None:
    """A header-only history when there is none yet: the baseline release then holds every file
    `dvc.yaml` declares as a plot, so `dvc plots diff` against it warns about nothing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(",".join(COLUMNS) + "\n")


def draw_timeline(records: list[StepRecord], path: Path) -> None:
    """Drift score per step against the threshold, the domain classifier's AUC (same 0-1 axis), retrains
    marked; realized batch accuracy (or RMSE) and the estimated accuracy (CBPE) on a second axis."""
    # A Figure with the Agg canvas, not pyplot: importing pyplot (its backend machinery and state)
    # cost more than drawing this figure, once per CT command.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    history = frame(records)
    fig = Figure(figsize=(8, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if len(history):
        ax.plot(history["step"], history["drift_score"], marker="o", label="drift score")
        ax.step(history["step"], history["threshold"], where="mid", linestyle="--", color="red", label="threshold")
        if history["multivariate_score"].notna().any():
            ax.plot(history["step"], history["multivariate_score"], marker="s", markersize=4, color="purple",
                    alpha=0.7, label="domain classifier AUC")
        retrained = history[history["retrained"]]
        ax.scatter(retrained["step"], retrained["drift_score"], s=120, facecolors="none", edgecolors="green",
                   linewidths=2, label="retrained", zorder=3)
        if history["batch_accuracy"].notna().any() or history["estimated_accuracy"].notna().any():
            acc = ax.twinx()
            acc.plot(history["step"], history["batch_accuracy"], color="grey", alpha=0.6, label="batch accuracy")
            acc.plot(history["step"], history["estimated_accuracy"], color="grey", linestyle=":", marker=".",
                     label="estimated accuracy (CBPE)")
            acc.set_ylabel("accuracy: realized (grey), estimated (dotted)")
            acc.set_ylim(0, 1.05)
        elif history["batch_rmse"].notna().any():  # a regressor's batch error, in the target's units
            err = ax.twinx()
            err.plot(history["step"], history["batch_rmse"], color="grey", alpha=0.6, label="batch RMSE")
            err.set_ylabel("batch RMSE (grey)")
            err.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("CT step")
    ax.set_ylabel("drift score")
    ax.set_ylim(0, 1.05)
    if len(history):  # the baseline release draws an empty timeline: no artists to label
        ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Continuous training timeline")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
