"""Fixtures the reliability tests share."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import built_once, copy_project, retrain_on_drift, tags


@pytest.fixture(scope="session")
def two_versions_built(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1.1.0 in production, v1.0.0 to roll back to: one retrain, paid once per test run. Do not modify."""
    def build(parent: Path) -> None:
        repo = copy_project(released, parent)
        retrain_on_drift(repo)
        assert tags(repo).keys() >= {"model@v1.1.0"}

    return built_once(tmp_path_factory, "two-versions", build)[0]


@pytest.fixture
def two_versions(two_versions_built: Path, tmp_path: Path) -> Path:
    """A private copy: v1.1.0 in production, v1.0.0 to roll back to."""
    return copy_project(two_versions_built, tmp_path)
