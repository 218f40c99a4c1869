"""The pipeline against a real cluster: `dask scheduler` and two `dask worker` processes with a memory
limit on 127.0.0.1, reached through `compute.scheduler`, started and torn down by the test."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest

from ctml.runs.offline import offline_runs
from tests.helpers import dask_cluster, dvc, git, make_project, ran_stages, set_params

pytestmark = pytest.mark.slow

WORKER_MEMORY = "600MB"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture
def cluster(tmp_path: Path, project: Path) -> Iterator[str]:
    """A scheduler and two single-thread workers with a memory limit; yields the scheduler address."""
    with dask_cluster(tmp_path, 2, WORKER_MEMORY, project) as (address, _):  # the workers import the project's ctml
        yield address


def source(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(8)})
    frame["plan"] = rng.choice(["basic", "plus", "pro"], rows)
    frame["target"] = np.where(frame["x0"] - frame["x1"] + (frame["plan"] == "pro") + rng.normal(scale=0.5, size=rows) > 0,
                               "yes", "no")
    frame.to_csv(path, index=False)


def test_pipeline_on_a_scheduler_address_trains_xgboost_on_the_workers(project: Path, cluster: str):
    (project / "data/source").mkdir(parents=True, exist_ok=True)
    source(project / "data/source/table.csv", 20_000)
    set_params(project, data__source="data/source/table.csv", train__model="xgboost", compute__engine="dask",
               compute__scheduler=cluster, compute__partition_rows=5000)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "cluster", cwd=project)
    out = dvc("repro", cwd=project, **{"PYTHONPATH": str(project)}).stdout
    assert ran_stages(out) == ["ingest", "validate", "preprocess", "train", "evaluate", "drift", "gates"]
    assert "preprocess: " in out and "(dask engine)" in out.split("preprocess: ")[1].splitlines()[0]
    peaks = {run.stage: run.fields["run/peak_rss_mb"] for run in offline_runs(project)}
    assert all(peaks[stage] > 0 for stage in ("ingest", "validate", "preprocess", "train", "evaluate", "gates")), peaks
    metrics = json.loads((project / "metrics/metrics.json").read_text())
    assert metrics["accuracy"] > 0.8
    meta = json.loads((project / "models/model.json").read_text())
    assert meta["classes"] == ["no", "yes"] and meta["params"]["train"]["model"] == "xgboost"
    assert json.loads((project / "metrics/gates_summary.json").read_text())["passed"] is True
    assert os.path.getsize(project / "data/raw/train.parquet") > 0
