"""`ct.py serve` in the states around serving: no model yet, a tampered model, a port in use, an inbox
it cannot write, SIGTERM with rows still buffered, and a new production version that fails its check."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pandas as pd

from tests.helpers import ct, git, read_json, wait_for
from tests.serve.conftest import served_copy
from tests.serving import infer, metric, sample_rows, start


def test_before_any_release_the_server_is_live_but_not_ready(repo: Path):
    server = start(repo)
    try:
        with server.client() as c:
            assert c.get("/v2/health/live").status_code == 200
            assert c.get("/v2/health/ready").status_code == 503
            assert c.get("/v2/models/model/ready").json()["ready"] is False
            reply = infer(c, repo, sample_rows(repo).iloc[:1])
            assert reply.status_code == 503 and "no production model" in reply.json()["error"]
    finally:
        assert server.stop() == 0
    assert "live, not ready" in server.log()


def test_a_tampered_production_model_is_refused_at_start(released: Path, tmp_path: Path):
    repo = served_copy(released, tmp_path)
    model = repo / "models/production/model.joblib"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.unlink()  # a DVC link into the cache: replace the file, never write through it
    model.write_bytes(bytes(data))
    proc = ct(repo, "serve", "--port", "0", check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "does not match" in proc.stderr and "refusing to load" in proc.stderr


def test_a_port_in_use_is_one_line_and_exit_1(released: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = ct(released, "serve", "--port", str(port), check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == \
        f"error: --port {port}: 127.0.0.1:{port} is in use (another server?); pick another port or stop it"
    bad = ct(released, "serve", "--port", "70000", check=False)
    assert bad.returncode == 1 and "--port 70000: must be 0-65535" in bad.stderr


def test_an_inbox_it_cannot_write_is_counted_and_serving_goes_on(released: Path, tmp_path: Path):
    repo = served_copy(released, tmp_path, serve__capture_rows=2, serve__capture_seconds=0.2)
    inbox = repo / "data/incoming"
    for f in inbox.iterdir():
        f.unlink()
    inbox.rmdir()
    inbox.write_text("not a folder")  # writing into it fails even as root
    server = start(repo)
    try:
        with server.client() as c:
            for i in range(4):
                assert infer(c, repo, sample_rows(repo).iloc[i:i + 1]).status_code == 200
            def failed() -> str | None:
                text = c.get("/metrics").text
                return text if metric(text, "ct_serve_capture_failures_total") >= 1 else None
            text = wait_for(failed)
            assert metric(text, "ct_serve_capture_dropped_rows_total") >= 2
            assert infer(c, repo, sample_rows(repo).iloc[:1]).status_code == 200
    finally:
        assert server.stop() == 0
    assert "capture: cannot write" in server.log()


def test_sigterm_drains_flushes_the_buffer_and_exits_0(released: Path, tmp_path: Path):
    repo = served_copy(released, tmp_path, serve__capture_rows=10_000, serve__capture_seconds=3600)
    server = start(repo)
    with server.client() as c:
        for i in range(5):
            assert infer(c, repo, sample_rows(repo).iloc[i:i + 1], f"term-{i}").status_code == 200
        assert not list((repo / "data/incoming").glob("serve-*"))  # all still buffered
        assert metric(c.get("/metrics").text, "ct_serve_capture_buffer_rows") == 5
    start_s = time.monotonic()
    assert server.stop(timeout=10) == 0
    assert time.monotonic() - start_s < 10
    files = list((repo / "data/incoming").glob("serve-*-rows.parquet"))
    assert len(files) == 1 and sorted(pd.read_parquet(files[0])["_ct_request_id"]) == [f"term-{i}/0" for i in range(5)]
    summary = wait_for(lambda: [line for line in server.out if line.startswith("stopped: ")])
    assert "5 rows scored, 5 captured" in summary[0]



def test_a_new_version_failing_its_integrity_check_is_not_loaded(released: Path, tmp_path: Path):
    repo = served_copy(released, tmp_path, serve__reload_interval_s=0.2)
    server = start(repo)
    try:
        # A release of "v1.1.0" whose recorded sha256 is not the model file's: tags and model.json agree, the bytes do not.
        meta = repo / "models/production/model.json"
        record = read_json(meta)
        meta.write_text(json.dumps({**record, "model_sha256": "0" * 64}))
        git("commit", "-qam", "a release with a wrong model", cwd=repo)
        git("tag", "-a", "model@v1.1.0", "-m", "bad", cwd=repo)
        git("tag", "-a", "model#prod#2", "-m", "promote v1.1.0", cwd=repo)
        with server.client() as c:
            wait_for(lambda: metric(c.get("/metrics").text, "ct_serve_reloads_total", result="failed") >= 1)
            reply = infer(c, repo, sample_rows(repo).iloc[:1])
            assert reply.status_code == 200 and reply.json()["model_version"] == "v1.0.0"
    finally:
        assert server.stop() == 0
    assert "not loading v1.1.0" in server.log() and "still serving v1.0.0" in server.log()


def test_feedback_for_uncaptured_rows_is_accepted_and_expired_ids_are_refused(released: Path, tmp_path: Path):
    # capture nothing; forget requests after 0.0005 h (1.8 s)
    repo = served_copy(released, tmp_path, serve__capture_sample=0.0, serve__feedback_retention_hours=0.0005,
                       serve__capture_seconds=0.2, serve__reload_interval_s=0.2)
    server = start(repo)
    try:
        with server.client() as c:
            assert infer(c, repo, sample_rows(repo).iloc[:2], "uncaptured").status_code == 200
            reply = c.post("/feedback", json={"id": "uncaptured", "labels": [0, 1]})
            assert reply.status_code == 200 and reply.json() == {"id": "uncaptured", "rows": 2, "recorded": True,
                                                                 "captured": False}
            assert infer(c, repo, sample_rows(repo).iloc[:1], "late").status_code == 200
            expired = wait_for(lambda: (r := c.post("/feedback", json={"id": "late", "labels": [1]})).status_code == 404 and r)
            assert "serve.feedback_retention_hours" in expired.json()["error"]
            assert metric(c.get("/metrics").text, "ct_serve_captured_rows_total") == 0
    finally:
        assert server.stop() == 0
    assert not list((repo / "data/incoming").glob("serve-*")) and not list((repo / "data/labels").glob("serve-*"))
