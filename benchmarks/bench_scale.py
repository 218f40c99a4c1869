"""Benchmark: the pipeline on a big table against a plain pandas + scikit-learn script, in the same run.

The table (benchmarks/scale_data.py): 20 numeric, 3 categorical, a date and a binary label. The
yardstick reads the same CSV with pandas, one-hot encodes it and fits RandomForest(120, depth 5,
n_jobs=-1) on a stratified 75% (issue 30's script). The project runs each stage with
`dvc repro --single-item STAGE` under /usr/bin/time (wall time and the peak RSS of the stage's own
process), on the engine and model asked for. On the dask engine the benchmark starts a real cluster
on 127.0.0.1 (`dask scheduler` and `--workers` `dask worker --memory-limit` processes, reached through
`compute.scheduler`) and reports, after each stage, the workers' peak RSS so far (VmHWM). The typed frame's size is the
in-memory size of data/raw/train.parquet read with pandas.

    python benchmarks/bench_scale.py --rows 1000000 [--engine local|dask] [--model random_forest]
        [--retrains 10 --batch-rows 100000]   # retrain-time growth: append a batch, re-run train, ten times

Writes benchmarks/results.md ("## Scale: ROWS rows, ENGINE engine, MODEL"). Bounded: every command
has a timeout (--timeout seconds, default 1800).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results import load_line, machine_info, write_section  # noqa: E402
from tests.helpers import dask_cluster  # noqa: E402

STAGES = ("ingest", "validate", "preprocess", "train", "evaluate", "drift", "gates")
YARDSTICK = textwrap.dedent("""
    import sys
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split
    frame = pd.read_csv(sys.argv[1])
    frame["when"] = pd.to_datetime(frame["when"])
    for part in ("year", "month", "dayofweek"):
        frame[f"when_{part}"] = getattr(frame["when"].dt, part)
    x = pd.get_dummies(frame.drop(columns=["target", "when"]), dtype="float32")
    xt, xs, yt, ys = train_test_split(x, frame["target"], test_size=0.25, random_state=42, stratify=frame["target"])
    model = RandomForestClassifier(n_estimators=120, max_depth=5, n_jobs=-1, random_state=42).fit(xt, yt)
    print(f"accuracy {(model.predict(xs) == ys).mean():.6f}")
""")
TYPED_SIZE = "import sys, pandas as pd; print(int(pd.read_parquet(sys.argv[1]).memory_usage(deep=True).sum()))"


def timed(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one command under GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", report.name, *cmd], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        seconds, kb = report.read().split()[-2:]
    return float(seconds), int(kb) / 1024, proc.stdout


def peak_mb(pid: int) -> float:
    """A live process's peak RSS so far (VmHWM), in MB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def project(tmp: Path, source: Path, engine: str, model: str, scheduler: str) -> Path:
    from tests.helpers import git, make_project

    repo = make_project(tmp / "project")
    (repo / "data/source").mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, repo / "data/source/big.csv")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["source"] = "data/source/big.csv"
    params["train"]["model"] = model
    params["compute"]["engine"] = engine
    params["compute"]["scheduler"] = scheduler
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "benchmark source", cwd=repo)
    return repo


def run_stages(repo: Path, env: dict[str, str], timeout: float, workers: list[int]) -> dict[str, tuple[float, float, float]]:
    """Per stage: (seconds, the stage process's peak RSS, the workers' largest peak RSS so far) in MB."""
    dvc = str(Path(sys.executable).with_name("dvc"))
    out = {}
    for stage in STAGES:
        seconds, mb, _ = timed([dvc, "repro", "--single-item", stage], repo, env, timeout)
        out[stage] = (seconds, mb, max((peak_mb(pid) for pid in workers), default=0.0))
    return out


