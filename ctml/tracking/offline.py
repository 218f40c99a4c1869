"""Read back what tracking logged offline, without an account: `python ct.py runs`.

An offline Neptune run is a folder `.neptune/offline/run__<uuid>__<pid>__<rand>/` holding
`metadata.json` and `data-N.log`, one JSON operation per line (`AssignFloat`, `LogFloats`,
`UploadFile`, ...). Replaying the operations gives each field's final value. Runs already uploaded
with `neptune sync` are removed from that folder by Neptune and are no longer listed here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ctml.tracking.mode import data_directory

_ASSIGN = {"AssignString", "AssignInt", "AssignFloat", "AssignBool", "AssignDatetime"}
_LOG = {"LogFloats", "LogStrings"}
METRICS_WIDTH = 72


@dataclass
class OfflineRun:
    """One offline run replayed: final field values, tags, series and uploaded files by path."""

    directory: Path
    run_id: str  # Neptune's offline UUID (`neptune sync --object offline/<run_id>`)
    created_at: datetime
    fields: dict[str, Any] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    series: dict[str, list[tuple[float | None, Any]]] = field(default_factory=dict)  # path -> [(step, value)]
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        return str(self.fields.get("pipeline/stage", ""))

    @property
    def pipeline(self) -> str:
        return str(self.fields.get("pipeline/id", ""))

    @property
    def model_version(self) -> str:
        return str(self.fields.get("pipeline/model_version", ""))

    @property
    def status(self) -> str:
        """ok | failed | interrupted, or `running` while (or if killed while) the stage runs."""
        return str(self.fields.get("run/status", "running"))

    @property
    def metrics(self) -> dict[str, Any]:
        """The fields the stage logged with `run.metrics`, in the order it logged them."""
        try:
            keys = json.loads(self.fields.get("run/metric_keys", "[]"))
        except (TypeError, json.JSONDecodeError):
            keys = []
        return {k: self.fields[k] for k in keys if k in self.fields}


def _log_files(directory: Path) -> list[Path]:
    def number(path: Path) -> int:
        try:
            return int(path.stem.split("-")[1])
        except (IndexError, ValueError):
            return 0

    return sorted(directory.glob("data-*.log"), key=number)


def _created_at(directory: Path) -> tuple[str, datetime]:
    try:
        meta = json.loads((directory / "metadata.json").read_text())
        return str(meta["containerId"]), datetime.fromisoformat(meta["createdAt"])
    except (OSError, KeyError, ValueError):
        run_id = directory.name.split("__")[1] if directory.name.count("__") >= 1 else directory.name
        return run_id, datetime.fromtimestamp(directory.stat().st_mtime, timezone.utc)


def read_run(directory: str | Path) -> OfflineRun:
    """Replay one run folder; a truncated last line (a killed process) is skipped."""
    directory = Path(directory)
    run_id, created = _created_at(directory)
    run = OfflineRun(directory, run_id, created)
    for log in _log_files(directory):
        for line in log.read_text(errors="replace").splitlines():
            try:
                op = json.loads(line)["obj"]
                path = "/".join(op["path"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            kind = op.get("type")
            if kind in _ASSIGN:
                run.fields[path] = op.get("value")
            elif kind in _LOG:
                run.series.setdefault(path, []).extend((v.get("step"), v.get("value")) for v in op.get("values", []))
            elif kind == "AddStrings" and path == "sys/tags":
                run.tags.update(op.get("values", []))
            elif kind == "RemoveStrings" and path == "sys/tags":
                run.tags.difference_update(op.get("values", []))
            elif kind == "UploadFile":
                name = op.get("file_path") or str(directory / "upload_path" / str(op.get("tmp_file_name")))
                run.files[path] = Path(name)
    return run


def offline_runs(root: str | Path, limit: int | None = None, *, stage: str | None = None,
                 pipeline: str | None = None, model_version: str | None = None) -> list[OfflineRun]:
    """Offline runs under the project `root`, newest first, optionally filtered."""
    base = data_directory(root) / "offline"
    if not base.is_dir():
        return []
    folders = sorted((_created_at(d)[1], d) for d in base.iterdir() if d.is_dir() and d.name.startswith("run__"))
    found: list[OfflineRun] = []
    for _, folder in reversed(folders):
        run = read_run(folder)
        if (stage and run.stage != stage) or (pipeline and run.pipeline != pipeline) or \
                (model_version and run.model_version != model_version):
            continue
        found.append(run)
        if limit is not None and len(found) >= limit:
            break
    return found


def run_ids(root: str | Path, model_version: str | None = None, pipeline: str | None = None) -> list[str]:
    """`<stage>:<uuid prefix>` of the runs of one model version or pipeline, oldest first."""
    runs = offline_runs(root, model_version=model_version, pipeline=pipeline)
    return [f"{r.stage or '?'}:{r.run_id[:8]}" for r in reversed(runs)]


def summary(run: OfflineRun) -> dict[str, Any]:
    """One run as plain data (what `ct.py runs --json` prints)."""
    return {"run_id": run.run_id, "created_at": run.created_at.isoformat(), "stage": run.stage, "status": run.status,
            "model_version": run.model_version, "pipeline": run.pipeline, "duration_s": run.fields.get("run/duration_s"),
            "metrics": run.metrics, "tags": sorted(run.tags), "directory": str(run.directory)}


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _metrics_cell(run: OfflineRun) -> str:
    parts = [f"{key.rsplit('/', 1)[-1]}={_short(value)}" for key, value in run.metrics.items()]
    if not parts:  # e.g. a CT command: show where its series ended
        parts = [f"{key.rsplit('/', 1)[-1]}={_short(points[-1][1])}" for key, points in run.series.items() if points]
    text = " ".join(parts)
    return text if len(text) <= METRICS_WIDTH else text[:METRICS_WIDTH - 1] + "…"


HEADERS = ["time (UTC)", "stage", "status", "model", "pipeline", "seconds", "metrics"]


def runs_table(root: str | Path, limit: int = 20, stage: str | None = None) -> list[list[str]]:
    """Rows for HEADERS: the `limit` newest runs, oldest first so a pipeline reads in stage order."""
    rows = []
    for run in reversed(offline_runs(root, limit, stage=stage)):
        duration = run.fields.get("run/duration_s")
        rows.append([
            run.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            run.stage or "?",
            run.status,
            run.model_version or "-",
            run.pipeline or "-",
            f"{duration:.2f}" if isinstance(duration, (int, float)) else "-",
            _metrics_cell(run),
        ])
    return rows


def print_runs(root: str | Path, limit: int = 20, stage: str | None = None) -> None:
    """Print recent offline runs as an aligned table (plain text, so it stays greppable)."""
    base = data_directory(root) / "offline"
    rows = runs_table(root, limit, stage)
    if not rows:
        print(f"no offline runs in {base} (stages write them when tracking.enabled is true and CT_TRACKING is not off)")
        return
    widths = [max(len(str(r[i])) for r in [HEADERS, *rows]) for i in range(len(HEADERS))]
    for row in [HEADERS, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"\n{len(rows)} newest runs in {base}; upload them with "
          f"`neptune sync --path {Path(root)} --project WORKSPACE/PROJECT --offline-only`")
