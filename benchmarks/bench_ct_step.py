"""Benchmark: one CT step when nothing drifts vs a bare no-op `dvc repro drift` (target <= 1.5x).

Builds a project in a temporary directory, releases the baseline, then times
  (a) `dvc repro drift` with nothing to do (the floor any DVC-driven step pays),
  (b) `dvc repro drift` on a new batch from the command line (what the step did before ctml.ct.repo.warm),
  (c) `ctml.ct.step.run.run_step` + `record_step` on a `none` batch, in-process as ct.py runs it
      (the timeline PNG is drawn once per command, not per step, and is not in this figure),
and writes the medians to benchmarks/results.md ("## CT step").

    python benchmarks/bench_ct_step.py [--steps 10]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import machine_info, write_section  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="CT steps timed (default: %(default)s)")
    args = parser.parse_args()

    import os

    import pandas as pd

    from ctml.config import load_params
    from ctml import layout
    from ctml.ct.intake import scenarios
    from ctml.ct.intake.batches import prepare_batch
    from ctml.ct.context import Context
    from ctml.ct.step.run import record_step, run_step
    from ctml.ct.repo.vcs import tool_env
    from ctml.io import write_parquet
    from tests.helpers import make_project

    with tempfile.TemporaryDirectory() as tmp:
        repo = make_project(Path(tmp) / "project")
        env = tool_env()
        subprocess.run([sys.executable, "ct.py", "-q", "simulate", "--steps", "1"], cwd=repo, env=env, check=True,
                       capture_output=True)
        dvc = str(Path(sys.executable).parent / "dvc")
        noop = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([dvc, "repro", "drift"], cwd=repo, env=env, check=True, capture_output=True)
            noop.append(time.perf_counter() - start)

        os.chdir(repo)
        os.environ.update(env)
        params = load_params(repo / "params.yaml")
        ctx = Context(root=repo, params=params)
        reference = pd.read_parquet(repo / "data/raw/train.parquet")

        def batch(i: int) -> pd.DataFrame:
            return scenarios.make_batch(reference, params.data.target, "none", i, args.steps, 200, 1000 + i, params.ct)

        cli = []
        for i in range(1, 6):
            write_parquet(repo / layout.STAGED_BATCH, batch(100 + i))  # what the drift stage reads
            start = time.perf_counter()
            subprocess.run([dvc, "repro", "drift"], cwd=repo, env=env, check=True, capture_output=True)
            cli.append(time.perf_counter() - start)
        steps = []
        for i in range(1, args.steps + 1):
            frame = batch(i)
            start = time.perf_counter()
            record = run_step(ctx, 100 + i, "none", prepare_batch(frame, ctx))
            record_step(ctx, record)
            steps.append(time.perf_counter() - start)
            assert not record.retrained, record

    floor, step, before = statistics.median(noop), statistics.median(steps), statistics.median(cli)
    body = "\n".join([
        machine_info(),
        "",
        "| measure | median (s) | runs |",
        "|---|---|---|",
        f"| no-op `dvc repro drift` | {floor:.3f} | {len(noop)} |",
        f"| `dvc repro drift` on a new batch, from the command line (the CT step's drift part before the warm path) | {before:.3f} | {len(cli)} |",
        f"| CT step, no drift (check batch, write it, drift stage in ct.py's process + `dvc commit drift`, decide, history row) | {step:.3f} | {len(steps)} |",
        f"| ratio CT step / no-op `dvc repro drift` | {step / floor:.2f}x | target <= 1.5x |",
    ])
    write_section("CT step", body)
    print(body)


if __name__ == "__main__":
    main()
