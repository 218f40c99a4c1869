"""A project with v1.0.0 released (built once per session), copied for each test module that changes it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import copy_project, ct, git, set_params


@pytest.fixture(scope="session")
def released_repo(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline project after one CT step without drift: v1.0.0 in production. Do not modify."""
    repo = copy_project(baseline_repo, tmp_path_factory.mktemp("released"))
    ct(repo, "simulate", "--scenario", "none", "--steps", "1", "--batch-size", "50")
    return repo


def served_copy(released_repo: Path, parent: Path, **params: object) -> Path:
    """A private copy of the released project with serve params set (and committed, so CT sees a clean tree)."""
    repo = copy_project(released_repo, parent)
    if params:
        set_params(repo, **params)
        git("commit", "-qam", "serve params for the test", cwd=repo)
    return repo
