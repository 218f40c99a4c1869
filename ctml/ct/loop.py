"""One CT step, the baseline release, promotion and crash recovery.

The invariant every function here keeps: HEAD is the production state. Work on a candidate
happens in the working tree and is either committed + tagged as a whole, or thrown away with
`restore_state`, so a failed, blocked or killed retrain never reaches production or a tag.
"""
from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ctml.config import Params
from ctml.ct import history, lock, registry, warm
from ctml.ct.repo import commit_state, dvc, git, restore_state
from ctml.data import cast_to_kinds
from ctml.errors import UserError
from ctml.io import read_json, read_table, sha256_file, write_json, write_parquet
from ctml.schema import check_frame, recorded_kinds

INCOMING = Path("data/incoming")
BATCHES = Path("data/batches")
QUARANTINE = Path("data/quarantine")
PRODUCTION = Path("models/production")
HISTORY = Path("metrics/ct_history.csv")
TIMELINE = Path("metrics/ct_timeline.png")
RECORDS = (HISTORY, TIMELINE)  # CT's own append-only records: kept when a candidate is thrown away
OUTPUT_DIRS = ("data", "models", "metrics", ".ct")  # where stages and CT write files atomically
# What a release needs (model, metrics, gates). Not drift: it reads data/incoming, which may hold a
# user's batch that has not been checked yet (`ct.py check` validates it after the baseline).
RELEASE_TARGETS = ("evaluate", "gates")
PRODUCTION_FILES = {"model.joblib": "models/model.joblib", "model.json": "models/model.json", "metrics.json": "metrics/metrics.json"}


@dataclass
class Context:
    """What every step needs; plain data so tests can build one directly."""

    root: Path
    params: Params
    commit: bool = True
    say: Callable[[str], None] = print
    pipeline_id: str = "ct"
    log: Any = None  # tracking.Run of the CT command
    created: list[str] = field(default_factory=list)  # versions released by this command

    def path(self, rel: Path | str) -> Path:
        return self.root / rel


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _env(ctx: Context, step: int | str, version: str = "") -> dict[str, str]:
    """Group the stage runs of one step in Neptune: a shared pipeline id and the candidate version."""
    env = {"CT_PIPELINE_ID": f"{ctx.pipeline_id}-{step}"}
    if version:
        env["CT_MODEL_VERSION"] = version
    return env


# --- batches -----------------------------------------------------------------------------------

def prepare_batch(frame: pd.DataFrame, ctx: Context) -> tuple[pd.DataFrame | None, list[str]]:
    """Type a batch by the kinds the schema recorded, as the drift stage does, and hold it to the
    schema; labels are optional. A value that does not parse as its column's kind leaves that
    column as given, which the schema check reports with the value."""
    schema = read_json(ctx.path("data/schema.json"))
    typed, _ = cast_to_kinds(frame, recorded_kinds(schema), label=schema["target"])
    problems = check_frame(typed, schema, ctx.params.validate_, require_target=False)
    if not problems:
        problems = _duplicate_problem(typed)
    return (None, problems) if problems else (typed, [])


def _duplicate_problem(frame: pd.DataFrame) -> list[str]:
    """A batch that is mostly repeats of the same rows is a feed fault, not production data."""
    share = float(frame.duplicated().mean())
    return [f"{share:.0%} of rows are duplicates (rule: at most half)"] if share > 0.5 else []


def read_incoming(ctx: Context) -> tuple[Path, pd.DataFrame | None, list[str]]:
    """The user-fed batch in data/incoming (batch.parquet or batch.csv), read and checked."""
    candidates = [ctx.path(INCOMING / n) for n in ("batch.parquet", "batch.csv")]
    found = [p for p in candidates if p.exists()]
    if not found:
        raise UserError(f"{ctx.path(INCOMING)}: no batch.parquet or batch.csv to check")
    path = found[0]
    try:
        frame = read_table(path)
    except UserError as exc:
        return path, None, [str(exc)]
    typed, problems = prepare_batch(frame, ctx)
    return path, typed, problems


