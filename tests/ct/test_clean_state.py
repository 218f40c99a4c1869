"""Every kind of CT step leaves a project that satisfies `dvc status`, and a release reproduces.

Kinds: the baseline release, a no-drift step, a retrain and release, a quarantined batch, a drift on
rows without labels (recorded as waiting for labels, nothing trained), a blocked candidate, and a rollback.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import copy_project, ct, dvc, git, history, read_json, set_params

pytestmark = pytest.mark.slow


def clean(repo: Path) -> None:
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout == ""


def batch(repo: Path, shift: float, labelled: bool = True, rows: int = 150) -> pd.DataFrame:
    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(rows, random_state=3, replace=True)
    for name in [c for c in frame.columns if c != "target"][:15]:
        frame[name] = frame[name] + shift * frame[name].std()
    return frame if labelled else frame.drop(columns="target")


def deliver(repo: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(repo / "data/incoming/batch.csv", index=False)


def test_dvc_status_is_clean_after_every_kind_of_step(readme_demo: tuple[Path, str], tmp_path: Path):
    repo = copy_project(readme_demo[0], tmp_path)  # README's job: the baseline released, then ok, ok, retrain, ok
    assert history(repo)["status"].tolist() == ["ok", "ok", "retrained", "ok"]
    clean(repo)
    released = read_json(repo / "models/production/model.json")["model_sha256"]
    assert read_json(repo / "models/production/gates.json")["passed"] is True  # the decision travels with the release

    quiet = ct(repo, "-v", "check")  # nothing delivered
    assert quiet.stdout.strip() == "check: nothing new in data/incoming or data/labels" and quiet.returncode == 0

    deliver(repo, batch(repo, 0.0).drop(columns="mean radius"))
    assert "QUARANTINED" in ct(repo, "check", check=False).stdout
    clean(repo)

    deliver(repo, batch(repo, 3.0, labelled=False))  # drifted, no labels (nor ids): nothing to fold, nothing trained
    out = ct(repo, "-v", "check", check=False)
    assert out.returncode == 3 and "baseline: dvc repro" not in out.stdout  # right after the release nothing was stale
    last = history(repo).iloc[-1]
    assert last["status"] == "awaiting_labels" and "can only be labelled in their own batch" in last["note"]
    assert read_json(repo / "models/production/model.json")["model_sha256"] == released
    clean(repo)

    set_params(repo, gates__p95_latency_ms=0.0001)  # every candidate is blocked by latency
    git("commit", "-qam", "an impossible latency bound", cwd=repo)
    deliver(repo, batch(repo, 3.0, rows=160))
    assert ct(repo, "check", check=False).returncode == 3
    assert history(repo)["status"].iloc[-1] == "blocked"
    assert read_json(repo / "metrics/gates_blocked.json")["blocked_by"] == ["latency"]
    assert read_json(repo / "models/production/model.json")["model_sha256"] == released
    clean(repo)

    set_params(repo, gates__p95_latency_ms=100)
    git("commit", "-qam", "latency bound back", cwd=repo)
    ct(repo, "rollback")
    first = json.loads(ct(repo, "lineage", "v1.0.0", "--json").stdout)["model"]["sha256"]
    assert read_json(repo / "models/production/model.json")["model_sha256"] == first != released
    clean(repo)

    # A user's forced dvc repro on the release reproduces the released model byte for byte.
    git("checkout", "-q", "model@v1.1.0", cwd=repo)
    dvc("checkout", "--force", "-q", cwd=repo)
    dvc("repro", "--force", cwd=repo)
    assert read_json(repo / "models/model.json")["model_sha256"] == released
