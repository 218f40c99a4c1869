"""Export the offline Neptune runs to MLflow, so the whole history can be browsed with no network.

Why MLflow: Neptune's hosted service is gone (its data deleted after 2026-03-05), `neptune sync`
needs a Neptune server, and Neptune's own exporter reads only from a server; a local MLflow
store (SQLite: MLflow 3's file store is deprecated) is what a person opens with
`mlflow ui --backend-store-uri sqlite:///mlflow.db`.

Mapping, one MLflow run per offline run (every stage run and CT command), in one experiment per
project: numeric fields become metrics named by their Neptune path (`metrics/accuracy`), numeric
series keep their steps (`ct/drift_score` at each CT step); `config/*` and `parameters/*` become
params; other text fields, the stage, pipeline id, model version, CT step and experiment name
become tags; uploaded files (models, PNG plots) become artifacts under their field path; the
run's start, end and status are Neptune's. A `neptune/run.json` artifact holds the whole replayed
run, so nothing the mapping leaves out is lost. Runs of one pipeline share the `pipeline` tag.

Idempotent: each MLflow run carries its Neptune run id (`neptune.run_id`); a second export adds
nothing. A run is tagged `neptune.export=complete` only when all of it is written, and one left
incomplete by an interrupted export is deleted and written again.

This module is the only one that imports MLflow; the pipeline and CT never do.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ctml.errors import UserError
from ctml.runs.offline import OfflineRun, offline_runs

DEFAULT_DB = "mlflow.db"  # in the project root, git-ignored
ARTIFACTS_DIR = "mlartifacts"  # beside a SQLite store, git-ignored
RUN_ID_TAG = "neptune.run_id"
STATE_TAG = "neptune.export"
PARAM_PREFIXES = ("config/", "parameters/")
STATUS = {"ok": "FINISHED", "failed": "FAILED", "interrupted": "KILLED", "running": "KILLED"}  # running: its process died
BATCH = {"metrics": 1000, "params": 100, "tags": 100}  # MLflow's log_batch limits per call
VALUE_LIMITS = {"param": 6000, "tag": 8000}  # MLflow's longest param and tag values
KEY_LIMIT = 250
INSTALL_HINT = "pip install -r requirements-mlflow.txt"


@dataclass
class Record:
    """One offline run in MLflow's terms; built without MLflow, so the mapping is tested on its own."""

    name: str
    start_ms: int
    end_ms: int | None
    status: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int]] = field(default_factory=list)  # (key, value, step)
    tags: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # artifact path -> local file


@dataclass
class ExportResult:
    uri: str
    experiment: str
    exported: int = 0
    already: int = 0  # exported before (a second export adds nothing)
    redone: int = 0  # left incomplete by an interrupted export, written again
    writing: int = 0  # still being written by a running stage: exported next time
    unreadable: list[str] = field(default_factory=list)  # one line each
    seconds: float = 0.0


def _key(path: str) -> str:
    """A Neptune field path as an MLflow key: MLflow allows letters, digits, `_-. /`; anything else becomes `_`."""
    return re.sub(r"[^\w\-. /]", "_", path)[:KEY_LIMIT]


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def record(run: OfflineRun) -> Record:
    """The MLflow run for one offline run."""
    start = int(run.created_at.timestamp() * 1000)
    duration = _number(run.fields.get("run/duration_s"))
    rec = Record(name=str(run.fields.get("sys/name") or f"{run.stage} {run.pipeline}"), start_ms=start,
                 end_ms=None if duration is None else start + int(duration * 1000), status=STATUS.get(run.status, "KILLED"))
    for path, value in sorted(run.fields.items()):
        if path.startswith("sys/"):
            continue
        if path.startswith(PARAM_PREFIXES):
            rec.params[_key(path)] = _text(value, VALUE_LIMITS["param"])
        elif (number := _number(value)) is not None:
            rec.metrics.append((_key(path), number, 0))
        elif isinstance(value, str) and not path.startswith("pipeline/"):
            rec.tags[_key(path)] = _text(value, VALUE_LIMITS["tag"])
    for path, points in sorted(run.series.items()):
        for i, (step, value) in enumerate(points):
            if (number := _number(value)) is not None:
                whole = step is not None and float(step).is_integer()
                rec.metrics.append((_key(path), number, int(step) if whole else i))
    experiment = run.fields.get("pipeline/experiment") or next((t.split(":", 1)[1] for t in run.tags
                                                                 if t.startswith("experiment:")), "")
    rec.tags.update({k: v for k, v in {
        "stage": run.stage, "pipeline": run.pipeline, "model_version": run.model_version,
        "step": str(run.fields.get("pipeline/step", "")), "experiment": str(experiment), "status": run.status,
        "neptune.tags": ",".join(sorted(run.tags)), "neptune.client_version": run.client_version,
        "neptune.folder": run.directory.name, "mlflow.runName": rec.name,
        "mlflow.source.git.commit": str(run.fields.get("run/git_commit", "")),
    }.items() if v})
    rec.tags[RUN_ID_TAG] = run.run_id
    for path, file in sorted(run.files.items()):
        rec.files[f"{_key(path)}{file.suffix}"] = file
    return rec


def default_uri(root: str | Path) -> str:
    return f"sqlite:///{(Path(root).resolve() / DEFAULT_DB).as_posix()}"


