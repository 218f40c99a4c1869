"""Benchmark: CT steps as whole processes, what cron pays, against `dvc repro` measured back to back.

For each code tree given (default: this checkout; pass an older checkout too to compare before and
after), a project is made from that tree in a temporary folder and its baseline released; then, in
rounds that alternate the trees so machine load falls on both alike:
  (a) a no-op `dvc repro` (the yardstick of a step that finds no drift),
  (b) `ct.py -q simulate --scenario none --steps 5 --batch-size 500`, per step (whole process / 5),
  (c) `dvc repro --force` (the yardstick of a retrain),
  (d) `ct.py -q simulate --scenario sudden --steps 1` with ct.start_step 1: a step that drifts, retrains
      and releases, whole process.
Wall time and CPU time (user + system of the child processes) are both kept: on a loaded machine the
wall ratios move with the load, the CPU ratios much less. Medians over the rounds go to
benchmarks/results.md ("## CT steps as whole processes").

    python benchmarks/bench_ct_process.py [--rounds 2] [--tree PATH ...]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import machine_info, write_section  # noqa: E402

CASES = ("noop", "none_step", "force", "retrain")


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s of the process and its children) of one command, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 3):  # 3: needs attention (a blocked candidate is still a measured step)
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}: {proc.stderr.strip()[-400:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def make(tree: Path, dest: Path, env: dict[str, str]) -> Path:
    """A project as `tree` ships it (its own tests.helpers.make_project), baseline released, ct.start_step 1."""
    code = ("import sys; from pathlib import Path; from tests.helpers import make_project, set_params, git; "
            "p = make_project(Path(sys.argv[1])); set_params(p, ct__start_step=1); git('commit', '-qam', 'bench', cwd=p)")
    subprocess.run([sys.executable, "-c", code, str(dest)], cwd=tree, env=env, check=True)
    subprocess.run([sys.executable, "ct.py", "-q", "simulate", "--steps", "1"], cwd=dest, env=env, check=True,
                   capture_output=True)
    return dest


def measure(base: Path, env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """One round on a fresh copy of the released project: every round measures the same steps (a
    model that has learnt the shifted data does not retrain on it again, so rounds may not chain)."""
    project = base.parent / f"round-{len(list(base.parent.glob('round-*')))}"
    shutil.copytree(base, project, symlinks=True)
    dvc = str(Path(sys.executable).parent / "dvc")
    ct = [sys.executable, "ct.py", "-q", "simulate"]
    noop = [timed([dvc, "repro"], project, env) for _ in range(3)]
    none = timed([*ct, "--scenario", "none", "--steps", "5", "--batch-size", "500"], project, env)
    force = timed([dvc, "repro", "--force"], project, env)
    subprocess.run(["git", "commit", "-qam", "bench: forced repro"], cwd=project, capture_output=True)
    retrain = timed([*ct, "--scenario", "sudden", "--steps", "1"], project, env)
    return {"noop": (statistics.median(w for w, _ in noop), statistics.median(c for _, c in noop)),
            "none_step": (none[0] / 5, none[1] / 5), "force": force, "retrain": retrain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tree", action="append", type=Path, help="a checkout of this project (repeatable)")
    parser.add_argument("--label", action="append", help="a name per --tree, in order")
    args = parser.parse_args()
    trees = [t.resolve() for t in (args.tree or [ROOT])]
    labels = args.label or [t.name for t in trees]

    from ctml.ct.repo.vcs import tool_env

    env = tool_env()
    env.pop("PYTHONPATH", None)
    load = [os.getloadavg()[0]]
    results: dict[str, dict[str, list[tuple[float, float]]]] = {label: {c: [] for c in CASES} for label in labels}
    with tempfile.TemporaryDirectory() as tmp:
        projects = {label: make(tree, Path(tmp) / label / "project", env) for label, tree in zip(labels, trees)}
        for _ in range(args.rounds):
            for label, project in projects.items():
                for case, value in measure(project, env).items():
                    results[label][case].append(value)
                load.append(os.getloadavg()[0])

    rows = ["| code | no-op `dvc repro` (s) | no-drift step (s) | ratio | `dvc repro --force` (s) | step that retrains (s) | ratio |",
            "|---|---|---|---|---|---|---|"]
    for kind, index in (("wall", 0), ("CPU", 1)):
        for label in labels:
            med = {c: statistics.median(v[index] for v in results[label][c]) for c in CASES}
            rows.append(f"| {label} ({kind}) | {med['noop']:.2f} | {med['none_step']:.2f} | "
                        f"{med['none_step'] / med['noop']:.2f}x | {med['force']:.1f} | {med['retrain']:.1f} | "
                        f"{med['retrain'] / med['force']:.2f}x |")
    body = "\n".join([
        f"Machine: {machine_info()}; load average {min(load):.1f}-{max(load):.1f} during the run (other sessions).",
        f"Medians of {args.rounds} rounds, the code trees alternating within each round. Targets: no-drift step "
        "<= 1.5x a no-op `dvc repro`; a step that retrains <= 0.5x `dvc repro --force`. A step here is "
        "`ct.py simulate --scenario none --steps 5 --batch-size 500` / 5 (the whole process: imports, recovery "
        "check, baseline check, 5 steps, timeline, commit); the retrain is a whole `ct.py simulate --scenario "
        "sudden --steps 1` (ct.start_step 1).",
        "", *rows])
    print(body)
    write_section("CT steps as whole processes", body)


if __name__ == "__main__":
    main()
