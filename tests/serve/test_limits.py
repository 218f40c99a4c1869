"""`ct.py serve` against the clients of a bad day (real uvicorn on 127.0.0.1, raw sockets): requests
sent by halves are answered 408 and closed after `serve.request_timeout_s`, a wrong method gets its
`Allow`, a rejected request one accurate log line per kind, and a reused request id labels only the
rows of the serving it was fed back for."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import wait_for
from tests.serve.conftest import served_copy
from tests.serving import Server, infer, kinds, sample_rows, start

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 40  # bounded: enough to see every one closed, few enough for a shared 2-core machine
TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def project(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return served_copy(released, tmp_path_factory.mktemp("limits"), serve__request_timeout_s=TIMEOUT_S,
                       serve__capture_rows=1, serve__capture_seconds=0.2)


@pytest.fixture(scope="module")
def server(project: Path):
    s = start(project)
    yield s
    assert s.stop() == 0, s.log()


def _half_requests(address: tuple[str, int]) -> list[socket.socket]:
    """Half the clients stop inside the headers, half inside a declared body."""
    sockets = []
    for i in range(SLOW_CLIENTS):
        sock = socket.create_connection(address, timeout=30)
        head = b"POST /v2/models/model/infer HTTP/1.1\r\nHost: x\r\n"
        sock.sendall(head if i % 2 else head + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"in")
        sockets.append(sock)
    return sockets


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_requests_sent_by_halves_are_answered_408_and_closed(server: Server, project: Path):
    host, port = server.url.removeprefix("http://").split(":")
    sockets = _half_requests((host, int(port)))
    try:
        started = time.monotonic()
        answers = [_answer(sock) for sock in sockets]  # recv returns b"" once closed; 30 s socket deadline otherwise
        waited = time.monotonic() - started
    finally:
        for sock in sockets:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") and b"serve.request_timeout_s" in a for a in answers), answers[:2]
    assert waited < 30
    assert not [ln for ln in server.lines if "Traceback" in ln or "Exception in ASGI" in ln], server.log()
    with server.client() as client:  # and the server still answers whole requests
        assert infer(client, project, sample_rows(project).iloc[:2]).status_code == 200


def test_a_whole_request_sent_in_slow_pieces_within_the_limit_is_answered(server: Server):
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        for piece in (b"GET /v2/health/live HTTP/1.1\r\n", b"Host: x\r\n", b"Connection: close\r\n\r\n"):
            sock.sendall(piece)
        assert _answer(sock).startswith(b"HTTP/1.1 200 ")


def test_a_wrong_method_gets_405_with_allow(server: Server):
    with server.client() as client:
        reply = client.get("/v2/models/model/infer")
        assert reply.status_code == 405 and reply.headers["allow"] == "POST" and "error" in reply.json()
        assert client.post("/metrics").headers["allow"] == "GET, HEAD"  # HEAD for every GET route; sorted, whatever the hash seed


def test_a_rejected_request_is_logged_once_per_kind_and_accurately(server: Server, project: Path):
    from ctml.serve.protocol import infer_body

    doc = json.loads(infer_body(sample_rows(project).iloc[:1], kinds(project)))
    doc["inputs"][1]["data"] = [1e9]  # parses, then fails the schema in the scorer: an all-rejected micro-batch
    second = doc["inputs"][1]["name"]
    with server.client() as client:
        for _ in range(3):
            reply = client.post("/v2/models/model/infer", content=json.dumps(doc).encode())
            assert reply.status_code == 400, reply.text
    rejected = wait_for(lambda: [ln for ln in server.lines if ln.startswith("serve: rejected /v2/models/model/infer (400)")])
    assert len(rejected) == 1 and f"column '{second}': value 1e+09" in rejected[0]
    assert not [ln for ln in server.lines if "after scoring" in ln or "concatenate" in ln]


def test_a_reused_request_id_labels_only_the_serving_it_was_fed_back_for(server: Server, project: Path):
    data = sample_rows(project)
    with server.client() as client:
        assert infer(client, project, data.iloc[30:31], "reused").status_code == 200
        assert client.post("/feedback", json={"id": "reused", "labels": [1]}).status_code == 200
        assert infer(client, project, data.iloc[31:32], "reused").status_code == 200  # the client reuses the id
        second = client.post("/feedback", json={"id": "reused", "labels": [0]})
        assert second.status_code == 200 and second.json()["recorded"] is True
    incoming, labelled = project / "data/incoming", project / "data/labels"
    def read(folder: Path, pattern: str) -> pd.DataFrame:
        return pd.concat([pd.read_parquet(p) for p in folder.glob(pattern)] or [pd.DataFrame({"_ct_request_id": []})])

    [rows] = wait_for(lambda: [f for f in [read(incoming, "serve-*-rows.parquet")]
                           if {"reused/0", "reused~2/0"} <= set(f["_ct_request_id"])])
    [labels] = wait_for(lambda: [f for f in [read(labelled, "serve-*-labels.parquet")] if len(f) >= 2])
    assert labels.set_index("_ct_request_id")["target"].to_dict() == {"reused/0": 1, "reused~2/0": 0}
    assert rows["_ct_request_id"].tolist().count("reused/0") == 1  # each serving's row under a key of its own