def quarantine(ctx: Context, step: int, problems: list[str], source: Path | None = None, frame: pd.DataFrame | None = None) -> Path:
    """Move a bad batch aside with a reason file; training data never sees it."""
    folder = ctx.path(QUARANTINE)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"step-{step:04d}"
    (folder / f"{stem}.reason.txt").write_text("\n".join(problems) + "\n")  # first: a moved batch always has its reason
    if source is not None and source.exists():
        dest = folder / f"{stem}{source.suffix}"
        shutil.move(str(source), dest)
    else:
        dest = folder / f"{stem}.parquet"
        if frame is not None:
            write_parquet(dest, frame)
    return dest


# --- drift, decision ----------------------------------------------------------------------------

def measure_drift(ctx: Context, step: int) -> dict[str, Any]:
    """`dvc repro drift` on the incoming batch, in this warm process when that is equivalent
    (see ctml.ct.warm); returns metrics/drift.json."""
    if not warm.repro(ctx.root, "drift", _env(ctx, step)):
        dvc(ctx.root, "repro", "drift", **_env(ctx, step))
    return read_json(ctx.path("metrics/drift.json"))


def decide(drift: dict[str, Any], params: Params) -> tuple[bool, str]:
    """Retrain on data drift above ct.threshold, or on an accuracy drop on a labelled batch."""
    ct = params.ct
    score = float(drift.get("drift_score") or 0.0)
    if score > ct.threshold:
        return True, f"drift {score:.3f} > {ct.threshold}"
    drop = (drift.get("performance") or {}).get("accuracy_drop")
    if drop is not None and drop > ct.max_accuracy_drop:
        return True, f"accuracy drop {drop:.3f} > {ct.max_accuracy_drop}"
    return False, f"drift {score:.3f} <= {ct.threshold}"


# --- release ------------------------------------------------------------------------------------

def _promote_files(ctx: Context) -> None:
    """Copy the candidate into models/production (DVC tracks the model bytes, git the JSON)."""
    prod = ctx.path(PRODUCTION)
    prod.mkdir(parents=True, exist_ok=True)
    for name, src in PRODUCTION_FILES.items():
        shutil.copy2(ctx.path(src), prod / name)
    dvc(ctx.root, "add", "--quiet", str(PRODUCTION / "model.joblib"))


def _tag_message(version: str, reason: str, metrics: dict[str, Any], drift: dict[str, Any] | None) -> str:
    lines = [f"model {version}: {reason}"]
    if drift is not None:
        lines.append(f"drift_score: {drift.get('drift_score')}")
    lines += [f"{k}: {v}" for k, v in sorted(metrics.items())]
    return "\n".join(lines)


def release(ctx: Context, reason: str, drift: dict[str, Any] | None, step: int | str, extra_paths: tuple[str, ...] = ()) -> str:
    """Promote the candidate in the working tree: commit, version tag, prod tag, push."""
    version = registry.next_version(ctx.root)
    _promote_files(ctx)
    metrics = read_json(ctx.path("metrics/metrics.json"))
    if not ctx.commit:
        ctx.created.append(version + " (uncommitted)")
        return version
    message = _tag_message(version, reason, metrics, drift)
    lock.mark_inflight(ctx.root, {**(lock.inflight(ctx.root) or {}), "phase": "release", "version": version,
                                  "step": step, "message": message, "head": git(ctx.root, "rev-parse", "HEAD")})
    commit_state(ctx.root, f"ct: release model {version} ({reason})\n\nModel-Version: {version}", extra_paths)
    finish_release(ctx, version, message)
    return version


def finish_release(ctx: Context, version: str, message: str) -> None:
    """Tags and push for a release commit at HEAD; also how recovery completes a cut-short release.

    Idempotent: each part is done only if missing, so a release killed between any two of them
    (version tag, prod tag, push) is completed by running it again. The in-flight marker goes last.
    """
    if version not in registry.versions(ctx.root):
        registry.register(ctx.root, version, message)
    if registry.production_version(ctx.root) != version:
        registry.assign_prod(ctx.root, version, f"promote {version}")
    if version not in ctx.created:
        ctx.created.append(version)
    dvc(ctx.root, "push", "--quiet")
    lock.clear_inflight(ctx.root)


def production_sha(ctx: Context) -> str | None:
    meta = ctx.path(PRODUCTION / "model.json")
    return read_json(meta).get("model_sha256") if meta.exists() else None


def gates_result(ctx: Context) -> dict[str, Any]:
    return read_json(ctx.path("metrics/gates.json"))


