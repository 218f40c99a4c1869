"""Benchmark: what a server that never answers costs a pipeline, and exporting 1,000 offline runs to MLflow.

1. A forced `dvc repro -f` of the project in a temporary copy, alternately offline (no token) and with a
   token whose server (127.0.0.1, a socket that accepts and never replies) never answers, at the
   params.yaml `tracking.online_timeout_s`. Target: at most one timeout more (one attempt per pipeline).
2. `ct.py export-runs` of 1,000 offline runs into a fresh SQLite MLflow store: the pipeline's real runs
   (written by the pinned Neptune client), copied with new run ids up to 1,000; then a second export
   (which adds nothing).

Writes "## Tracking: unresponsive server" and "## Tracking: MLflow export" in benchmarks/results.md.

    python benchmarks/bench_tracking_records.py [--repeats 2] [--runs 1000] [--no-write]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import machine_info, write_section  # noqa: E402
from ctml.config import load_params  # noqa: E402
from ctml.runs.offline import offline_runs, run_folders  # noqa: E402
from tests.helpers import ct, dvc, make_project  # noqa: E402
from tests.standins import silent_server, token_for  # noqa: E402

ON = {"CT_TRACKING": "on"}


def bench_unresponsive(repo: Path, repeats: int) -> tuple[list[float], list[float], int]:
    """Seconds of `dvc repro -f` offline and against a never-answering server; warnings seen (max)."""
    offline, silent, warnings = [], [], 0
    with silent_server() as address:
        online = {"NEPTUNE_API_TOKEN": token_for(address), "NEPTUNE_PROJECT": "ws/proj", **ON}
        for i in range(repeats):
            for mode in (("offline", "silent") if i % 2 == 0 else ("silent", "offline")):
                start = time.perf_counter()
                proc = dvc("repro", "-f", cwd=repo, **(online if mode == "silent" else ON))
                (silent if mode == "silent" else offline).append(time.perf_counter() - start)
                if mode == "silent":
                    warnings = max(warnings, (proc.stdout + proc.stderr).count("warning: tracking: cannot go online"))
                print(f"dvc repro -f {mode}: {(silent if mode == 'silent' else offline)[-1]:.1f} s", flush=True)
    return offline, silent, warnings


def clone_runs(repo: Path, count: int) -> int:
    """Copy the project's offline runs, each with a new run id, until there are `count`; returns the bytes per run."""
    base = repo / ".neptune" / "offline"
    originals = run_folders(repo)
    i = 0
    while len(run_folders(repo)) < count:
        source = originals[i % len(originals)]
        new_id = str(uuid.uuid4())
        parts = source.name.split("__")
        target = base / "__".join(["run", new_id, *parts[2:]])
        shutil.copytree(source, target)
        meta = json.loads((target / "metadata.json").read_text())
        (target / "metadata.json").write_text(json.dumps({**meta, "containerId": new_id}, indent=2))
        i += 1
    total = sum(p.stat().st_size for p in base.rglob("*") if p.is_file())
    return total // max(count, 1)


def bench_export(repo: Path, count: int) -> dict[str, float]:
    originals = offline_runs(repo)
    per_run = clone_runs(repo, count)
    start = time.perf_counter()
    first = json.loads(ct(repo, "export-runs", "--json").stdout)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    second = json.loads(ct(repo, "export-runs", "--json").stdout)
    second_s = time.perf_counter() - start
    assert first["exported"] == count and second["exported"] == 0, (first, second)
    store = (repo / "mlflow.db").stat().st_size + sum(p.stat().st_size for p in (repo / "mlartifacts").rglob("*") if p.is_file())
    return {"runs": count, "first_s": first_s, "inside_s": first["seconds"], "second_s": second_s,
            "kb_per_run": per_run / 1024, "store_mb": store / 2**20, "originals": len(originals),
            "stages": len({r.stage for r in originals})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="`dvc repro -f` per mode (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=1000, help="offline runs exported (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave results.md alone")
    args = parser.parse_args()
    timeout = load_params(ROOT / "params.yaml").tracking.online_timeout_s
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_project(Path(tmp) / "project")
        dvc("repro", cwd=repo, **ON)
        offline, silent, warnings = bench_unresponsive(repo, args.repeats)
        load_mid = os.getloadavg()[0]
        export = bench_export(repo, args.runs)
    load_end = os.getloadavg()[0]
    added = statistics.median(silent) - statistics.median(offline)
    unresponsive = "\n".join([
        (f"`python benchmarks/bench_tracking_records.py`: a forced `dvc repro -f` of the project (7 stages, built-in "
         f"breast_cancer data) {args.repeats} times offline and {args.repeats} times with `NEPTUNE_API_TOKEN` pointing at "
         f"a server on 127.0.0.1 that accepts connections and never answers, alternating; "
         f"`tracking.online_timeout_s: {timeout:g}`."),
        "",
        machine_info() + f" Load average {load_start:.1f} at start, {load_mid:.1f} at end.",
        "",
        "| `dvc repro -f` | s (median) | runs |",
        "|---|---:|---|",
        f"| offline | {statistics.median(offline):.1f} | {', '.join(f'{s:.1f}' for s in offline)} |",
        f"| server never answers | {statistics.median(silent):.1f} | {', '.join(f'{s:.1f}' for s in silent)} |",
        "",
        (f"Added: **{added:+.1f} s** for one timeout of {timeout:g} s (target: at most one timeout more); "
         f"{warnings} warning line per pipeline. Before this change every stage waited its own timeout: "
         "47 s vs 12 s, 7 warnings (FIELD-NOTES)."),
    ])
    exported = "\n".join([
        (f"`ct.py export-runs` of {export['runs']:,} offline runs (the {export['originals']} runs of the {export['stages']} "
         f"stages this benchmark's `dvc repro` calls wrote with neptune 1.14, copied with new run ids; "
         f"{export['kb_per_run']:.0f} KiB per run on disk) into a "
         "fresh SQLite store (`sqlite:///mlflow.db`), whole process, then a second export."),
        "",
        machine_info() + f" Load average {load_mid:.1f} at start, {load_end:.1f} at end.",
        "",
        "| | s |",
        "|---|---:|",
        f"| first export, whole command | {export['first_s']:.1f} |",
        f"| of which the export itself (after imports) | {export['inside_s']:.1f} |",
        f"| per run | {export['inside_s'] / export['runs'] * 1000:.0f} ms |",
        f"| second export (adds nothing) | {export['second_s']:.1f} |",
        "",
        f"Store after the export: {export['store_mb']:.0f} MiB (`mlflow.db` + `mlartifacts/`).",
    ])
    print(unresponsive + "\n\n" + exported)
    if not args.no_write:
        write_section("Tracking: unresponsive server", unresponsive)
        write_section("Tracking: MLflow export", exported)


if __name__ == "__main__":
    main()
