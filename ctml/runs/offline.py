"""Read back what tracking logged offline, without an account: `python ct.py runs`, the MLflow export.

An offline Neptune run is a folder `.neptune/offline/run__<uuid>__<pid>__<rand>/` holding
`metadata.json` and `data-N.log`, one JSON operation per line (`AssignFloat`, `LogFloats`,
`UploadFile`, ...). Replaying the operations gives each field's final value. Runs already uploaded
with `neptune sync` are removed from that folder by Neptune and are no longer listed here.

This is a format we own the reading of: Neptune's hosted service is gone and its own exporter reads
only from a server, so nothing else reads these folders. The reader therefore checks the layout
(`structureVersion` and the client version in `metadata.json`) and refuses one it does not know,
and a damaged folder, with one line naming it (`UnreadableRun`); listing skips such a folder with
that line and goes on.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ctml.errors import UserError
from ctml.tracking.mode import data_directory

_ASSIGN = {"AssignString", "AssignInt", "AssignFloat", "AssignBool", "AssignDatetime"}
_LOG = {"LogFloats", "LogStrings"}
METRICS_WIDTH = 72
STRUCTURE_VERSIONS = (3,)  # metadata.json `structureVersion` of the layouts this reader knows (neptune 1.14 writes 3)
CLIENT_MAJOR = "1"  # the neptune 1.x client (frozen at 1.14) is the only one writing this layout


class UnreadableRun(UserError):
    """An offline run folder this reader cannot read: damaged, or a layout it does not know."""


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
    client_version: str = ""  # neptune client that wrote the folder (metadata.json)

    @property
    def pid(self) -> int | None:
        """The process that wrote the run (its folder is `run__<uuid>__<pid>__<rand>`)."""
        parts = self.directory.name.split("__")
        return int(parts[2]) if len(parts) >= 3 and parts[2].isdigit() else None

    @property
    def writing(self) -> bool:
        """Not finished and its process still running: the run is being written now."""
        if "run/status" in self.fields or self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

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


def _metadata(directory: Path) -> tuple[str, datetime, str]:
    """(run id, creation time, client version) from metadata.json, after checking the layout is one we know."""
    try:
        meta = json.loads((directory / "metadata.json").read_text())
    except FileNotFoundError:
        raise UnreadableRun(f"{directory}: no metadata.json (not a complete Neptune offline run)") from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise UnreadableRun(f"{directory}: metadata.json is not readable JSON (damaged or truncated)") from None
    if not isinstance(meta, dict):
        raise UnreadableRun(f"{directory}: metadata.json is not a JSON object (damaged)")
    structure, client = meta.get("structureVersion"), str(meta.get("neptuneClientVersion", ""))
    if structure not in STRUCTURE_VERSIONS or client.split(".")[0] != CLIENT_MAJOR:
        raise UnreadableRun(f"{directory}: unknown offline layout (structureVersion {structure!r}, neptune client "
                            f"{client or '?'}); this reader knows structureVersion "
                            f"{', '.join(map(str, STRUCTURE_VERSIONS))} from neptune {CLIENT_MAJOR}.x")
    try:
        return str(meta["containerId"]), datetime.fromisoformat(meta["createdAt"]), client
    except (KeyError, TypeError, ValueError):
        raise UnreadableRun(f"{directory}: metadata.json lacks a valid containerId or createdAt (damaged)") from None


def _operations(directory: Path) -> list[dict[str, Any]]:
    """Every operation of the run in order; a cut last line (a killed process) is dropped, any other bad line
    means the folder is damaged."""
    logs = _log_files(directory)
    if not logs:
        raise UnreadableRun(f"{directory}: no data-*.log (not a complete Neptune offline run)")
    ops: list[dict[str, Any]] = []
    for n, log in enumerate(logs):
        lines = log.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            try:
                op = json.loads(line)["obj"]
                op["path"] = "/".join(op["path"])
            except (json.JSONDecodeError, KeyError, TypeError):
                if n == len(logs) - 1 and i == len(lines) - 1:
                    break
                raise UnreadableRun(f"{directory}: {log.name} line {i + 1} is not a Neptune operation (damaged)") from None
            ops.append(op)
    return ops


def read_run(directory: str | Path) -> OfflineRun:
    """Replay one run folder; a truncated last line (a killed process) is skipped. Raises UnreadableRun."""
    directory = Path(directory)
    run_id, created, client = _metadata(directory)
    run = OfflineRun(directory, run_id, created, client_version=client)
    for op in _operations(directory):
        kind, path = op.get("type"), op["path"]
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


def _skip(message: str) -> None:
    from ctml.tracking.run import warn

    warn(f"{message}; skipped")


def run_folders(root: str | Path) -> list[Path]:
    """Every offline run folder under the project `root`, read or not."""
    base = data_directory(root) / "offline"
    return sorted(d for d in base.iterdir() if d.is_dir() and d.name.startswith("run__")) if base.is_dir() else []


def offline_runs(root: str | Path, limit: int | None = None, *, stage: str | None = None,
                 pipeline: str | None = None, model_version: str | None = None,
                 on_skip: Callable[[str], None] = _skip) -> list[OfflineRun]:
    """Offline runs under the project `root`, newest first, optionally filtered.

    A folder that cannot be read is reported through `on_skip` (one line naming it) and left out.
    """
    dated: list[tuple[datetime, Path]] = []
    for folder in run_folders(root):
        try:
            dated.append((_metadata(folder)[1], folder))
        except UnreadableRun as exc:
            on_skip(str(exc))
    found: list[OfflineRun] = []
    for _, folder in sorted(dated, reverse=True):
        try:
            run = read_run(folder)
        except UnreadableRun as exc:
            on_skip(str(exc))
            continue
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


def find_run(root: str | Path, prefix: str) -> OfflineRun:
    """The one offline run whose id starts with `prefix` (what the report and `ct.py runs` print: its first 8
    characters); UserError naming the prefix when none or several match."""
    prefix = prefix.strip().lower()
    if not prefix:
        raise UserError("--show needs a run id (or its first characters, as `ct.py runs` and the report print them)")
    matches = [r for r in offline_runs(root) if r.run_id.lower().startswith(prefix)]
    if len(matches) != 1:
        known = "none" if not matches else ", ".join(r.run_id[:12] for r in matches[:5])
        raise UserError(f"run id '{prefix}': {'no' if not matches else len(matches)} offline run(s) start with it "
                        f"({'matching: ' + known if matches else 'see `python ct.py runs`'})")
    return matches[0]


def details(run: OfflineRun) -> dict[str, Any]:
    """Everything one run recorded, as plain data a person reads (`ct.py runs --show ID [--json]`): its
    fields, tags, each series' length and last value, and the files it uploaded (with their paths)."""
    return {**summary(run), "fields": dict(sorted(run.fields.items())),
            "series": {k: {"points": len(v), "last": v[-1][1] if v else None} for k, v in sorted(run.series.items())},
            "files": {k: str(v) for k, v in sorted(run.files.items())}, "client_version": run.client_version}


