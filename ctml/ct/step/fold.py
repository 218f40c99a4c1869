"""A batch folded into its lineage's training data, a fold undone, and older batch layouts migrated:
the one module that writes data/batches.

Each lineage's folder is tracked by DVC as one directory (`data/batches/<lineage>.dvc`), its batches'
provenance in a git-tracked manifest beside it (`ctml.data.folds`). Why one directory and not a `.dvc`
file per batch, as before: `dvc dag` drew a node, and a user's `dvc repro` printed a "didn't change,
skipping" line, for every batch ever folded. Adding the folder again costs the new batch only: DVC's
state database knows the other files by inode, mtime and size and does not read them again
(benchmarks/results.md, "Batch folder": with 50 batches folded, adding the folder read 3.1 MB, the new
batch, and took 0.95x the time of adding that batch as a file of its own).

What is pushed, pulled and checked out is unchanged: the folder's files are DVC objects as the
per-file batches were, listed by the folder's `.dir` object, so a fresh clone's `dvc pull` brings the
same bytes and a missing batch is one line (`ctml.data.folds.batch_files`).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ctml import layout
from ctml.ct.context import Context
from ctml.ct.records import StepRecord
from ctml.ct.repo import warm
from ctml.ct.repo.vcs import commit_paths, git
from ctml.data.folds import (
    FoldedBatch,
    from_pointer,
    legacy_pointers,
    read_manifest,
    unfinished,
    write_manifest,
)
from ctml.drift.reference import recorded_md5
from ctml.io import atomic_path, table_rows, write_parquet

if TYPE_CHECKING:
    import pandas as pd

Saved = dict[Path, "str | None"]  # the folder's .dvc file and manifest -> their text before a fold (None: absent)
TOP_LEVEL_IGNORE = re.compile(r"^/batch-\d+\.parquet$")  # what `dvc add` of a batch at the top of data/batches ignored


def fold_path(ctx: Context, step: int) -> Path:
    """Where step `step` folds its batch: this lineage's folder of data/batches."""
    return ctx.path(layout.lineage_batches(layout.BATCHES, ctx.params.data) / f"batch-{step:04d}.parquet")


def fold(ctx: Context, step: int, batch: Path | pd.DataFrame) -> tuple[Path, Saved]:
    """The batch (a staged file, or labelled rows) written into this lineage's folder, not tracked yet
    (`track`); returns its path and the folder's records as they were, which `unfold` puts back."""
    folded = fold_path(ctx, step)
    folder = folded.parent
    saved = {p: p.read_text() if p.is_file() else None for p in (layout.batch_pointer(folder), layout.batch_manifest(folder))}
    if isinstance(batch, Path):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(batch, folded)
    else:
        write_parquet(folded, batch)
    return folded, saved


def track(ctx: Context, folded: Path, record: StepRecord) -> None:
    """The folded file into DVC and the manifest: the folder `dvc add`-ed as one directory, then the
    batch's step, source, delivered file and its hash, DVC's md5 and the rows appended to the manifest
    (after the add: it records DVC's md5). `lineage` lists them, and a re-delivery of the same bytes is
    recognised as a duplicate even when the step's history row was never written. A kill in between is
    undone with the rest of the step (recovery puts data/batches back to HEAD)."""
    folder = folded.parent
    warm.add(ctx.root, folder.relative_to(ctx.root))
    entry = FoldedBatch(folded.name, record.step, ctx.params.data.source, record.file, record.file_sha256,
                        recorded_md5(folded), folded.stat().st_size, table_rows(folded))
    write_manifest(folder, [*(b for b in read_manifest(folder) if b.file != folded.name), entry])


def unfold(folded: Path, saved: Saved) -> None:
    """One fold undone where HEAD cannot be restored (`--no-commit`: HEAD holds neither this fold nor
    earlier unreleased ones, which stay): its file removed, the folder's `.dvc` file and manifest put
    back as they were before it."""
    folded.unlink(missing_ok=True)
    for path, text in saved.items():
        if text is None:
            path.unlink(missing_ok=True)
        else:
            with atomic_path(path) as tmp:
                tmp.write_text(text)


# --- layouts of older versions --------------------------------------------------------------------

