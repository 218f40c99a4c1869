"""Hot reload through ct.py: a release and a rollback while clients keep sending requests.

The server follows the prod tag: within a few reload intervals it answers with the new version,
no request fails during either swap, and each response names the version that answered it."""
from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from ctml.serve.protocol import row_bodies
from tests.helpers import ct, tags, wait_for
from tests.serve.conftest import served_copy
from tests.serving import kinds, sample_rows, start

pytestmark = pytest.mark.slow

MAX_REQUESTS = 20_000  # bounded, whatever happens: the clients stop at the first of this and the test's end


class Load:
    """Two clients sending single-row requests until stopped; every (status, version) answer kept."""

    def __init__(self, url: str, bodies: list[bytes]) -> None:
        self.url, self.bodies = url, bodies
        self.answers: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(2)]
        for t in self.threads:
            t.start()

    def _run(self, k: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            i = k
            while not self.stop.is_set() and len(self.answers) < MAX_REQUESTS:
                try:
                    r = c.post("/v2/models/model/infer", content=self.bodies[i % len(self.bodies)])
                    self.answers.append((r.status_code, r.json().get("model_version", r.text) if r.status_code == 200 else r.text))
                except httpx.HTTPError as exc:
                    self.answers.append((0, str(exc)))
                i += 2

    def latest(self) -> str:
        return self.answers[-1][1] if self.answers else ""

    def finish(self) -> list[tuple[int, str]]:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        return self.answers


def test_release_and_rollback_are_served_without_a_failed_request(released: Path, tmp_path: Path):
    repo = served_copy(released, tmp_path, serve__reload_interval_s=0.5, ct__start_step=1)
    server = start(repo)
    rows = sample_rows(repo)
    load = Load(server.url, row_bodies(rows, kinds(repo)))
    try:
        wait_for(lambda: load.latest() == "v1.0.0")
        ct(repo, "simulate", "--scenario", "sudden", "--steps", "1", "--batch-size", "200")  # drift -> retrain -> v1.1.0
        assert "model#prod#2" in tags(repo)
        wait_for(lambda: load.latest() == "v1.1.0", timeout=30)
        ct(repo, "rollback")
        wait_for(lambda: load.latest() == "v1.0.0" and len(load.answers) > 0, timeout=30)
        released_at = next(i for i, (_, v) in enumerate(load.answers) if v == "v1.1.0")
    finally:
        answers = load.finish()
        assert server.stop() == 0
    failed = [a for a in answers if a[0] != 200]
    assert failed == [] and len(answers) > 50
    versions = [v for _, v in answers]
    assert set(versions) == {"v1.0.0", "v1.1.0"}
    rolled_back_at = max(i for i, v in enumerate(versions) if v == "v1.1.0") + 1
    # One swap each way: v1.0.0, then only v1.1.0 (two clients may straddle a swap by one request each), then v1.0.0.
    assert versions[released_at:rolled_back_at].count("v1.0.0") <= 2
    log = server.log()
    assert "serving v1.1.0" in log and "replacing v1.0.0" in log and "replacing v1.1.0" in log