def detail_rows(run: OfflineRun) -> list[list[str]]:
    """(item, value) rows of `details` for a terminal: one field per row, long values cut."""
    doc = details(run)
    rows = [[k, _short(doc[k])] for k in ("run_id", "created_at", "stage", "status", "model_version", "pipeline",
                                          "duration_s", "directory")]
    rows.append(["tags", ", ".join(doc["tags"])])
    rows += [[k, _cut(_short(v))] for k, v in doc["fields"].items()]
    rows += [[f"{k} (series)", f"{s['points']} points, last {_short(s['last'])}"] for k, s in doc["series"].items()]
    rows += [[f"{k} (file)", v] for k, v in doc["files"].items()]
    return rows


def _cut(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def summary(run: OfflineRun) -> dict[str, Any]:
    """One run as plain data (what `ct.py runs --json` prints)."""
    return {"run_id": run.run_id, "created_at": run.created_at.isoformat(), "stage": run.stage, "status": run.status,
            "model_version": run.model_version, "pipeline": run.pipeline, "duration_s": run.fields.get("run/duration_s"),
            "metrics": run.metrics, "tags": sorted(run.tags), "directory": str(run.directory)}


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def metrics_text(run: OfflineRun) -> str:
    """A run's key metrics on one line (`accuracy=0.94 f1=0.95`), cut at METRICS_WIDTH: `ct.py runs`, the report."""
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
            metrics_text(run),
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
    print(f"\n{len(rows)} newest runs in {base}. Browse them all with `python ct.py export-runs` and "
          f"`mlflow ui --backend-store-uri sqlite:///mlflow.db`; `neptune sync --path {Path(root)} --project "
          "WORKSPACE/PROJECT` uploads them to a self-hosted Neptune server only (docs/tracking.md)")
