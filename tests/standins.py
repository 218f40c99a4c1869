"""Stand-ins for a self-hosted Neptune server, on 127.0.0.1: one that refuses, one that never answers.

Each binds a free port (port 0, read back) and is gone when its `with` block ends.
"""
from __future__ import annotations

import base64
import json
import socket
from contextlib import contextmanager
from typing import Iterator

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