def verify_production(ctx: Context) -> None:
    """Refuse to run on a production model that is not the recorded one, before any `dvc repro`:
    DVC re-hashes a changed `dvc add`-ed file ("Verifying data sources") and would record it."""
    model, meta = ctx.path(PRODUCTION / "model.joblib"), ctx.path(PRODUCTION / "model.json")
    if not (model.exists() and meta.exists()):
        return
    expected, actual = str(read_json(meta).get("model_sha256")), sha256_file(model)
    if actual != expected:
        raise UserError(f"{PRODUCTION / 'model.joblib'}: sha256 {actual[:12]}… does not match {PRODUCTION / 'model.json'} "
                        f"({expected[:12]}…): changed outside ct.py; restore the recorded model with `git checkout HEAD -- "
                        f"{PRODUCTION} && dvc checkout --force {PRODUCTION / 'model.joblib.dvc'}`")


def ensure_baseline(ctx: Context, extra_paths: tuple[str, ...] = ()) -> str | None:
    """Run the pipeline; release its model if nothing is in production or the model changed."""
    verify_production(ctx)
    ctx.say("baseline: dvc repro")
    dvc(ctx.root, "repro", *RELEASE_TARGETS, **_env(ctx, "baseline", registry.next_version(ctx.root)))
    current = read_json(ctx.path("models/model.json"))["model_sha256"]
    prod_version = registry.production_version(ctx.root)
    if prod_version and current == production_sha(ctx):
        return prod_version
    gates = gates_result(ctx)
    if not gates.get("passed", False):
        raise UserError(f"metrics/gates.json: the {'baseline' if not prod_version else 'new'} model is blocked by "
                        f"gates {', '.join(gates.get('blocked_by', []))}; adjust params.yaml gates or the model")
    reason = "baseline" if not prod_version else "pipeline changed"
    version = release(ctx, reason, None, "baseline", extra_paths)
    ctx.say(f"baseline: released model {version}")
    return version


def retrain(ctx: Context, step: int, batch: Path, drift: dict[str, Any], reason: str) -> dict[str, Any]:
    """Fold the batch into training, reproduce, and release only if every blocking gate passes."""
    folded = ctx.path(BATCHES / f"batch-{step:04d}.parquet")
    shutil.copy2(batch, folded)
    version = registry.next_version(ctx.root)
    try:
        dvc(ctx.root, "add", "--quiet", str(folded.relative_to(ctx.root)))
        dvc(ctx.root, "repro", **_env(ctx, step, version))
        gates = gates_result(ctx)
    except UserError as exc:
        _discard(ctx)
        return {"status": "failed", "note": str(exc)}
    if not gates.get("passed", False):
        blocked = ",".join(gates.get("blocked_by", []))
        _discard(ctx)
        write_json(ctx.path("metrics/gates.json"), gates)  # the record of why; production is untouched
        return {"status": "blocked", "gates": f"blocked:{blocked}", "note": f"candidate blocked by {blocked}"}
    released = release(ctx, reason, drift, step)
    return {"status": "retrained", "retrained": True, "gates": "passed", "version": released}


def _discard(ctx: Context) -> None:
    """Throw the candidate away: back to HEAD, or (with --no-commit) re-run without the new batch."""
    if ctx.commit:
        restore_state(ctx.root, keep=RECORDS)
    else:
        for path in ctx.path(BATCHES).glob("batch-*"):
            if not git(ctx.root, "ls-files", "--", str(path.relative_to(ctx.root))):
                path.unlink()
        dvc(ctx.root, "repro")
    lock.clear_inflight(ctx.root)


def recover(ctx: Context) -> str | None:
    """Finish or undo a step a killed ct.py left behind; returns what was done, if anything."""
    marker = lock.inflight(ctx.root)
    if marker is None:
        return None
    head = git(ctx.root, "rev-parse", "HEAD")
    version = marker.get("version")
    body = git(ctx.root, "log", "-1", "--format=%B")
    if version and head != marker.get("head") and f"Model-Version: {version}" in body:
        # The release commit is in: the candidate passed its gates. Finish tags and push.
        message = marker.get("message") or _tag_message(
            version, "release completed after interruption", read_json(ctx.path("metrics/metrics.json")), None)
        note = f"completed the interrupted release of {version}"
        _record_interrupted(ctx, marker, status="retrained", note=note, version=version)
        redraw_timeline(ctx)
        finish_release(ctx, version, message)
        return note
    restore_state(ctx.root, keep=RECORDS)
    _remove_partial_writes(ctx)
    note = f"discarded an interrupted step (state restored to {head[:8]})"
    _record_interrupted(ctx, marker, status="failed", note=f"interrupted: {note}",
                        version=registry.production_version(ctx.root) or "")
    redraw_timeline(ctx)
    lock.clear_inflight(ctx.root)
    return note


