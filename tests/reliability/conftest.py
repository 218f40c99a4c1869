"""Fixtures the reliability tests share."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ct, git, set_params, tags


@pytest.fixture
def two_versions(released_repo: Path) -> Path:
    """v1.1.0 in production, v1.0.0 to roll back to."""
    set_params(released_repo, ct__start_step=1)
    git("commit", "-qam", "drift from the first step", cwd=released_repo)
    ct(released_repo, "simulate", "--scenario", "sudden", "--steps", "1", "--batch-size", "200")
    assert tags(released_repo).keys() >= {"model@v1.1.0"}
    return released_repo
