"""A released version's files, fetched from git and the DVC cache (or remote) without touching the workspace."""
from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ctml import layout
from ctml.ct.repo import dvcdata
from ctml.ct.release import tags
from ctml.ct.release.lineage import show


@dataclass(frozen=True)
class ServedFiles:
    """What scoring needs: the model, its metadata (sha256, features) and the schema it was trained under."""

    model: Path
    meta: Path
    schema: Path


def current(root: Path) -> ServedFiles:
    """The production model when one is deployed, with its schema, else the pipeline's model and schema."""
    model, meta = layout.serving_model(root / layout.PRODUCTION, root / layout.MODEL, root / layout.MODEL_META)
    return ServedFiles(model, meta, layout.serving_schema(root / layout.PRODUCTION, root / layout.SCHEMA))


@contextlib.contextmanager
def served(root: Path, version: str | None) -> Iterator[ServedFiles]:
    """What `predict` scores with: `version`'s files, or (None) the production model in the workspace;
    a clone that has not pulled it gets production's files the way a named version's come."""
    if version is None:
        files = current(root)
        version = None if files.model.exists() else tags.production_version(root)
        if version is None:
            yield files
            return
    with checkout(root, version) as files:
        yield files


@contextlib.contextmanager
def checkout(root: Path, version: str) -> Iterator[ServedFiles]:
    """The files of `version` in a temporary folder, removed on exit; refused up front (nothing
    written) when its model is in neither the DVC cache nor the remote."""
    import dvc.api

    tag = tags.tag_of(version)
    dvcdata.ensure(root, tag, version, only=(layout.MODEL,))
    with tempfile.TemporaryDirectory() as tmp:
        files = ServedFiles(Path(tmp) / "model.joblib", Path(tmp) / "model.json", Path(tmp) / "schema.json")
        with dvc.api.open(layout.MODEL.as_posix(), repo=str(root), rev=tag, mode="rb") as src:
            files.model.write_bytes(src.read())
        files.meta.write_text(show(root, tag, layout.MODEL_META) or "")
        files.schema.write_text(show(root, tag, layout.SCHEMA) or "")
        yield files
