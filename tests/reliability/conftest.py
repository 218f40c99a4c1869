"""One released baseline for every reliability test: copied, never modified."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import copy_project, ct


@pytest.fixture(scope="session")
def released(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline project after two CT runs of one step: model@v1.0.0 in production, history rows
    1-2 committed, `dvc status` clean (the second run re-runs the gates stage, stale once the
    release changed models/production, so tests do not pay for it on every copy).

    Releasing costs a `dvc repro`; copying the result is cheap, so tests take `released_repo`.
    """
    repo = copy_project(baseline_repo, tmp_path_factory.mktemp("released"))
    ct(repo, "simulate", "--scenario", "none", "--steps", "1", "--batch-size", "50")
    ct(repo, "simulate", "--scenario", "none", "--steps", "1", "--batch-size", "50", "--seed", "1")
    return repo


@pytest.fixture
def released_repo(released: Path, tmp_path: Path) -> Path:
    """A private copy of the released baseline."""
    return copy_project(released, tmp_path)
