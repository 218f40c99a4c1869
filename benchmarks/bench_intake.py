"""Benchmark: the intake (`ct.py check` on the inboxes, `ct.py watch`).

Builds a project in a temporary directory, releases the baseline, then measures
  (a) `ct.py check` with nothing new against a no-op `dvc status` (whole processes, median of 5;
      target: at most 1.0x),
  (b) one `ct.py check` over an inbox of --files files of 200 no-drift rows (seconds per file; target:
      at most 1.5x the warm CT step of benchmarks/results.md, "CT step"),
  (c) a `ct.py watch` loop (in-process, one round per --round-files files delivered) over --watch-files
      files: resident memory after each round (target: flat),
and writes the figures to benchmarks/results.md ("## Intake").

    python benchmarks/bench_intake.py [--files 100] [--watch-files 500] [--round-files 50]
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

from benchmarks.results import load_line, machine_info, write_section  # noqa: E402


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(cmd: list[str], cwd: Path, env: dict[str, str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100, help="files in the inbox of one check (default: %(default)s)")
    parser.add_argument("--watch-files", type=int, default=500, help="files through the watch loop (default: %(default)s)")
    parser.add_argument("--round-files", type=int, default=50, help="files delivered per watch round (default: %(default)s)")
    args = parser.parse_args()

    import argparse as ap
    import os

    import pandas as pd

    from ctml import layout
    from ctml.config import load_params
    from ctml.ct.intake import scenarios
    from ctml.ct.repo.vcs import tool_env
    from ctml.ct.intake.watcher import watch
    from tests.helpers import make_project

    with tempfile.TemporaryDirectory() as tmp:
        repo = make_project(Path(tmp) / "project")
        env = tool_env()
        ct = [sys.executable, "ct.py", "-q"]
        subprocess.run([*ct, "simulate", "--steps", "1"], cwd=repo, env=env, check=True, capture_output=True)
        subprocess.run([*ct, "check"], cwd=repo, env=env, check=True, capture_output=True)
        dvc = str(Path(sys.executable).parent / "dvc")
        status = timed([dvc, "status", "-q"], repo, env)
        nothing = timed([*ct, "check"], repo, env)

        params = load_params(repo / "params.yaml")
        reference = pd.read_parquet(repo / "data/raw/train.parquet")
        serial = iter(range(10_000))

        def deliver(count: int) -> None:
            for _ in range(count):
                i = next(serial)
                frame = scenarios.make_batch(reference, params.data.target, "none", 1, 10, 200, 5000 + i, params.ct)
                part = repo / layout.INCOMING / f"feed-{i:05d}.csv.part"
                frame.to_csv(part, index=False)
                part.rename(part.with_name(part.name.removesuffix(".part")))

        deliver(args.files)
        start = time.perf_counter()
        proc = subprocess.run([*ct, "check"], cwd=repo, env=env, capture_output=True, text=True)
        inbox_s = time.perf_counter() - start
        assert proc.returncode in (0, 3), proc.stderr

        os.chdir(repo)
        os.environ.update(env)
        rounds = max(1, args.watch_files // args.round_files)
        memory = []
        watch_start = time.perf_counter()
        for _ in range(rounds):
            deliver(args.round_files)
            watch(ap.Namespace(verbosity=0, no_commit=False), rounds=1)  # as `ct.py -q watch`
            memory.append(rss_mb())
        watch_s = time.perf_counter() - watch_start

    per_file = inbox_s / args.files
    half = len(memory) // 2
    body = "\n".join([
        machine_info(),
        f"Load (1/5/15 min) at the end: {load_line()}.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| no-op `dvc status` (median of 5) | {status:.3f} s | |",
        f"| `ct.py check`, nothing new (median of 5) | {nothing:.3f} s | |",
        f"| ratio nothing-new check / `dvc status` | {nothing / status:.2f}x | <= 1.0x |",
        f"| one `ct.py check` over {args.files} files of 200 rows, no drift | {inbox_s:.1f} s, {per_file:.3f} s per file | "
        "<= 1.5x the warm CT step (\"CT step\" above) |",
        f"| `ct.py watch`, {rounds * args.round_files} files in {rounds} rounds | {watch_s:.1f} s, "
        f"{watch_s / (rounds * args.round_files):.3f} s per file | |",
        f"| watch RSS after round 1 / middle / last | {memory[0]:.0f} / {memory[half]:.0f} / {memory[-1]:.0f} MB | flat |",
    ])
    write_section("Intake", body)
    print(body)


if __name__ == "__main__":
    main()
