"""End to end: the pipeline and a CT simulation tracked offline, exported to a SQLite MLflow store, read back;
and against a server that never answers, one timeout per command, not one per stage."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctml import tracking
from ctml.tracking import fallback
from ctml.runs.offline import offline_runs
from tests.helpers import ct, dvc, git, history, read_json, set_params
from tests.standins import silent_server, token_for

pytest.importorskip("mlflow", reason="requirements-mlflow.txt (part of requirements-dev.txt)")
from mlflow.tracking import MlflowClient  # noqa: E402

ON = {"CT_TRACKING": "on"}


def exported(repo: Path) -> tuple[MlflowClient, list]:
    out = json.loads(ct(repo, "export-runs", "--json", **ON).stdout)
    assert out["unreadable"] == [] and out["uri"] == f"sqlite:///{repo}/mlflow.db"
    client = MlflowClient(tracking_uri=out["uri"])
    experiment = client.get_experiment_by_name(repo.name)
    return client, client.search_runs([experiment.experiment_id], max_results=1000)


def numeric(metrics: dict, prefix: str) -> dict[str, float]:
    return {k: float(v) for k, v in tracking.flatten(metrics, prefix).items() if isinstance(v, (int, float))}


@pytest.mark.slow
def test_pipeline_and_ct_exported_to_mlflow_and_read_back(repo: Path) -> None:
    """The baseline's `dvc repro` (tracked, CT_TRACKING=on), exported; then a CT simulation, exported again."""
    client, runs = exported(repo)
    scores = numeric(read_json(repo / "metrics" / "metrics.json"), "metrics")
    (evaluate,) = [r for r in runs if r.data.tags["stage"] == "evaluate"]
    assert {k: evaluate.data.metrics[k] for k in scores} == scores  # every metric of metrics/metrics.json
    assert len({r.data.tags["pipeline"] for r in runs}) == 1 and len(runs) == len(offline_runs(repo))

    ct(repo, "simulate", "--scenario", "sudden", "--steps", "4", "--batch-size", "200", **ON)
    again = json.loads(ct(repo, "export-runs", "--json", **ON).stdout)
    assert again["already_exported"] == len(runs) and again["exported"] > 0  # only the new runs
    client, runs = exported(repo)
    assert len(runs) == len(offline_runs(repo)) == len({r.data.tags["neptune.run_id"] for r in runs})

    steps = history(repo)
    (command,) = [r for r in runs if r.data.tags["stage"] == "ct"]
    drift_series = client.get_metric_history(command.info.run_id, "ct/drift_score")
    assert [(m.step, m.value) for m in drift_series] == list(zip(steps["step"], steps["drift_score"]))
    # one pipeline id for the whole command; each step's stage runs carry the step and its drift score
    pipeline = command.data.tags["pipeline"]
    drift_runs: dict[int, object] = {}  # a step's first drift run is its measurement (a release re-runs drift after)
    for r in sorted(runs, key=lambda r: r.info.start_time):
        if r.data.tags["stage"] == "drift" and r.data.tags["pipeline"] == pipeline and r.data.tags["step"].isdigit():
            drift_runs.setdefault(int(r.data.tags["step"]), r)
    assert sorted(drift_runs) == list(steps["step"])
    assert [drift_runs[s].data.metrics["drift/drift_score"] for s in steps["step"]] == list(steps["drift_score"])
    assert all(r.data.tags["pipeline"] == pipeline for r in runs if r.data.tags.get("step"))
    final = numeric(read_json(repo / "metrics" / "metrics.json"), "metrics")
    assert any({k: r.data.metrics.get(k) for k in final} == final for r in runs if r.data.tags["stage"] == "evaluate")
    assert git("status", "--porcelain", cwd=repo).stdout.strip() == ""  # mlflow.db and mlartifacts/ are ignored
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}  # neither the runs nor the export touch the DAG


@pytest.mark.slow
def test_a_server_that_never_answers_costs_one_timeout_per_command(repo: Path) -> None:
    set_params(repo, tracking__online_timeout_s=1, ct__start_step=1)  # a retrain (dvc repro) in the one step
    git("commit", "-qam", "tracking: 1 s online timeout", cwd=repo)
    with silent_server() as address:
        online = {"NEPTUNE_API_TOKEN": token_for(address), "NEPTUNE_PROJECT": "ws/proj", **ON}
        repro = dvc("repro", "-f", cwd=repo, **online)
        simulate = ct(repo, "simulate", "--scenario", "sudden", "--steps", "1", "--batch-size", "200", **online)
    for proc in (repro, simulate):
        output = proc.stdout + proc.stderr
        assert output.count("warning: tracking: cannot go online (no answer within 1 s") == 1, output
    by_pipeline: dict[str, list] = {}
    for run in offline_runs(repo):
        if run.fields.get("run/requested_mode"):  # not the baseline's own offline runs
            by_pipeline.setdefault(run.pipeline, []).append(run)
    attempts = {p: sum("run/online_attempt_s" in r.fields for r in rs) for p, rs in by_pipeline.items()}
    ct_pipeline = next(r.pipeline for r in offline_runs(repo, stage="ct"))
    assert {r.stage for r in by_pipeline[ct_pipeline]} >= {"ct", "drift", "train", "gates"}  # the command and its step's runs
    assert set(attempts.values()) == {1} and len(attempts) == 2  # one dvc repro, one ct.py command
    assert all(r.fields["run/fallback_reason"].startswith("no answer within 1 s") for rs in by_pipeline.values() for r in rs)
    # both commands are over: their markers no longer hold, the next command tries online again
    assert [fallback.earlier_failure(p, root=repo) for p in attempts] == [None, None]
