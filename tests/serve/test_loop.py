"""The loop closed: `ct.py serve` and `ct.py watch` side by side.

Drifted requests go in; the server captures them into data/incoming/; watch checks them (drift on
rows without labels: the retrain waits for labels); the labels fed back through POST /feedback reach
data/labels/; watch measures the realized accuracy on served traffic and retrains; the server then
answers with the new version. No request fails throughout."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.helpers import env, history, read_json, tags, wait_for
from tests.serve.conftest import served_copy
from tests.serving import infer, sample_rows, start

pytestmark = pytest.mark.slow

ROWS, PER_REQUEST = 120, 10


DISTINCT = 40  # clients send the same inputs again: 120 requests' rows cycle over 40 distinct ones


def drifted(repo: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Test rows with 40% of the features shifted by 1.5 training standard deviations, and their true labels;
    DISTINCT rows, each sent three times (served traffic repeats itself: measured as it is, not quarantined)."""
    schema = read_json(repo / "data/schema.json")
    test = pd.read_parquet(repo / "data/prepared/test.parquet").iloc[np.arange(ROWS) % DISTINCT].reset_index(drop=True)
    train = pd.read_parquet(repo / "data/prepared/train.parquet")
    columns = sorted(schema["columns"])
    shifted = test[columns].copy()
    for c in columns[: int(len(columns) * 0.4)]:
        shifted[c] = shifted[c] + 1.5 * train[c].std()
    return shifted, test[schema["target"]]


def test_served_traffic_is_monitored_labelled_and_retrained_on(released: Path, tmp_path: Path):
    repo = served_copy(released, tmp_path, serve__capture_rows=ROWS, serve__capture_seconds=2,
                       serve__reload_interval_s=0.5, ct__watch_interval_s=1)
    server = start(repo)
    watch = subprocess.Popen([sys.executable, "ct.py", "watch"], cwd=repo, env=env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    statuses: list[int] = []
    try:
        rows, labels = drifted(repo)
        with server.client() as c:
            for start_row in range(0, ROWS, PER_REQUEST):
                reply = infer(c, repo, rows.iloc[start_row:start_row + PER_REQUEST], f"loop-{start_row}")
                statuses.append(reply.status_code)
                assert reply.json()["model_version"] == "v1.0.0"
            wait_for(lambda: (h := history_or_none(repo)) is not None and h["file"].fillna("").astype(str).str.startswith("data/incoming/serve-").any(),
                 timeout=240)
            for start_row in range(0, ROWS, PER_REQUEST):
                fed = c.post("/feedback", json={"id": f"loop-{start_row}",
                                                "labels": labels.iloc[start_row:start_row + PER_REQUEST].tolist()})
                statuses.append(fed.status_code)
            wait_for(lambda: "model#prod#2" in tags(repo), timeout=300)

            def answered_by_new() -> bool:
                reply = infer(c, repo, sample_rows(repo).iloc[:1])
                statuses.append(reply.status_code)
                return reply.json().get("model_version") == "v1.1.0"
            wait_for(answered_by_new, timeout=30, every=0.5)
    finally:
        watch.terminate()
        watch_out = watch.communicate(timeout=120)[0]
        assert server.stop() == 0
    assert set(statuses) == {200}, statuses
    h = history(repo)
    served = h[h["file"].fillna("").astype(str).str.startswith("data/incoming/serve-")].iloc[0]
    assert served["batch_rows"] == ROWS and served["drift_score"] > served["threshold"], watch_out
    late = h[h["file"].fillna("").astype(str).str.startswith("data/labels/serve-")].iloc[0]
    served_by = joblib.load(released / "models/production/model.joblib")  # v1.0.0 answered every captured row
    assert late["labelled_rows"] == ROWS
    assert late["batch_accuracy"] == pytest.approx(float((served_by.predict(rows) == labels.to_numpy()).mean()), abs=1e-4)
    assert late["retrained"] and late["model_version"] == "v1.1.0"
    model = read_json(repo / "models/production/model.json")
    assert model["model_sha256"] != read_json(released / "models/production/model.json")["model_sha256"]
    assert not np.isnan(late["batch_accuracy"])


def history_or_none(repo: Path):
    return history(repo) if (repo / "metrics/ct_history.csv").exists() else None
