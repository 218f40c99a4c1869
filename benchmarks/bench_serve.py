"""Benchmark: `ct.py serve` under a bounded load on 127.0.0.1, against `ct.py predict` and the model in-process.

Builds the default project in a temporary copy (`dvc repro`, then `ct.py simulate --scenario sudden
--steps 1`: v1.0.0 and v1.1.0 released), starts `ct.py serve --port 0` with capture on (params.yaml
as committed), and measures, with the load generator on the same cores:
  - single-row requests from 1, 8 and 32 concurrent clients (keep-alive connections, one thread
    each): throughput and p50/p95/p99 wall latency as the client sees it;
  - 1,000-row requests from one client: rows/s;
  - 8 clients during two `ct.py rollback`s (v1.1.0 -> v1.0.0 -> v1.1.0): failed requests;
  - the server's resident memory over `--soak` single-row requests (8 clients), capture on;
  - yardsticks: `ct.py predict` of a one-row file (a process each), and the pipeline's own
    `predict_proba` on one row in-process (the model call the server makes, uncompiled).
Writes the "## Serving" section of benchmarks/results.md.

    python benchmarks/bench_serve.py [--soak 100000] [--no-write]
"""
from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.results import load_line, machine_info, write_section  # noqa: E402
from ctml.serve.protocol import infer_body, row_bodies  # noqa: E402
from tests.helpers import ct, dvc, git, make_project, read_json, set_params  # noqa: E402
from tests.serving import kinds, start  # noqa: E402

REQUESTS = {1: 400, 8: 2_000, 32: 3_000}  # single-row requests per concurrency level
BATCH_ROWS, BATCH_REQUESTS = 1_000, 40


def run_clients(host: str, port: int, bodies: list[bytes], clients: int, total: int,
                stop: threading.Event | None = None) -> tuple[list[float], list[int], float]:
    """`clients` threads, each with one keep-alive connection, sending `total` requests between them
    (or until `stop`): (latencies ms, statuses, elapsed s)."""
    latencies: list[float] = []
    statuses: list[int] = []
    counter = iter(range(total))
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        while stop is None or not stop.is_set():
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = bodies[i % len(bodies)]
            start_s = time.perf_counter()
            try:
                conn.request("POST", "/v2/models/model/infer", body, {"Content-Type": "application/json"})
                reply = conn.getresponse()
                reply.read()
                status = reply.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn = http.client.HTTPConnection(host, port, timeout=60)
            elapsed = (time.perf_counter() - start_s) * 1000
            with lock:
                latencies.append(elapsed)
                statuses.append(status)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses, time.perf_counter() - begin


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def yardsticks(project: Path, rows: pd.DataFrame) -> dict[str, float]:
    import joblib

    model = joblib.load(project / "models/production/model.joblib")
    one = [rows.iloc[[i % len(rows)]] for i in range(200)]
    model.predict_proba(one[0])
    timings = []
    for r in one:
        start_s = time.perf_counter()
        model.predict_proba(r)
        timings.append((time.perf_counter() - start_s) * 1000)
    row_csv = project.parent / "row.csv"
    rows.iloc[:1].to_csv(row_csv, index=False)
    cli = []
    for _ in range(5):
        start_s = time.perf_counter()
        ct(project, "predict", "--input", str(row_csv), "--output", str(project.parent / "pred.csv"))
        cli.append((time.perf_counter() - start_s) * 1000)
    return {"model_p50": float(np.percentile(timings, 50)), "model_p95": float(np.percentile(timings, 95)),
            "cli_median": float(np.median(cli))}


