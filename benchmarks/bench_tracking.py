"""Benchmark: time offline Neptune tracking adds to each pipeline stage, against tracking disabled.

Builds the project in a temporary directory and runs `dvc repro` once so every stage has its
inputs, then runs each stage's command from dvc.yaml as DVC would (`bash -c` from the project root,
venv first on PATH) alternately with `CT_TRACKING=off` and with offline tracking, and compares the
median wall times of the whole process. Also times `import neptune` (plain vs as ctml.tracking does
it), the parts of a tracked stage in one process, reads the import + init time each run logged
(`run/tracking_init_s`), and times a whole `dvc repro -f` both ways. Writes the figures into "## Tracking overhead" of benchmarks/results.md.

    python benchmarks/bench_tracking.py [--repeats 5] [--pipeline-repeats 2] [--no-write]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from benchmarks.results import machine_info, write_section  # noqa: E402
from ctml.runs.offline import offline_runs  # noqa: E402
from tests.helpers import dvc, env, make_project  # noqa: E402

IMPORT_PROBE = """
import sys, time
sys.path.insert(0, {root!r})
import pandas, sklearn.ensemble, pyarrow.parquet, matplotlib  # what the stages import anyway
start = time.perf_counter()
if "{mode}" == "fast":
    from ctml.tracking.neptune_client import import_neptune
    import_neptune()
elif "{mode}" == "plain":
    import neptune
elif "{mode}" == "run":
    from ctml import tracking
    from ctml.config import load_params
    with tracking.stage_run("probe", load_params("params.yaml"), section="train"):
        pass
print(time.perf_counter() - start)
"""

BREAKDOWN_PROBE = """
import json, sys, time
sys.path.insert(0, {root!r})
import pandas, sklearn.ensemble, pyarrow.parquet, matplotlib
from ctml import tracking
from ctml.config import load_params
from ctml.tracking.neptune_client import import_neptune
params = load_params("params.yaml")
import_neptune()
t0 = time.perf_counter()
with tracking.stage_run("probe", params, section="evaluate") as run:
    t1 = time.perf_counter()
    run.metrics("metrics", dict(a=0.1, b=0.2, c=0.3, d=0.4, e=0.5, f=0.6))
    run.data_input("raw", "data/raw/train.parquet")
    t2 = time.perf_counter()
