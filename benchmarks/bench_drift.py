"""Drift benchmark: this project's drift code vs Evidently's DataDriftPreset on the same data.

For each size: 20 normal numeric + 5 string categorical columns, reference and batch of equal size,
a third of the columns (7 numeric, 1 categorical) shifted. Every figure comes from its own process
(peak RSS is per process): this project's feature drift (`ctml.drift.detect.feature_drift`, the
local engine the stage runs), the memory-bandwidth floor (one pass: the mean of every numeric
column of both samples), and Evidently configured per column with the very tests this project chose,
run with the Python of its own virtual environment (Evidently needs pandas<3).

Times are the median of --repeats runs after a warm-up on a small slice (imports and reading the
Parquet files are excluded and reported apart). Results replace this script's sections of
benchmarks/results.md.

    python benchmarks/bench_drift.py                          # 10k, 100k, 1M rows
    python benchmarks/bench_drift.py --sizes 10000 --repeats 1  # quick look
    python benchmarks/bench_drift.py --sizes 10000,100000,1000000,10000000 --evidently-max-rows 1000000
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.md"
EVIDENTLY_VENV = ROOT / "benchmarks" / ".venv-evidently"
EVIDENTLY_PYTHON = EVIDENTLY_VENV / "bin" / "python"
N_NUMERIC, N_CATEGORICAL = 20, 5
SECTION = "## Drift detection: this project vs Evidently"
EVIDENTLY_NAMES = {"ks": "ks", "chi2": "chisquare", "wasserstein": "wasserstein", "jensenshannon": "jensenshannon",
                   "psi": "psi"}


# --- data -----------------------------------------------------------------------------------------

def make_data(rows: int, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """reference.parquet and current.parquet; columns n00..n19 (n00-n06 shifted), c0..c4 (c0 shifted)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "reference.parquet", folder / "current.parquet"
    if all(p.exists() for p in paths):
        return paths
    rng = np.random.default_rng(seed)
    levels = pa.array([f"level_{i}" for i in range(6)])
    for path, shifted in zip(paths, (False, True)):
        columns = {}
        for i in range(N_NUMERIC):
            move = 0.5 if shifted and i < 7 else 0.0
            columns[f"n{i:02d}"] = pa.array(rng.normal(move, 1.0 + i / 10, rows))
        for i in range(N_CATEGORICAL):
            weights = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
            if shifted and i == 0:
                weights = weights[::-1]
            codes = pa.array(rng.choice(6, rows, p=weights).astype("int32"))
            columns[f"c{i}"] = pa.DictionaryArray.from_arrays(codes, levels).dictionary_decode()
        pq.write_table(pa.table(columns), path, row_group_size=1_000_000)
    return paths


# --- workers (each runs in its own process) -------------------------------------------------------

