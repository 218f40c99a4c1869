"""The ct.py subcommands: thin functions over the loop, registry and repo modules."""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from ctml import tracking
from ctml.config import load_params
from ctml.ct import history, lock, registry, scenarios
from ctml.ct.loop import (HISTORY, RECORDS, TIMELINE, Context, ensure_baseline, prepare_batch, read_incoming, record, recover,
                          redraw_timeline, run_step)
from ctml.ct.repo import commit_state, dvc, git, project_root, restore_state, unrelated_changes
from ctml.ct.report import Printer, table
from ctml.errors import UserError
from ctml.io import read_table, write_parquet

REPLAY_SOURCE = Path("data/source/replay.parquet")


def _context(args: argparse.Namespace, commit: bool) -> Context:
    root = project_root()
    params = load_params(root / "params.yaml")
    printer = Printer(args.verbosity)
    return Context(root=root, params=params, commit=commit, say=printer.progress,
                   pipeline_id=f"ct-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}")


def _refuse_unrelated(ctx: Context) -> None:
    if ctx.commit and (changed := unrelated_changes(ctx.root)):
        raise UserError(f"{changed[0]}: uncommitted change outside the pipeline state ({len(changed)} file(s)); "
                        "commit or stash it, or pass --no-commit")


def _start(ctx: Context) -> None:
    _refuse_unrelated(ctx)
    if note := recover(ctx):
        ctx.say(f"recovery: {note}")


def _set_source(ctx: Context, data: str, target: str) -> tuple[str, ...]:
    """Replay: the first ct.reference_rows rows become the training source; params point at them."""
    from ruamel.yaml import YAML

    frame = read_table(data)
    if target not in frame.columns:
        raise UserError(f"{data}: --target '{target}' is not a column")
    if len(frame) <= ctx.params.ct.reference_rows:
        raise UserError(f"{data}: {len(frame)} rows, need more than ct.reference_rows={ctx.params.ct.reference_rows} to replay")
    write_parquet(ctx.path(REPLAY_SOURCE), frame.iloc[: ctx.params.ct.reference_rows])
    dvc(ctx.root, "add", "--quiet", str(REPLAY_SOURCE))
    yaml = YAML()
    path = ctx.path("params.yaml")
    doc = yaml.load(path.read_text())
    doc["data"]["source"], doc["data"]["target"] = str(REPLAY_SOURCE), target
    with open(path, "w") as handle:
        yaml.dump(doc, handle)
    ctx.params = load_params(path)
    return ("params.yaml", "data/source")


def _batches(args: argparse.Namespace, ctx: Context, seed: int):
    """(scenario frame) per step: simulated from the training data, or the replayed file's rows."""
    if args.scenario == "replay":
        frame = read_table(args.data)
        yield from scenarios.replay_batches(frame, ctx.params.ct.reference_rows, args.batch_size)
        return
    reference = pd.read_parquet(ctx.path("data/raw/train.parquet"))
    for i in range(1, args.steps + 1):
        yield scenarios.make_batch(reference, ctx.params.data.target, args.scenario, i, args.steps,
                                   args.batch_size, seed, ctx.params.ct)


