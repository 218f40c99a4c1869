"""Benchmark: a retrain in ct.py's warm process vs the same through `dvc repro`, CT start-up after a
release vs a no-op `dvc status`, README command 1 after its pip install, and each stage's imports.

Builds a project in a temporary directory (built-in breast_cancer data), releases the baseline, then
  (a) the retrain of one drifted batch: fold it (`dvc add`) and reproduce the pipeline, in ct.py's
      process (`ctml.ct.repo.warm`) and from the command line (`dvc add` + `dvc repro`), on copies of the
      same project, alternating; and a whole CT step that retrains and releases, in-process;
  (b) `python ct.py check` with nothing delivered right after the release, the in-process baseline
      check a step with a batch starts with (`ctml.ct.repo.warm.stale`), and a no-op `dvc status`;
  (c) `dvc repro && python ct.py simulate --scenario sudden --steps 4 --batch-size 200` on a fresh
      copy (README command 1 without its pip install);
  (d) `python -c "import stages.<name>"` for each stage, against a bare `python -c pass`;
and writes the medians to benchmarks/results.md ("## Retrain and start-up").

    python benchmarks/bench_retrain.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import load_line, machine_info, write_section  # noqa: E402

STAGES = ("ingest", "validate", "preprocess", "train", "evaluate", "drift", "gates")
README_JOB = "dvc repro && python ct.py simulate --scenario sudden --steps 4 --batch-size 200"


def timed(cmd: list[str] | str, cwd: Path, env: dict[str, str], shell: bool = False) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, shell=shell)
    return time.perf_counter() - start


def drifted_batch(repo: Path, seed: int):
    import pandas as pd

    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(200, random_state=seed, replace=True)
    for name in [c for c in frame.columns if c != "target"][:15]:
        frame[name] = frame[name] + 2.0 * frame[name].std()
    return frame


def fold(repo: Path, seed: int) -> str:
    """A drifted batch written into the current source's lineage folder (what a CT step folds); the
    folder's path from the root, what CT adds to DVC (one directory per lineage, ctml/ct/step/fold.py)."""
    from tests.helpers import lineage_folder

    folder = lineage_folder(repo)
    drifted_batch(repo, seed).to_parquet(folder / f"batch-{9000 + seed:04d}.parquet", index=False)
    return folder.relative_to(repo).as_posix()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timed figure (default: %(default)s)")
    args = parser.parse_args()

    from ctml.config import load_params
    from ctml.ct.repo import warm
    from ctml.ct.intake.batches import prepare_batch
    from ctml.ct.context import Context
    from ctml.ct.repo.vcs import tool_env
    from ctml.ct.step.run import run_step
    from tests.helpers import make_project

    env = tool_env(CT_TRACKING="on")
    dvc = str(Path(sys.executable).parent / "dvc")
    load_start = load_line()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = make_project(tmp / "base")
        readme = []
        for i in range(args.repeats):  # (c) on fresh copies of the untouched project
            copy = shutil.copytree(base, tmp / f"readme-{i}", symlinks=True)
            readme.append(timed(README_JOB, copy, env, shell=True))
        subprocess.run([sys.executable, "ct.py", "-q", "simulate", "--steps", "1"], cwd=base, env=env, check=True,
                       capture_output=True)

        check, stale, status = [], [], []
        for _ in range(max(5, args.repeats)):  # (b) alternating
            check.append(timed([sys.executable, "ct.py", "check"], base, env))
            status.append(timed([dvc, "status"], base, env))
            start = time.perf_counter()
            assert warm.stale(base) == {}
            stale.append(time.perf_counter() - start)

        cli, inproc, steps = [], [], []
        os.environ.update(env)
        for i in range(args.repeats):  # (a) alternating, each on its own copy of the released project
            a, b, c = (shutil.copytree(base, tmp / f"{kind}-{i}", symlinks=True) for kind in ("cli", "warm", "step"))
            rel = fold(a, i)
            start = time.perf_counter()
            subprocess.run([dvc, "add", "-q", rel], cwd=a, env=env, check=True, capture_output=True)
            subprocess.run([dvc, "repro"], cwd=a, env=env, check=True, capture_output=True)
            cli.append(time.perf_counter() - start)
            rel = fold(b, i)
            start = time.perf_counter()
            warm.add(b, rel)
            runs = warm.reproduce(b, env={"CT_PIPELINE_ID": f"bench-{i}"})
            inproc.append(time.perf_counter() - start)
            assert {r.where for r in runs} == {"in-process"} and len(runs) == len(STAGES), runs
            ctx = Context(root=c, params=load_params(c / "params.yaml"))
            start = time.perf_counter()
            os.chdir(c)
            record = run_step(ctx, 50 + i, "sudden", prepare_batch(drifted_batch(c, i), ctx))
            steps.append(time.perf_counter() - start)
            os.chdir(ROOT)
            assert record.status == "retrained", record

        imports = {"(bare interpreter)": statistics.median(timed([sys.executable, "-c", "pass"], base, env) for _ in range(5))}
        for stage in STAGES:  # (d)
            imports[stage] = statistics.median(timed([sys.executable, "-c", f"import stages.{stage}"], base, env)
                                               for _ in range(args.repeats))

    med = statistics.median
    rows = [
        "| measure | median (s) | runs | target |",
        "|---|---:|---:|---|",
        f"| retrain from the command line: `dvc add` + `dvc repro` (7 stage processes) | {med(cli):.2f} | {len(cli)} | |",
        f"| the same retrain in ct.py's process (`warm.add` + `warm.reproduce`) | {med(inproc):.2f} | {len(inproc)} | <= 5 s |",
        f"| speed-up | {med(cli) / med(inproc):.1f}x | | >= 4x |",
        f"| whole CT step that retrains and releases (drift, fold, reproduce, promote, drift + gates again, commit, tags, push) | {med(steps):.2f} | {len(steps)} | |",
        f"| no-op `dvc status` (process) | {med(status):.3f} | {len(status)} | |",
        f"| `ct.py check` with nothing delivered, right after a release (process) | {med(check):.3f} | {len(check)} | |",
        f"| ratio `ct.py check` / `dvc status` | {med(check) / med(status):.2f}x | | <= 1.0x |",
        f"| baseline check a step with a batch starts with, after a release (in-process `dvc status`) | {med(stale):.3f} | {len(stale)} | |",
        f"| ratio baseline check / `dvc status` | {med(stale) / med(status):.2f}x | | <= 1.5x |",
        f"| README command 1 after its pip install: `{README_JOB}` | {med(readme):.1f} | {len(readme)} | < 30 s |",
    ]
    imported = ["", "Import time of each stage module (`python -c \"import stages.<name>\"`, whole process, median):", "",
                "| stage | s |", "|---|---:|", *[f"| {name} | {secs:.2f} |" for name, secs in imports.items()]]
    body = "\n".join([machine_info(), f"Load average at start: {load_start}; at end: {load_line()}.", "", *rows, *imported])
    write_section("Retrain and start-up", body)
    print(body)


if __name__ == "__main__":
    main()
