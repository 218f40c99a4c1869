"""The CT history: metrics/ct_history.csv, one row per step, and its timeline per lineage:
ct_timeline.csv (what `dvc plots show` draws) and a PNG drawn for the report.

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


UNRECORDED = "(lineage not recorded)"  # rows written before the history had a lineage column
# (history column, series name, panel): drift on a 0-1 scale, the task's metric in its own units
SERIES = (("drift_score", "drift score", "drift"), ("threshold", "threshold", "drift"),
          ("multivariate_score", "domain classifier AUC", "drift"),
          ("batch_accuracy", "realized accuracy", "task metric"), ("estimated_accuracy", "estimated accuracy (CBPE)", "task metric"),
          ("batch_rmse", "realized RMSE", "task metric"))


def lineages(records: list[StepRecord]) -> list[str]:
    """Each record's lineage; a row without one (an older history) takes its predecessor's."""
    found, last = [], UNRECORDED
    for record in records:
        last = record.lineage or last
        found.append(last)
    return found


def timeline_rows(records: list[StepRecord]) -> pd.DataFrame:
    """The timeline as DVC plot data (metrics/ct_timeline.csv): one row per (step, series), its lineage
    and panel, the current lineage (the newest step's) ordered first: one chart per lineage, never
    one lineage's accuracy on another's axis."""
    import pandas as pd

    keys = lineages(records)
    order = list(dict.fromkeys(reversed(keys)))
    rows = [{"lineage": key, "lineage_order": order.index(key), "panel": panel, "step": r.step, "series": name, "value": value}
            for r, key in zip(records, keys) for column, name, panel in SERIES
            if (value := getattr(r, column)) is not None]
    return pd.DataFrame(rows, columns=["lineage", "lineage_order", "panel", "step", "series", "value"])


def write_timeline(records: list[StepRecord], path: Path) -> None:
    """The timeline as DVC plot data (`ct_timeline.csv`, what `dvc plots show` draws).

    Only the data: the picture is drawn where it is looked at (`dvc plots show`, `ct.py report`), not
    by every CT command, which cron runs and for which matplotlib cost ~1 s a command. A PNG left by
    an older version of CT (`ct_timeline.png`) is removed, so no stale picture stays beside the data."""
    rows = timeline_rows(records)
    with atomic_path(path) as tmp:
        rows.to_csv(tmp, index=False)
    path.with_suffix(".png").unlink(missing_ok=True)


def draw_timeline(records: list[StepRecord]) -> bytes:
    """The timeline as a PNG, for the report: one chart per lineage, the current one on top: drift
    score per step against the threshold, the domain classifier's AUC (same 0-1 axis), retrains
    marked; the lineage's realized batch accuracy and estimated accuracy (CBPE), or its batch RMSE, on
    a second axis."""
    # A Figure with the Agg canvas, not pyplot: importing pyplot (its backend machinery and state)
    # cost more than drawing this figure, once per CT command.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    history = frame(records)
    history["lineage"] = lineages(records)
    groups = list(dict.fromkeys(reversed(history["lineage"].tolist()))) or [""]
    fig = Figure(figsize=(8, 3.2 * len(groups)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(groups), 1, squeeze=False)
    for ax, key in zip(axes[:, 0], groups):
        _draw_lineage(ax, history[history["lineage"] == key], MaxNLocator)
        ax.set_title(f"lineage {key}" + (" (current)" if key == groups[0] and len(groups) > 1 else "") if key else
                     "Continuous training timeline", fontsize=10)
    fig.suptitle("Continuous training timeline" if len(history) else "", fontsize=11)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100, bbox_inches="tight")
    return out.getvalue()


def _draw_lineage(ax, history: pd.DataFrame, locator) -> None:
    if len(history):
        ax.plot(history["step"], history["drift_score"], marker="o", label="drift score")
        ax.step(history["step"], history["threshold"], where="mid", linestyle="--", color="red", label="threshold")
        if history["multivariate_score"].notna().any():
            ax.plot(history["step"], history["multivariate_score"], marker="s", markersize=4, color="purple",
                    alpha=0.7, label="domain classifier AUC")
        retrained = history[history["retrained"].astype(bool)]
        ax.scatter(retrained["step"], retrained["drift_score"], s=120, facecolors="none", edgecolors="green",
                   linewidths=2, label="retrained", zorder=3)
        if history["batch_accuracy"].notna().any() or history["estimated_accuracy"].notna().any():
            acc = ax.twinx()
            acc.plot(history["step"], history["batch_accuracy"], color="grey", alpha=0.6, label="batch accuracy")
            acc.plot(history["step"], history["estimated_accuracy"], color="grey", linestyle=":", marker=".",
                     label="estimated accuracy (CBPE)")
            acc.set_ylabel("accuracy: realized (grey), estimated (dotted)", fontsize=8)
            acc.set_ylim(0, 1.05)
        elif history["batch_rmse"].notna().any():  # a regressor's batch error, in the target's units
            err = ax.twinx()
            err.plot(history["step"], history["batch_rmse"], color="grey", alpha=0.6, marker=".", label="batch RMSE")
            err.set_ylabel("batch RMSE (grey)", fontsize=8)
        ax.legend(loc="upper left", fontsize=7)  # the baseline release draws an empty timeline: no artists to label
    ax.xaxis.set_major_locator(locator(integer=True))
    ax.set_xlabel("CT step")
    ax.set_ylabel("drift score")
    ax.set_ylim(0, 1.05)