def _remove_partial_writes(ctx: Context) -> None:
    """Temp files of atomic writes a kill cut short (`.<name>.<random>.tmp`, e.g. a half-written model)."""
    for folder in OUTPUT_DIRS:
        for tmp in ctx.path(folder).rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def _record_interrupted(ctx: Context, marker: dict[str, Any], status: str, note: str, version: str) -> None:
    """The history row the killed step never wrote, so every step number (and release) has one."""
    step = marker.get("step")
    if not isinstance(step, int) or step in set(history.read(ctx.path(HISTORY))["step"].tolist()):
        return
    record(ctx, {"step": step, "time": _now(), "scenario": marker.get("scenario", ""), "status": status,
                 "threshold": ctx.params.ct.threshold, "retrained": status == "retrained",
                 "gates": "passed" if status == "retrained" else "", "model_version": version, "note": note})


# --- one step -------------------------------------------------------------------------------------

def run_step(ctx: Context, step: int, scenario: str, frame: pd.DataFrame | None,
             problems: list[str], source: Path | None = None, raw: pd.DataFrame | None = None) -> dict[str, Any]:
    """Check a batch, measure drift, retrain if needed; returns the history row."""
    ct = ctx.params.ct
    row: dict[str, Any] = {"step": step, "time": _now(), "scenario": scenario, "threshold": ct.threshold,
                           "retrained": False, "model_version": registry.production_version(ctx.root) or ""}
    if problems or frame is None:
        where = quarantine(ctx, step, problems, source=source, frame=raw)
        row.update(status="quarantined", note=f"{problems[0]} -> {where.relative_to(ctx.root)}")
        return row
    if ctx.commit:
        lock.mark_inflight(ctx.root, {"phase": "step", "step": step, "scenario": scenario,
                                      "head": git(ctx.root, "rev-parse", "HEAD")})
    batch = ctx.path(INCOMING / "batch.parquet")
    for other in ctx.path(INCOMING).glob("batch.*"):
        if other != batch:
            other.unlink()
    write_parquet(batch, frame)
    drift = measure_drift(ctx, step)
    performance = drift.get("performance") or {}
    row.update(status="ok", drift_score=drift.get("drift_score"), drifted_share=drift.get("drifted_share"),
               batch_rows=len(frame), batch_accuracy=performance.get("accuracy"),
               accuracy_drop=performance.get("accuracy_drop"))
    needed, reason = decide(drift, ctx.params)
    row["note"] = reason
    if needed:
        outcome = retrain(ctx, step, batch, drift, reason)
        row.update({k: v for k, v in outcome.items() if k in ("status", "retrained", "gates", "note")})
        row["model_version"] = registry.production_version(ctx.root) or outcome.get("version", "")
    lock.clear_inflight(ctx.root)
    return row


def record(ctx: Context, row: dict[str, Any]) -> None:
    """Append the step to the history and log it to tracking (the timeline is redrawn per command:
    drawing it costs ~0.2 s, a third of a CT step)."""
    history.append(ctx.path(HISTORY), row)
    if ctx.log is not None:
        step = float(row["step"])
        for key in ("drift_score", "batch_accuracy", "accuracy_drop"):
            if row.get(key) not in (None, ""):
                ctx.log.series(f"ct/{key}", [float(row[key])], steps=[step])
        ctx.log.series("ct/retrained", [1.0 if row.get("retrained") else 0.0], steps=[step])
        ctx.log.log(f"ct/steps/{row['step']}", {k: str(v) for k, v in row.items() if v not in (None, "")})


def redraw_timeline(ctx: Context) -> None:
    """metrics/ct_timeline.png from the whole history (`dvc plots show` renders the CSV itself)."""
    history.draw_timeline(history.read(ctx.path(HISTORY)), ctx.path(TIMELINE))
