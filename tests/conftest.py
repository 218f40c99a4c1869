"""Fixtures: a baseline project built once per session, copied for each test that changes it."""
from __future__ import annotations

from pathlib import Path

import pytest

from ctml.config import Params, load_params
from ctml.cpu import prefer_avx2_on_zen4
from tests.helpers import ROOT, copy_project, dvc, git, make_project

# The test process computes as ct.py and the stages do (ctml/cpu.py); NumPy is not imported yet.
prefer_avx2_on_zen4()

# Variables that steer tracking; tests that read back tracking start from none of them.
TRACKING_ENV = ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE", "NEPTUNE_DATA_DIRECTORY",
                "CT_TRACKING", "CT_PIPELINE_ID", "CT_MODEL_VERSION")


@pytest.fixture(scope="session")
def baseline_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project after `dvc repro` on the built-in data, committed. Do not modify: use `repo`."""
    repo = make_project(tmp_path_factory.mktemp("baseline") / "project")
    dvc("repro", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "baseline pipeline run", cwd=repo)
    return repo


@pytest.fixture
def repo(baseline_repo: Path, tmp_path: Path) -> Path:
    """A private copy of the baseline project (git history and DVC cache included)."""
    return copy_project(baseline_repo, tmp_path)


@pytest.fixture
def fresh_repo(tmp_path: Path) -> Path:
    """The project as a fresh clone has it: nothing run yet."""
    return make_project(tmp_path / "project")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and an environment without tracking variables."""
    for name in TRACKING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def params() -> Params:
    """The project's own params.yaml, parsed."""
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def dask_client():
    """A real distributed.LocalCluster (threads, so the workers see this process's imports)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client
