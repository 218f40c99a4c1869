"""The shadow stage as GTO tags: which version is in shadow, and `gto show` / `gto deprecate` agree."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctml.ct.release import shadow, tags
from ctml.io import sha256_file
from tests.helpers import VENV_BIN, artifact_repo, git, sh


def _release(repo: Path, model: bytes) -> str:
    """A commit whose models/production holds `model` (as every version tag's commit does), tagged."""
    prod = repo / "models/production"
    prod.mkdir(parents=True, exist_ok=True)
    (prod / "model.joblib").write_bytes(model)
    (prod / "model.json").write_text(json.dumps({"model_sha256": sha256_file(prod / "model.joblib")}))
    (prod / "schema.json").write_text("{}")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "release", cwd=repo)
    version = tags.next_version(repo)
    tags.register(repo, version, "release")
    return version


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    """v1.0.0 in production, v1.1.0 in shadow (its local copy in .ct/shadow)."""
    repo = artifact_repo(tmp_path / "r")
    tags.assign_prod(repo, _release(repo, b"production"), "promote")
    version = _release(repo, b"candidate")
    local = repo / ".ct/shadow"
    local.mkdir(parents=True)
    for name in ("model.joblib", "model.json", "schema.json"):
        (local / name).write_bytes((repo / "models/production" / name).read_bytes())
    assert tags.assign(repo, "shadow", version, "into shadow") == "model#shadow#2"
    return repo


def _gto_stages(repo: Path) -> dict:
    return json.loads(sh(f"{VENV_BIN}/gto", "show", "--json", cwd=repo).stdout)["model"]["stage"]


def test_the_shadow_is_the_newest_assignment_and_gto_shows_it(staged):
    found = shadow.current(staged)
    assert (found.version, found.tag) == ("v1.1.0", "model#shadow#2")
    assert found.sha256 == sha256_file(staged / ".ct/shadow/model.joblib")
    assert set(_gto_stages(staged)) == {"prod", "shadow"}
    assert tags.production_version(staged) == "v1.0.0"
    assert shadow.problem(staged, found) is None


def test_gto_deprecate_retires_it_as_our_retirement_does(staged):
    sh(f"{VENV_BIN}/gto", "deprecate", "model", "v1.1.0", "shadow", cwd=staged)
    assert "model#shadow!#3" in git("tag", "--list", cwd=staged).stdout
    assert shadow.current(staged) is None
    assert set(_gto_stages(staged)) == {"prod"}


def test_a_promoted_shadow_is_no_longer_in_shadow_and_numbers_follow_gto(staged):
    assert tags.assign_prod(staged, "v1.1.0", "promote") == "model#prod#3"
    assert tags.production_version(staged) == "v1.1.0"
    assert shadow.current(staged) is None
    assert shadow.assigned(staged, "v1.1.0")  # until its model#shadow!#N, which finish_promote writes
    tags.assign(staged, "shadow", "v1.1.0", "promoted", unassign=True)
    assert not shadow.assigned(staged, "v1.1.0")


def test_a_missing_or_changed_local_copy_is_named_in_one_line(staged):
    found = shadow.current(staged)
    model = staged / ".ct/shadow/model.joblib"
    model.write_bytes(b"tampered")
    why = shadow.problem(staged, found)
    assert why.startswith(".ct/shadow/model.joblib: sha256 ") and "model@v1.1.0" in why and "\n" not in why
    assert "gto deprecate model v1.1.0 shadow" in why
    model.unlink()
    assert shadow.problem(staged, found).startswith(".ct/shadow/model.joblib: missing (shadow v1.1.0, model#shadow#2)")
