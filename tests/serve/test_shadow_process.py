"""The shadow's process seen from the server's side, in-process with a real child and a real model:
it runs at a lower priority, loads only the bytes its tag records, puts its labels onto the captured
rows, is started again after a SIGKILL, and is gone once the server stops it. (The same through a
real `ct.py serve` and HTTP traffic: tests/serve/test_shadow.py.)"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
from prometheus_client import generate_latest

from ctml import layout
from ctml.config import load_params
from ctml.ct.release.shadow import Shadow
from ctml.serve.capture import Capture
from ctml.serve.metrics import Metrics
from ctml.serve.protocol import infer_body, parse_infer
from ctml.serve.scoring import Scored, load, score
from ctml.serve.shadow import NICE, ShadowScorer
from tests.helpers import read_json, wait_for
from tests.serving import kinds, metric, nice_of, sample_rows


def test_the_shadow_process_scores_onto_captured_rows_survives_a_kill_and_ends_with_the_server(released: Path,
                                                                                              tmp_path: Path):
    folder = released / layout.PRODUCTION  # production's model in shadow: the same labels, so every row agrees
    sha = read_json(folder / "model.json")["model_sha256"]
    rules = load_params(released / layout.PARAMS).validate_
    production = load(folder / "model.joblib", folder / "model.json", released / layout.SCHEMA, "v1.0.0", rules)
    rows = sample_rows(released)
    requests = [parse_infer(infer_body(rows.iloc[i * 5:i * 5 + 5], kinds(released), f"r{i}"), production.kinds,
                            production.outputs) for i in range(3)]
    scored = [s for s in score(production, requests) if isinstance(s, Scored)]
    metrics, lines = Metrics(), []
    capture = Capture(tmp_path, "target", every_rows=10**6, every_s=3600, share=1.0, metrics=metrics)
    scorer = ShadowScorer(folder, released / layout.TEST_SPLIT, rules, capture, metrics, lines.append)

    def value(name: str, **labels: str) -> float:
        return metric(generate_latest(metrics.registry).decode(), name, **labels)

    def trial() -> None:
        capture.add(scored, production.features)
        before = value("ct_serve_shadow_rows_total")
        scorer.offer(scored)
        wait_for(lambda: value("ct_serve_shadow_rows_total") == before + 15, what="the shadow's 15 rows")

    pids = []
    try:
        scorer.check(Shadow("v1.1.0", "0" * 64, "model#shadow#2", ""), None)  # the tag records other bytes
        wait_for(lambda: value("ct_serve_shadow_reloads_total", result="failed") == 1)
        assert any("not scoring shadow v1.1.0" in line and "its tag records" in line for line in lines), lines
        scorer.offer(scored)  # nothing loaded: nothing scored, nothing counted
        assert scorer.version is None and value("ct_serve_shadow_rows_total") == 0

        pids.append(scorer.child.process.pid)
        assert nice_of(pids[0]) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE)  # set by the child, once running
        found = Shadow("v1.1.0", sha, "model#shadow#2", "")
        scorer.check(found, None)
        wait_for(lambda: scorer.version == "v1.1.0", what="the shadow loaded")
        trial()
        assert value("ct_serve_shadow_agreements_total") == 15 and value("ct_serve_shadow_skipped_rows_total") == 0

        os.kill(pids[0], signal.SIGKILL)
        wait_for(lambda: value("ct_serve_shadow_crashes_total") == 1, what="the crash counted")
        assert scorer.version is None and any(f"shadow process {pids[0]} died (exit -9)" in line for line in lines)
        assert not Path(f"/proc/{pids[0]}").exists()  # reaped

        scorer.check(found, None)  # the next reload: another child
        pids.append(scorer.child.process.pid)
        assert pids[1] != pids[0]
        wait_for(lambda: scorer.version == "v1.1.0", what="the shadow loaded again")
        trial()
    finally:
        scorer.stop()
        capture.stop()
    assert pids and not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert value("ct_serve_shadow_reloads_total", result="loaded") == 2
    written = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / layout.INCOMING).glob("serve-*-rows.parquet"))])
    assert len(written) == 30 and written["_ct_shadow_version"].eq("v1.1.0").all()
    assert written["_ct_shadow_prediction"].tolist() == written["_ct_prediction"].tolist()
