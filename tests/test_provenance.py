"""Provenance: the library versions and git commit recorded with every model and tracked run."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ctml.provenance import git_commit, library_versions


def test_library_versions_name_the_stack() -> None:
    versions = library_versions()
    assert {"python", "scikit-learn", "pandas", "numpy", "dvc"} <= set(versions)
    assert re.fullmatch(r"\d+\.\d+.*", versions["scikit-learn"])


def test_git_commit_inside_and_outside_a_repo(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == ""
    run = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)
    run("init", "-q")
    run("-c", "user.name=T", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "x")
    head = run("rev-parse", "HEAD").stdout.decode().strip()
    assert git_commit(tmp_path) == head and len(head) == 40