t3 = time.perf_counter()
print(json.dumps(dict(enter=t1 - t0, calls=t2 - t1, exit=t3 - t2)))
"""


def timed(cmd: list[str], cwd: Path, **extra: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(**extra), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return elapsed


def stage_commands(repo: Path) -> dict[str, str]:
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    return {name: " ".join(spec["cmd"].split()) for name, spec in stages.items()}


def bench_stages(repo: Path, repeats: int) -> dict[str, tuple[list[float], list[float]]]:
    """{stage: (seconds off, seconds on)}; the two modes alternate (ABBA) to cancel load drift."""
    out = {}
    for name, cmd in stage_commands(repo).items():
        off, on = [], []
        timed(["bash", "-c", cmd], repo, CT_TRACKING="off")  # warm the page cache
        for i in range(repeats):
            order = [("off", off), ("on", on)] if i % 2 == 0 else [("on", on), ("off", off)]
            for mode, sink in order:
                sink.append(timed(["bash", "-c", cmd], repo, **({"CT_TRACKING": "off"} if mode == "off" else {})))
        out[name] = (off, on)
        print(f"{name:<11} off {statistics.median(off):.3f} s  on {statistics.median(on):.3f} s", flush=True)
    return out


def bench_import(repo: Path, repeats: int) -> dict[str, float]:
    """Median seconds, after the stages' own imports: `import neptune` plain and as ctml.tracking does it,
    and the longer process exit after a tracked run (wall-time difference minus the time inside)."""
    def probe(mode: str) -> tuple[float, float]:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", IMPORT_PROBE.format(root=str(ROOT), mode=mode)], cwd=repo,
                             capture_output=True, text=True, check=True, env=env()).stdout
        return time.perf_counter() - start, float(out.splitlines()[-1])

    samples: dict[str, list[tuple[float, float]]] = {"none": [], "plain": [], "fast": [], "run": []}
    for i in range(repeats):
        for mode in (list(samples) if i % 2 == 0 else list(reversed(samples))):
            samples[mode].append(probe(mode))
    wall = {m: statistics.median(w for w, _ in v) for m, v in samples.items()}
    inner = {m: statistics.median(t for _, t in v) for m, v in samples.items()}
    return {"plain": inner["plain"], "fast": inner["fast"], "teardown": wall["run"] - wall["none"] - inner["run"]}


def bench_pipeline(repo: Path, repeats: int) -> tuple[float, float, list[float]]:
    """Median seconds of `dvc repro -f` without and with tracking, and the tracked samples."""
    off, on = [], []
    for i in range(repeats):
        for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
            start = time.perf_counter()
            dvc("repro", "-f", cwd=repo, **({"CT_TRACKING": "off"} if mode == "off" else {}))
            (off if mode == "off" else on).append(time.perf_counter() - start)
    return statistics.median(off), statistics.median(on), on


def bench_breakdown(repo: Path, repeats: int) -> dict[str, float]:
    """Median seconds of each part of a tracked stage, in one process after the stages' own imports."""
    samples = [json.loads(subprocess.run([sys.executable, "-c", BREAKDOWN_PROBE.format(root=str(ROOT))], cwd=repo,
                                         capture_output=True, text=True, check=True, env=env()).stdout.splitlines()[-1])
               for _ in range(repeats)]
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def report(stages: dict[str, tuple[list[float], list[float]]], init_s: dict[str, float], imports: dict[str, float],
           parts: dict[str, float], pipeline: tuple[float, float] | None, repeats: int, load: tuple[float, float]) -> str:
    rows = []
    for name, (off, on) in stages.items():
        m_off, m_on = statistics.median(off), statistics.median(on)
        init = f"{init_s[name]:.2f}" if name in init_s else "not tracked"
        rows.append(f"| {name} | {m_off:.2f} | {m_on:.2f} | {m_on - m_off:+.2f} | {min(on) - min(off):+.2f} | {init} |")
    tracked = [n for n in stages if n in init_s]
    deltas = [statistics.median(stages[n][1]) - statistics.median(stages[n][0]) for n in tracked]
    lines = [
        ("`python benchmarks/bench_tracking.py`: each stage command of dvc.yaml run as DVC runs it (`bash -c` from the "
         f"root of a temporary copy of the project; built-in breast_cancer data, 569 rows), {repeats} times with "
         f"`CT_TRACKING=off` and {repeats} times with offline tracking, alternating. Wall time of the whole process."),
        "",
        machine_info() + f" Load average {load[0]:.1f} at start, {load[1]:.1f} at end.",
        "",
        "| stage | off s (median) | offline s (median) | added s (median) | added s (min vs min) | import + init s (logged) |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        (f"Added time per tracked stage: **{statistics.mean(deltas):.2f} s** on average "
         f"(from {min(deltas):+.2f} to {max(deltas):+.2f} s; medians per stage)."),
        "",
        "Where it goes, in one process after the imports the stages make anyway (medians of 3-4 runs):",
        "",
        "| part | s |",
        "|---|---:|",
        f"| `import neptune`, plain | {imports['plain']:.3f} |",
        f"| `import neptune` as `ctml.tracking` does it (hides jsonschema's optional `rfc3987_syntax`) | {imports['fast']:.3f} |",
        f"| open the offline run + log pipeline, config (~70 fields), params section, git commit, versions | {parts['enter']:.3f} |",
        f"| `run.metrics` (6 values) + `run.data_input` (sha256 + md5 + row count of the 569-row Parquet) | {parts['calls']:.3f} |",
        f"| close: status, duration, `stop()` | {parts['exit']:.3f} |",
        f"| longer process exit after a tracked run (interpreter finalization; wall-time difference) | {imports['teardown']:.3f} |",
    ]
    if pipeline:
        lines.append("")
        lines.append(f"Whole pipeline, `dvc repro -f` (median of {len(pipeline[2])} each): {pipeline[0]:.1f} s off, "
                     f"{pipeline[1]:.1f} s with offline tracking ({pipeline[1] - pipeline[0]:+.1f} s).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs per stage and mode (default: %(default)s)")
    parser.add_argument("--pipeline-repeats", type=int, default=2, help="`dvc repro -f` per mode; 0 skips (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave results.md alone")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_project(Path(tmp) / "project")
        dvc("repro", cwd=repo, CT_TRACKING="off")
        stages = bench_stages(repo, args.repeats)
        init_s = {}
        for name in stages:
            values = [r.fields["run/tracking_init_s"] for r in offline_runs(repo, stage=name)]
            if values:
                init_s[name] = statistics.median(values)
        imports = bench_import(repo, 4)
        parts = bench_breakdown(repo, 3)
        pipeline = bench_pipeline(repo, args.pipeline_repeats) if args.pipeline_repeats else None
    text = report(stages, init_s, imports, parts, pipeline, args.repeats, (load_start, os.getloadavg()[0]))
    print(text)
    if not args.no_write:
        write_section("Tracking overhead", text)


if __name__ == "__main__":
    main()