def migrate(ctx: Context) -> None:
    """Batches an older version tracked one `.dvc` file each (in a lineage folder, or at the top of
    data/batches before lineage folders, where they join production's lineage) become their lineage
    folder tracked as one directory, their `meta` the folder's manifest. Once per project, one line; in
    a commit of its own (unless --no-commit), so the command's own commit stays about its steps.

    Kill-safe by order: the manifest first (read again and completed on the next run), then the
    per-batch pointers removed, then `dvc add` of each folder (a folder with a manifest and no `.dvc`
    file is added by the next run). The bytes are not copied: they are already in the DVC cache, and
    their inodes stay, so DVC's state database knows them.
    """
    batches = ctx.path(layout.BATCHES)
    pointers, resumed = legacy_pointers(batches), unfinished(batches)
    if not pointers and not resumed:
        return
    if any(not p.with_suffix("").exists() for p in pointers):  # a fresh clone that has not pulled: the bytes first
        from ctml.ct.repo import dvcdata

        dvcdata.ensure_workspace(ctx.root, "HEAD")
    at_top = [p for p in pointers if p.parent == batches]  # before lineage folders: production's lineage
    top = batches / (_production_lineage(ctx) or layout.data_lineage(ctx.params.data)) if at_top else None
    moved: dict[Path, list[tuple[Path, FoldedBatch]]] = {}
    for pointer in pointers:
        folder = top if pointer in at_top else pointer.parent
        moved.setdefault(folder, []).append((pointer, from_pointer(pointer.name, pointer.read_text())))
    for folder, found in moved.items():
        folder.mkdir(parents=True, exist_ok=True)
        recorded = {b.file: b for b in read_manifest(folder)}
        for pointer, batch in found:
            batch.rows = _rows(pointer.with_suffix(""))
            recorded[batch.file] = batch
        write_manifest(folder, sorted(recorded.values(), key=lambda b: b.file))
    for folder, found in moved.items():
        for pointer, _ in found:
            data = pointer.with_suffix("")
            if data.parent != folder and data.exists():
                os.replace(data, folder / data.name)
            pointer.unlink()
        (folder / ".gitignore").unlink(missing_ok=True)  # its `/batch-N.parquet` lines: the folder is ignored whole now
    _drop_top_level_ignores(batches)
    folders = sorted({*moved, *resumed})
    for folder in folders:
        rel = folder.relative_to(ctx.root).as_posix()
        git(ctx.root, "rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", rel)  # else DVC: "already tracked by SCM"
        warm.add(ctx.root, rel)
    if not at_top:  # the same files read, so the same training data: recorded, not re-run
        _record_unchanged_stages(ctx)
    count = sum(len(read_manifest(folder)) for folder in folders)
    names = ", ".join(layout.batch_pointer(f).relative_to(ctx.root).as_posix() for f in folders)
    line = (f"batches: {count} CT batch(es) tracked one .dvc file each (an older layout) now tracked as one DVC folder "
            f"per lineage: {names}; where each came from is in the .batches.json beside it")
    if ctx.commit:
        commit_paths(ctx.root, "ct: CT batches tracked as one DVC folder per lineage, so dvc dag and dvc repro show "
                     "one entry per lineage, not one per batch ever folded", [layout.BATCHES.as_posix(), layout.DVC_LOCK.as_posix()])
    ctx.say(line)


def _rows(path: Path) -> int | None:
    try:
        return table_rows(path)
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return None


def _production_lineage(ctx: Context) -> str | None:
    from ctml.ct.release.promotion import production_lineage

    return production_lineage(ctx)


def _drop_top_level_ignores(batches: Path) -> None:
    """The ignore lines `dvc add` wrote for batches at the top of data/batches, gone with them."""
    ignore = batches / ".gitignore"
    if not ignore.is_file():
        return
    lines = ignore.read_text().splitlines()
    kept = [ln for ln in lines if not TOP_LEVEL_IGNORE.match(ln.strip())]
    if kept != lines:
        with atomic_path(ignore) as tmp:
            tmp.write_text("".join(f"{ln}\n" for ln in kept))


def _record_unchanged_stages(ctx: Context) -> None:
    """The stages that read data/batches (ingest, drift, gates) recorded against its new listing when
    nothing else changed for them: the same batch files are read, in the same order, so their outputs
    stand, and `dvc status` stays clean without re-running them."""
    import yaml

    if not ctx.path(layout.DVC_LOCK).exists():
        return
    stages = (yaml.safe_load(ctx.path(layout.DVC_YAML).read_text()) or {}).get("stages", {})
    for name, stage in stages.items():
        if layout.BATCHES.as_posix() in (stage.get("deps") or []):
            warm.commit_if_only(ctx.root, name, layout.BATCHES.as_posix())
