"""Stand-ins for a self-hosted Neptune server, on 127.0.0.1: one that refuses, one that never answers, one that answers.

Each binds a free port (port 0, read back) and is gone when its `with` block ends.
"""
from __future__ import annotations

import base64
import json
import socket
import sys
from contextlib import contextmanager
from typing import Any, Iterator

API_KEY = "0f3c1d2e-7a6b-4c5d-9e8f-123456789abc"


def token_for(address: str) -> str:
    """A token that decodes like a real one (base64 JSON with api_address, api_url, api_key)."""
    return base64.b64encode(json.dumps({"api_address": address, "api_url": address, "api_key": API_KEY}).encode()).decode()


@contextmanager
def refusing_server() -> Iterator[str]:
    """The address of a port nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextmanager
def silent_server() -> Iterator[str]:
    """The address of a server that accepts connections and never answers (the kernel completes them)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


_RECORDINGS: list[list[tuple[Any, float | None]]] = []


def _on_audit(event: str, args: tuple) -> None:
    if event == "socket.connect" and _RECORDINGS:
        sock, address = args
        for seen in _RECORDINGS:
            seen.append((address, sock.gettimeout()))


@contextmanager
def connections() -> Iterator[list[tuple[Any, float | None]]]:
    """Every connection this process opens inside the block, as (address, the socket's timeout), read
    from Python's `socket.connect` audit event: what a client tried and how long it allowed each wait,
    independent of how busy the machine is. (An audit hook cannot be removed: one is installed, once.)"""
    if not getattr(sys, "_ct_tests_audit", False):
        sys.addaudithook(_on_audit)
        sys._ct_tests_audit = True
    seen: list[tuple[Any, float | None]] = []
    _RECORDINGS.append(seen)
    try:
        yield seen
    finally:
        _RECORDINGS.remove(seen)


@contextmanager
def serving(handler: type) -> Iterator[str]:
    """The address of a threaded HTTP server on a free port of 127.0.0.1, running `handler` until the block ends."""
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- one that answers ------------------------------------------------------------------------------
# The neptune 1.14 client builds its API from swagger specs it fetches from the server, then calls a
# handful of operations: getClientConfig, exchangeApiToken (an OAuth token pair whose access token is a
# JWT: exp, azp, iss), getProject, createExperiment, executeOperations (the logged fields, in batches),
# the file upload endpoints and a few reads. The stand-in serves specs that declare exactly those
# operations under paths of its own, answers them, and records every operation the client sends.

_ANY = {"type": "object", "additionalProperties": True}
_OPERATIONS = {  # group -> operationId -> (HTTP method, [(parameter, where)], response is a list)
    "backend": {
        "getClientConfig": ("get", [("X-Neptune-Api-Token", "header"), ("alpha", "query")], False),
        "exchangeApiToken": ("get", [("X-Neptune-Api-Token", "header")], False),
        "getProject": ("get", [("projectIdentifier", "query")], False),
    },
    "leaderboard": {
        "createExperiment": ("post", [("experimentCreationParams", "body"), ("X-Neptune-CliVersion", "header")], False),
        "executeOperations": ("post", [("experimentId", "query"), ("operations", "body")], True),
        "getExperimentAttributes": ("get", [("experimentId", "query")], False),
        "ping": ("post", [("experimentId", "query")], False),
        "fileAtomUpload": ("post", [("experimentId", "query"), ("attribute", "query"), ("ext", "query")], False),
        "fileAtomMultipartUploadStart": ("post", [("experimentIdentifier", "query"), ("attribute", "query"),
                                                  ("ext", "query"), ("totalLength", "query")], False),
        "fileAtomMultipartUploadFinish": ("post", [("experimentIdentifier", "query"), ("attribute", "query"),
                                                   ("uploadId", "query")], False),
        "fileAtomMultipartUploadPart": ("post", [("experimentIdentifier", "query"), ("attribute", "query"),
                                                 ("uploadPartIdx", "query"), ("uploadId", "query")], False),
        "fileSetFileUpload": ("post", [("experimentId", "query"), ("attribute", "query")], False),
        "fileSetFileMultipartUploadStart": ("post", [("experimentIdentifier", "query"), ("attribute", "query")], False),
        "fileSetFileMultipartUploadFinish": ("post", [("experimentIdentifier", "query"), ("attribute", "query")], False),
        "fileSetFileMultipartUploadPart": ("post", [("experimentIdentifier", "query"), ("attribute", "query")], False),
        "uploadFileSetAttributeTar": ("post", [("experimentId", "query"), ("attribute", "query")], False),
    },
}


