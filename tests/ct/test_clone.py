"""A clone of the project on the same machine, with the shipped default remote (`~/.dvcstore/ct`):
it pulls an old version and reproduces its model; without the data, every ct.py command either
works from git alone or refuses with one line and changes nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ctml.data.folds import read_manifest
from tests.helpers import built_once, copy_project, ct, dvc, git, read_json, retrain_on_drift, sha256, tags

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def origin(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project, HOME): v1.0.0 and a drift retrain v1.1.0, pushed to the default remote under that HOME
    (read only: the tests pull from it)."""
    return built_once(tmp_path_factory, "origin", lambda parent: _release_and_push(copy_project(baseline_repo, parent)))


def _release_and_push(repo: Path) -> Path:
    home = repo.parent / "home"
    home.mkdir()
    (repo / ".dvc/config.local").unlink()  # the shipped default, not the test suite's store beside the project
    retrain_on_drift(repo, HOME=str(home))
    assert sorted(t for t in tags(repo) if t.startswith("model@")) == ["model@v1.0.0", "model@v1.1.0"]
    assert (home / ".dvcstore/ct/files/md5").is_dir()
    return home


def clone(origin_repo: Path, dest: Path) -> Path:
    git("clone", "-q", str(origin_repo), str(dest), cwd=dest.parent)
    return dest


def test_a_clone_pulls_an_old_version_and_reproduces_its_model(origin: tuple[Path, Path], tmp_path: Path):
    repo, home = origin
    copy = clone(repo, tmp_path / "copy")
    git("checkout", "-q", "model@v1.0.0", cwd=copy)
    dvc("pull", cwd=copy, HOME=str(home))  # no config edited: the default remote is outside both working trees
    recorded = read_json(copy / "models/model.json")["model_sha256"]
    assert recorded == json.loads(git("show", "model@v1.0.0:models/production/model.json", cwd=repo).stdout)["model_sha256"]
    assert sha256(copy / "models/model.joblib") == sha256(copy / "models/production/model.joblib") == recorded
    dvc("repro", "--force", "train", cwd=copy, HOME=str(home))  # trained again from the pulled data
    assert sha256(copy / "models/model.joblib") == recorded


# (arguments, exit code): what needs only git works; what needs DVC data refuses with one line. A check
# with nothing delivered needs no data (it reads the inboxes and models/production/lineage.json only).
COMMANDS = [
    (["status"], 0), (["history"], 0), (["runs"], 0), (["lineage", "v1.0.0"], 0), (["compare", "v1.0.0", "v1.1.0"], 0),
    (["report"], 0), (["check"], 0), (["simulate", "--steps", "1"], 1), (["rollback", "v1.0.0"], 1),
    (["predict", "--input", "ROWS"], 1), (["predict", "--input", "ROWS", "--version", "v1.0.0"], 1), (["promote", "nope"], 1),
]


def snapshot(repo: Path) -> tuple[str, str, dict[str, str], bytes]:
    return (git("status", "--porcelain", cwd=repo).stdout, git("rev-parse", "HEAD", cwd=repo).stdout, tags(repo),
            (repo / "metrics/ct_history.csv").read_bytes())


def test_every_command_in_a_clone_without_data_changes_nothing(origin: tuple[Path, Path], tmp_path: Path):
    repo, _ = origin
    copy = clone(repo, tmp_path / "copy")
    empty_home = tmp_path / "home"  # its ~/.dvcstore/ct holds nothing: the data is nowhere this clone can reach
    empty_home.mkdir()
    rows = tmp_path / "rows.csv"
    pd.read_parquet(repo / "data/prepared/test.parquet").drop(columns="target").head(5).to_csv(rows, index=False)
    before = snapshot(copy)
    for args, code in COMMANDS:
        args = [str(rows) if a == "ROWS" else a for a in args]
        proc = ct(copy, *args, check=False, HOME=str(empty_home))
        shown = f"ct.py {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        assert proc.returncode == code and "Traceback" not in proc.stdout + proc.stderr, shown
        assert snapshot(copy) == before, shown
        if code and args[0] != "promote":
            (line,) = proc.stderr.strip().splitlines()
            label = "v1.0.0" if "v1.0.0" in args else "v1.1.0" if args[0] == "predict" else "HEAD (production v1.1.0)"
            files = "models/model.joblib" if args[0] == "predict" else "data/raw/train.parquet, data/prepared/train.parquet"
            assert line.startswith(f"error: {label}: {files}"), shown  # the version and the files
            assert "remote 'store' (~/.dvcstore/ct); nothing was changed" in line, shown


def test_a_clone_pulls_the_folded_batches_and_ingests_the_same_bytes(origin: tuple[Path, Path], tmp_path: Path):
    """The lineage's folder of CT batches (one DVC directory) comes with `dvc pull`; without it, or without
    one of its batches, ingest stops with one line naming the batch."""
    repo, home = origin
    copy = clone(repo, tmp_path / "copy")
    [pointer] = (copy / "data/batches").glob("*.dvc")
    folder = pointer.with_name(pointer.name.removesuffix(".dvc"))
    [folded] = read_manifest(folder)
    batch = f"{folder.relative_to(copy).as_posix()}/{folded.file}"
    missing = f"error: {batch}: tracked by DVC but missing; run `dvc pull`"
    ingest = ("repro", "--force", "--single-item", "ingest")
    unpulled = dvc(*ingest, cwd=copy, check=False, HOME=str(home))
    assert unpulled.returncode != 0 and missing in unpulled.stdout + unpulled.stderr, unpulled.stdout + unpulled.stderr
    dvc("pull", cwd=copy, HOME=str(home))
    assert sha256(copy / batch) == sha256(repo / batch)
    dvc(*ingest, cwd=copy, HOME=str(home))
    assert sha256(copy / "data/raw/train.parquet") == sha256(repo / "data/raw/train.parquet")
    (copy / batch).unlink()
    gone = dvc(*ingest, cwd=copy, check=False, HOME=str(home))
    assert gone.returncode != 0 and missing in gone.stdout + gone.stderr
