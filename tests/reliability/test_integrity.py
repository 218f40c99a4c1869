"""Models are unpickled only after their sha256 matches the recorded one.

The tampered file is a working pickle whose loading would create a directory: if that directory
appears, the model was executed. Every consumer must refuse before that, naming the file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import joblib
import pandas as pd
import pytest
import yaml

from tests.helpers import ct, dvc, git, history, sh, sha256

pytestmark = pytest.mark.slow


class Payload:
    """Unpickling this runs os.mkdir(path): the proof that a model file was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _tamper(model: Path, proof: Path) -> None:
    model.chmod(0o644)  # DVC may have linked it read-only from the cache
    tmp = model.with_name(model.name + ".evil")
    joblib.dump(Payload(proof), tmp)
    os.replace(tmp, model)


def _rows(repo: Path, tmp_path: Path) -> Path:
    rows = pd.read_parquet(repo / "data/prepared/test.parquet").drop(columns="target").head(5)
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    return path


def test_tampered_production_model_is_refused_everywhere(released_repo: Path, tmp_path: Path) -> None:
    repo = released_repo
    proof = tmp_path / "payload-ran"
    rows = _rows(repo, tmp_path)
    ct(repo, "predict", "--input", str(rows))  # works before tampering
    model = repo / "models/production/model.joblib"
    _tamper(model, proof)

    served = ct(repo, "predict", "--input", str(rows), check=False)
    assert served.returncode == 1 and served.stdout == ""
    assert served.stderr.startswith(f"error: {model}: sha256 ") and "refusing to load" in served.stderr
    assert len(served.stderr.strip().splitlines()) == 1

    drift = dvc("repro", "drift", cwd=repo, check=False)
    assert drift.returncode != 0
    assert "models/production/model.joblib: sha256" in drift.stdout + drift.stderr
    assert "refusing to load" in drift.stdout + drift.stderr

    steps = len(history(repo))
    refused = ct(repo, "simulate", "--steps", "1", "--batch-size", "50", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: models/production/model.joblib: sha256 ")
    assert "changed outside ct.py; restore the recorded model with `git checkout HEAD -- models/production" in refused.stderr
    assert len(history(repo)) == steps
    assert not proof.exists(), "the tampered model was unpickled"

    # The recovery procedure in the README (`dvc repro drift` above re-hashed the file into its
    # .dvc pointer, so the pointer comes back from git first).
    sh("sh", "-c", "git checkout HEAD -- models/production && dvc checkout --force models/production/model.joblib.dvc",
       cwd=repo)
    recorded = json.loads((repo / "models/production/model.json").read_text())["model_sha256"]
    assert sha256(model) == recorded
    ct(repo, "simulate", "--steps", "1", "--batch-size", "50")
    assert history(repo)["status"].tolist()[steps:] == ["ok"]
    assert not proof.exists()


def test_tampered_cache_object_of_an_old_version_is_refused(released_repo: Path, tmp_path: Path) -> None:
    """`predict --version` reads the model bytes from the DVC cache; a swapped cache object is refused."""
    repo = released_repo
    proof = tmp_path / "payload-ran"
    lockfile = yaml.safe_load(git("show", "model@v1.0.0:dvc.lock", cwd=repo).stdout)
    md5 = next(o["md5"] for o in lockfile["stages"]["train"]["outs"] if o["path"] == "models/model.joblib")
    _tamper(repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:], proof)

    served = ct(repo, "predict", "--input", str(_rows(repo, tmp_path)), "--version", "v1.0.0", check=False)
    assert served.returncode == 1 and len(served.stderr.strip().splitlines()) == 1
    # Either the sha256 check refuses it, or DVC's own cache check has already discarded the object
    # whose bytes no longer match its name, and the data check refuses the version before loading anything.
    assert ("model.joblib: sha256" in served.stderr and "refusing to load" in served.stderr) or (
        "v1.0.0: models/model.joblib: in neither the DVC cache nor remote" in served.stderr)
    assert not proof.exists(), "the tampered model was unpickled"
