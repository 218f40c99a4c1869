"""`ct.py serve` against a real uvicorn on 127.0.0.1: the V2 API, bad requests, feedback, metrics, capture.

One server for the module (v1.0.0 of the released project); each bad request is answered with a
4xx naming the field or column, and the server keeps answering good ones."""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.helpers import read_json, wait_for
from tests.serve.conftest import served_copy
from tests.serving import Server, infer, kinds, metric, start, sample_rows


@pytest.fixture(scope="module")
def project(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return served_copy(released, tmp_path_factory.mktemp("serve"), serve__capture_rows=5, serve__capture_seconds=0.5,
                       serve__max_body_mb=0.05)


@pytest.fixture(scope="module")
def server(project: Path):
    s = start(project)
    yield s
    assert s.stop() == 0, s.log()


@pytest.fixture
def client(server: Server):
    with server.client() as c:
        yield c


def test_health_and_metadata_describe_the_production_model(client, project: Path):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/models/model/ready").json() == {"name": "model", "ready": True, "version": "v1.0.0"}
    assert client.get("/v2").json()["name"] == "ct-serve"
    meta = client.get("/v2/models/model").json()
    assert meta["name"] == "model" and meta["versions"] == ["v1.0.0"]
    assert [i["name"] for i in meta["inputs"]] == read_json(project / "models/production/model.json")["features"]
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}  # breast_cancer: every feature numeric
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    assert meta["parameters"]["classes"] == [0, 1]


def test_infer_answers_as_the_model_with_the_version_and_id(client, project: Path):
    rows = sample_rows(project).iloc[:7]
    reply = infer(client, project, rows, "req-1")
    assert reply.status_code == 200, reply.text
    doc = reply.json()
    assert (doc["model_name"], doc["model_version"], doc["id"]) == ("model", "v1.0.0", "req-1")
    out = {o["name"]: o for o in doc["outputs"]}
    model = joblib.load(project / "models/production/model.joblib")
    assert out["predict"]["shape"] == [7] and out["predict"]["data"] == model.predict(rows).tolist()
    proba = np.array(out["predict_proba"]["data"]).reshape(out["predict_proba"]["shape"])
    assert proba.shape == (7, 2) and np.abs(proba - model.predict_proba(rows)).max() <= 1e-6
    assert len(infer(client, project, rows.iloc[:1]).json()["id"]) == 32  # no id given: a new one


def body(project: Path, rows: pd.DataFrame, edit) -> bytes:
    from ctml.serve.protocol import infer_body

    doc = json.loads(infer_body(rows, kinds(project)))
    edit(doc)
    return json.dumps(doc).encode()


def drop_first(doc):
    doc["inputs"].pop(0)


def add_unknown(doc):
    doc["inputs"].append({"name": "colour", "shape": [1], "datatype": "BYTES", "data": ["red"]})


def set_tensor(**fields):
    def edit(doc):
        doc["inputs"][1].update(fields)
    return edit


