"""`ct.py watch` as a long-running process: it takes deliveries as they arrive, leaves the lock free
between rounds, and a SIGTERM during a retrain finishes that step, commits it and exits 0."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import copy_project, ct, dvc, git, history, set_params, wait_for
from tests.reliability.support import start_ct

pytestmark = pytest.mark.slow


def batch(repo: Path, seed: int, shift: float = 0.0) -> pd.DataFrame:
    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(150, random_state=seed, replace=True)
    for name in [c for c in frame.columns if c != "target"][:15]:
        frame[name] = frame[name] + shift * frame[name].std()
    return frame


def deliver(repo: Path, frame: pd.DataFrame, name: str) -> None:
    """As a feed delivers: written under a not-ready name, renamed when complete."""
    part = repo / "data/incoming" / f"{name}.part"
    frame.to_csv(part, index=False)
    part.rename(part.with_name(name))


def rows(repo: Path) -> int:
    path = repo / "metrics/ct_history.csv"
    return len(history(repo)) if path.exists() else 0


def test_watch_processes_arrivals_frees_the_lock_between_rounds_and_stops_cleanly(baseline_repo: Path, tmp_path: Path):
    repo = copy_project(baseline_repo, tmp_path)
    set_params(repo, ct__watch_interval_s=0.2)
    git("commit", "-qam", "look every 0.2 s", cwd=repo)
    drifted = batch(repo, 2, shift=3.0)
    proc = start_ct(repo, "watch")
    try:
        deliver(repo, batch(repo, 1), "first.csv")
        wait_for(lambda: rows(repo) == 1 and not (repo / "data/incoming/first.csv").exists(), proc=proc,
                 what="the first step", timeout=300)
        wait_for(lambda: git("log", "-1", "--format=%s", cwd=repo).stdout.startswith("ct: record step 1"), proc=proc,
                 what="its commit", timeout=300)
        assert history(repo)["status"].tolist() == ["ok"]

        between = [ct(repo, "check", check=False).returncode for _ in range(3)]  # cron, or a person, between rounds
        assert between == [0, 0, 0], "the lock is held only during a round"

        deliver(repo, drifted, "drifted.csv")
        wait_for(lambda: (repo / ".ct/inflight.json").exists(), proc=proc, what="the step to start",
                 timeout=300, every=0.002)
        proc.send_signal(signal.SIGTERM)  # during the step: it is finished, not abandoned
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert out.rstrip().endswith("watch: stopped (SIGTERM)")
    past = history(repo)
    assert past["status"].tolist() == ["ok", "retrained"] and past["model_version"].iloc[-1] == "v1.1.0"
    assert not (repo / ".ct/inflight.json").exists()
    assert git("log", "-1", "--format=%s", cwd=repo).stdout.startswith("ct: record step 2")
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout == ""
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}


def test_watch_refuses_a_bad_params_file_before_looping(baseline_repo: Path, tmp_path: Path):
    repo = copy_project(baseline_repo, tmp_path)
    set_params(repo, ct__watch_interval_s=0)
    proc = ct(repo, "watch", check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"error: {repo / 'params.yaml'}: key 'ct.watch_interval_s' = 0: Input should be greater than 0\n"
