"""SIGKILL of ct.py (and its dvc and stage children) at chosen moments of a retrain and release.

Each case starts a retrain (`sudden` drift from step 1), waits for an observable moment, kills the
whole process group, checks what a crash may and may not leave, then runs ct.py again: it must
detect the interrupted step, recover, and complete, and no tag may name a half-written model.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from ctml import layout
from ctml.config import load_params
from tests.helpers import ct, dvc, drift_from_the_first_step, git, history, set_params, store, tags, wait_for
from tests.reliability.support import (check_history, check_releases, kill_group, park_on_call, snapshot, start_ct,
                                       tracked_changes)
from tests.standins import posted, webhook_receiver

pytestmark = pytest.mark.slow

RETRAIN = ("simulate", "--scenario", "sudden", "--steps", "1", "--batch-size", "200")
NEXT_RUN = ("simulate", "--scenario", "none", "--steps", "1", "--batch-size", "50")


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _replaced(path: Path):
    """True once `path` is a different file (atomic writes rename a new inode into place)."""
    before = _inode(path)
    return lambda: _inode(path) not in (before, None)


def _temp_model(repo: Path):
    """True while the train stage is writing the model (its atomic-write temp file exists)."""
    models = repo / "models"
    return lambda: any(n.startswith(".model.joblib.") and n.endswith(".tmp") for n in os.listdir(models))


def _hook(repo: Path, name: str, condition: str) -> Path:
    """A git hook that, when `condition` (shell) holds, signals through a file and parks until killed."""
    reached = repo.parent / f"{name}.reached"
    fifo = repo.parent / f"{name}.fifo"
    os.mkfifo(fifo)
    hook = repo / ".git/hooks" / name
    hook.write_text(f"#!/bin/sh\nif {condition}; then\n  touch '{reached}'\n  exec cat '{fifo}' >/dev/null\nfi\nexit 0\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    return reached


def _ref_hook(repo: Path, ref: str) -> Path:
    """Park right after `ref` is written (reference-transaction, state `committed`)."""
    return _hook(repo, "reference-transaction", f'[ "$1" = committed ] && grep -q " {ref}$"')


def _release_commit_hook(repo: Path) -> Path:
    """Park right after the release commit is made, before any tag."""
    return _hook(repo, "post-commit", "git log -1 --format=%B | grep -q '^Model-Version: v1.1.0'")


def _after_release_commit(repo: Path):
    reached = _release_commit_hook(repo)
    return reached.exists


def _after_ref(ref: str):
    def observe(repo: Path):
        return _ref_hook(repo, ref).exists
    return observe


# moment -> (prepare an observer before the run; is the release commit in when it is reached)
MOMENTS = {
    "train is writing the model": (_temp_model, False),
    "train wrote the model, evaluate and gates pending": (lambda repo: _replaced(repo / "models/model.joblib"), False),
    "release committed, no tag yet": (_after_release_commit, True),
    "version tag written, prod tag not yet": (_after_ref("refs/tags/model@v1.1.0"), True),
    "prod tag written, dvc push not yet": (_after_ref("refs/tags/model#prod#2"), True),
}


@pytest.fixture
def drifting(released_repo: Path) -> Path:
    """Drift from the first simulated step on, committed so ct.py accepts the tree."""
    drift_from_the_first_step(released_repo)
    return released_repo


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_sigkill_mid_retrain_then_the_next_run_recovers(drifting: Path, moment: str) -> None:
    repo = drifting
    observe, committed = MOMENTS[moment]
    before = snapshot(repo)
    head = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    rows = len(history(repo))
    reached = observe(repo)

    proc = start_ct(repo, *RETRAIN)
    wait_for(reached, proc=proc, what=moment, timeout=300, every=0.002)
    out = kill_group(proc)
    assert "RETRAINED" not in out and "CT summary" not in out, out

    # What the crash left: git history and tags intact, no tag on an unverified model.
    for hook in ("post-commit", "reference-transaction"):
        (repo / ".git/hooks" / hook).unlink(missing_ok=True)
    now = tags(repo)
    assert {k: v for k, v in now.items() if k in before["tags"]} == before["tags"]
    if committed:
        assert git("rev-parse", "HEAD~1", cwd=repo).stdout.strip() == head
        assert "Model-Version: v1.1.0" in git("log", "-1", "--format=%B", cwd=repo).stdout
        candidate = json.loads(git("show", "HEAD:models/model.json", cwd=repo).stdout)["model_sha256"]
    else:
        assert git("rev-parse", "HEAD", cwd=repo).stdout.strip() == head
        assert now == before["tags"]
        assert snapshot(repo)["production"] == before["production"]
    assert len(history(repo)) == rows
    assert (repo / ".ct/inflight.json").exists()

    # The next run recovers first, then does its own step.
    rerun = ct(repo, *NEXT_RUN)
    versions = check_releases(repo)
    past = check_history(repo, versions)
    interrupted = past.iloc[rows]
    assert interrupted["step"] == rows + 1
    assert not (repo / ".ct/inflight.json").exists()
    assert tracked_changes(repo) == ""
    assert not list((repo / "models").glob(".*.tmp")), "a half-written model was left behind"
    if committed:
        assert "recovery: completed the interrupted release of v1.1.0" in rerun.stdout
        assert versions[:2] == ["v1.0.0", "v1.1.0"]
        assert json.loads(git("show", "model@v1.1.0:models/model.json", cwd=repo).stdout)["model_sha256"] == candidate
        assert interrupted["status"] == "retrained" and interrupted["model_version"] == "v1.1.0"
        pushed = yaml.safe_load(git("show", "model@v1.1.0:models/production/model.joblib.dvc", cwd=repo).stdout)
        md5 = pushed["outs"][0]["md5"]
        assert (store(repo) / "files/md5" / md5[:2] / md5[2:]).exists(), "v1.1.0 was never pushed"
    else:
        assert "recovery: discarded an interrupted step" in rerun.stdout
        assert interrupted["status"] == "failed" and "interrupted" in interrupted["note"]
        after = snapshot(repo)
        assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        assert versions == ["v1.0.0"]
        assert past.iloc[-1]["status"] == "ok"


def test_after_recovery_a_retrain_releases_normally(drifting: Path) -> None:
    """Killed once mid-`dvc repro`, the same drift is retrained and released by the next run."""
    repo = drifting
    proc = start_ct(repo, *RETRAIN)
    wait_for(_replaced(repo / "models/model.joblib"), proc=proc, what="the candidate model", timeout=300, every=0.002)
    kill_group(proc)
    with webhook_receiver() as (url, received):
        out = ct(repo, *RETRAIN, CT_ALERT_WEBHOOK=url).stdout
    assert "recovery: discarded an interrupted step" in out and "RETRAINED -> v1.1.0" in out
    # The recovery is alerted first, then the rerun's own step (simulate sends alerts as check does).
    events = [body["event"] for body in received if body["event"] != "accuracy_drop"]  # the shift may cost accuracy too
    assert events == ["recovered", "drift", "retrained"]
    assert received[0]["text"].startswith("[project] recovery: discarded an interrupted step")
    assert received[-1]["version"] == "v1.1.0" and {body["step"] for body in received[1:]} == {len(history(repo))}
    assert all("secret-part" not in json.dumps(body) for body in posted(received))
    versions = check_releases(repo)
    assert versions == ["v1.0.0", "v1.1.0"]
    past = check_history(repo, versions)
    assert past["status"].tolist()[-2:] == ["failed", "retrained"]


def test_a_blocked_candidate_is_discarded_without_losing_earlier_steps(released_repo: Path) -> None:
    """Throwing a candidate away restores the pipeline state to HEAD, but the history rows of the
    steps before it in the same run (not committed yet) stay."""
    repo = released_repo
    set_params(repo, ct__start_step=2, gates__p95_latency_ms=0.0001)  # every candidate fails the latency gate
    git("commit", "-qam", "drift from step 2; an impossible latency bound", cwd=repo)
    before, rows = snapshot(repo), len(history(repo))
    with webhook_receiver() as (url, received):
        proc = ct(repo, "simulate", "--scenario", "sudden", "--steps", "2", "--batch-size", "200", check=False,
                  CT_ALERT_WEBHOOK=url)
    assert proc.returncode == 3, proc.stderr  # a blocked candidate needs a person, as with `ct.py check`
    past = check_history(repo, check_releases(repo))
    assert past["status"].tolist()[rows:] == ["ok", "blocked"]
    assert past["gates"].tolist()[-1] == "blocked:latency"
    assert [(body["event"], body["step"]) for body in received if body["event"] != "accuracy_drop"] == \
        [("drift", rows + 2), ("blocked", rows + 2)]
    assert "candidate blocked" in received[-1]["text"] and "blocked by latency" in received[-1]["details"]["note"]
    kept = ("training data", "batches", "model", "production", "tags")
    after = snapshot(repo)
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    assert tracked_changes(repo) == ""


def test_sigkill_between_the_folder_add_and_its_manifest_then_the_next_run_recovers(drifting: Path) -> None:
    """Killed after `dvc add` of the lineage folder rewrote its .dvc file, before the batch's line in the
    folder's manifest: the step is discarded whole (folder, .dvc file and manifest as at HEAD)."""
    repo = drifting
    before, rows = snapshot(repo), len(history(repo))
    folder = repo / layout.lineage_batches(layout.BATCHES, load_params(repo / layout.PARAMS).data)
    reached, extra_env = park_on_call(repo, "os.rename", ".batches.json'")
    proc = start_ct(repo, *RETRAIN, **extra_env)
    wait_for(reached.exists, proc=proc, what="the manifest's write", timeout=300)
    kill_group(proc)
    assert layout.batch_pointer(folder).exists() and not layout.batch_manifest(folder).exists()

    rerun = ct(repo, *NEXT_RUN)
    assert "recovery: discarded an interrupted step" in rerun.stdout
    past = check_history(repo, check_releases(repo))
    assert past["status"].tolist()[rows:] == ["failed", "ok"] and "interrupted" in past["note"].tolist()[rows]
    after = snapshot(repo)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not layout.batch_pointer(folder).exists() and not folder.exists()
    assert tracked_changes(repo) == "" and json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
