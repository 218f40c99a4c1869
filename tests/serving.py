"""A real `ct.py serve` in a subprocess on 127.0.0.1 (`--port 0`), and V2 requests for it."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from ctml.serve.protocol import infer_body
from tests.helpers import env, read_json, wait_for

START_TIMEOUT_S = 60  # importing sklearn and loading the model on a busy 2-core machine


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    lines: list[str] = field(default_factory=list)  # stderr, as it comes
    out: list[str] = field(default_factory=list)  # stdout, as it comes

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then the exit code (the server must be gone within `timeout`)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def log(self) -> str:
        return "\n".join(self.lines)


def _pump(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line.rstrip())


def start(repo: Path, *args: str, **extra_env: str) -> Server:
    """`python ct.py serve --port 0 ARGS` in the project; returns once it printed its address."""
    proc = subprocess.Popen([sys.executable, str(repo / "ct.py"), "serve", "--port", "0", *args], cwd=repo,
                            env=env(**extra_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server = Server(proc, "")
    threading.Thread(target=_pump, args=(proc.stdout, server.out), daemon=True).start()
    threading.Thread(target=_pump, args=(proc.stderr, server.lines), daemon=True).start()
    try:
        address = wait_for(lambda: server.out and re.search(r"on (http://127\.0\.0\.1:\d+)", server.out[0]),
                           timeout=START_TIMEOUT_S, every=0.05, what="ct.py serve to print its address")
    except AssertionError:
        proc.kill()
        raise AssertionError(f"ct.py serve did not start (exit {proc.wait()}):\n{server.log()}") from None
    server.url = address.group(1)
    return server


def kinds(repo: Path) -> dict[str, str]:
    return {c: spec["kind"] for c, spec in read_json(repo / "data/schema.json")["columns"].items()}


def sample_rows(repo: Path) -> pd.DataFrame:
    target = read_json(repo / "data/schema.json")["target"]
    return pd.read_parquet(repo / "data/prepared/test.parquet").drop(columns=[target])


def infer(client: httpx.Client, repo: Path, rows: pd.DataFrame, request_id: str | None = None) -> httpx.Response:
    return client.post("/v2/models/model/infer", content=infer_body(rows, kinds(repo), request_id))


def metric(text: str, name: str, **labels: str) -> float:
    """A sample's value from Prometheus text (labels as prometheus-client prints them, sorted; 0 when absent)."""
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == want:
            return float(value)
    return 0.0


def nice_of(pid: int) -> int:
    """A process's niceness: the 19th field of /proc/PID/stat (the 17th after the command's ')')."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
