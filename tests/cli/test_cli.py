"""ct.py's command-line conventions: -q/-v before or after the command, --json on the read commands."""
from __future__ import annotations

import json

import pytest

from ctml.ct.records import COLUMNS
from tests.helpers import ct, git, history, read_json, tags

pytestmark = pytest.mark.slow


def lines(text: str) -> int:
    return len([line for line in text.splitlines() if line.strip()])


def test_verbosity_and_json_output(repo):
    empty = ct(repo, "history", "--json")
    assert json.loads(empty.stdout) == [] and empty.returncode == 0

    ct(repo, "simulate", "--steps", "1", "-q")  # releases the baseline, so the runs below print alike
    runs = {}
    for flag in ("", "-v", "-q"):
        runs[flag] = ct(repo, "simulate", "--scenario", "none", "--steps", "1", "--batch-size", "100",
                        *([flag] if flag else [])).stdout
    assert lines(runs["-q"]) < lines(runs[""]) < lines(runs["-v"])
    assert "step 1/1" in runs[""] and "step 1/1" not in runs["-q"] and "CT summary" in runs["-q"]
    assert "drift measured in" in runs["-v"] and "drift measured in" not in runs[""]
    assert lines(ct(repo, "-v", "simulate", "--steps", "1", "--batch-size", "100").stdout) == lines(runs["-v"])

    past = json.loads(ct(repo, "history", "--json", "--limit", "2").stdout)
    assert [set(r) for r in past] == [set(COLUMNS)] * 2
    assert [r["step"] for r in past] == [4, 5] and all(isinstance(r["retrained"], bool) for r in past)
    assert all(isinstance(r["drift_score"], float) and isinstance(r["batch_rows"], int) for r in past)
    assert json.loads(ct(repo, "history", "--json", "--limit", "0").stdout) == []

    status = json.loads(ct(repo, "status", "--json").stdout)
    assert status["production_version"] == "v1.0.0" and status["latest_version"] == "v1.0.0"
    assert status["threshold"] == 0.3 and status["last_drift_score"] == past[-1]["drift_score"]
    assert status["last_retrain"] is None and status["steps_recorded"] == 5
    assert status["last_step"]["step"] == 5

    newest = json.loads(ct(repo, "runs", "--json", "--limit", "1").stdout)
    assert len(newest) == 1 and newest[0]["status"] == "ok"
    tracked = json.loads(ct(repo, "runs", "--json", "--limit", "50").stdout)
    assert newest[0]["run_id"] == tracked[0]["run_id"]
    # The last command's own run and its step's drift run share its pipeline id.
    last_ct = next(r for r in tracked if r["stage"] == "ct")
    assert last_ct["status"] == "ok" and any(r["stage"] == "drift" and r["pipeline"] == last_ct["pipeline"] for r in tracked)
    in_ct = [r for r in tracked if r["stage"] == "drift" and r["pipeline"].startswith("ct-")]  # the warm drift runs
    measured = [r for r in in_ct if "drift/drift_score" in r["metrics"]]  # (a release's re-run with no batch keeps the last)
    assert len(measured) >= 4 and all(r["metrics"]["drift/drift_score"] == 0.0 for r in measured)
    assert [r["created_at"] for r in tracked] == sorted((r["created_at"] for r in tracked), reverse=True)
    assert read_json(repo / "metrics/drift.json")["has_batch"] is True


def test_bad_limits_and_unknown_flags_are_usage_errors(repo):
    for args in (("history", "--limit", "-1"), ("runs", "--limit", "x"), ("status", "--bogus")):
        proc = ct(repo, *args, check=False)
        assert proc.returncode == 2 and "usage: ct.py" in proc.stderr and "Traceback" not in proc.stderr


def test_check_in_a_project_never_run_says_to_run_dvc_repro(fresh_repo):
    proc = ct(fresh_repo, "check")
    assert proc.stdout.strip() == ("check: nothing new in data/incoming or data/labels; the pipeline has never run here: run "
                                   "`dvc repro` to train the baseline, then `ct.py check` releases it")
    assert proc.returncode == 0 and git("status", "--porcelain", cwd=fresh_repo).stdout == "" and tags(fresh_repo) == {}


def test_check_with_nothing_released_and_an_empty_inbox_releases_the_baseline(repo):
    """After `dvc repro` (the baseline fixture), as the README says: the first `ct.py check` releases the model
    `dvc repro` trained as v1.0.0, with no step and no retrain; the next one has nothing to do."""
    trained = read_json(repo / "models/model.json")["model_sha256"]
    proc = ct(repo, "check")
    assert proc.returncode == 0 and "baseline: released model v1.0.0" in proc.stdout, proc.stdout + proc.stderr
    assert set(tags(repo)) == {"model@v1.0.0", "model#prod#1"}
    assert read_json(repo / "models/production/model.json")["model_sha256"] == trained
    assert not (repo / "metrics/ct_history.csv").exists() or history(repo).empty
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout == ""
    assert ct(repo, "check").stdout == "check: nothing new in data/incoming or data/labels\n"
