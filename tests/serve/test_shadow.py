"""A candidate in shadow, end to end: a drift releases it into shadow (`release.mode: shadow`); a real
`ct.py serve` scores it beside production on real HTTP traffic; the labels fed back decide it in
`ct.py check`: promoted when it is better on them (the server swaps without a failed request), retired
when it is worse (production never changes), and a kill during the decision recovers. Bad input on
the way: a shadow whose model file is missing or changed, feedback for rows only production scored.

The concept drift: 40% of the features shifted by 3 training standard deviations and the label
flipped there. The shadow learnt the new concept from a delivered labelled batch; production did not.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import signal
import threading
from pathlib import Path

import joblib
import pandas as pd
import pytest

from tests.helpers import copy_project, ct, git, read_json, set_params, tags, wait_for
from tests.reliability.support import kill_group, park_on_git_hook, start_ct
from ctml.serve.shadow import NICE
from tests.serving import Server, infer, metric, nice_of, start
from tests.standins import posted, webhook_receiver

pytestmark = pytest.mark.slow

SHADOW_MODEL = Path(".ct/shadow/model.joblib")
TRAFFIC, PER_REQUEST, NEEDED = 200, 5, 100


def concept_drift(repo: Path) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """(shifted features, the new concept's labels, the old concept's labels) of the training rows."""
    schema = read_json(repo / "data/schema.json")
    raw = pd.read_parquet(repo / "data/raw/train.parquet").reset_index(drop=True)
    columns = sorted(schema["columns"])
    rows = raw[columns].copy()
    for c in columns[: int(len(columns) * 0.4)]:
        rows[c] = rows[c] + 3 * raw[c].std()
    old = raw[schema["target"]]
    return rows, 1 - old, old


@pytest.fixture(scope="module")
def shadow_repo(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1.0.0 in production, v1.1.0 (the new concept) in shadow, CT's retrain triggers then set out of
    reach so the served traffic is only evidence. Do not modify: copy it."""
    repo = copy_project(released, tmp_path_factory.mktemp("shadow"))
    set_params(repo, release__mode="shadow", release__min_labelled_rows=NEEDED, serve__reload_interval_s=0.5,
               serve__capture_seconds=3, serve__capture_rows=100000)
    git("commit", "-qam", "shadow mode", cwd=repo)
    rows, new, _ = concept_drift(repo)
    rows.iloc[:300].assign(target=new.iloc[:300].to_numpy()).to_parquet(repo / "data/incoming/drifted.parquet")
    out = ct(repo, "check").stdout
    assert "in shadow beside production v1.0.0" in out, out
    found = tags(repo)
    assert {"model@v1.1.0", "model#prod#1"} <= set(found) and any(t.startswith("model#shadow#") for t in found)
    assert read_json(repo / "models/production/model.json")["model_sha256"] == \
        read_json(released / "models/production/model.json")["model_sha256"]
    assert (repo / SHADOW_MODEL).exists() and not git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout
    set_params(repo, ct__threshold=1.0, ct__multivariate_trigger=False, ct__max_out_of_range_share=1.0,
               ct__max_estimated_drop=1.0, ct__max_accuracy_drop=1.0)
    git("commit", "-qam", "retrain triggers out of reach while the shadow is tried", cwd=repo)
    return repo


def requests_until(server: Server, repo: Path, rows: pd.DataFrame, stop: threading.Event, statuses: list[int]) -> None:
    """Single-row requests one after another on one connection, each status kept, until `stop` is set."""
    with server.client() as client:
        for i in itertools.count():
            if stop.is_set():
                return
            statuses.append(infer(client, repo, rows.iloc[i % len(rows):i % len(rows) + 1]).status_code)


def production_version(repo: Path) -> str:
    return json.loads(ct(repo, "status", "--json").stdout)["production_version"]


def serve_trial(repo: Path, labels: pd.Series, c, prefix: str = "t") -> None:
    """TRAFFIC rows in requests of PER_REQUEST, each fed back with `labels` once the shadow scored it
    (its process runs at a lower priority: on a busy machine it scores later, never in the reply's way)."""
    rows, _, _ = concept_drift(repo)
    for start_row in range(300, 300 + TRAFFIC, PER_REQUEST):
        rid = f"{prefix}-{start_row}"
        before = shadow_rows(c)
        assert infer(c, repo, rows.iloc[start_row:start_row + PER_REQUEST], rid).status_code == 200
        wait_for(lambda: shadow_rows(c) >= before + PER_REQUEST, timeout=60, every=0.02)
        fed = c.post("/feedback", json={"id": rid, "labels": labels.iloc[start_row:start_row + PER_REQUEST].tolist()})
        assert fed.status_code == 200, fed.text


def shadow_rows(c) -> float:
    return metric(c.get("/metrics").text, "ct_serve_shadow_rows_total")


