"""Benchmark: `ct.py serve` with a model in shadow and without, against MLServer 1.7.1 on the same model file.

Builds the default project in a temporary copy (`dvc repro`, then, with `release.mode: shadow`, a
`sudden` drift step: v1.0.0 in production, v1.1.0 in shadow), and measures with one load generator
(one thread and keep-alive connection per client, on the same cores):
  - `ct.py serve` with the shadow scored after every reply, then the same server once the shadow is
    retired (`gto deprecate model v1.1.0 shadow`: production alone);
  - MLServer 1.7.1 + mlserver-sklearn serving models/production/model.joblib (the same file) in its
    own venv (benchmarks/.venv-mlserver, created on first run), `parallel_workers: 0` (its worker
    pool does not start with uvloop 0.23) and the pandas codec (the pipeline selects columns by
    name), without and with adaptive batching (`max_batch_size: 32`, `max_batch_time: 0.005`);
each at 1 and 8 clients with single-row requests and with 1,000-row requests, and checks that both
servers give the same labels on 50 rows. Writes "## Serving: shadow and MLServer" of benchmarks/results.md.

    python benchmarks/bench_serve_shadow.py [--no-write]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.bench_serve import run_clients  # noqa: E402
from benchmarks.results import load_line, machine_info, write_section  # noqa: E402
from benchmarks.venvs import python_of  # noqa: E402
from ctml.serve.protocol import infer_body, row_bodies  # noqa: E402
from tests.helpers import VENV_BIN, ct, dvc, git, make_project, read_json, set_params, sh, wait_for  # noqa: E402
from tests.serving import kinds, start  # noqa: E402

LOADS = [("1 row", 1, 300), ("1 row", 8, 1_200), ("1,000 rows", 1, 20), ("1,000 rows", 8, 40)]  # (rows, clients, requests)
BATCH_ROWS, CHECK_ROWS = 1_000, 50
VENV = ROOT / "benchmarks" / ".venv-mlserver"
REQUIREMENTS = ROOT / "benchmarks" / "requirements-mlserver.txt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def figures(host: str, port: int, bodies: dict[str, list[bytes]], path: str = "/v2/models/model/infer") -> dict[str, dict]:
    out = {}
    run_clients(host, port, bodies["1 row"], 2, 100)  # warm-up
    for rows, clients, total in LOADS:
        lat, statuses, elapsed = run_clients(host, port, bodies[rows], clients, total)
        out[f"{rows}, {clients}"] = {"rps": len(lat) / elapsed, "p50": float(np.percentile(lat, 50)),
                                     "p95": float(np.percentile(lat, 95)), "errors": sum(s != 200 for s in statuses)}
    return out


def post(host: str, port: int, body: bytes, path: str = "/v2/models/model/infer") -> dict:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    reply = conn.getresponse()
    data = json.loads(reply.read())
    conn.close()
    return data


def labels_of(answer: dict) -> list:
    return next(o["data"] for o in answer["outputs"] if o["name"] == "predict")


def ours(project: Path, rows: pd.DataFrame) -> dict[str, object]:
    k = kinds(project)
    big = pd.concat([rows] * (BATCH_ROWS // len(rows) + 1)).iloc[:BATCH_ROWS]
    bodies = {"1 row": row_bodies(rows, k), "1,000 rows": [infer_body(big, k)]}
    server = start(project)
    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
    out: dict[str, object] = {}
    try:
        with server.client() as c:
            wait_for(lambda: 'ct_serve_shadow_info{sha256=' in c.get("/metrics").text, timeout=60)
            out["with shadow"] = figures(host, port, bodies)
            text = c.get("/metrics").text
            out["shadow rows"] = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                                     if line.startswith("ct_serve_shadow_rows_total"))
            out["skipped rows"] = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                                      if line.startswith("ct_serve_shadow_skipped_rows_total"))
            sh(f"{VENV_BIN}/gto", "deprecate", "model", "v1.1.0", "shadow", cwd=project)
            wait_for(lambda: 'ct_serve_shadow_info{sha256=' not in c.get("/metrics").text, timeout=60)
            out["production only"] = figures(host, port, bodies)
            out["labels"] = [labels_of(post(host, port, b))[0] for b in bodies["1 row"][:CHECK_ROWS]]
    finally:
        server.stop()
    return out


def mlserver_body(frame: pd.DataFrame) -> bytes:
    """The pandas codec: one input per column, and both outputs asked for."""
    inputs = [{"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].astype(float).tolist()}
              for c in frame.columns]
    return json.dumps({"inputs": inputs, "parameters": {"content_type": "pd"},
                       "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}).encode()


def mlserver(project: Path, rows: pd.DataFrame, folder: Path, adaptive: bool) -> dict[str, object]:
    python = python_of(VENV, REQUIREMENTS)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (folder / "settings.json").write_text(json.dumps({"http_port": port, "grpc_port": free_port(),
                                                      "metrics_port": free_port(), "parallel_workers": 0}))
    model: dict[str, object] = {"name": "model", "implementation": "mlserver_sklearn.SKLearnModel",
                                "parameters": {"uri": str(project / "models/production/model.joblib"), "version": "v1.0.0"}}
    if adaptive:
        model.update(max_batch_size=32, max_batch_time=0.005)
    (folder / "model-settings.json").write_text(json.dumps(model))
    env = {**os.environ, "PYTHONPATH": str(project)}
    proc = subprocess.Popen([str(python.parent / "mlserver"), "start", str(folder)], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    big = pd.concat([rows] * (BATCH_ROWS // len(rows) + 1)).iloc[:BATCH_ROWS]
    bodies = {"1 row": [mlserver_body(rows.iloc[[i]]) for i in range(len(rows))], "1,000 rows": [mlserver_body(big)]}
    try:
        def ready() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/v2/models/model/ready")
                return conn.getresponse().status == 200
            except OSError:
                return False
        wait_for(ready, timeout=180, every=0.5)
        out: dict[str, object] = {"figures": figures("127.0.0.1", port, bodies)}
        out["labels"] = [labels_of(post("127.0.0.1", port, b))[0] for b in bodies["1 row"][:CHECK_ROWS]]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def section(fig: dict) -> str:
    mls, mls_b = fig["mlserver"], fig["mlserver adaptive"]
    rows = [("`ct.py serve`, production only", fig["ours"]["production only"]),
            ("`ct.py serve`, a model in shadow", fig["ours"]["with shadow"]),
            ("MLServer 1.7.1, no adaptive batching", mls["figures"]),
            ("MLServer 1.7.1, adaptive batching (32, 5 ms)", mls_b["figures"])]
    same = sum(a == b for a, b in zip(fig["ours"]["labels"], mls["labels"]))
    lines = [
        ("`python benchmarks/bench_serve_shadow.py`: default model (random_forest, 120 trees, depth 5, 30 features); "
         "`ct.py serve` (compiled forest runtime, capture on) with v1.1.0 in shadow and then without it, and MLServer "
         "1.7.1 + mlserver-sklearn 1.7.1 (own venv, `parallel_workers: 0`, pandas codec, `predict` and `predict_proba` "
         "asked for) serving the same models/production/model.joblib; one load generator (a thread and keep-alive "
         f"connection per client) on the same 2 cores. Load average at the end: {fig['load']}: the machine was shared, "
         "so read the ratios of this one run, not the absolute figures."),
        "",
        machine_info(),
        "",
        "| server | " + " | ".join(f"{r}, {c} client{'s' if c > 1 else ''}: p95 ms (req/s)" for r, c, _ in LOADS) + " | errors |",
        "|---|" + "---:|" * (len(LOADS) + 1),
    ]
    for name, f in rows:
        cells = [f"{f[f'{r}, {c}']['p95']:.1f} ({f[f'{r}, {c}']['rps']:,.0f})" for r, c, _ in LOADS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {sum(v['errors'] for v in f.values())} |")
    prod, shadow, best = fig["ours"]["production only"], fig["ours"]["with shadow"], mls_b["figures"]
    lines += [
        "",
        f"- Same labels from `ct.py serve` and MLServer on {same} of {CHECK_ROWS} single-row requests.",
        "- A model in shadow: p95 " + ", ".join(f"{shadow[k]['p95'] / prod[k]['p95']:.2f}x" for k in prod) +
        f" of production alone ({', '.join(prod)}); the shadow scored {fig['ours']['shadow rows']:,.0f} rows and skipped "
        f"{fig['ours']['skipped rows']:,.0f} (its queue full).",
        "- Against MLServer's adaptive batching: p95 " + ", ".join(f"{prod[k]['p95'] / best[k]['p95']:.2f}x" for k in prod) +
        ", throughput " + ", ".join(f"{prod[k]['rps'] / best[k]['rps']:.1f}x" for k in prod) + " (production only; same order).",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-write", action="store_true", help="print only; leave results.md alone")
    args = p.parse_args()
    python_of(VENV, REQUIREMENTS)
    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as tmp:
        project = make_project(Path(tmp) / "project")
        dvc("repro", cwd=project)
        set_params(project, ct__start_step=1, release__mode="shadow")
        git("commit", "-qam", "drift from the first step, released into shadow", cwd=project)
        ct(project, "simulate", "--scenario", "sudden", "--steps", "1", "--batch-size", "200")
        target = read_json(project / "data/schema.json")["target"]
        rows = pd.read_parquet(project / "data/prepared/test.parquet").drop(columns=[target])
        fig: dict[str, object] = {"mlserver": mlserver(project, rows, Path(tmp) / "mls", adaptive=False),
                                  "mlserver adaptive": mlserver(project, rows, Path(tmp) / "mls-b", adaptive=True),
                                  "ours": ours(project, rows)}
        fig["load"] = load_line()
    text = section(fig)
    print(text)
    if not args.no_write:
        write_section("Serving: shadow and MLServer", text)


if __name__ == "__main__":
    main()
