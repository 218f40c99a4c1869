"""`ct.py runs --prune --keep N`: old offline runs removed, never a tagged version's, a live one or an unreadable one."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctml import tracking
from ctml.runs.offline import offline_runs
from ctml.runs.prune import PRUNED_PREFIX, prune
from tests.helpers import ct, git, make_project


def runs_of(params, *pipelines: tuple[str, str]) -> None:
    """One evaluate run per (pipeline, version), oldest first."""
    for pipeline, version in pipelines:
        with tracking.stage_run("evaluate", params, section="evaluate", pipeline=pipeline, model_version=version) as run:
            run.metrics("metrics", {"accuracy": 0.9})


def test_prune_keeps_the_newest_and_every_protected_version(workdir: Path, params) -> None:
    runs_of(params, ("p1", "v1.0.0"), ("p2", ""), ("p3", "v1.1.0"), ("p4", ""), ("p5", ""))
    result = prune(workdir, keep=2, protected={"v1.0.0"})
    assert [r.pipeline for r in offline_runs(workdir)] == ["p5", "p4", "p1"]
    assert (len(result.removed), result.kept_newest, result.kept_for_versions) == (2, 2, 1)
    assert result.bytes_freed > 0 and not list((workdir / ".neptune" / "offline").glob(f"{PRUNED_PREFIX}*"))


def test_prune_dry_run_removes_nothing(workdir: Path, params) -> None:
    runs_of(params, ("p1", ""), ("p2", ""))
    result = prune(workdir, keep=0, protected=set(), dry_run=True)
    assert len(result.removed) == 2 and len(offline_runs(workdir)) == 2


def test_prune_spares_a_run_being_written_and_an_unreadable_folder(workdir: Path, params, capsys) -> None:
    runs_of(params, ("p1", ""), ("p2", ""), ("p3", ""))
    live, damaged, _ = sorted(offline_runs(workdir), key=lambda r: r.created_at)
    log = live.directory / "data-1.log"  # written by this (living) process, not finished yet
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines() if '"status"' not in line))
    (damaged.directory / "metadata.json").write_text("{")
    result = prune(workdir, keep=0, protected=set())
    assert result.kept_writing == 1 and len(result.removed) == 1
    assert live.directory.is_dir() and damaged.directory.is_dir()
    assert f"{damaged.directory}: metadata.json is not readable JSON" in capsys.readouterr().err


def test_ct_runs_prune_keeps_what_a_tagged_version_names(tmp_path: Path, params, monkeypatch) -> None:
    repo = make_project(tmp_path / "project")
    git("tag", "-a", "model@v1.0.0", "-m", "baseline", cwd=repo)
    monkeypatch.chdir(repo)
    for name in ("CT_TRACKING", "CT_PIPELINE_ID", "CT_MODEL_VERSION", "NEPTUNE_MODE", "NEPTUNE_DATA_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    runs_of(params, ("p1", "v1.0.0"), ("p2", "v1.1.0"), ("p3", ""), ("p4", ""))
    lineage_before = json.loads(ct(repo, "lineage", "v1.0.0", "--json").stdout)["neptune_runs"]
    out = json.loads(ct(repo, "runs", "--prune", "--keep", "1", "--json").stdout)
    assert len(out["removed"]) == 2 and out["kept_for_versions"] == 1 and out["kept_newest"] == 1
    assert [r.pipeline for r in offline_runs(repo)] == ["p4", "p1"]
    assert json.loads(ct(repo, "lineage", "v1.0.0", "--json").stdout)["neptune_runs"] == lineage_before != []
    table = ct(repo, "runs", "--prune", "--keep", "1", "--dry-run").stdout
    assert "dry run: nothing removed" in table and "would remove" in table


@pytest.mark.parametrize("argv,code,message", [
    (["runs", "--keep", "3"], 1, "error: --keep N and --dry-run go with --prune"),
    (["runs", "--prune"], 1, "error: --keep N and --dry-run go with --prune"),
    (["runs", "--prune", "--keep", "-1"], 2, "must be 0 or more"),
])
def test_ct_runs_prune_bad_arguments(tmp_path: Path, argv: list[str], code: int, message: str) -> None:
    repo = make_project(tmp_path / "project")
    proc = ct(repo, *argv, check=False)
    assert proc.returncode == code and message in proc.stderr and "Traceback" not in proc.stderr
