"""Benchmark: what folding one more CT batch costs DVC when the lineage's folder is tracked as one
directory (`dvc add data/batches/<lineage>`, this project) against a `.dvc` file per batch (before).

In one temporary git + DVC repo, two folders start with --batches batches of --rows rows (Parquet, 30
numeric columns), one tracked a file at a time, the other as a directory. Each round writes one new
batch into each and times `dvc add` of it as CT runs it (DVC's Python API in this process,
`ctml.ct.repo.warm.add`): the new file alone, and the whole folder again. Bytes read by the process
during each add (`rchar` of /proc/self/io) say whether DVC read the older batches again: the folder's
add should read about what the per-file add reads, not --batches times more. Alternating order, median
of --rounds. Writes "## Batch folder" in benchmarks/results.md.

    python benchmarks/bench_batch_folder.py [--batches 50] [--rows 10000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import load_line, machine_info, write_section  # noqa: E402


def read_chars() -> int:
    """Bytes this process has read through read() calls so far (page cache or not)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def write_batch(path: Path, rows: int, seed: int) -> int:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    pd.DataFrame(rng.normal(size=(rows, 30)), columns=[f"x{i}" for i in range(30)]).to_parquet(path, index=False)
    return path.stat().st_size


def timed_add(root: Path, target: Path) -> tuple[float, int]:
    from ctml.ct.repo import warm

    before, start = read_chars(), time.perf_counter()
    warm.add(root, target.relative_to(root))
    return time.perf_counter() - start, read_chars() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=50, help="batches already folded (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=10_000, help="rows per batch (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="batches added to each folder (default: %(default)s)")
    args = parser.parse_args()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = str(Path(sys.executable).parent / "dvc")
    with tempfile.TemporaryDirectory(prefix="bench-batch-folder-") as tmp:
        root = Path(tmp)
        for cmd in (["git", "init", "-q"], [dvc, "init", "-q"], [dvc, "config", "core.analytics", "false"]):
            subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
        per_file, folder = root / "data/batches/per-file", root / "data/batches/folder"
        for where in (per_file, folder):
            where.mkdir(parents=True)
        for step in range(1, args.batches + 1):
            size = write_batch(per_file / f"batch-{step:04d}.parquet", args.rows, step)
            write_batch(folder / f"batch-{step:04d}.parquet", args.rows, step)
            timed_add(root, per_file / f"batch-{step:04d}.parquet")
        timed_add(root, folder)
        figures: dict[str, list[tuple[float, int]]] = {"per-file": [], "folder": []}
        for i in range(args.rounds):
            step = args.batches + 1 + i
            write_batch(per_file / f"batch-{step:04d}.parquet", args.rows, step)
            write_batch(folder / f"batch-{step:04d}.parquet", args.rows, step)
            order = [("per-file", per_file / f"batch-{step:04d}.parquet"), ("folder", folder)]
            for name, target in order if i % 2 == 0 else order[::-1]:
                figures[name].append(timed_add(root, target))
    seconds = {k: statistics.median(s for s, _ in v) for k, v in figures.items()}
    read = {k: statistics.median(b for _, b in v) for k, v in figures.items()}
    body = f"""{machine_info()}
Load (1/5/15 min) at the end: {load_line()}.

One more batch folded into a lineage that holds {args.batches} ({args.rows:,} rows x 30 columns, {size / 1e6:.2f} MB each):
`dvc add` as CT runs it (in process), median of {args.rounds} alternating rounds.

| tracked as | `dvc add` of | seconds | bytes read |
|---|---|---|---|
| a `.dvc` file per batch (before) | the new batch | {seconds['per-file']:.3f} | {read['per-file'] / 1e6:.2f} MB |
| one directory per lineage (now) | the whole folder | {seconds['folder']:.3f} | {read['folder'] / 1e6:.2f} MB |
| ratio folder / per-file | | {seconds['folder'] / seconds['per-file']:.2f}x | {read['folder'] / max(read['per-file'], 1):.2f}x |

The folder's add reads the new batch, not the {args.batches} before it ({args.batches * size / 1e6:.0f} MB): DVC's state
database knows them by inode, mtime and size.
"""
    write_section("Batch folder", body)
    print(body)


if __name__ == "__main__":
    main()
