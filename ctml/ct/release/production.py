"""Which model is in production, and whether the workspace holds exactly it.

Production is what the newest `model#prod#N` tag names (ctml.ct.release.tags): a release writes
models/production first and tags last, a rollback restores the files and tags last, so a server
that follows the tag never serves a model under the wrong version name. It loads the workspace's
models/production only once that model's sha256 equals the one recorded at the version's tag;
until then (a release half-way) it keeps the model it has.

One `git for-each-ref` per look: the server looks every `serve.reload_interval_s`, beside CT.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson

from ctml import layout
from ctml.ct.release.tags import ARTIFACT, tag_of
from ctml.errors import UserError
from ctml.io import read_json

_VERSION = re.compile(rf"^{ARTIFACT}@v(\d+)\.(\d+)\.(\d+)$")
_PROD = re.compile(rf"^{ARTIFACT}#prod#(\d+)$")


@dataclass(frozen=True)
class Production:
    version: str
    sha256: str  # of the model file, as the version's tag records it


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"{root}: git {args[0]} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return proc.stdout


def production_version(root: Path) -> str | None:
    """The version the newest prod tag points at (the same answer as ctml.ct.release.tags, in one git call)."""
    commits: dict[str, list[tuple[int, ...]]] = {}
    prod: list[tuple[int, str]] = []
    for line in _git(root, "for-each-ref", "--format=%(refname:short) %(*objectname) %(objectname)", "refs/tags").splitlines():
        name, peeled, obj = (line.split(" ") + ["", ""])[:3]
        commit = peeled or obj
        if m := _VERSION.match(name):
            commits.setdefault(commit, []).append(tuple(int(x) for x in m.groups()))
        elif m := _PROD.match(name):
            prod.append((int(m.group(1)), commit))
    if not prod:
        return None
    found = commits.get(max(prod)[1])
    return "v{}.{}.{}".format(*max(found)) if found else None


def production(root: Path) -> Production | None:
    """The production version and its recorded model sha256; None before any release."""
    version = production_version(root)
    if version is None:
        return None
    recorded = subprocess.run(["git", "show", f"{tag_of(version)}:{(layout.PRODUCTION / 'model.json').as_posix()}"],
                              cwd=root, capture_output=True).stdout
    if not recorded:
        raise UserError(f"{tag_of(version)}: no {layout.PRODUCTION / 'model.json'} at that tag")
    return Production(version, str(orjson.loads(recorded).get("model_sha256")))


def workspace_sha(root: Path) -> str | None:
    """The sha256 models/production/model.json records now (None when there is none)."""
    meta = root / layout.PRODUCTION / "model.json"
    try:
        return str(read_json(meta).get("model_sha256"))
    except (FileNotFoundError, ValueError):
        return None
