"""`ct.py export-runs`: offline Neptune runs (written by the real client) into a real SQLite MLflow store, read back."""
from __future__ import annotations

from pathlib import Path

import pytest

from ctml import tracking
from ctml.errors import UserError
from ctml.runs.export_mlflow import RUN_ID_TAG, STATE_TAG, export, record
from ctml.runs.offline import offline_runs
from tests.helpers import ct, make_project, python

mlflow = pytest.importorskip("mlflow", reason="requirements-mlflow.txt (part of requirements-dev.txt)")
from mlflow.tracking import MlflowClient  # noqa: E402


def pipeline_runs(params, root: Path, pipeline: str = "p1") -> None:
    """An evaluate run with metrics and a PNG, and a CT command with a drift series, as the pipeline logs them."""
    (root / "roc.png").write_bytes(b"\x89PNG roc")
    with tracking.stage_run("evaluate", params, section="evaluate", pipeline=pipeline, model_version="v1.1.0") as run:
        run.metrics("metrics", {"accuracy": 0.93, "f1": 0.91, "passed": True})
        run.upload("plots/roc", root / "roc.png")
    with tracking.stage_run("ct", params, section="ct", pipeline=pipeline) as run:
        run.series("ct/drift_score", [0.1, 0.45, 0.2], steps=[1, 2, 3])


def mlflow_runs(uri: str, experiment: str) -> dict[str, object]:
    client = MlflowClient(tracking_uri=uri)
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return {r.data.tags["stage"]: r for r in found}


def test_record_maps_fields_to_metrics_params_tags_and_files(workdir: Path, params) -> None:
    pipeline_runs(params, workdir)
    ct_run, evaluate = offline_runs(workdir)
    rec = record(evaluate)
    metrics = {k: v for k, v, _ in rec.metrics}
    assert metrics["metrics/accuracy"] == 0.93 and metrics["metrics/passed"] == 1.0
    assert rec.params["parameters/top_features"] == str(params.evaluate.top_features)
    assert rec.params["config/train/model"] == params.train.model
    assert {k: rec.tags[k] for k in ("stage", "pipeline", "model_version", RUN_ID_TAG)} == \
        {"stage": "evaluate", "pipeline": "p1", "model_version": "v1.1.0", RUN_ID_TAG: evaluate.run_id}
    assert rec.files["plots/roc.png"].read_bytes() == b"\x89PNG roc" and rec.status == "FINISHED"
    assert rec.end_ms - rec.start_ms == int(evaluate.fields["run/duration_s"] * 1000)
    assert [(k, v, s) for k, v, s in record(ct_run).metrics if k == "ct/drift_score"] == \
        [("ct/drift_score", 0.1, 1), ("ct/drift_score", 0.45, 2), ("ct/drift_score", 0.2, 3)]


def test_export_reads_back_through_mlflow_and_a_second_export_adds_nothing(workdir: Path, params) -> None:
    pipeline_runs(params, workdir)
    uri = f"sqlite:///{workdir}/mlflow.db"
    first = export(workdir, uri, "proj")
    assert (first.exported, first.already) == (2, 0)
    runs = mlflow_runs(uri, "proj")
    client = MlflowClient(tracking_uri=uri)
    evaluate, ct_run = runs["evaluate"], runs["ct"]
    assert evaluate.data.metrics["metrics/accuracy"] == 0.93 and evaluate.info.status == "FINISHED"
    assert evaluate.data.params["parameters/top_features"] == str(params.evaluate.top_features)
    assert evaluate.data.tags[STATE_TAG] == "complete" and evaluate.data.tags["pipeline"] == ct_run.data.tags["pipeline"]
    assert [a.path for a in client.list_artifacts(evaluate.info.run_id, "plots")] == ["plots/roc.png"]
    local = client.download_artifacts(evaluate.info.run_id, "plots/roc.png", str(workdir))
    assert Path(local).read_bytes() == b"\x89PNG roc"
    history = client.get_metric_history(ct_run.info.run_id, "ct/drift_score")
    assert [(m.step, m.value) for m in history] == [(1, 0.1), (2, 0.45), (3, 0.2)]
    neptune_run = offline_runs(workdir, stage="evaluate")[0]
    assert evaluate.info.start_time == int(neptune_run.created_at.timestamp() * 1000)
    again = export(workdir, uri, "proj")
    assert (again.exported, again.already) == (0, 2) and len(mlflow_runs(uri, "proj")) == 2