def labelled_rows(repo: Path) -> int:
    return sum(len(pd.read_parquet(p)) for p in (repo / "data/labels").glob("serve-*.parquet"))


def shadow_loaded(c, version: str = "v1.1.0") -> bool:
    return any(line.startswith("ct_serve_shadow_info{") and f'version="{version}"' in line and line.endswith(" 1.0")
               for line in c.get("/metrics").text.splitlines())


def test_a_better_shadow_is_promoted_and_served_without_a_failed_request(shadow_repo: Path, tmp_path: Path):
    repo = copy_project(shadow_repo, tmp_path)
    model = (repo / SHADOW_MODEL).read_bytes()
    (repo / SHADOW_MODEL).unlink()
    refused = ct(repo, "check", check=False)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert ".ct/shadow/model.joblib: missing (shadow v1.1.0" in refused.stderr
    rows, new, _ = concept_drift(repo)
    server = start(repo)
    statuses: list[int] = []
    stop = threading.Event()
    try:
        with server.client() as c:
            wait_for(lambda: "not scoring shadow v1.1.0" in server.log())
            for i in range(5):  # rows only production scores: their feedback is taken, never counted as evidence
                assert infer(c, repo, rows.iloc[i * 5:i * 5 + 5], f"prod-only-{i}").json()["model_version"] == "v1.0.0"
                assert c.post("/feedback", json={"id": f"prod-only-{i}", "labels": new.iloc[i * 5:i * 5 + 5].tolist()}).status_code == 200
            (repo / SHADOW_MODEL).write_bytes(model)
            wait_for(lambda: shadow_loaded(c), timeout=120)

            serve_trial(repo, new, c)
            wait_for(lambda: labelled_rows(repo) >= TRAFFIC + 25, timeout=60)
            assert shadow_rows(c) >= TRAFFIC

            thread = threading.Thread(target=requests_until, args=(server, repo, rows, stop, statuses))  # through the swap
            thread.start()
            with webhook_receiver() as (url, received):
                out = ct(repo, "check", CT_ALERT_WEBHOOK=url).stdout
            assert "shadow promoted" in out, out
            wait_for(lambda: infer(c, repo, rows.iloc[:1]).json()["model_version"] == "v1.1.0")
            wait_for(lambda: not shadow_loaded(c))
            stop.set()
            thread.join()
    finally:
        stop.set()
        assert server.stop() == 0
    assert statuses and set(statuses) == {200}, set(statuses)
    assert production_version(repo) == "v1.1.0"
    prod_tag = max((t for t in tags(repo) if t.startswith("model#prod#")), key=lambda t: int(t.rsplit("#", 1)[1]))
    message = git("tag", "-l", "--format=%(contents)", prod_tag, cwd=repo).stdout
    evidence = next(line for line in message.splitlines() if line.startswith("rows: "))
    counted = int(evidence.split()[1])
    assert NEEDED <= counted <= TRAFFIC, message  # the 25 rows only production scored are not among them
    assert "accuracy: production" in message and "interval [" in message
    sent = [b for b in posted(received) if b.get("event") == "shadow_promoted"]
    assert len(sent) == 1 and sent[0]["details"]["rows"] == counted and sent[0]["details"]["verdict"] == "promote"
    assert sent[0]["details"]["shadow_value"] > sent[0]["details"]["production_value"]
    assert read_json(repo / "models/production/model.json")["model_sha256"] == read_json(
        shadow_repo / ".ct/shadow/model.json")["model_sha256"]
    assert not (repo / ".ct/shadow").exists()


def shadow_pid(server: Server) -> int:
    """The process the server's last "shadow process N started" line names (0: none yet)."""
    started = re.findall(r"shadow process (\d+) started", server.log())
    return int(started[-1]) if started else 0


def test_the_shadow_runs_below_the_server_a_killed_one_costs_no_request_and_none_outlives_it(shadow_repo: Path,
                                                                                             tmp_path: Path):
    repo = copy_project(shadow_repo, tmp_path)
    rows = concept_drift(repo)[0]
    server = start(repo)
    statuses: list[int] = []
    stop = threading.Event()
    pids: list[int] = []

    thread = threading.Thread(target=requests_until, args=(server, repo, rows, stop, statuses))  # through the kill
    try:
        with server.client() as c:
            wait_for(lambda: shadow_loaded(c), timeout=120)
            pids.append(shadow_pid(server))
            assert nice_of(pids[0]) == min(19, nice_of(server.proc.pid) + NICE)
            thread.start()
            wait_for(lambda: shadow_rows(c) > 0, timeout=60)
            os.kill(pids[0], signal.SIGKILL)
            wait_for(lambda: metric(c.get("/metrics").text, "ct_serve_shadow_crashes_total") == 1)
            assert f"shadow process {pids[0]} died (exit -9)" in server.log()
            wait_for(lambda: shadow_loaded(c), timeout=120)  # the next reload started another
            pids.append(shadow_pid(server))
            assert pids[1] != pids[0] and not os.path.exists(f"/proc/{pids[0]}")
            before = shadow_rows(c)
            wait_for(lambda: shadow_rows(c) > before, timeout=60)
            stop.set()
            thread.join()
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        assert server.stop() == 0
    assert statuses and set(statuses) == {200}, set(statuses)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)  # the server reaped its children before it exited