BAD = {
    "missing column": (drop_first, 400, "input '{first}': missing"),
    "unknown column": (add_unknown, 400, "input 'colour': not a feature column"),
    "wrong datatype": (set_tensor(datatype="BYTES"), 400, "input '{second}': datatype 'BYTES' does not fit its numeric"),
    "wrong value type": (set_tensor(data=["12.5"]), 400, "input '{second}': data[0] = '12.5' is not FP64"),
    "wrong shape": (set_tensor(shape=[1, 3]), 400, "input '{second}': shape [1, 3] must be [rows] or [rows, 1]"),
    "shape and data disagree": (set_tensor(shape=[2]), 400, "input '{second}': shape says 2 rows, data has 1"),
    "value out of range": (set_tensor(data=[1e9]), 400, "column '{second}': value 1e+09 absurdly far outside the recorded range"),
    "bad id": (lambda doc: doc.update(id=7), 400, "id: must be a non-empty string"),
    "unknown output": (lambda doc: doc.update(outputs=[{"name": "scores"}]), 400, "outputs: 'scores' is not an output"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_requests_get_a_4xx_naming_the_field(client, project: Path, case: str):
    edit, status, message = BAD[case]
    first, second = list(kinds(project))[:2]
    message = message.format(first=first, second=second)
    reply = client.post("/v2/models/model/infer", content=body(project, sample_rows(project).iloc[:1], edit))
    assert reply.status_code == status and message in reply.json()["error"], reply.text
    assert "\n" not in reply.json()["error"]
    assert infer(client, project, sample_rows(project).iloc[:1]).status_code == 200  # still serving


@pytest.mark.parametrize("raw, message", [(b"{not json", "request body: not JSON"), (b"[1, 2]", "must be a JSON object"),
                                          (b'{"inputs": []}', "inputs: missing or empty")])
def test_malformed_bodies_get_a_400(client, raw: bytes, message: str):
    reply = client.post("/v2/models/model/infer", content=raw)
    assert reply.status_code == 400 and message in reply.json()["error"]


def test_a_body_over_the_limit_gets_a_413(client, project: Path):
    rows = pd.concat([sample_rows(project)] * 3)  # ~430 rows: above serve.max_body_mb (0.05 MB here)
    reply = infer(client, project, rows)
    assert reply.status_code == 413 and "serve.max_body_mb" in reply.json()["error"]
    streamed = client.post("/v2/models/model/infer", content=iter([b"x" * 40_000, b"x" * 40_000]))  # chunked, no length
    assert streamed.status_code == 413


def test_feedback_is_recorded_once_and_conflicts_are_refused(client, project: Path):
    rows = sample_rows(project).iloc[10:13]
    assert infer(client, project, rows, "fb-1").status_code == 200
    post = lambda doc: client.post("/feedback", json=doc)  # noqa: E731
    assert post({"id": "never-served", "labels": [1]}).status_code == 404
    assert "labels: 2 given, request 'fb-1' had 3 rows" in post({"id": "fb-1", "labels": [1, 0]}).json()["error"]
    assert "labels[1]: 7 is not a class" in post({"id": "fb-1", "labels": [1, 7, 0]}).json()["error"]
    assert "id: missing" in post({"labels": [1]}).json()["error"]
    assert client.post("/feedback", content=b"nope").status_code == 400
    first = post({"id": "fb-1", "labels": [1, 0, 1]})
    assert first.status_code == 200 and first.json() == {"id": "fb-1", "rows": 3, "recorded": True, "captured": True}
    again = post({"id": "fb-1", "labels": [1, 0, 1]})
    assert again.status_code == 200 and again.json()["recorded"] is False
    assert post({"id": "fb-1", "labels": [0, 0, 1]}).status_code == 409
    labels = wait_for(lambda: [pd.read_parquet(p) for p in (project / "data/labels").glob("serve-*-labels.parquet")])
    fed = pd.concat(labels)
    assert fed.set_index("_ct_request_id")["target"].to_dict() == {"fb-1/0": 1, "fb-1/1": 0, "fb-1/2": 1}


def test_captured_rows_reach_the_inbox_with_their_request_metadata(client, project: Path):
    rows = sample_rows(project).iloc[20:26]
    reply = infer(client, project, rows, "cap-1").json()
    files = wait_for(lambda: [p for p in (project / "data/incoming").glob("serve-*-rows.parquet")
                          if "cap-1/0" in set(pd.read_parquet(p)["_ct_request_id"])])
    captured = pd.read_parquet(files[0]).set_index("_ct_request_id").loc[[f"cap-1/{i}" for i in range(6)]]
    assert captured["_ct_prediction"].tolist() == reply["outputs"][0]["data"]
    assert set(captured["_ct_model_version"]) == {"v1.0.0"}
    np.testing.assert_allclose(captured["mean radius"].to_numpy(), rows["mean radius"].to_numpy())
    assert not list((project / "data/incoming").glob("*.tmp"))  # written under a hidden name, then renamed


def test_metrics_count_requests_errors_rows_and_the_version(client, project: Path):
    before = client.get("/metrics").text
    for i in range(3):
        infer(client, project, sample_rows(project).iloc[i:i + 2])
    client.post("/v2/models/model/infer", content=b"{")
    text = client.get("/metrics").text
    route = "/v2/models/model/infer"
    assert metric(text, "ct_serve_requests_total", route=route, code="200") - \
        metric(before, "ct_serve_requests_total", route=route, code="200") == 3
    assert metric(text, "ct_serve_errors_total", route=route, code="400") - \
        metric(before, "ct_serve_errors_total", route=route, code="400") == 1
    assert metric(text, "ct_serve_rows_total") - metric(before, "ct_serve_rows_total") == 6
    classes = sum(metric(text, "ct_serve_predictions_total", label=c) for c in ("0", "1"))
    assert classes == metric(text, "ct_serve_rows_total")
    assert metric(text, "ct_serve_model_info", version="v1.0.0",
                  sha256=read_json(project / "models/production/model.json")["model_sha256"][:12]) == 1
    assert metric(text, "ct_serve_request_seconds_count", route=route) >= 3
    assert "ct_serve_capture_buffer_rows" in text