def _spec(group: str) -> dict:
    paths = {}
    for op_id, (method, params, is_list) in _OPERATIONS[group].items():
        parameters = [{"name": name, "in": where, "required": False,
                       **({"schema": {}} if where == "body" else {"type": "string"})} for name, where in params]
        schema = {"type": "array", "items": {"$ref": "#/definitions/Any"}} if is_list else {"$ref": "#/definitions/Any"}
        paths[f"/api/{group}/{op_id}"] = {method: {"operationId": op_id, "parameters": parameters,
                                                  "responses": {"200": {"description": "ok", "schema": schema}}}}
    return {"swagger": "2.0", "info": {"title": group, "version": "1"}, "basePath": "/", "paths": paths,
            "definitions": {"Any": _ANY}}


@contextmanager
def answering_server(project: str = "ws/proj") -> Iterator[tuple[str, list[dict]]]:
    """(address, operations received) of a server the neptune 1.14 client logs to in online mode."""
    import time
    from http.server import BaseHTTPRequestHandler
    from urllib.parse import parse_qs, urlparse

    import jwt

    received: list[dict] = []
    workspace, name = project.split("/")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _answer(self, body: object, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length) if length else b""
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            parts = url.path.strip("/").split("/")
            if url.path.endswith("/swagger.json") and len(parts) == 3:
                return self._answer(_spec(parts[1]))
            op = parts[-1] if len(parts) == 3 and parts[0] == "api" else ""
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if op == "getClientConfig":
                return self._answer({"apiUrl": base, "applicationUrl": base, "sysNameSetByBackend": False,
                                     "pyLibVersions": {}, "multiPartUpload": {"enabled": False}, "artifacts": {"enabled": False}})
            claims = {"exp": int(time.time()) + 3600, "azp": "neptune-cli", "iss": f"{base}/auth/realms/neptune"}
            access = jwt.encode(claims, "stand-in signing key, 32 bytes or more", algorithm="HS256")
            if op == "exchangeApiToken":
                return self._answer({"accessToken": access, "refreshToken": "stand-in-refresh", "username": "tester"})
            if url.path.endswith("/protocol/openid-connect/token"):  # the OAuth refresh the client does at once
                return self._answer({"access_token": access, "refresh_token": "stand-in-refresh", "token_type": "Bearer",
                                     "expires_in": 3600})
            if op == "getProject":
                return self._answer({"id": "project-1", "name": name, "organizationName": workspace,
                                     "projectKey": "PRJ", "version": 2})
            if op == "createExperiment":
                return self._answer({"id": "run-uuid-1", "type": "run", "shortId": "PRJ-1", "organizationName": workspace,
                                     "projectName": name, "trashed": False})
            if op == "executeOperations":
                received.extend(json.loads(payload or b"[]"))
                return self._answer([])
            if op == "getExperimentAttributes":
                return self._answer({"attributes": []})
            if op:
                received.append({"path": query.get("attribute", ""), "call": op, "bytes": len(payload)})
                return self._answer({"errors": []})  # what an upload's answer holds when it went well
            return self._answer({"title": "not found"}, 404)

        do_GET = do_POST = do_PUT = _handle

    with serving(Handler) as address:
        yield address, received


# --- a webhook receiver (alerts) ---------------------------------------------------------------------
@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[tuple[str, list[dict]]]:
    """(URL, bodies received) of a Slack-style incoming webhook that answers every POST with `status`."""
    from http.server import BaseHTTPRequestHandler

    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            length = int(self.headers.get("Content-Length") or 0)
            received.append({"content_type": self.headers.get("Content-Type"), "path": self.path,
                             **json.loads(self.rfile.read(length) or b"{}")})
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    with serving(Handler) as address:
        yield f"{address}/services/T000/B000/secret-part", received


def posted(received: list[dict]) -> list[dict]:
    """The bodies as CT sent them: without the request details `webhook_receiver` records beside them."""
    return [{k: v for k, v in body.items() if k not in ("path", "content_type")} for body in received]
