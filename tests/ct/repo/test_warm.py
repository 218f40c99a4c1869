"""ctml.ct.repo.warm: `dvc repro` with the stage commands run in ct.py's process must write what the CLI
writes, leave DVC clean, and run a stage as a subprocess whenever the in-process run could differ."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ctml.ct.repo import warm
from ctml.errors import UserError
from ctml.runs.offline import offline_runs
from tests.helpers import copy_project, dvc, lineage_folder, read_json, set_params

pytestmark = pytest.mark.slow

ENV = {"CT_PIPELINE_ID": "warm-test-1"}
ALL_STAGES = ["ingest", "validate", "preprocess", "train", "evaluate", "drift", "gates"]
# What differs between two runs of the same inputs by design: the gates time the model and stamp the check.
MEASURED = {"metrics/gates.json"}


def write_batch(repo: Path, shift: float = 0.0, rows: int = 200) -> None:
    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(rows, random_state=5, replace=True)
    frame["mean radius"] = frame["mean radius"] + shift * frame["mean radius"].std()
    frame.to_parquet(repo / "data/checked/batch.parquet", index=False)


def fold_batch(repo: Path) -> None:
    """A CT batch folded into training: every stage is stale."""
    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(60, random_state=9)
    folder = lineage_folder(repo)
    frame.to_parquet(folder / "batch-0001.parquet", index=False)
    dvc("add", "-q", str(folder.relative_to(repo)), cwd=repo)  # as CT tracks it: the lineage folder, one directory


def outputs(repo: Path) -> dict[str, bytes]:
    """Every output dvc.yaml declares (files, and the files in output folders), by relative path."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    paths = [next(iter(o)) if isinstance(o, dict) else o for s in stages.values() for o in s.get("outs", []) + s.get("metrics", [])]
    files = []
    for rel in paths:
        path = repo / rel
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {str(p.relative_to(repo)): p.read_bytes() for p in files}


def lock_hashes(repo: Path) -> dict[str, dict[str, str]]:
    """dvc.lock's recorded hash of every dep and out, per stage."""
    stages = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {name: {e["path"]: e.get("md5") for e in s.get("deps", []) + s.get("outs", [])} for name, s in stages.items()}


def dvc_status(repo: Path) -> dict:
    return json.loads(dvc("status", "--json", cwd=repo).stdout)


def deterministic(files: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if k not in MEASURED}


def test_every_stage_in_process_writes_what_dvc_repro_force_writes(repo: Path):
    fold_batch(repo)
    write_batch(repo, 3.0)
    runs = warm.reproduce(repo, env=ENV)
    assert [r.stage for r in runs] == ALL_STAGES and {r.where for r in runs} == {"in-process"}
    assert dvc_status(repo) == {} and dvc_dump_of_itself(repo)
    warm_out, warm_lock = outputs(repo), lock_hashes(repo)
    assert read_json(repo / "metrics/drift_features.json")["mean radius"]["drifted"] is True

    dvc("repro", "--force", cwd=repo)
    cli_out, cli_lock = outputs(repo), lock_hashes(repo)
    assert sorted(cli_out) == sorted(warm_out)
    assert deterministic(cli_out) == deterministic(warm_out)  # PNGs included: byte for byte
    for stage in ALL_STAGES:
        assert {p: h for p, h in cli_lock[stage].items() if p not in MEASURED} == \
            {p: h for p, h in warm_lock[stage].items() if p not in MEASURED}, stage
    gates_warm, gates_cli = json.loads(warm_out["metrics/gates.json"]), json.loads(cli_out["metrics/gates.json"])
    assert (gates_warm["passed"], gates_warm["gates"]["accuracy"]) == (gates_cli["passed"], gates_cli["gates"]["accuracy"])


def dvc_dump_of_itself(repo: Path) -> bool:
    """dvc.lock is byte for byte what DVC's own dumper writes for the data it holds."""
    from dvc.utils.serialize import _yaml

    text = (repo / "dvc.lock").read_text()
    return _yaml.dumps_yaml(_yaml.parse_yaml(text, "dvc.lock")) == text


def test_one_changed_stage_is_rewritten_in_dvc_lock_as_dvc_writes_it(repo: Path):
    """The warm run re-emits only the changed stage's entry (`warm._splice`); the file must still be
    DVC's own dump, and the other stages' entries the bytes they were."""
    before = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    write_batch(repo, 3.0)
    assert [r.stage for r in warm.reproduce(repo, ["drift"], ENV)] == ["drift"]
    after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert list(after) == list(before) and after["drift"] != before["drift"]
    assert {k: v for k, v in after.items() if k != "drift"} == {k: v for k, v in before.items() if k != "drift"}
    assert dvc_dump_of_itself(repo) and dvc_status(repo) == {}