def _shown(uri: str) -> str:
    """The URI without credentials (`scheme://user:secret@host` -> `scheme://***@host`)."""
    return re.sub(r"(://)[^/@]*@", r"\1***@", uri)


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def _check_writable(uri: str) -> None:
    """A SQLite store must be creatable or writable where it is: say so in one line before MLflow tries."""
    path = _sqlite_path(uri)
    if path is None:
        return
    if path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
        raise UserError(f"{_shown(uri)}: cannot write an MLflow store there ({path} is not a writable file)")
    if not path.exists() and not (path.parent.is_dir() and os.access(path.parent, os.W_OK)):
        raise UserError(f"{_shown(uri)}: cannot write an MLflow store there ({path.parent} is not a writable folder)")


def _mlflow() -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError(f"MLflow is not installed; the export needs it (nothing else does): `{INSTALL_HINT}`") from None
    return MlflowClient


@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow and alembic log table creation at INFO on stderr; the command prints its own summary."""
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _store_error(uri: str, exc: BaseException) -> UserError:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    detail = f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
    return UserError(f"{_shown(uri)}: cannot write an MLflow store there ({_shown(detail)})")


def _experiment(client: Any, uri: str, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return found.experiment_id
    sqlite = _sqlite_path(uri)
    location = (sqlite.parent / ARTIFACTS_DIR / name).resolve().as_uri() if sqlite else None
    return client.create_experiment(name, artifact_location=location)


def _exported(client: Any, experiment_id: str) -> dict[str, tuple[str, bool]]:
    """Neptune run id -> (MLflow run id, complete) of the runs already in the experiment."""
    from mlflow.entities import ViewType

    found: dict[str, tuple[str, bool]] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
        for r in page:
            if RUN_ID_TAG in r.data.tags:
                found[r.data.tags[RUN_ID_TAG]] = (r.info.run_id, r.data.tags.get(STATE_TAG) == "complete")
        token = page.token
        if not token:
            return found


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _write(client: Any, experiment_id: str, rec: Record, run: OfflineRun, warn: Callable[[str], None]) -> None:
    from mlflow.entities import Metric, Param, RunTag

    created = client.create_run(experiment_id, start_time=rec.start_ms, tags={RUN_ID_TAG: rec.tags[RUN_ID_TAG],
                                                                             STATE_TAG: "incomplete"})
    run_id = created.info.run_id
    for batch in _chunks([Metric(k, v, rec.start_ms, s) for k, v, s in rec.metrics], BATCH["metrics"]):
        client.log_batch(run_id, metrics=batch)
    for batch in _chunks([Param(k, v) for k, v in rec.params.items()], BATCH["params"]):
        client.log_batch(run_id, params=batch)
    for batch in _chunks([RunTag(k, v) for k, v in rec.tags.items() if k != RUN_ID_TAG], BATCH["tags"]):
        client.log_batch(run_id, tags=batch)
    with tempfile.TemporaryDirectory(prefix="ct-export-") as tmp:
        staging = Path(tmp)
        for rel, file in rec.files.items():
            if not file.is_file():
                warn(f"{run.directory}: uploaded file {file.name} is missing; exported without it")
                continue
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, staging / rel)
        whole = {"run_id": run.run_id, "created_at": run.created_at.isoformat(), "fields": run.fields,
                 "tags": sorted(run.tags), "series": run.series, "files": {k: v.name for k, v in run.files.items()}}
        (staging / "neptune").mkdir()
        (staging / "neptune" / "run.json").write_text(json.dumps(whole, indent=1, default=str) + "\n")
        client.log_artifacts(run_id, str(staging))
    client.set_terminated(run_id, status=rec.status, end_time=rec.end_ms or rec.start_ms)
    client.set_tag(run_id, STATE_TAG, "complete")


def export(root: str | Path, uri: str | None = None, experiment: str | None = None,
           warn: Callable[[str], None] | None = None) -> ExportResult:
    """Write every offline run of the project at `root` that is not in the MLflow store yet."""
    from ctml.tracking.run import warn as tracking_warn

    started = time.perf_counter()
    root = Path(root).resolve()
    uri = uri or default_uri(root)
    result = ExportResult(uri=_shown(uri), experiment=experiment or root.name)
    say = warn or tracking_warn
    MlflowClient = _mlflow()
    _check_writable(uri)
    runs = offline_runs(root, on_skip=lambda line: (result.unreadable.append(line), say(f"{line}; skipped")))
    with _quiet():
        try:
            client = MlflowClient(tracking_uri=uri)
            experiment_id = _experiment(client, uri, result.experiment)
            done = _exported(client, experiment_id)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - any store failure is one line naming the URI
            raise _store_error(uri, exc) from None
        for run in reversed(runs):  # oldest first: MLflow lists newest first, as the runs happened
            if run.writing:
                result.writing += 1
                continue
            previous = done.get(run.run_id)
            if previous and previous[1]:
                result.already += 1
                continue
            try:
                if previous:
                    client.delete_run(previous[0])
                    result.redone += 1
                _write(client, experiment_id, record(run), run, say)
            except Exception as exc:  # noqa: BLE001
                raise _store_error(uri, exc) from None
            result.exported += 1
    result.seconds = time.perf_counter() - started
    return result
