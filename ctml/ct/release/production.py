"""Which model is in production, as one record read once per command, and whether the workspace holds it.

Production is what the newest `model#prod#N` tag names (ctml.ct.release.tags): a release writes
models/production first and tags last, a rollback restores the files and tags last, so a server
that follows the tag never serves a model under the wrong version name. It loads the workspace's
models/production only once that model's sha256 equals the one recorded at the version's tag;
until then (a release half-way) it keeps the model it has.

A CT command reads production once (`current(ctx)`: the registry's one git call and the small JSON
files of models/production), passes the record down, and reads it again only after it promotes,
tags or restores (`tags.forget`). The server looks every `serve.reload_interval_s` with
`production(root)`: one `git for-each-ref` and one `git show` per look.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ctml import layout
from ctml.ct.release import tags
from ctml.ct.records import GatesResult
from ctml.errors import UserError
from ctml.io import read_json

if TYPE_CHECKING:
    from ctml.ct.context import Context

@dataclass(frozen=True)
class Production:
    """The model in production: its version, its model file and sha256, the schema batches are held
    to, its test metrics, the gates that released it, the lineage (source, target, task) it was
    trained for and the sha256 of its training data. The server's record (`production`) carries the
    version and the sha256 recorded at the tag; CT's (`current`) everything, from the workspace."""

    version: str  # "" for a model released with --no-commit (in models/production, never tagged)
    sha256: str  # of the model file
    model: Path | None = None
    schema: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    gates: GatesResult | None = None
    lineage: str | None = None
    train_data_sha256: str | None = None


def production_version(root: Path) -> str | None:
    """The version the newest prod tag points at (one git call)."""
    return tags.read(root).production_version()


def production(root: Path) -> Production | None:
    """The production version and its model sha256 as recorded at its tag; None before any release."""
    version = production_version(root)
    if version is None:
        return None
    recorded = subprocess.run(["git", "show", f"{tags.tag_of(version)}:{layout.PRODUCTION_META.as_posix()}"],
                              cwd=root, capture_output=True).stdout
    if not recorded:
        raise UserError(f"{tags.tag_of(version)}: no {layout.PRODUCTION_META} at that tag")
    return Production(version, str(orjson.loads(recorded).get("model_sha256")))


def current(ctx: Context) -> Production | None:
    """Production as this command knows it (read on first use, kept on the Context): the tagged
    version and the workspace's models/production, which HEAD holds (ctml.ct.release.promotion).
    None when nothing was released."""
    if ctx.production is None:
        ctx.production = _read(ctx) or False  # False: looked, nothing in production
    return ctx.production or None


def current_version(ctx: Context) -> str | None:
    """The tagged production version (None before the first release)."""
    return tags.of(ctx).production_version()


def _read(ctx: Context) -> Production | None:
    version = tags.of(ctx).production_version()
    meta_path = ctx.path(layout.PRODUCTION_META)
    meta = read_json(meta_path) if meta_path.exists() else None
    if meta is None and version is None:
        return None
    folder = ctx.path(layout.PRODUCTION)
    gates, metrics = folder / "gates.json", folder / "metrics.json"
    return Production(
        version=version or "", sha256=str((meta or {}).get("model_sha256") or ""),
        model=ctx.path(layout.PRODUCTION_MODEL) if meta is not None else None,
        schema=layout.serving_schema(folder, ctx.path(layout.SCHEMA)),
        metrics=read_json(metrics) if metrics.exists() else {},
        gates=GatesResult.from_json(read_json(gates)) if gates.exists() else None,
        lineage=_lineage(ctx, version),
        train_data_sha256=(meta or {}).get("train_data_sha256"))


def _lineage(ctx: Context, version: str | None) -> str | None:
    """The lineage key production was trained for: its lineage.json, or for a release made before that
    file existed, the data section of params.yaml at its tag."""
    record = ctx.path(layout.PRODUCTION_LINEAGE)
    if record.exists():
        return read_json(record).get("lineage")
    if version is None:
        return None
    import yaml

    from ctml.ct.release.lineage import show, trained_for

    return trained_for(yaml.safe_load(show(ctx.root, tags.tag_of(version), layout.PARAMS) or "{}") or {})[3]


def workspace_sha(root: Path) -> str | None:
    """The sha256 models/production/model.json records now (None when there is none)."""
    try:
        return str(read_json(root / layout.PRODUCTION_META).get("model_sha256"))
    except (FileNotFoundError, ValueError):
        return None