def test_a_run_left_incomplete_by_an_interrupted_export_is_written_again(workdir: Path, params) -> None:
    pipeline_runs(params, workdir)
    uri = f"sqlite:///{workdir}/mlflow.db"
    export(workdir, uri, "proj")
    client = MlflowClient(tracking_uri=uri)
    evaluate = mlflow_runs(uri, "proj")["evaluate"]
    client.set_tag(evaluate.info.run_id, STATE_TAG, "incomplete")  # as a kill before the last write leaves it
    result = export(workdir, uri, "proj")
    assert (result.exported, result.redone, result.already) == (1, 1, 1)
    runs = mlflow_runs(uri, "proj")
    assert len(runs) == 2 and runs["evaluate"].info.run_id != evaluate.info.run_id
    assert runs["evaluate"].data.metrics["metrics/accuracy"] == 0.93


def test_a_damaged_run_is_skipped_with_one_line_and_the_export_goes_on(workdir: Path, params) -> None:
    pipeline_runs(params, workdir)
    damaged = offline_runs(workdir, stage="ct")[0].directory
    (damaged / "metadata.json").write_text('{"mode": "offl')
    lines: list[str] = []
    result = export(workdir, f"sqlite:///{workdir}/mlflow.db", "proj", warn=lines.append)
    assert result.exported == 1 and list(mlflow_runs(result.uri, "proj")) == ["evaluate"]
    assert lines == [f"{damaged}: metadata.json is not readable JSON (damaged or truncated); skipped"]
    assert result.unreadable == [lines[0].removesuffix("; skipped")]


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_a_uri_that_cannot_be_written_is_one_line(workdir: Path, params, where: str) -> None:
    pipeline_runs(params, workdir)
    if where == "missing folder":
        uri = f"sqlite:///{workdir}/no/such/dir/mlflow.db"
    else:
        (workdir / "mlflow.db").mkdir()
        uri = f"sqlite:///{workdir}/mlflow.db"
    with pytest.raises(UserError) as info:
        export(workdir, uri, "proj")
    assert str(info.value).startswith(f"{uri}: cannot write an MLflow store there (") and "\n" not in str(info.value)


def test_a_store_that_fails_inside_mlflow_is_one_line_too(workdir: Path, params) -> None:
    """Not a SQLite database at all: MLflow's own error, reduced to one line naming the URI."""
    pipeline_runs(params, workdir)
    (workdir / "mlflow.db").write_text("this is not a database\n" * 100)
    with pytest.raises(UserError) as info:
        export(workdir, f"sqlite:///{workdir}/mlflow.db", "proj")
    assert str(info.value).startswith(f"sqlite:///{workdir}/mlflow.db: cannot write an MLflow store there (")
    assert "\n" not in str(info.value)


def test_ct_export_runs_without_mlflow_says_so_in_one_line(tmp_path: Path) -> None:
    """A real import failure: a `mlflow` package on PYTHONPATH that cannot be imported."""
    repo = make_project(tmp_path / "project")
    shadow = tmp_path / "shadow" / "mlflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named mlflow')\n")
    proc = ct(repo, "export-runs", check=False, PYTHONPATH=str(tmp_path / "shadow"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: MLflow is not installed; the export needs it (nothing else does): `pip install -r requirements-mlflow.txt`"]


def test_pipeline_and_ct_never_import_mlflow() -> None:
    proc = python("-c", "import sys; import ct; from ctml.ct.step import run; from ctml.ct.repo import warm; from ctml import tracking; "
                  "import stages.drift, stages.evaluate, stages.train; print('mlflow' in sys.modules)",
                  cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout.strip() == "False"
