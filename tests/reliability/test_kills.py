"""SIGKILLs at the points test_inbox.py does not reach: between a quarantine reason file and its
batch's move, inside `ct.py rollback`, and in a label file's bookkeeping. Each kills a real `ct.py`
(its whole process group) where a hook parks it, runs `ct.py` again, and checks the invariant: every
delivered file's bytes exactly once in the archive or the quarantine, one history row per delivery,
`git status` clean, tags and production consistent."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pandas as pd
import pytest

from ctml.ct.release.tags import production_version
from tests.helpers import ct, git, history, sha256, tags, wait_for
from tests.reliability.support import kill_group, park_on_call, park_on_git_hook, start_ct
from tests.reliability.test_inbox import INCOMING, assert_clean, assert_every_byte_once, deliver

pytestmark = pytest.mark.slow


def test_a_kill_between_a_reason_file_and_its_quarantine_move_loses_nothing(released_repo):
    repo = released_repo
    content = deliver(repo, "bad.csv", b"user,amount\n1,x\n", 1_000)
    # parked when the batch is about to move beside its reason file (already written)
    reached, extra_env = park_on_call(repo, "os.rename", "/data/incoming/bad.csv")
    proc = start_ct(repo, "check", **extra_env)
    wait_for(reached.exists, proc=proc, what="the quarantine move", timeout=300)
    kill_group(proc)
    assert [p.name for p in (repo / "data/quarantine").iterdir()] == ["step-0003.reason.txt"]
    assert (repo / INCOMING / "bad.csv").read_bytes() == content
    proc = ct(repo, "check", check=False)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert_every_byte_once(repo, [content])
    quarantined = sorted(p.name for p in (repo / "data/quarantine").iterdir())
    assert quarantined == ["step-0004.csv", "step-0004.reason.txt"], quarantined  # no reason left without its batch
    steps = history(repo)
    # the cut step discarded and recorded as such (docs/reliability.md), then the delivery's own outcome
    assert steps["step"].tolist() == [1, 2, 3, 4]
    assert steps["status"].tolist()[2:] == ["failed", "quarantined"] and "interrupted" in steps["note"].tolist()[2]
    assert steps["file"].tolist()[2:] == ["data/incoming/bad.csv"] * 2
    assert steps["file_sha256"].tolist()[-1] == hashlib.sha256(content).hexdigest()
    assert os.listdir(repo / INCOMING) == ["README.md"]
    assert_clean(repo)


def production_state(repo) -> tuple[str, bool]:
    """(the version the newest prod tag names, whether models/production holds exactly that version's
    model: model.json as at its tag, and the model file's sha256 the one model.json names)."""
    version = production_version(repo)
    meta = json.loads((repo / "models/production/model.json").read_text())
    tagged = json.loads(git("show", f"model@{version}:models/production/model.json", cwd=repo).stdout)
    return version, meta == tagged and sha256(repo / "models/production/model.joblib") == meta["model_sha256"]


ROLLBACK_POINTS = {
    # git has put back the target's files, DVC not yet its model: a half rolled-back tree
    "half way through restoring the tree": lambda repo: park_on_call(repo, "subprocess.Popen", "'clean', '-fdq'"),
    "at the rollback commit": lambda repo: (park_on_git_hook(repo, "commit-msg", "grep -q '^ct: roll back' \"$1\""), {}),
    "after the rollback commit, before its prod tag": lambda repo: (
        park_on_git_hook(repo, "post-commit", "git log -1 --format=%s | grep -q '^ct: roll back'"), {}),
}


@pytest.mark.parametrize("point", ROLLBACK_POINTS)
def test_a_kill_during_a_rollback_leaves_all_or_nothing(two_versions, point):
    repo = two_versions
    assert production_version(repo) == "v1.1.0"
    reached, extra_env = ROLLBACK_POINTS[point](repo)
    proc = start_ct(repo, "rollback", "v1.0.0", **extra_env)
    wait_for(reached.exists, proc=proc, what=point, timeout=300)
    kill_group(proc)
    for hook in ("commit-msg", "post-commit"):
        (repo / ".git/hooks" / hook).unlink(missing_ok=True)
    proc = ct(repo, "check", check=False)  # what cron runs next: recovery first
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "recovery:" in proc.stdout and "rollback" in proc.stdout, proc.stdout
    version, whole = production_state(repo)
    assert whole  # all or nothing, whichever it is
    assert git("status", "--porcelain", cwd=repo).stdout == ""
    assert subprocess.run(["dvc", "status", "-q"], cwd=repo, check=False).returncode == 0
    assert_clean(repo)
    if version == "v1.1.0":  # undone: the rollback runs again, whole
        ct(repo, "rollback", "v1.0.0")
    assert production_state(repo) == ("v1.0.0", True)
    assert len([t for t in tags(repo) if t.startswith("model#prod#")]) == 3  # one prod tag per assignment
    assert subprocess.run(["dvc", "status", "-q"], cwd=repo, check=False).returncode == 0
    assert_clean(repo)


def captured(repo, rows: int = 80) -> pd.DataFrame:
    """Traffic as the server captures it: features, its metadata, the label (dropped before delivery)."""
    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(rows, random_state=8, replace=True)
    return frame.reset_index(drop=True).assign(_ct_request_id=[f"req-{i:04d}" for i in range(rows)],
                                               _ct_time="2026-12-01T10:00:00Z", _ct_prediction=1,
                                               _ct_model_version="v1.0.0")


def test_a_kill_in_a_label_files_bookkeeping_applies_its_labels_once(released_repo):
    repo = released_repo
    frame = captured(repo)
    traffic = deliver(repo, "traffic.csv", frame.drop(columns="target").to_csv(index=False).encode(), 1_000)
    ct(repo, "check", check=False)
    assert history(repo)["step"].tolist() == [1, 2, 3]
    labels = frame.loc[:19, ["_ct_request_id", "target"]].to_csv(index=False).encode()
    (repo / "data/labels/first.csv").write_bytes(labels)
    reached, extra_env = park_on_call(repo, "os.rename", "/data/archive/labels/")  # after its row, before its archive
    proc = start_ct(repo, "check", **extra_env)
    wait_for(reached.exists, proc=proc, what="the label file's archive", timeout=300)
    kill_group(proc)
    assert (repo / "data/labels/first.csv").exists() and history(repo)["step"].tolist() == [1, 2, 3, 4]
    proc = ct(repo, "check", check=False)
    assert proc.returncode in (0, 3) and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "data/labels/first.csv archived under step 4" in proc.stdout, proc.stdout
    steps = history(repo)
    assert steps["step"].tolist() == [1, 2, 3, 4]  # one row for the label file
    row = steps.iloc[-1]
    assert (row["scenario"], row["labelled_rows"], row["file"]) == ("labels", 20, "data/labels/first.csv")
    assert_every_byte_once(repo, [traffic, labels])
    assert set(tags(repo)) == {"model@v1.0.0", "model#prod#1"}
    assert_clean(repo)
