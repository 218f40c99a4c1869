"""`dvc exp run` with every stage (workspace and queued), and `ct.py promote` of the best experiment."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from ctml.ct.release.experiments import set_in_text
from ctml.errors import UserError
from ctml.runs.offline import offline_runs
from tests.helpers import ROOT, ct, dvc, git, read_json, sha256, tags, wait_for

DRIFT_FILES = ("metrics/drift.json", "metrics/drift_summary.json", "metrics/drift_features.json", "metrics/drift_plots/scores.csv")


def test_set_in_text_keeps_comments_and_layout():
    text = (ROOT / "params.yaml").read_text()
    edited = set_in_text(text, {("train", "n_estimators"): 200, ("train", "max_depth"): None, ("drift", "thresholds", "ks"): 0.01})
    changed = [(a, b) for a, b in zip(text.splitlines(), edited.splitlines()) if a != b]
    assert [b for _, b in changed] == [
        "  n_estimators: 200              # trees (boosting iterations) of random_forest, gradient_boosting, hist_gradient_boosting, xgboost",
        "  max_depth: null                # the same models; null = unbounded (xgboost: its default, 6)",
        "    ks: 0.01",
    ]
    assert len(edited.splitlines()) == len(text.splitlines())
    assert yaml.safe_load(edited)["train"]["max_depth"] is None


def test_set_in_text_refuses_a_key_it_cannot_place():
    with pytest.raises(UserError, match="cannot set train.no_such_key in place"):
        set_in_text((ROOT / "params.yaml").read_text(), {("train", "no_such_key"): 1})


@pytest.fixture
def measured(repo: Path) -> Path:
    """v1.0.0 released and one CT step measured: data/checked holds the batch drift.json describes."""
    ct(repo, "simulate", "--scenario", "none", "--steps", "1", "--batch-size", "200")
    assert read_json(repo / "metrics/drift.json")["has_batch"] is True and (repo / "data/checked/batch.parquet").exists()
    return repo


def exp_rows(repo: Path) -> dict[str, dict]:
    """The experiments of HEAD as `dvc exp show --json` has them: name -> {state, rev, data}."""
    shown = json.loads(dvc("exp", "show", "--json", cwd=repo).stdout)
    return {exp["name"]: {"state": (exp.get("executor") or {}).get("state"), "rev": exp["revs"][0]["rev"],
                          "data": exp["revs"][0].get("data") or {}}
            for baseline in shown for exp in baseline.get("experiments") or []}


def finished(repo: Path) -> int:
    return sum(r["state"] in ("success", "failed") for r in exp_rows(repo).values())


def readme_command_fits_120_columns(repo: Path) -> None:
    """README's `dvc exp show` line, in a 120-column terminal: every column whole (none collapsed to `…`),
    the grid's params shown, no line wider than the terminal (DVC's pager cuts it there)."""
    line = next(ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith("dvc exp show --only-changed"))
    args = shlex.split(line.split("#", 1)[0])
    shown = dvc(*args[1:], cwd=repo, COLUMNS="120").stdout
    header = next(ln for ln in shown.splitlines() if "Experiment" in ln).split()
    # (--only-changed: metrics equal across the grid are left out; queued experiments add a State column)
    assert header[0] == "Experiment" and header[-2:] == ["train.n_estimators", "train.max_depth"], shown
    assert not {"balanced_accuracy", "precision", "recall"} & set(header), shown
    assert "…" not in shown and max(len(ln) for ln in shown.splitlines()) <= 120, shown


@pytest.mark.slow
def test_a_queued_grid_keeps_drift_logs_into_the_project_and_the_best_is_promoted(measured: Path):
    repo = measured
    head = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    drift = {p: (repo / p).read_bytes() for p in DRIFT_FILES}
    dvc("exp", "run", "--queue", "-S", "train.n_estimators=60", "-S", "train.max_depth=3,null", cwd=repo)
    try:
        dvc("queue", "start", cwd=repo)
        wait_for(lambda: finished(repo) == 2, timeout=900, what="both queued experiments to finish", every=1.0)
    finally:
        dvc("queue", "stop", cwd=repo, check=False)
    rows = exp_rows(repo)
    assert [r["state"] for r in rows.values()] == ["success"] * 2, dvc("queue", "logs", next(iter(rows)), cwd=repo, check=False).stdout
    depth = {name: r["data"]["params"]["params.yaml"]["data"]["train"]["max_depth"] for name, r in rows.items()}
    assert sorted(depth.values(), key=str) == [3, None]
    for name, row in rows.items():
        # No batch in the experiment's copy: the drift stage kept the workspace's measurement.
        assert row["data"]["metrics"]["metrics/drift_summary.json"]["data"] == json.loads(drift["metrics/drift_summary.json"])
        stages = {r.stage: r for r in offline_runs(repo) if r.fields.get("pipeline/experiment") == name}
        assert set(stages) == {"train", "evaluate", "drift", "gates"}, f"{name}: runs not in the project's .neptune"
        assert all(r.fields["pipeline/baseline_rev"] == head and f"exp:{name}" in r.tags for r in stages.values())

    readme_command_fits_120_columns(repo)

    best = max(rows, key=lambda n: rows[n]["data"]["metrics"]["metrics/metrics.json"]["data"]["accuracy"])
    dvc("exp", "apply", best, cwd=repo)
    assert {p: (repo / p).read_bytes() for p in DRIFT_FILES} == drift
    git("checkout", "-q", "--", ".", cwd=repo)
    dvc("checkout", "--force", cwd=repo)

    before = tags(repo)
    out = ct(repo, "promote", best).stdout
    assert "production: v1.0.0 -> v1.1.0" in out and "is the experiment's" in out
    assert set(tags(repo)) - set(before) == {"model@v1.1.0", "model#prod#2"}
    message = git("tag", "-l", "--format=%(contents)", "model@v1.1.0", cwd=repo).stdout
    assert message.startswith(f"model v1.1.0: experiment {best}: ")
    committed = yaml.safe_load(git("show", "HEAD:params.yaml", cwd=repo).stdout)["train"]
    assert (committed["n_estimators"], committed["max_depth"]) == (60, depth[best])
    assert "# the same models; null = unbounded" in (repo / "params.yaml").read_text()  # comments kept
    experiment_model = json.loads(git("show", f"{rows[best]['rev']}:models/model.json", cwd=repo).stdout)["model_sha256"]
    assert sha256(repo / "models/production/model.joblib") == experiment_model
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout == ""


@pytest.mark.slow
def test_exp_run_with_a_bad_param_is_one_line_naming_the_key(repo: Path):
    model = sha256(repo / "models/model.joblib")
    metrics = (repo / "metrics/metrics.json").read_bytes()
    proc = dvc("exp", "run", "-S", "train.max_depth=-1", cwd=repo, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in output
    ours = [line for line in output.splitlines() if line.startswith("error: ")]
    assert ours == ["error: params.yaml: key 'train.max_depth' = -1: Input should be greater than or equal to 1"]
    assert sha256(repo / "models/model.joblib") == model and (repo / "metrics/metrics.json").read_bytes() == metrics


@pytest.mark.slow
def test_exp_apply_and_promote_of_an_unknown_name_change_nothing(repo: Path):
    status = git("status", "--porcelain", cwd=repo).stdout
    proc = dvc("exp", "apply", "no-such-exp", cwd=repo, check=False)
    assert proc.returncode != 0 and "'no-such-exp'" in proc.stderr and "Traceback" not in proc.stderr
    proc = ct(repo, "promote", "no-such-exp", check=False)
    assert (proc.returncode, proc.stderr) == (1, "error: unknown experiment 'no-such-exp' (known: none; run `dvc exp run` first)\n")
    assert git("status", "--porcelain", cwd=repo).stdout == status and tags(repo) == {}
