"""Serving tests start from the session's released project (tests/conftest.py: `released`), copied."""
from __future__ import annotations

from pathlib import Path

from tests.helpers import copy_project, git, set_params


def served_copy(released: Path, parent: Path, **params: object) -> Path:
    """A private copy of the released project with serve params set (and committed, so CT sees a clean tree)."""
    repo = copy_project(released, parent)
    if params:
        set_params(repo, **params)
        git("commit", "-qam", "serve params for the test", cwd=repo)
    return repo
