"""Benchmark: the pipeline on real datasets a user could bring, as `ct.py simulate --scenario replay` meets them.

Datasets that ship inside scikit-learn (no download): breast_cancer (binary), wine (3 classes), digits
(10 classes, 64 pixel columns), diabetes (regression). Each is shuffled (seeded; the files are sorted
by class), given a daily `date` column (rows in time order: a stable stream whose time moves on), and
written as CSV in a temporary folder; then, in a fresh project:

    python ct.py simulate --scenario replay --data <name>.csv --target target --steps 4 --batch-size B

with `ct.reference_rows` 60% of the rows; the batches are the remaining rows drawn with replacement
(served traffic repeats itself). Per dataset: the baseline's test metric (accuracy, or RMSE) next to a
plain scikit-learn default model fitted on the same split (`metrics/reference_model.json`:
HistGradientBoosting), and the replay's batches quarantined / measured / retrained. Nothing in the
stream is shifted, so every retrain is a false alarm. Written to benchmarks/results.md ("Real data").

    python benchmarks/bench_real_data.py [--steps 4]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import load_line, machine_info, write_section  # noqa: E402

DATASETS = ("breast_cancer", "wine", "digits", "diabetes")


def stream(name: str, steps: int, seed: int):
    """(frame, reference rows, batch size): the dataset shuffled, dated, its tail resampled into batches."""
    import numpy as np
    import pandas as pd
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    rng = np.random.default_rng(seed)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    reference = int(len(frame) * 0.6)
    rest = frame.iloc[reference:]
    size = max(30, len(rest) // 2)
    drawn = rest.iloc[rng.integers(0, len(rest), size=steps * size)]
    out = pd.concat([frame.iloc[:reference], drawn], ignore_index=True)
    out.insert(0, "date", pd.date_range("2024-01-01", periods=len(out), freq="D").strftime("%Y-%m-%d"))
    return out, reference, size


def replay(workdir: Path, name: str, steps: int, seed: int) -> dict[str, object]:
    import pandas as pd
    import yaml

    from ctml.ct.repo.vcs import tool_env
    from tests.helpers import make_project

    frame, reference, size = stream(name, steps, seed)
    data = workdir / f"{name}.csv"
    frame.to_csv(data, index=False)
    repo = make_project(workdir / "project")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["ct"]["reference_rows"] = reference
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "commit", "-qam", "replay params"], cwd=repo, check=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "ct.py", "simulate", "--scenario", "replay", "--data", str(data), "--target", "target",
                           "--steps", str(steps), "--batch-size", str(size)], cwd=repo, env=tool_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 3):  # 3: a batch quarantined or a candidate blocked, counted below
        raise SystemExit(f"{name}: replay failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    history = pd.read_csv(repo / "metrics/ct_history.csv", dtype=str)
    baseline = json.loads(subprocess.run(["git", "show", "model@v1.0.0:metrics/metrics.json"], cwd=repo, capture_output=True,
                                         text=True, check=True).stdout)
    default = json.loads(subprocess.run(["git", "show", "model@v1.0.0:metrics/reference_model.json"], cwd=repo,
                                        capture_output=True, text=True, check=True).stdout)
    metric = "accuracy" if "accuracy" in baseline else "rmse"
    status = history["status"]
    return {"rows": len(frame), "reference_rows": reference, "batch": size, "metric": metric, "pipeline": baseline[metric],
            "default": default[metric], "default_name": default["name"],
            "steps": len(history), "quarantined": int(status.eq("quarantined").sum()),
            "measured": int((~status.isin(["quarantined", "duplicate"])).sum()),
            "retrained": int(status.isin(["retrained", "blocked"]).sum()), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from ctml.config import load_params

    seed = load_params(ROOT / "params.yaml").seed
    rows = []
    with tempfile.TemporaryDirectory(prefix="ct-real-") as tmp:
        for name in args.datasets.split(","):
            work = Path(tmp) / name
            work.mkdir()
            found = replay(work, name, args.steps, seed)
            rows.append((name, found))
            print(name, found, flush=True)
    lines = [machine_info(), f"Load average at the end: {load_line()}.", "",
             f"`python benchmarks/bench_real_data.py --steps {args.steps}`. scikit-learn's bundled datasets, shuffled (seed "
             f"{seed}), a daily `date` column added, replayed: the first 60% of rows train the baseline, then {args.steps} "
             "batches drawn with replacement from the rest (repeated rows, nothing shifted: every retrain is a false alarm). "
             "Test metric of the pipeline's baseline (params.yaml's model) and of a default model on the same split "
             "(`metrics/reference_model.json`); a retrain counts a blocked candidate too.", "",
             "| dataset | rows | metric | pipeline | default model | batches | quarantined | measured | retrained | time (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, f in rows:
        lines.append(f"| {name} | {f['rows']} | {f['metric']} | {f['pipeline']:.4f} | {f['default']:.4f} ({f['default_name']}) | "
                     f"{f['steps']} x {f['batch']} | {f['quarantined']} | {f['measured']} | {f['retrained']} | {f['seconds']:.0f} |")
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Real data: pipeline vs a default model, and a replay's decisions", body)


if __name__ == "__main__":
    main()
