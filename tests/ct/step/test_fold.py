"""ctml.ct.step.fold on real projects: a project an older version left, with a `.dvc` file per CT batch,
is migrated once to one DVC folder per lineage (one line, its own commit, `dvc status` and `git status`
clean), its versions' lineage still lists the batches, a re-delivered file is still a duplicate, and a
migration cut short is finished by the next command."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from ctml import layout
from ctml.config import load_params
from ctml.ct.context import Context
from ctml.ct.intake.deliveries import processed
from ctml.ct.release.lineage import folded_batches
from ctml.ct.step import fold
from ctml.data.folds import read_manifest
from tests.helpers import built_once, copy_project, ct, dvc, git, history

pytestmark = pytest.mark.slow

STAGES = ["ingest", "validate", "preprocess", "train", "evaluate", "drift", "gates"]
DELIVERED = "data/incoming/day-3.csv"  # the delivery step 3's batch came from, in the older layout's meta
MIGRATED = "now tracked as one DVC folder per lineage"


def delivery_bytes() -> bytes:
    return b"mean radius,target\n14.1,1\n"  # any bytes: a re-delivery is recognised by its hash before it is read


def to_older_layout(repo: Path) -> str:
    """The project as a version with a `.dvc` file per batch left it: each folded batch `dvc add`-ed on its
    own with its step, source and delivered file in the pointer's `meta`, the stages that read
    data/batches recorded against that listing, committed, and v1.1.0's tag on that commit. Returns the
    lineage folder's name."""
    batches = repo / layout.BATCHES
    [folder] = [p for p in batches.iterdir() if p.is_dir()]
    recorded = read_manifest(folder)
    assert [b.step for b in recorded] == [3]
    layout.batch_pointer(folder).unlink()
    layout.batch_manifest(folder).unlink()
    ignore = batches / ".gitignore"
    ignore.write_text("".join(f"{ln}\n" for ln in ignore.read_text().splitlines() if ln != f"/{folder.name}"))
    for batch in recorded:
        rel = (folder / batch.file).relative_to(repo).as_posix()
        dvc("add", "-q", rel, cwd=repo)
        pointer = repo / f"{rel}.dvc"
        content = yaml.safe_load(pointer.read_text())
        content["meta"] = {"step": batch.step, "source": batch.source, "file": DELIVERED,
                           "file_sha256": hashlib.sha256(delivery_bytes()).hexdigest()}
        pointer.write_text(yaml.safe_dump(content, sort_keys=False))
    dvc("commit", "-q", "--force", "ingest", "drift", "gates", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "as a version with a .dvc file per batch left it", cwd=repo)
    message = git("tag", "-l", "--format=%(contents)", "model@v1.1.0", cwd=repo).stdout.strip()
    git("tag", "-f", "-a", "model@v1.1.0", "-m", message, "HEAD", cwd=repo)
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
    return folder.name


@pytest.fixture(scope="module")
def older(readme_demo: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """README command 1's project (v1.1.0 retrained on the batch of step 3) in the older layout. Do not modify."""
    def build(parent: Path) -> str:
        return to_older_layout(copy_project(readme_demo[0], parent))

    return built_once(tmp_path_factory, "older-batch-layout", build)


def dag_nodes(repo: Path) -> list[str]:
    return sorted(re.findall(r'^"([^"]+)";$', dvc("dag", "--dot", cwd=repo).stdout, re.M))


def test_an_older_layout_is_migrated_once_and_its_lineage_and_duplicates_still_read(older, tmp_path: Path):
    repo = copy_project(older[0], tmp_path)
    key = older[1]
    assert f"data/batches/{key}/batch-0003.parquet.dvc" in dag_nodes(repo)  # what the older layout drew
    before = json.loads(ct(repo, "lineage", "v1.1.0", "--json").stdout)["data"]["batches"]
    assert [(b["file"], b["step"], b["delivered"]) for b in before] == [(f"data/batches/{key}/batch-0003.parquet", 3, DELIVERED)]
    old_rev, training = git("rev-parse", "HEAD", cwd=repo).stdout.strip(), (repo / layout.RAW).read_bytes()
    (repo / DELIVERED).write_bytes(delivery_bytes())

    out = ct(repo, "check")
    said = out.stdout + out.stderr
    assert [ln for ln in said.splitlines() if MIGRATED in ln] == [
        f"batches: 1 CT batch(es) tracked one .dvc file each (an older layout) {MIGRATED}: data/batches/{key}.dvc; "
        "where each came from is in the .batches.json beside it"], said
    assert history(repo).iloc[-1]["note"] == "duplicate of step 3 (same sha256); not checked again"  # read from the manifest

    assert not list((repo / layout.BATCHES).rglob("*.parquet.dvc")) and not (repo / layout.BATCHES / key / ".gitignore").exists()
    [batch] = read_manifest(repo / layout.BATCHES / key)
    assert (batch.file, batch.step, batch.delivered, batch.rows) == ("batch-0003.parquet", 3, DELIVERED, 200)
    assert dag_nodes(repo) == sorted([*STAGES, f"data/batches/{key}.dvc", "models/production/model.joblib.dvc"])
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout == ""
    assert (repo / layout.RAW).read_bytes() == training  # the same batches: the same training data, not re-run
    subjects = git("log", "--format=%s", f"{old_rev}..HEAD", cwd=repo).stdout.splitlines()
    assert sum("one DVC folder per lineage" in s for s in subjects) == 1, subjects

    after = json.loads(ct(repo, "lineage", "v1.1.0", "--json").stdout)["data"]["batches"]
    assert after == before  # the tag an older version made still reads
    assert [{**b, "rows": None} for b in folded_batches(repo, "HEAD", key)] == before  # ... and so does the new record
    assert processed(repo)[hashlib.sha256(delivery_bytes()).hexdigest()] == 3

    again = ct(repo, "check")
    assert MIGRATED not in again.stdout + again.stderr
    assert git("log", "--format=%s", "-1", cwd=repo).stdout.strip() == subjects[0]  # nothing more to commit


def test_a_migration_cut_short_is_finished_by_the_next_command(older, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Killed after the manifest was written and the per-batch pointers removed, before `dvc add` of the
    folder (the process dies there: nothing after that line runs)."""
    repo = copy_project(older[0], tmp_path)
    key = older[1]

    class Killed(BaseException):
        pass

    def dies(*_: object) -> None:
        raise Killed

    monkeypatch.setattr(fold.warm, "add", dies)
    with pytest.raises(Killed):
        fold.migrate(Context(root=repo, params=load_params(repo / layout.PARAMS)))
    monkeypatch.undo()
    assert layout.batch_manifest(repo / layout.BATCHES / key).exists() and not list((repo / layout.BATCHES).rglob("*.parquet.dvc"))
    assert not layout.batch_pointer(repo / layout.BATCHES / key).exists()

    out = ct(repo, "check")
    assert f"{MIGRATED}: data/batches/{key}.dvc" in out.stdout + out.stderr
    assert layout.batch_pointer(repo / layout.BATCHES / key).exists()
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout == ""
    assert [b["step"] for b in folded_batches(repo, "HEAD", key)] == [3]
