"""ctml.ct.warm: the drift stage reproduced inside ct.py's process must equal `dvc repro drift`,
leave DVC clean, and step aside (return False) whenever it could differ."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from ctml.ct import warm
from ctml.errors import UserError
from ctml.tracking.offline import offline_runs
from tests.helpers import dvc, read_json, set_params

pytestmark = pytest.mark.slow

ENV = {"CT_PIPELINE_ID": "warm-test-1"}


def write_batch(repo: Path, shift: float = 0.0, rows: int = 200) -> None:
    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(rows, random_state=5, replace=True)
    frame["mean radius"] = frame["mean radius"] + shift * frame["mean radius"].std()
    frame.to_parquet(repo / "data/incoming/batch.parquet", index=False)


def outputs(repo: Path) -> dict[str, bytes]:
    """metrics/drift.json and every file under metrics/drift_plots, by relative path."""
    files = [repo / "metrics/drift.json", repo / "metrics/drift_features.json", *sorted((repo / "metrics/drift_plots").rglob("*.*"))]
    return {str(p.relative_to(repo)): p.read_bytes() for p in files}


def dvc_status(repo: Path) -> dict:
    return json.loads(dvc("status", "--json", cwd=repo).stdout)


@pytest.mark.parametrize("shift", [0.0, 3.0], ids=["no-drift", "drift"])
def test_warm_repro_writes_what_dvc_repro_writes_and_leaves_dvc_clean(repo: Path, shift: float):
    write_batch(repo, shift)
    assert warm.repro(repo, "drift", ENV).done is True
    warm_out = outputs(repo)
    assert dvc_status(repo) == {}
    report, features = json.loads(warm_out["metrics/drift.json"]), json.loads(warm_out["metrics/drift_features.json"])
    assert report["batch_rows"] == 200 and features["mean radius"]["drifted"] is (shift > 0)
    # Images only when something drifted (drift.images: drifted); the CSVs dvc plots renders always.
    assert ("metrics/drift_plots/scores.png" in warm_out) is (shift > 0)
    assert "metrics/drift_plots/scores.csv" in warm_out
    dvc("repro", "--force", "drift", cwd=repo)
    cli_out = outputs(repo)
    assert {k: v for k, v in cli_out.items() if not k.endswith(".png")} == \
        {k: v for k, v in warm_out.items() if not k.endswith(".png")}
    assert sorted(cli_out) == sorted(warm_out)


def test_nothing_stale_is_a_no_op(repo: Path):
    lock = (repo / "dvc.lock").read_bytes()
    before = outputs(repo)
    assert warm.repro(repo, "drift", ENV).done is True
    assert (repo / "dvc.lock").read_bytes() == lock and outputs(repo) == before


def _edit_code(repo: Path) -> None:
    with open(repo / "stages/drift.py", "a") as handle:
        handle.write("\n# edited while ct.py runs\n")


def _stale_upstream(repo: Path) -> None:
    set_params(repo, train__n_estimators=7)


def _shell_command(repo: Path) -> None:
    path = repo / "dvc.yaml"
    path.write_text(path.read_text().replace("python -m stages.drift", "python -u -m stages.drift"))


@pytest.mark.parametrize(("change", "why"), [(_edit_code, "code changed: stages/drift.py"),
                                           (_stale_upstream, "upstream stage(s) stale: train"),
                                           (_shell_command, "its command is not `python -m <project module> ...`")],
                         ids=["code-dep-changed", "upstream-stale", "not-a-python-script"])
def test_steps_aside_when_it_could_differ_from_dvc_repro(repo: Path, change, why):
    write_batch(repo, 3.0)
    change(repo)
    lock, before = (repo / "dvc.lock").read_bytes(), outputs(repo)
    outcome = warm.repro(repo, "drift", ENV)
    assert outcome.done is False and why in outcome.reason
    assert (repo / "dvc.lock").read_bytes() == lock and outputs(repo) == before


def test_a_failing_stage_is_one_line_and_leaves_lock_and_outputs(repo: Path):
    (repo / "data/incoming/batch.csv").write_text("a,b\n1,2\n")
    lock, before = (repo / "dvc.lock").read_bytes(), outputs(repo)
    with pytest.raises(UserError) as info:
        warm.repro(repo, "drift", ENV)
    message = str(info.value)
    assert message.startswith("`dvc repro drift` failed (exit 1): stage 'drift': ")
    assert "batch.csv" in message and "missing feature column 'mean radius'" in message and "\n" not in message
    assert (repo / "dvc.lock").read_bytes() == lock and outputs(repo) == before


def test_the_in_process_stage_run_is_tracked_with_the_step_pipeline_id(repo: Path, monkeypatch):
    for name in ("CT_TRACKING", "CT_PIPELINE_ID", "NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE",
                 "NEPTUNE_DATA_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    write_batch(repo, 3.0)
    assert warm.repro(repo, "drift", ENV).done is True
    runs = offline_runs(repo, stage="drift", pipeline="warm-test-1")
    assert len(runs) == 1 and runs[0].status == "ok"
    report = read_json(repo / "metrics/drift.json")
    assert runs[0].metrics["drift/drift_score"] == report["drift_score"]
    assert "CT_PIPELINE_ID" not in os.environ  # restored after the stage