def test_a_worse_shadow_is_retired_and_production_never_changes(shadow_repo: Path, tmp_path: Path):
    repo = copy_project(shadow_repo, tmp_path)
    model = (repo / SHADOW_MODEL).read_bytes()
    (repo / SHADOW_MODEL).write_bytes(model + b"tampered")
    refused = ct(repo, "check", check=False)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "is not the" in refused.stderr and "changed outside ct.py" in refused.stderr
    before = read_json(repo / "models/production/model.json")["model_sha256"]
    _, _, old = concept_drift(repo)
    server = start(repo)
    try:
        with server.client() as c:
            wait_for(lambda: "not scoring shadow v1.1.0" in server.log())
            assert metric(c.get("/metrics").text, "ct_serve_shadow_reloads_total", result="failed") >= 1
            (repo / SHADOW_MODEL).write_bytes(model)
            wait_for(lambda: shadow_loaded(c), timeout=120)
            serve_trial(repo, old, c)  # the old concept: the shadow is the worse model now
            wait_for(lambda: labelled_rows(repo) >= TRAFFIC, timeout=60)
            out = ct(repo, "check").stdout
            assert "shadow retired" in out, out
            wait_for(lambda: not shadow_loaded(c))
            assert infer(c, repo, concept_drift(repo)[0].iloc[:1]).json()["model_version"] == "v1.0.0"
    finally:
        assert server.stop() == 0
    assert production_version(repo) == "v1.0.0"
    assert [t for t in tags(repo) if t.startswith("model#prod#")] == ["model#prod#1"]
    retired = [t for t in tags(repo) if t.startswith("model#shadow!#")]
    assert len(retired) == 1
    message = git("tag", "-l", "--format=%(contents)", retired[0], cwd=repo).stdout
    assert "retire v1.1.0 from shadow" in message and "accuracy: production" in message
    assert read_json(repo / "models/production/model.json")["model_sha256"] == before
    status = ct(repo, "status").stdout
    assert "shadow" in status and "none" in status


def test_a_kill_during_the_promotion_recovers(shadow_repo: Path, tmp_path: Path):
    """Served traffic as the server writes it (rows with both predictions, then labels), without a server."""
    repo = copy_project(shadow_repo, tmp_path)
    rows, new, _ = concept_drift(repo)
    traffic = rows.iloc[300:300 + TRAFFIC].reset_index(drop=True)
    ids = [f"r-{i}/0" for i in range(len(traffic))]
    production = joblib.load(repo / "models/production/model.joblib")
    shadow = joblib.load(repo / SHADOW_MODEL)
    features = read_json(repo / ".ct/shadow/model.json")["features"]
    traffic.assign(_ct_request_id=ids, _ct_prediction=production.predict(traffic[features]), _ct_model_version="v1.0.0",
                   _ct_shadow_prediction=shadow.predict(traffic[features]), _ct_shadow_version="v1.1.0"
                   ).to_parquet(repo / "data/incoming/serve-1-rows.parquet")
    pd.DataFrame({"_ct_request_id": ids, "target": new.iloc[300:300 + TRAFFIC].to_numpy()}).to_parquet(
        repo / "data/labels/serve-2-labels.parquet")
    os.utime(repo / "data/labels/serve-2-labels.parquet")
    # parked right after the promotion commit, before any tag
    reached = park_on_git_hook(repo, "post-commit", "git log -1 --format=%B | grep -q '^Shadow-Promoted: '")
    proc = start_ct(repo, "check")
    wait_for(reached.exists, proc=proc, timeout=300, every=0.002, what="the promotion commit")
    kill_group(proc)
    assert production_version(repo) == "v1.0.0"  # the prod tag comes after the commit: not there yet
    (repo / ".git/hooks/post-commit").unlink()
    out = ct(repo, "check").stdout
    assert "completed the interrupted promotion of shadow v1.1.0" in out, out
    assert production_version(repo) == "v1.1.0"
    assert not (repo / ".ct/inflight.json").exists() and not (repo / ".ct/shadow").exists()
    h = pd.read_csv(repo / "metrics/ct_history.csv")
    assert (h["status"] == "shadow_promoted").sum() == 1
    assert not git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout
