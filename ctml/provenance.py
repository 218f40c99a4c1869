"""Which code and which libraries produced a run or a model.

Its own module because both the model metadata (train stage) and every tracked run record it, and
tracking must not pull the model module (joblib, scikit-learn) into stages that never load a model.
"""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

LIBRARIES = ("scikit-learn", "pandas", "numpy", "scipy", "pyarrow", "joblib", "dvc")


def library_versions() -> dict[str, str]:
    """Python and the installed versions of LIBRARIES (absent ones left out): what a model needs to load again."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def git_commit(cwd: str | Path = ".") -> str:
    """HEAD of the project, or '' outside git; the commit the code of this run came from."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