def measure(project: Path, soak: int) -> dict[str, object]:
    target = read_json(project / "data/schema.json")["target"]
    rows = pd.read_parquet(project / "data/prepared/test.parquet").drop(columns=[target])
    k = kinds(project)
    singles = row_bodies(rows, k)
    big = pd.concat([rows] * (BATCH_ROWS // len(rows) + 1)).iloc[:BATCH_ROWS]
    batch = [infer_body(big, k)]
    out: dict[str, object] = {"yard": yardsticks(project, rows)}
    server = start(project)
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
    try:
        run_clients(host, port, singles, 4, 200)  # warm-up
        out["single"] = {}
        for clients, total in REQUESTS.items():
            lat, statuses, elapsed = run_clients(host, port, singles, clients, total)
            out["single"][clients] = {"rps": len(lat) / elapsed, "errors": sum(s != 200 for s in statuses),
                                      **{f"p{q}": float(np.percentile(lat, q)) for q in (50, 95, 99)}}
        lat, statuses, elapsed = run_clients(host, port, batch, 1, BATCH_REQUESTS)
        out["batch"] = {"rows_s": BATCH_ROWS * len(lat) / elapsed, "p50": float(np.percentile(lat, 50)),
                        "errors": sum(s != 200 for s in statuses)}
        stop = threading.Event()
        result: dict[str, object] = {}
        loader = threading.Thread(target=lambda: result.update(zip(("lat", "statuses", "elapsed"),
                                                                  run_clients(host, port, singles, 8, 10**9, stop))))
        loader.start()
        for version in ("v1.0.0", "v1.1.0"):
            ct(project, "rollback", version)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and f"replacing {'v1.1.0' if version == 'v1.0.0' else 'v1.0.0'}" not in server.log():
                time.sleep(0.1)
        stop.set()
        loader.join()
        out["reload"] = {"requests": len(result["statuses"]), "errors": sum(s != 200 for s in result["statuses"]),
                         "reloads": server.log().count("replacing")}
        before = rss_mb(server.proc.pid)
        marks = [before]
        done = 0
        while done < soak:
            step = min(soak // 10 or soak, soak - done)
            run_clients(host, port, singles, 8, step)
            done += step
            marks.append(rss_mb(server.proc.pid))
        out["soak"] = {"requests": soak, "rss_mb": marks,
                       "captured_files": len(list((project / "data/incoming").glob("serve-*-rows.parquet")))}
    finally:
        out["exit"] = server.stop()
    out["load"] = load_line()
    return out


def section(fig: dict) -> str:
    y = fig["yard"]
    lines = [
        ("`python benchmarks/bench_serve.py`: default model (random_forest, 120 trees, depth 5, 30 features) served by "
         "`ct.py serve` (uvicorn + httptools + uvloop, one process, compiled forest runtime, capture on) on 127.0.0.1; "
         "the load generator (one thread and keep-alive connection per client) runs on the same 2 cores. "
         f"Load average at the end: {fig['load']}: compare the in-process yardstick below with the same call on a quiet "
         "machine (\"## Predict\") to see how much the other jobs inflate every figure here."),
        "",
        machine_info(),
        "",
        "| single-row requests | requests/s | p50 ms | p95 ms | p99 ms | errors | p95 vs `ct.py predict` (1-row file) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for clients, s in fig["single"].items():
        lines.append(f"| {clients} client{'s' if clients > 1 else ''} ({REQUESTS[clients]:,} requests) | {s['rps']:,.0f} | "
                     f"{s['p50']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} | {s['errors']} | "
                     f"{y['cli_median'] / s['p95']:,.0f}x faster |")
    b, r, soak = fig["batch"], fig["reload"], fig["soak"]
    one = fig["single"][1]
    lines += [
        "",
        "| yardstick | figure | server, 1 client |",
        "|---|---:|---:|",
        f"| `ct.py predict --input row.csv` (a process: imports, sha256, unpickle, predict), median of 5 | "
        f"{y['cli_median']:,.0f} ms | p50 {one['p50']:.1f} ms ({y['cli_median'] / one['p50']:,.0f}x less) |",
        f"| pipeline `predict_proba` on one row in-process (scikit-learn, no HTTP) | p50 {y['model_p50']:.1f} ms, "
        f"p95 {y['model_p95']:.1f} ms | p50 {one['p50']:.1f} ms ({one['p50'] / y['model_p50']:.2f}x of it, HTTP and JSON included) |",
        "",
        f"- **1,000-row requests** (1 client, {BATCH_REQUESTS} requests): **{b['rows_s']:,.0f} rows/s**, "
        f"p50 {b['p50']:.0f} ms per request, {b['errors']} errors.",
        f"- **Hot reload under load**: 8 clients during two `ct.py rollback`s ({r['reloads']} reloads logged): "
        f"{r['requests']:,} requests, **{r['errors']} errors**.",
        f"- **Memory over {soak['requests']:,} single-row requests** (8 clients, capture on, {soak['captured_files']} capture "
        f"files written): server RSS {' → '.join(f'{m:.0f}' for m in soak['rss_mb'])} MB (every {soak['requests'] // 10:,} requests).",
        f"- SIGTERM at the end: exit {fig['exit']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--soak", type=int, default=100_000, help="single-row requests of the memory run")
    p.add_argument("--no-write", action="store_true", help="print only; leave results.md alone")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        project = make_project(Path(tmp) / "project")
        dvc("repro", cwd=project)
        set_params(project, ct__start_step=1)  # the first step drifts: v1.0.0 and the retrained v1.1.0
        git("commit", "-qam", "drift from the first step", cwd=project)
        ct(project, "simulate", "--scenario", "sudden", "--steps", "1", "--batch-size", "200")
        figures = measure(project, args.soak)
    text = section(figures)
    print(text)
    if not args.no_write:
        write_section("Serving", text)


if __name__ == "__main__":
    main()
