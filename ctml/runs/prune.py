"""Keep `.neptune/offline` bounded: remove old offline runs, never one a released version's lineage names.

Every stage run and CT command leaves a folder (tens of kB; a retrain uploads the model, ~1 MB),
and nothing else ever removes them now that `neptune sync` has no hosted service to upload to.
What stays: the `keep` newest runs, every run of a version given in `protected` (what
`ct.py lineage` lists for a tagged version), every run still being written, and every folder this
reader cannot read (never deleted unread). A folder is first renamed out of the reader's sight
(`.pruned-<name>`), then deleted, so an interrupted prune leaves no half-deleted run that looks real;
leftovers are finished by the next prune.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection

from ctml.tracking.mode import data_directory
from ctml.runs.offline import offline_runs

PRUNED_PREFIX = ".pruned-"


@dataclass
class PruneResult:
    removed: list[Path] = field(default_factory=list)  # folders removed (or that would be, with dry_run)
    kept_newest: int = 0
    kept_for_versions: int = 0  # older runs kept because a tagged version's lineage names them
    kept_writing: int = 0  # runs whose process is still writing them
    bytes_freed: int = 0


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def prune(root: str | Path, keep: int, protected: Collection[str], dry_run: bool = False) -> PruneResult:
    """Remove all but the `keep` newest readable runs, sparing runs of `protected` versions and live runs."""
    base = data_directory(root) / "offline"
    for leftover in base.glob(f"{PRUNED_PREFIX}*") if base.is_dir() and not dry_run else []:
        shutil.rmtree(leftover, ignore_errors=True)
    result = PruneResult()
    newest = 0
    for run in offline_runs(root):  # newest first; unreadable folders are reported and never touched
        if run.writing:
            result.kept_writing += 1
        elif newest < keep:
            newest += 1
            result.kept_newest += 1
        elif run.model_version and run.model_version in protected:
            result.kept_for_versions += 1
        else:
            result.removed.append(run.directory)
            result.bytes_freed += _size(run.directory)
            if not dry_run:
                hidden = run.directory.with_name(PRUNED_PREFIX + run.directory.name)
                run.directory.rename(hidden)
                shutil.rmtree(hidden)
    return result