def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(func, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return times


def worker_ours(ref_path: str, cur_path: str, repeats: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from ctml.config import load_params
    from ctml.data.tables import feature_kinds
    from ctml.drift import detect

    params = load_params(ROOT / "params.yaml").drift
    start = time.perf_counter()
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    load = time.perf_counter() - start
    kinds = feature_kinds(ref, target="")
    rss_loaded = _rss_mb()
    detect.feature_drift(ref.head(2000), cur.head(2000), kinds, params)  # warm-up
    result = {}

    def run():
        result["features"] = detect.feature_drift(ref, cur, kinds, params)

    times = _timed(run, repeats)
    features = {n: {"method": f.method, "score": f.score, "p_value": f.p_value, "threshold": f.threshold,
                    "drifted": f.drifted} for n, f in result["features"].items()}
    return {"times": times, "load": load, "rss_loaded_mb": rss_loaded, "peak_mb": _peak_mb(), "features": features}


def worker_cached(ref_path: str, cur_path: str, repeats: int) -> dict:
    """The per-feature part with the reference's summaries cached: load them from the cache folder,
    then sort and test only the batch (what a CT step does after the first)."""
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from ctml.config import load_params
    from ctml.drift import detect
    from ctml.drift.reference import build, load, store

    params = load_params(ROOT / "params.yaml").drift
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    cache = Path(tempfile.mkdtemp(prefix="bench-drift-cache-"))
    stamp = [0, 0, 0]
    store(cache, "ref", build(ref, "", params.multivariate.max_rows, 0), 1, stamp)
    del ref
    warm = load(cache, "ref", stamp)
    detect.compare(warm.summaries, cur.head(2000), warm.kinds, params)  # warm-up

    def run():
        reference = load(cache, "ref", stamp)
        detect.compare(reference.summaries, cur, reference.kinds, params)

    times = _timed(run, repeats)
    return {"times": times, "peak_mb": _peak_mb()}


def worker_step(ref_path: str, cur_path: str, repeats: int) -> dict:
    """A whole drift step (reference from the cache, per-feature tests, domain classifier, prediction
    drift, CBPE) for the first 10,000 rows of the batch, as the stage runs it; DVC records the
    reference (`dvc add` in a scratch repo), so the cache is keyed as in the project."""
    sys.path.insert(0, str(ROOT))
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from ctml.config import load_params
    from ctml.data.tables import feature_kinds
    from ctml.drift import detect, estimate
    from ctml.drift.reference import open_reference
    from ctml.model.features import build_preprocessor, full_pipeline
    from ctml.io import read_table

    params = load_params(ROOT / "params.yaml")
    repo = Path(tempfile.mkdtemp(prefix="bench-drift-step-"))
    shutil.copy(ref_path, repo / "reference.parquet")
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([dvc, "init", "-q"], cwd=repo, check=True)
    subprocess.run([dvc, "add", "-q", "reference.parquet"], cwd=repo, check=True)
    batch = pd.read_parquet(cur_path).head(10_000)
    sample = batch.head(2000).assign(target=(batch["n00"].head(2000) > 0.5).astype("int64"))
    kinds = feature_kinds(sample, "target")
    model = full_pipeline(build_preprocessor(kinds, params.preprocess), LogisticRegression(max_iter=500))
    model.fit(sample[list(kinds)], sample["target"])
    calibration = estimate.fit_calibration(model, model.predict_proba(sample[list(kinds)]), sample["target"], "m",
                                           params.evaluate.calibration, 0)
    view = detect.ModelView(model, "m", calibration["reference"]["accuracy"], calibration)
    cache = repo / ".ct" / "drift-cache"

    def step():
        reference, how = open_reference(repo / "reference.parquet", "target", params.drift.multivariate.max_rows, 0, cache,
                                        params.drift.cache, read_table, model, "m")
        detect.detect(reference, batch, "target", params.drift, model=view)
        return how

    start = time.perf_counter()
    first = step()
    cold = time.perf_counter() - start
    hows = []
    times = _timed(lambda: hows.append(step()), repeats)
    return {"times": times, "cold": cold, "first": first, "how": hows[-1], "peak_mb": _peak_mb()}


def worker_floor(ref_path: str, cur_path: str, repeats: int) -> dict:
    import numpy as np
    import pandas as pd

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    arrays = [frame[c].to_numpy() for frame in (ref, cur) for c in frame.columns if frame[c].dtype == "float64"]
    times = _timed(lambda: [float(np.mean(a)) for a in arrays], repeats)
    sorts = _timed(lambda: [np.sort(a) for a in arrays], repeats)
    return {"times": times, "sorts": sorts, "peak_mb": _peak_mb(), "arrays": len(arrays),
            "bytes": int(sum(a.nbytes for a in arrays))}


def worker_evidently(ref_path: str, cur_path: str, repeats: int, methods_json: str) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    methods = json.loads(methods_json)  # column -> [method, threshold]
    start = time.perf_counter()
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    load = time.perf_counter() - start
    rss_loaded = _rss_mb()
    definition = DataDefinition(numerical_columns=[c for c in ref.columns if c.startswith("n")],
                                categorical_columns=[c for c in ref.columns if c.startswith("c")])
    preset = DataDriftPreset(per_column_method={c: m for c, (m, _) in methods.items()},
                             per_column_threshold={c: t for c, (_, t) in methods.items()})
    out = {}

    def run(r, c):
        snapshot = Report([preset]).run(Dataset.from_pandas(c, data_definition=definition),
                                        Dataset.from_pandas(r, data_definition=definition))
        out["metrics"] = snapshot.dict()["metrics"]

    run(ref.head(2000), cur.head(2000))  # warm-up
    times = _timed(lambda: run(ref, cur), repeats)
    scores = {}
    for metric in out["metrics"]:
        config = metric["config"]
        if "column" in config and "method" in config:
            scores[config["column"]] = {"method": config["method"], "threshold": config["threshold"],
                                        "value": float(metric["value"])}
    import evidently

    return {"times": times, "load": load, "rss_loaded_mb": rss_loaded, "peak_mb": _peak_mb(), "scores": scores,
            "version": evidently.__version__, "pandas": pd.__version__}


def _evidently_drifted(method: str, value: float, threshold: float) -> bool:
    """Evidently's own rules: ks p <= t, chisquare p < t, distances >= t."""
    if method == "ks":
        return value <= threshold
    if method == "chisquare":
        return value < threshold
    return value >= threshold


# --- driver ---------------------------------------------------------------------------------------

def spawn(python: Path | str, *args: str, numpy_default: bool = False) -> dict:
    """One worker process; `numpy_default` leaves out the project's NumPy setting (ctml/cpu.py)."""
    from ctml.cpu import VARIABLE

    env = {k: v for k, v in os.environ.items() if not (numpy_default and k == VARIABLE)}
    proc = subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", *args],
                          capture_output=True, text=True, env={**env, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise SystemExit(f"worker {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> list[str]:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = "unknown"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, AttributeError):
        pass
    import numpy
    import pandas
    import scipy

    blas = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return [f"- CPU: {cpu}, {os.cpu_count()} cores; memory {mem}; {platform.system()} {platform.release()}",
            f"- Python {platform.python_version()}; project: numpy {numpy.__version__}, scipy {scipy.__version__}, "
            f"pandas {pandas.__version__}" + (f"; environment {blas}" if blas else "")]


def _memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


def write_section(lines: list[str]) -> None:
    """Replace (or append) this script's section of results.md, leaving other sections alone."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n\nEach section is written by its benchmark script.\n"
    block = "\n".join(lines).rstrip() + "\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: block + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    RESULTS.write_text(text.rstrip() + "\n")


def fmt_rows(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000,1000000", help="rows per sample, comma-separated (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per figure; the median is reported (default: %(default)s)")
    p.add_argument("--evidently-repeats", type=int, default=1,
                   help="timed Evidently runs per size (slow: ~2 min at 1M rows; default: %(default)s)")
    p.add_argument("--evidently-max-rows", type=int, default=1_000_000,
                   help="run Evidently only up to this size (default: %(default)s)")
    p.add_argument("--evidently-python", default=str(EVIDENTLY_PYTHON),
                   help="Python of the Evidently venv (default: %(default)s, created on first run from "
                        "benchmarks/requirements.txt)")
    p.add_argument("--no-evidently", action="store_true", help="skip Evidently")
    p.add_argument("--data-dir", default=None, help="where generated data is kept (default: a temporary directory)")
    p.add_argument("--no-write", action="store_true", help="print the results only; leave results.md alone")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        kind, rest = args.worker[0], args.worker[1:]
        func = {"ours": worker_ours, "floor": worker_floor, "evidently": worker_evidently, "cached": worker_cached,
                "step": worker_step}[kind]
        print(json.dumps(func(rest[0], rest[1], int(rest[2]), *rest[3:])))
        return 0

    sizes = [int(s) for s in args.sizes.split(",")]
    sys.path.insert(0, str(ROOT))
    from ctml.cpu import prefer_avx2_on_zen4

    numpy_setting = prefer_avx2_on_zen4()  # the workers compute as ct.py and the stages do
    if not args.no_evidently and args.evidently_python == str(EVIDENTLY_PYTHON):
        from benchmarks.venvs import python_of

        python_of(EVIDENTLY_VENV, ROOT / "benchmarks" / "requirements.txt")
    evidently = not args.no_evidently and Path(args.evidently_python).exists()
    if not args.no_evidently and not evidently:
        print(f"note: {args.evidently_python} not found; Evidently skipped", file=sys.stderr)
    rows, notes, versions = [], [], {}
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        base = Path(args.data_dir) if args.data_dir else Path(tmp)
        for n in sizes:
            ref, cur = make_data(n, base / f"rows-{n}")
            ours = spawn(sys.executable, "ours", str(ref), str(cur), str(args.repeats))
            cached = spawn(sys.executable, "cached", str(ref), str(cur), str(args.repeats))
            step = spawn(sys.executable, "step", str(ref), str(cur), str(args.repeats))
            floor = spawn(sys.executable, "floor", str(ref), str(cur), str(args.repeats))
            t_ours, t_floor = statistics.median(ours["times"]), statistics.median(floor["times"])
            row = {"n": n, "ours": t_ours, "cached": statistics.median(cached["times"]),
                   "step": statistics.median(step["times"]), "step_cold": step["cold"], "step_how": step["how"],
                   "ours_load": ours["load"], "ours_peak": ours["peak_mb"],
                   "ours_loaded": ours["rss_loaded_mb"], "floor": t_floor, "sorts": statistics.median(floor["sorts"]),
                   "ev": None}
            drifted = sorted(c for c, f in ours["features"].items() if f["drifted"])
            row["ours_drifted"] = len(drifted)
            if evidently and n <= args.evidently_max_rows:
                methods = {c: [EVIDENTLY_NAMES[f["method"]], f["threshold"]] for c, f in ours["features"].items()}
                ev_args = (args.evidently_python, "evidently", str(ref), str(cur), str(args.evidently_repeats),
                           json.dumps(methods))
                ev = spawn(*ev_args)
                if numpy_setting:  # Evidently as its users get it too, NumPy's own dispatch: the faster is the yardstick
                    ev_default = spawn(*ev_args, numpy_default=True)
                    row["ev_runs"] = {"project NumPy setting": statistics.median(ev["times"]),
                                      "NumPy default": statistics.median(ev_default["times"])}
                    if statistics.median(ev_default["times"]) < statistics.median(ev["times"]):
                        ev = ev_default
                versions = {"evidently": ev["version"], "pandas": ev["pandas"]}
                agree, max_diff = 0, 0.0
                for col, f in ours["features"].items():
                    e = ev["scores"][col]
                    mine = f["p_value"] if f["p_value"] is not None else f["score"]
                    agree += f["drifted"] == _evidently_drifted(e["method"], e["value"], e["threshold"])
                    max_diff = max(max_diff, abs(mine - e["value"]))
                row.update(ev=statistics.median(ev["times"]), ev_peak=ev["peak_mb"], ev_loaded=ev["rss_loaded_mb"],
                           agree=agree, max_diff=max_diff)
            rows.append(row)
            print(json.dumps(row), flush=True)
    methods = sorted({f["method"] for f in ours["features"].values()})
    lines = [SECTION, "",
             f"`python benchmarks/bench_drift.py --sizes {args.sizes} --repeats {args.repeats} "
             f"--evidently-max-rows {args.evidently_max_rows}` "
             f"({time.strftime('%Y-%m-%d')}). {N_NUMERIC} normal numeric + {N_CATEGORICAL} string categorical columns, "
             "reference and batch of equal size, 8 of 25 columns shifted (7 numeric by 0.5 std, 1 categorical "
             f"reversed shares). Tests chosen by `drift.method: auto` ({', '.join(methods)} at these sizes); Evidently's "
             "DataDriftPreset gets the same test and threshold per column. Times: median of the timed runs after a "
             "warm-up, reading the Parquet files excluded; each figure in its own process (peak RSS of that process, "
             "data included; 'loaded' = RSS once the data is in memory).", "",
             "| rows per sample | this project | reference cached | Evidently | speed-up | speed-up cached | same decisions | max score diff | "
             "floor: numeric means | project / floor | numeric sorts | project / sorts | "
             "peak RSS project (loaded) | peak RSS Evidently (loaded) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ev = "skipped" if r["ev"] is None else f"{r['ev']:.2f} s"
        speed = "-" if r["ev"] is None else f"{r['ev'] / r['ours']:.0f}x"
        speed_cached = "-" if r["ev"] is None else f"{r['ev'] / r['cached']:.0f}x"
        same = "-" if r["ev"] is None else f"{r['agree']}/25"
        diff = "-" if r["ev"] is None else f"{r['max_diff']:.1e}"
        ev_mem = "-" if r["ev"] is None else f"{r['ev_peak']:.0f} MB ({r['ev_loaded']:.0f})"
        lines.append(f"| {fmt_rows(r['n'])} | {r['ours']:.3f} s | {r['cached']:.3f} s | {ev} | {speed} | {speed_cached} | {same} | {diff} | "
                     f"{r['floor'] * 1000:.1f} ms | {r['ours'] / r['floor']:.0f}x | "
                     f"{r['sorts']:.3f} s | {r['ours'] / r['sorts']:.1f}x | "
                     f"{r['ours_peak']:.0f} MB ({r['ours_loaded']:.0f}) | {ev_mem} |")
    measured = [r for r in rows if r["ev"] is not None]
    for r in rows:
        if r["ev"] is None and measured:
            last = measured[-1]
            notes.append(f"Evidently skipped at {fmt_rows(r['n'])} rows (above --evidently-max-rows): its peak RSS grows "
                         f"with the rows ({last['ev_peak'] / 1024:.1f} GB at {fmt_rows(last['n'])}), so it would need "
                         f"about {last['ev_peak'] * r['n'] / last['n'] / 1024:.0f} GB of this machine's "
                         f"{_memory_gb():.0f} GB.")
    lines += ["", "A whole drift step for a 10,000-row batch (the first rows of the batch above) against each reference, "
              "the reference's summaries and the model's predictions on it from the cache (`.ct/drift-cache`, keyed by "
              "the md5 of a real `dvc add`): per-feature tests, domain classifier, prediction drift, CBPE; median of the "
              "timed runs (the first, cold run in brackets):", "",
              "| reference rows | drift step, 10k batch | first step (summarizes and caches) | / 10k reference |", "|---|---|---|---|"]
    base = rows[0]["step"]
    for r in rows:
        lines.append(f"| {fmt_rows(r['n'])} | {r['step']:.3f} s ({r['step_how']}) | {r['step_cold']:.2f} s | "
                     f"{r['step'] / base:.1f}x |")
    lines += ["", "Reading both Parquet files (not in the times above): " +
              ", ".join(f"{fmt_rows(r['n'])} {r['ours_load']:.2f} s" for r in rows) + ".",
              "", "Machine:", *machine()]
    if versions:
        lines.append(f"- Evidently {versions['evidently']} with pandas {versions['pandas']} in benchmarks/.venv-evidently")
    if numpy_setting:
        both = "; ".join(f"{fmt_rows(r['n'])}: " + ", ".join(f"{t:.2f} s with {k}" for k, t in r["ev_runs"].items())
                         for r in rows if r.get("ev_runs"))
        lines.append("- AMD Zen 4: NumPy kept off its AVX-512 sort (ctml/cpu.py, as ct.py and the stages run), in every "
                     "worker; Evidently ran both with that setting and with NumPy's default, and the faster of the two "
                     f"is the yardstick ({both})")
    lines += ["", "Reading the table: the exact tests (KS, Wasserstein, quantile bins) need each numeric column "
              "sorted, so one pass over the data (the means) is a floor no exact method reaches; 'numeric sorts' "
              "(np.sort of the 40 numeric arrays one after another on one core, nothing else) is the one-core floor "
              "for this kind of method. The project sorts the columns on all cores at once (NumPy releases the "
              "GIL), so on 2 cores it can come in under that figure; the rest of its time is the merge of the two "
              "sorted samples per column and the 10 categorical value counts. Evidently spends its time in pandas per column (and runs each test more than once "
              f"per report). Load average when the run ended: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(above the core count means other jobs shared the machine and absolute times are inflated; the "
              "ratios within a row come from the same conditions)."]
    lines += [line for note in notes for line in ("", note)]
    print("\n".join(lines))
    if not args.no_write:
        write_section(lines)
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