def test_a_commit_rewrites_only_its_stage_in_dvc_lock_as_dvc_commit_writes_it(repo: Path, tmp_path: Path):
    """`warm.commit` (a release's `dvc commit drift`) splices the stage's new entry into dvc.lock: the
    file is what `dvc commit --force drift` writes, byte for byte, in a twin project."""
    twin = copy_project(repo, tmp_path / "twin")
    for project in (repo, twin):
        summary = project / "metrics/drift_summary.json"
        summary.write_text(summary.read_text().replace("{", '{"edited": 1, ', 1))
    before = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    warm.commit(repo, "drift")
    dvc("commit", "--force", "drift", cwd=twin)
    assert (repo / "dvc.lock").read_bytes() == (twin / "dvc.lock").read_bytes()
    after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert after["drift"] != before["drift"] and {k: v for k, v in after.items() if k != "drift"} == {
        k: v for k, v in before.items() if k != "drift"}
    assert dvc_dump_of_itself(repo) and dvc_status(repo) == {}


def test_nothing_stale_runs_nothing(repo: Path):
    lock, before = (repo / "dvc.lock").read_bytes(), outputs(repo)
    assert warm.stale(repo) == {}
    assert warm.reproduce(repo, env=ENV) == []
    assert (repo / "dvc.lock").read_bytes() == lock and outputs(repo) == before


def _edit_code(repo: Path) -> str:
    with open(repo / "stages/drift.py", "a") as handle:
        handle.write("\n# edited while ct.py runs\n")
    return "code changed since ct.py started: stages/drift.py"


def _edit_shared_code(repo: Path) -> str:
    with open(repo / "ctml/drift/stats.py", "a") as handle:
        handle.write("\n# edited while ct.py runs\n")
    return "code changed since ct.py started: ctml/drift/stats.py"


def _shell_command(repo: Path) -> str:
    path = repo / "dvc.yaml"
    path.write_text(path.read_text().replace("python -m stages.drift", "python -u -m stages.drift"))
    return "its command is not `python -m <project module> ...`"


@pytest.mark.parametrize("change", [_edit_code, _edit_shared_code, _shell_command],
                         ids=["stage-code-changed", "shared-code-changed", "not-a-module-command"])
def test_a_stage_that_could_differ_runs_as_a_subprocess_and_still_equals_the_cli(repo: Path, change):
    warm.snapshot_code(repo)  # as ct.py does when it starts
    write_batch(repo, 3.0)
    why = change(repo)
    runs = warm.reproduce(repo, ["drift"], ENV)
    assert [(r.stage, r.where) for r in runs] == [("drift", "subprocess")] and why in runs[0].why
    assert dvc_status(repo) == {}
    after = outputs(repo)
    dvc("repro", "--force", "--single-item", "drift", cwd=repo)
    assert outputs(repo) == after


def test_upstream_stages_run_first_in_dag_order(repo: Path):
    set_params(repo, train__n_estimators=7)
    write_batch(repo)
    runs = warm.reproduce(repo, ["drift"], ENV)
    assert [r.stage for r in runs] == ["train", "evaluate", "drift"]
    assert "gates" in dvc_status(repo)  # not a target, not upstream of drift: left stale, as `dvc repro drift` leaves it


def test_a_failing_stage_is_one_line_and_leaves_lock_and_outputs(repo: Path):
    (repo / "data/checked/batch.csv").write_text("a,b\n1,2\n")
    lock, before = (repo / "dvc.lock").read_bytes(), outputs(repo)
    with pytest.raises(UserError) as info:
        warm.reproduce(repo, ["drift"], ENV)
    message = str(info.value)
    assert message.startswith("`dvc repro drift` failed (exit 1): stage 'drift': ")
    assert "batch.csv" in message and "missing feature column 'area error'" in message and "\n" not in message
    assert (repo / "dvc.lock").read_bytes() == lock and outputs(repo) == before


def test_the_stages_run_before_a_failure_are_recorded_in_dvc_lock_as_dvc_repro_records_them(repo: Path):
    """The lock is written once at the end of a warm run, not after each stage: a failure must still
    leave the stages that ran recorded (up to date), and only the failed one and its dependants stale."""
    set_params(repo, train__n_estimators=7)
    (repo / "data/checked/batch.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError):
        warm.reproduce(repo, ["drift"], ENV)
    stale = dvc_status(repo)
    assert "train" not in stale and "evaluate" not in stale, stale
    assert "drift" in stale and "gates" in stale


def test_a_failing_subprocess_stage_is_one_line_too(repo: Path):
    warm.snapshot_code(repo)
    (repo / "data/checked/batch.csv").write_text("a,b\n1,2\n")
    _edit_code(repo)
    with pytest.raises(UserError) as info:
        warm.reproduce(repo, ["drift"], ENV)
    assert str(info.value).startswith("`dvc repro drift` failed (exit 1): stage 'drift': ")
    assert "missing feature column 'area error'" in str(info.value)


def test_the_in_process_stage_run_is_tracked_with_the_pipeline_id(repo: Path, monkeypatch):
    for name in ("CT_TRACKING", "CT_PIPELINE_ID", "NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE",
                 "NEPTUNE_DATA_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    write_batch(repo, 3.0)
    assert [r.where for r in warm.reproduce(repo, ["drift"], ENV)] == ["in-process"]
    runs = offline_runs(repo, stage="drift", pipeline="warm-test-1")
    assert len(runs) == 1 and runs[0].status == "ok"
    report = read_json(repo / "metrics/drift.json")
    assert runs[0].metrics["drift/drift_score"] == report["drift_score"]
    assert "CT_PIPELINE_ID" not in os.environ and "DVC_STAGE" not in os.environ  # restored after the stage