def retrain_growth(repo: Path, env: dict[str, str], retrains: int, batch_rows: int, timeout: float) -> list[float]:
    """Append `retrains` batches one at a time, as CT folds them, and time the reproduce each one causes."""
    from benchmarks.scale_data import table
    from ctml.data.tables import normalize
    from tests.helpers import lineage_folder

    dvc = str(Path(sys.executable).with_name("dvc"))
    folder = lineage_folder(repo)
    times = []
    for i in range(retrains):
        path = folder / f"batch-{i + 1:04d}.parquet"
        # typed as CT writes a folded batch (dates as dates), so ingest concatenates it with the source
        normalize(table(batch_rows, seed=1000 + i, start=10_000_000 + i * batch_rows), "target").to_parquet(path, index=False)
        # the lineage folder, as CT tracks it (one DVC directory per lineage, ctml/ct/step/fold.py)
        subprocess.run([dvc, "add", "-q", str(folder.relative_to(repo))], cwd=repo, env=env, check=True, capture_output=True)
        times.append(timed([dvc, "repro"], repo, env, timeout)[0])
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--engine", choices=("local", "dask"), default="local")
    p.add_argument("--model", default="random_forest")
    p.add_argument("--workers", type=int, default=2, help="dask: worker processes of the cluster started here")
    p.add_argument("--memory-limit", default="2GB", help="dask: memory limit per worker (e.g. 1GB)")
    p.add_argument("--retrains", type=int, default=0)
    p.add_argument("--batch-rows", type=int, default=100_000)
    p.add_argument("--no-yardstick", action="store_true")
    p.add_argument("--data", type=Path, help="reuse this CSV (benchmarks/scale_data.py table) instead of writing one")
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args()

    from benchmarks.scale_data import write_csv
    from ctml.ct.repo.vcs import tool_env

    env = tool_env(CT_TRACKING="off")
    start_load = load_line()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name:
        tmp = Path(name)
        source = args.data or write_csv(tmp / "big.csv", args.rows)
        yard = None
        if not args.no_yardstick:
            script = tmp / "yardstick.py"
            script.write_text(YARDSTICK)
            seconds, mb, out = timed([sys.executable, str(script), str(source)], tmp, env, args.timeout)
            yard = (seconds, mb, float(out.split()[-1]))
        with (dask_cluster(tmp, args.workers, args.memory_limit, ROOT) if args.engine == "dask"
              else contextlib.nullcontext(("", []))) as (scheduler, worker_pids):
            repo = project(tmp, source, args.engine, args.model, scheduler)
            stages = run_stages(repo, env, args.timeout, worker_pids)
            typed = int(subprocess.run([sys.executable, "-c", TYPED_SIZE, str(repo / "data/raw/train.parquet")],
                                       capture_output=True, text=True, check=True).stdout) / 2**20
            metrics = json.loads((repo / "metrics/metrics.json").read_text())
            gates = json.loads((repo / "metrics/gates.json").read_text())
            growth = retrain_growth(repo, env, args.retrains, args.batch_rows, args.timeout) if args.retrains else []
    total = sum(s for s, _, _ in stages.values())
    peak = max(m for _, m, _ in stages.values())
    dask = args.engine == "dask"
    lines = [machine_info(), f"Load average at start: {start_load}; at end: {load_line()} (other sessions share the "
             "machine: compare ratios, not seconds).", "",
             f"`python benchmarks/bench_scale.py --rows {args.rows} --engine {args.engine} --model {args.model}"
             + (f" --workers {args.workers} --memory-limit {args.memory_limit}" if args.engine == "dask" else "")
             + (f" --retrains {args.retrains} --batch-rows {args.batch_rows}" if args.retrains else "")
             + (" --no-yardstick" if args.no_yardstick else "") + "`. "
             f"Typed training frame: {typed:.0f} MB in memory.", "",
             "| stage | time (s) | peak RSS (MB) | peak / typed frame |" + (" workers' peak so far (MB) |" if dask else ""),
             "|---|---:|---:|---:|" + ("---:|" if dask else "")]
    lines += [f"| {stage} | {s:.1f} | {m:.0f} | {m / typed:.2f}x |" + (f" {w:.0f} |" if dask else "")
              for stage, (s, m, w) in stages.items()]
    lines.append(f"| **pipeline** (sum of stages) | **{total:.1f}** | **{peak:.0f}** | **{peak / typed:.2f}x** |"
                 + (f" {max(w for _, _, w in stages.values()):.0f} |" if dask else ""))
    if yard:
        lines.append(f"| plain pandas + scikit-learn script (yardstick) | {yard[0]:.1f} | {yard[1]:.0f} | {yard[1] / typed:.2f}x |"
                     + (" |" if dask else ""))
        lines += ["", f"Ratio pipeline / yardstick: **{total / yard[0]:.2f}x** time, {peak / yard[1]:.2f}x peak memory. "
                  f"Accuracy on the test split: pipeline {metrics.get('accuracy')}, yardstick {yard[2]:.4f}."]
    else:
        lines += ["", f"Accuracy on the test split: {metrics.get('accuracy')}."]
    gate_line = ", ".join(f"{k} {'passed' if v.get('passed') else 'FAILED'}" for k, v in gates.get("gates", {}).items())
    if gate_line:
        lines.append(f"Gates: {gate_line}.")
    if growth:
        lines += ["", f"Retrain time over {len(growth)} appended batches of {args.batch_rows} rows (whole `dvc repro` after "
                  "each `dvc add`): " + ", ".join(f"{s:.0f}" for s in growth) + " s; last / first "
                  f"**{growth[-1] / growth[0]:.2f}x**."]
    title = f"Scale: {args.rows} rows, {args.engine} engine, {args.model}" + (f", {args.retrains} retrains" if growth else "")
    write_section(title, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
