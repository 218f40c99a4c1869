"""The CT batches a lineage folded into training: its folder's files, and the record of where each came from.

Each lineage folder of data/batches is tracked by DVC as one directory (`layout.batch_pointer`), so
`dvc dag` draws one node and `dvc repro` prints one line per lineage however many batches it folded.
A directory's `.dvc` file has no per-file `meta`, so the provenance of each batch (its step, source,
delivered file and that file's sha256, DVC's md5 of it, its size and rows) is kept beside it in a
git-tracked manifest (`layout.batch_manifest`), written atomically. Releases made before this tracked
each batch with a `.dvc` file of its own whose `meta` held the same fields: `from_pointer` reads those,
so a lineage at an old tag and a project not migrated yet read the same records.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ctml import layout
from ctml.errors import UserError
from ctml.io import write_json

FORMAT = 1  # the manifest's layout version, written into it


@dataclass
class FoldedBatch:
    """One CT batch in a lineage's folder and where it came from."""

    file: str  # its name in the folder (`batch-0003.parquet`)
    step: int | None = None  # the CT step that folded it
    source: str = ""  # data.source it was folded under
    delivered: str = ""  # the delivered file (`data/incoming/NAME`); empty for a simulated batch or labelled rows
    delivered_sha256: str = ""  # that file's sha256: a re-delivery of the same bytes is a duplicate of `step`
    md5: str | None = None  # DVC's hash of the batch file (its entry in the folder's `.dir` listing)
    size: int | None = None  # bytes
    rows: int | None = None  # rows folded in (None in records made before rows were kept)


def parse_manifest(text: str, where: str | Path) -> list[FoldedBatch]:
    """The batches a manifest's text lists, in the order they were folded; a damaged one in one line."""
    try:
        content = json.loads(text)
        known = {f.name for f in fields(FoldedBatch)}
        return [FoldedBatch(**{k: v for k, v in entry.items() if k in known}) for entry in content["batches"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{where}: not a batch manifest ({type(exc).__name__}: {exc}); restore it with "
                        f"`git checkout HEAD -- {where}`") from None


def read_manifest(folder: str | Path) -> list[FoldedBatch]:
    """The batches recorded for a lineage folder ([] when none was folded in this format)."""
    path = layout.batch_manifest(folder)
    return parse_manifest(path.read_text(), path) if path.is_file() else []


def write_manifest(folder: str | Path, batches: list[FoldedBatch]) -> None:
    """Record a lineage folder's batches (atomically: a kill leaves the old manifest or the new one)."""
    write_json(layout.batch_manifest(folder), {"format": FORMAT, "batches": [asdict(b) for b in batches]})


def from_pointer(name: str | Path, text: str) -> FoldedBatch:
    """A batch tracked by a `.dvc` file of its own (how releases before one folder per lineage kept it),
    from that file's text: DVC's md5 and size, and the step, source and delivered file in its `meta`."""
    import yaml

    pointer = yaml.safe_load(text) or {}
    out = (pointer.get("outs") or [{}])[0]
    meta = pointer.get("meta") or {}
    step = meta.get("step")
    return FoldedBatch(file=Path(name).name.removesuffix(".dvc"), step=int(step) if step is not None else None,
                       source=meta.get("source") or "", delivered=meta.get("file") or "",
                       delivered_sha256=meta.get("file_sha256") or "", md5=out.get("md5"), size=out.get("size"))


def legacy_pointers(batches: str | Path) -> list[Path]:
    """The per-batch `.dvc` files an older version left: in a lineage folder, or at the top of the
    batches folder (before lineage folders)."""
    batches = Path(batches)
    if not batches.is_dir():
        return []
    return sorted([*batches.glob("batch-*.parquet.dvc"), *batches.glob("*/*.parquet.dvc")])


def manifest_folders(batches: str | Path) -> list[Path]:
    """The lineage folders with a manifest beside them, under the batches folder."""
    return [m.with_name(m.name.removesuffix(".batches.json")) for m in sorted(Path(batches).glob("*.batches.json"))]


def unfinished(batches: str | Path) -> list[Path]:
    """Lineage folders whose migration from per-batch pointers a kill cut short: a manifest, the
    folder, and no `.dvc` file for it yet."""
    return [f for f in manifest_folders(batches) if f.is_dir() and not layout.batch_pointer(f).exists()]


def needs_migration(batches: str | Path) -> bool:
    """Whether an older version's batch layout is here (a `.dvc` file per batch) or a migration is to be
    finished: listings of data/batches and of each lineage folder, what `ct.py check` pays when idle."""
    return bool(legacy_pointers(batches) or unfinished(batches))


def every_batch(batches: str | Path) -> list[FoldedBatch]:
    """Every batch folded under any lineage, as recorded: the manifests, and per-batch pointers not migrated yet."""
    found = [b for folder in manifest_folders(batches) for b in read_manifest(folder)]
    return found + [from_pointer(pointer.name, pointer.read_text()) for pointer in legacy_pointers(batches)]


def batch_files(folder: str | Path) -> list[Path]:
    """CT batches folded into training, in the order they arrived.

    A batch that DVC tracks but is absent (fresh clone without `dvc pull`) is an error, not a
    silently smaller training set: the manifest names every batch the folder's `.dvc` file holds.
    """
    folder = Path(folder)
    expected = [folder / b.file for b in read_manifest(folder)]
    expected += [pointer.with_suffix("") for pointer in folder.glob("*.parquet.dvc")]  # not migrated yet
    if not folder.is_dir() and layout.batch_pointer(folder).is_file():
        expected.append(folder)
    for path in expected:
        if not path.exists():
            raise UserError(f"{path}: tracked by DVC but missing; run `dvc pull`")
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def described(batch: FoldedBatch, folder: str | Path) -> dict[str, Any]:
    """A batch as `ct.py lineage` shows it: its path in the project, hashes, step, delivered file, rows."""
    return {"file": (Path(folder) / batch.file).as_posix(), "md5": batch.md5, "size": batch.size, "step": batch.step,
            "delivered": batch.delivered or None, "delivered_sha256": batch.delivered_sha256 or None, "rows": batch.rows}
