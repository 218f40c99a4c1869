"""Benchmark: single-row latency and batch throughput of prediction with the default model.

Builds the default model (built-in breast_cancer data, params.yaml as committed) with a real
`dvc repro` in a temporary copy of the project, then measures
  - model only: full-pipeline `.predict` on one raw row (what the latency gate times);
  - end to end: `predict_file` on a one-row CSV (sha256 check, unpickle, read, validate, predict, write);
  - batch throughput of `predict_file` (Parquet in and out) and of the model alone at 1k/10k/100k rows.
Writes the figures into the "## Predict" section of benchmarks/results.md (other sections are kept).

    python benchmarks/bench_predict.py [--repeats 3] [--no-write]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.results import machine_info, write_section  # noqa: E402
from ctml.config import load_params  # noqa: E402
from ctml.model.gates import single_row_latencies_ms  # noqa: E402
from ctml.model.estimator import load_verified  # noqa: E402
from ctml.model.predict import predict_file, predict_frame  # noqa: E402
from ctml.provenance import library_versions  # noqa: E402
from tests.helpers import dvc, make_project  # noqa: E402

BATCH_ROWS = (1_000, 10_000, 100_000)


def median_time(repeats: int, work: Callable[[], object]) -> float:
    """Median wall time (s) of `repeats` runs after one untimed warm-up."""
    work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(project: Path, repeats: int) -> dict[str, object]:
    params = load_params(project / "params.yaml")
    model_path, meta_path = project / "models/model.joblib", project / "models/model.json"
    schema_path = project / "data/schema.json"
    model, _ = load_verified(model_path, meta_path)
    test = pd.read_parquet(project / "data/prepared/test.parquet").drop(columns=params.data.target)
    t = params.train
    out: dict[str, object] = {"model": f"{t.model} ({t.n_estimators} trees, depth {t.max_depth})", "features": test.shape[1]}

    rows = [test.iloc[[i % len(test)]] for i in range(1000)]
    single = single_row_latencies_ms(lambda i: model.predict(rows[i]), 1000)
    out["model_row_ms"] = {q: float(np.percentile(single, q)) for q in (50, 95, 99)}

    work = project.parent / "bench"
    work.mkdir(exist_ok=True)
    pred = work / "pred.parquet"
    row_csv = work / "row.csv"
    test.head(1).to_csv(row_csv, index=False)
    e2e = []
    for i in range(51):
        start = time.perf_counter()
        predict_file(row_csv, model_path, meta_path, schema_path, work / "row_pred.csv", params)
        if i:  # first call warms imports and caches
            e2e.append((time.perf_counter() - start) * 1000)
    out["file_row_ms"] = {q: float(np.percentile(e2e, q)) for q in (50, 95, 99)}

    rng = np.random.default_rng(0)
    out["batch"] = {}
    for rows in BATCH_ROWS:
        frame = test.iloc[rng.integers(0, len(test), size=rows)].reset_index(drop=True)
        path = work / f"in_{rows}.parquet"
        frame.to_parquet(path, index=False)
        file_s = median_time(repeats, lambda p=path: predict_file(p, model_path, meta_path, schema_path, pred, params))
        model_s = median_time(repeats, lambda f=frame: predict_frame(model, f))
        out["batch"][rows] = {"file_rows_s": rows / file_s, "model_rows_s": rows / model_s, "file_s": file_s}
    out["load"] = os.getloadavg()[0]
    return out


def section(fig: dict[str, object], repeats: int) -> str:
    v = library_versions()
    row, e2e = fig["model_row_ms"], fig["file_row_ms"]
    lines = [
        (f"`python benchmarks/bench_predict.py`: default model ({fig['model']}, {fig['features']} raw features, "
         f"built-in breast_cancer) built by `dvc repro` in a temporary copy; scikit-learn {v.get('scikit-learn')}, "
         f"pandas {v.get('pandas')}. Wall time in one process, warm-up excluded; load average "
         f"{fig['load']:.1f} at the end (other jobs on the machine inflate the tails)."),
        "",
        machine_info(),
        "",
        "| single row | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|",
        (f"| pipeline `.predict` on one raw row (1000 calls, in-process) | "
         f"{row[50]:.2f} | {row[95]:.2f} | {row[99]:.2f} |"),
        (f"| `predict_file`, 1-row CSV in/out (50 calls: sha256 + unpickle + validate + write) | "
         f"{e2e[50]:.1f} | {e2e[95]:.1f} | {e2e[99]:.1f} |"),
        "",
        "| batch rows | `predict_file` Parquet→Parquet rows/s | (seconds) | model only `predict` + `predict_proba` rows/s |",
        "|---:|---:|---:|---:|",
    ]
    for rows, b in fig["batch"].items():
        lines.append(f"| {rows:,} | {b['file_rows_s']:,.0f} | {b['file_s']:.3f} | {b['model_rows_s']:,.0f} |")
    lines += ["", (f"Batch figures: median of {repeats} runs; rows sampled with replacement from the test split. "
                   "`predict_frame` runs the pipeline twice (`predict` and `predict_proba`), so that predictions "
                   "equal `model.predict` exactly.")]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-write", action="store_true", help="print only; leave results.md alone")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-predict-project-") as tmp:
        project = make_project(Path(tmp) / "project")
        dvc("repro", cwd=project)
        figures = measure(project, args.repeats)
    text = section(figures, args.repeats)
    print(text)
    if not args.no_write:
        write_section("Predict", text)


if __name__ == "__main__":
    main()
