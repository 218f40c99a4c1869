"""GTO-format tags: version order, next version, production by assignment number, `gto show` agrees."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctml.ct.release import tags
from ctml.errors import UserError
from tests.helpers import VENV_BIN, artifact_repo, git, sh


@pytest.fixture
def tagged(tmp_path: Path) -> Path:
    repo = artifact_repo(tmp_path / "r")
    for i in range(3):
        (repo / "f").write_text(str(i))
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", f"c{i}", cwd=repo)
        version = tags.next_version(repo)
        tags.register(repo, version, f"release {i}")
        tags.assign_prod(repo, version, "promote")
    return repo


def test_versions_are_semver_ordered_and_next_is_minor(tagged):
    assert tags.versions(tagged) == ["v1.0.0", "v1.1.0", "v1.2.0"]
    assert tags.next_version(tagged) == "v1.3.0"
    assert tags.production_version(tagged) == "v1.2.0"


def test_rollback_assignment_moves_production_and_gto_agrees(tagged):
    tag = tags.assign_prod(tagged, "v1.0.0", "rollback")
    assert tag == "model#prod#4"
    assert tags.production_version(tagged) == "v1.0.0"
    assert tags.production_history(tagged) == ["v1.0.0", "v1.1.0", "v1.2.0", "v1.0.0"]
    shown = json.loads(sh(f"{VENV_BIN}/gto", "show", "--json", cwd=tagged).stdout)
    assert shown["model"]["version"] == "v1.2.0"


def test_resolve_accepts_spellings_and_names_known_versions(tagged):
    assert tags.resolve(tagged, "1.1.0") == "v1.1.0"
    assert tags.resolve(tagged, "model@v1.1.0") == "v1.1.0"
    with pytest.raises(UserError, match=r"unknown model version 'v9.0.0' \(known: v1.0.0, v1.1.0, v1.2.0\)"):
        tags.resolve(tagged, "v9.0.0")


def test_a_command_reads_the_registry_once_and_again_after_it_tags(tagged, params):
    """`tags.of(ctx)` keeps the one `git for-each-ref` read on the Context; `forget` (what release and
    rollback call after tagging) makes the next look see the new tags. Two versions on one commit:
    the newest names it, as GTO says."""
    from ctml.ct.context import Context
    from ctml.ct.release.production import current_version

    ctx = Context(root=tagged, params=params)
    registry = tags.of(ctx)
    assert (registry.versions(), registry.production_version()) == (["v1.0.0", "v1.1.0", "v1.2.0"], "v1.2.0")
    tags.register(tagged, "v1.3.0", "same commit as v1.2.0")
    tags.assign_prod(tagged, "v1.0.0", "rollback")
    assert tags.of(ctx) is registry and current_version(ctx) == "v1.2.0"  # read once: no git call
    tags.forget(ctx)
    assert current_version(ctx) == "v1.0.0"
    assert tags.of(ctx).production_history() == ["v1.0.0", "v1.1.0", "v1.3.0", "v1.0.0"]
    assert tags.read(tagged) == tags.of(ctx)