def simulate(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.batch_size < 1:
        raise UserError("--steps and --batch-size must be at least 1")
    if args.scenario == "replay" and not (args.data and args.target):
        raise UserError("--scenario replay needs --data FILE and --target COLUMN")
    ctx = _context(args, commit=not args.no_commit)
    seed = ctx.params.seed if args.seed is None else args.seed
    started = time.perf_counter()
    with lock.exclusive(ctx.root), tracking.stage_run("ct", ctx.params, section="ct") as run:
        ctx.log = run
        _start(ctx)
        extra = _set_source(ctx, args.data, args.target) if args.scenario == "replay" else ()
        ensure_baseline(ctx, extra)
        first = history.next_step(ctx.path(HISTORY))
        rows = []
        for i, frame in enumerate(_batches(args, ctx, seed), start=1):
            if i > args.steps:
                break
            step = first + i - 1
            tick = time.perf_counter()
            typed, problems = prepare_batch(frame, ctx)
            row = run_step(ctx, step, args.scenario, typed, problems, raw=frame)
            record(ctx, row)
            rows.append(row)
            ctx.say(_progress(i, args.steps, row, time.perf_counter() - tick))
        if rows:
            redraw_timeline(ctx)
        if ctx.commit and rows:
            commit_state(ctx.root, f"ct: record steps {rows[0]['step']}-{rows[-1]['step']} ({args.scenario})")
        run.log("ct/summary", {"steps": len(rows), "retrains": sum(bool(r.get("retrained")) for r in rows),
                               "versions": ",".join(ctx.created), "scenario": args.scenario})
    _summary(ctx, rows, time.perf_counter() - started)
    return 0


def _progress(i: int, steps: int, row: dict[str, Any], seconds: float) -> str:
    score = row.get("drift_score")
    shown = f"drift {score:.3f}" if isinstance(score, (int, float)) else "drift -"
    acc = row.get("batch_accuracy")
    acc_text = f"  acc {acc:.3f}" if isinstance(acc, (int, float)) else ""
    outcome = {"retrained": f"RETRAINED -> {row.get('model_version')}", "blocked": "BLOCKED", "failed": "FAILED",
               "quarantined": "QUARANTINED"}.get(row["status"], "ok")
    return f"step {i}/{steps} (#{row['step']}): {shown}{acc_text}  {outcome}  {row.get('note', '')}  [{seconds:.1f}s]"


def _summary(ctx: Context, rows: list[dict[str, Any]], seconds: float) -> None:
    metrics = json.loads(ctx.path("metrics/metrics.json").read_text())
    counts = {s: sum(r["status"] == s for r in rows) for s in ("retrained", "blocked", "failed", "quarantined")}
    table("CT summary", ["item", "value"], [
        ["steps", len(rows)],
        ["retrains", counts["retrained"]],
        ["blocked / failed / quarantined", f"{counts['blocked']} / {counts['failed']} / {counts['quarantined']}"],
        ["versions created", ", ".join(ctx.created) or "none"],
        ["production", registry.production_version(ctx.root) or "none"],
        *[[f"metric {k}", v] for k, v in metrics.items()],
        ["timeline", f"{TIMELINE} (and `dvc plots show`)"],
        ["history", str(HISTORY)],
        ["time", f"{seconds:.1f}s"],
    ])


def check(args: argparse.Namespace) -> int:
    ctx = _context(args, commit=not args.no_commit)
    with lock.exclusive(ctx.root), tracking.stage_run("ct", ctx.params, section="ct") as run:
        ctx.log = run
        _start(ctx)
        ensure_baseline(ctx)
        step = history.next_step(ctx.path(HISTORY))
        source, typed, problems = read_incoming(ctx)
        row = run_step(ctx, step, "check", typed, problems, source=source)
        record(ctx, row)
        redraw_timeline(ctx)
        if ctx.commit:
            commit_state(ctx.root, f"ct: record step {step} (check)")
        ctx.say(_progress(1, 1, row, 0.0))
    return 0


def status(args: argparse.Namespace) -> int:
    root = project_root()
    params = load_params(root / "params.yaml")
    past = history.read(root / HISTORY)
    retrains = past[past["retrained"].astype(str).str.lower() == "true"] if len(past) else past
    last = past.iloc[-1] if len(past) else None
    table("CT status", ["item", "value"], [
        ["production version", registry.production_version(root) or "none"],
        ["latest version", (registry.versions(root) or ["none"])[-1]],
        ["threshold (ct.threshold)", params.ct.threshold],
        ["last drift score", None if last is None else last["drift_score"]],
        ["last step", "none" if last is None else f"#{last['step']} at {last['time']} ({last['status']})"],
        ["last retrain", "never" if not len(retrains) else f"#{retrains.iloc[-1]['step']} at {retrains.iloc[-1]['time']}"],
        ["steps recorded", len(past)],
    ])
    return 0


def show_history(args: argparse.Namespace) -> int:
    past = history.read(project_root() / HISTORY)
    if not len(past):
        print("no CT steps recorded yet; run `python ct.py simulate`")
        return 0
    shown = past.tail(args.limit)
    cols = ["step", "time", "scenario", "status", "drift_score", "threshold", "batch_accuracy", "retrained", "model_version", "note"]
    table(f"CT history ({len(shown)} of {len(past)} steps)", cols, shown[cols].astype(object).where(shown[cols].notna(), None).values.tolist())
    return 0


def runs(args: argparse.Namespace) -> int:
    from ctml.tracking import offline as tracked

    tracked.print_runs(project_root(), args.limit)
    return 0


def rollback(args: argparse.Namespace) -> int:
    ctx = _context(args, commit=True)
    with lock.exclusive(ctx.root):
        _start(ctx)
        current = registry.production_version(ctx.root)
        if current is None:
            raise UserError("no model in production yet; nothing to roll back")
        if args.version:
            target = registry.resolve(ctx.root, args.version)
        else:
            earlier = [v for v in registry.production_history(ctx.root)[:-1] if v != current]
            if not earlier:
                raise UserError(f"{current} is the only version ever in production; name a version to roll back to")
            target = earlier[-1]
        if target == current:
            raise UserError(f"{target} is already in production")
        restore_state(ctx.root, registry.tag_of(target), keep=RECORDS)
        commit_state(ctx.root, f"ct: roll back production {current} -> {target}")
        tag = registry.assign_prod(ctx.root, target, f"rollback from {current}")
        ctx.say(f"production: {current} -> {target} ({tag}); model, preprocessing and metrics restored")
    return 0


def _show(root: Path, rev: str, path: str) -> str | None:
    out = git(root, "show", f"{rev}:{path}", check=False)
    return out or None


def lineage_of(root: Path, version: str) -> dict[str, Any]:
    """Everything recorded about a version, read from its tag's commit (git + dvc.lock)."""
    import yaml

    tag = registry.tag_of(version)
    meta = json.loads(_show(root, tag, "models/model.json") or "{}")
    lockfile = yaml.safe_load(_show(root, tag, "dvc.lock") or "{}") or {}
    stages = lockfile.get("stages", {})
    outs = {o["path"]: o.get("md5") for s in stages.values() for o in s.get("outs", [])}
    batches = []
    for name in git(root, "ls-tree", "--name-only", tag, "data/batches/").splitlines():
        if name.endswith(".parquet.dvc"):
            pointer = yaml.safe_load(_show(root, tag, name) or "{}")
            out = (pointer.get("outs") or [{}])[0]
            batches.append({"file": name[:-4], "md5": out.get("md5"), "size": out.get("size")})
    params = yaml.safe_load(_show(root, tag, "params.yaml") or "{}")
    return {
        "version": version,
        "tag": tag,
        "commit": registry.commit_of(root, version),
        "message": git(root, "tag", "-l", "--format=%(contents)", tag),
        "model": {"sha256": meta.get("model_sha256"), "type": (meta.get("params") or {}).get("train", {}).get("model")},
        "data": {"source": (params.get("data") or {}).get("source"), "train_rows": meta.get("train_rows"),
                 "train_split_sha256": meta.get("train_data_sha256"),
                 "training_data_md5": outs.get("data/raw/train.parquet"), "batches": batches},
        "params": params,
        "metrics": json.loads(_show(root, tag, "metrics/metrics.json") or "{}"),
        "gates": json.loads(_show(root, tag, "metrics/gates.json") or "{}"),
        "libraries": meta.get("libraries"),
        "neptune_runs": _neptune_runs(root, version),
    }


def _neptune_runs(root: Path, version: str) -> list[str]:
    try:
        from ctml.tracking import offline as tracked

        return tracked.run_ids(root, model_version=version)
    except (ImportError, AttributeError):
        return []


def lineage(args: argparse.Namespace) -> int:
    root = project_root()
    info = lineage_of(root, registry.resolve(root, args.version))
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    data = info["data"]
    table(f"Lineage of model {info['version']}", ["item", "value"], [
        ["tag / commit", f"{info['tag']} / {info['commit'][:12]}"],
        ["model sha256", info["model"]["sha256"]],
        ["model type", info["model"]["type"]],
        ["data source", data["source"]],
        ["training data md5 (dvc.lock)", data["training_data_md5"]],
        ["train rows", data["train_rows"]],
        ["CT batches folded in", ", ".join(Path(b["file"]).name for b in data["batches"]) or "none"],
        *[[f"metric {k}", v] for k, v in info["metrics"].items()],
        ["gates", "passed" if info["gates"].get("passed") else f"blocked by {info['gates'].get('blocked_by')}"],
        ["neptune runs", ", ".join(info["neptune_runs"]) or "none recorded offline here"],
        ["tag message", info["message"].splitlines()[0] if info["message"] else ""],
    ])
    return 0


def compare(args: argparse.Namespace) -> int:
    root = project_root()
    old, new = registry.resolve(root, args.old), registry.resolve(root, args.new)
    a, b = registry.tag_of(old), registry.tag_of(new)
    params = json.loads(dvc(root, "params", "diff", a, b, "--all", "--json").stdout or "{}")
    metrics = json.loads(dvc(root, "metrics", "diff", a, b, "--all", "--json").stdout or "{}")
    table(f"Params {old} vs {new}", ["file", "key", old, new], [
        [f, k, d.get("old"), d.get("new")] for f, keys in params.items() for k, d in keys.items() if d.get("old") != d.get("new")
    ] or [["-", "no differences", "", ""]])
    table(f"Metrics {old} vs {new}", ["file", "metric", old, new, "change"], [
        [f, k, d.get("old"), d.get("new"), d.get("diff")] for f, keys in metrics.items() for k, d in keys.items()
    ])
    return 0


def predict(args: argparse.Namespace) -> int:
    from ctml.predict import predict_file

    root = project_root()
    params = load_params(root / "params.yaml")
    if args.version is None:
        prod = root / "models/production"
        model, meta = (prod / "model.joblib", prod / "model.json") if (prod / "model.json").exists() else \
            (root / "models/model.joblib", root / "models/model.json")
        predict_file(args.input, model, meta, root / "data/schema.json", args.output, params)
        return 0
    version = registry.resolve(root, args.version)
    tag = registry.tag_of(version)
    with tempfile.TemporaryDirectory() as tmp:
        import dvc.api

        model = Path(tmp) / "model.joblib"
        with dvc.api.open("models/model.joblib", repo=str(root), rev=tag, mode="rb") as src:
            model.write_bytes(src.read())
        for name, rel in (("model.json", "models/model.json"), ("schema.json", "data/schema.json")):
            (Path(tmp) / name).write_text(_show(root, tag, rel) or "")
        predict_file(args.input, model, Path(tmp) / "model.json", Path(tmp) / "schema.json", args.output, params)
    return 0
