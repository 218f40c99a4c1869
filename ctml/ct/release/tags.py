"""Model versions as GTO git tags: `model@vX.Y.Z` per release, `model#prod#N` per promotion,
`model#shadow#N` for a candidate served in shadow and `model#shadow!#N` when it leaves that stage
(GTO's unassignment, what `gto deprecate model VERSION shadow` writes). N counts every stage tag of
the artifact, as GTO numbers them, so the newest assignment of any stage has the highest N.

Why git tags: the version, the code, params, dvc.lock and metrics that made it are one commit,
and `gto show` / `git tag` answer "what is in prod" without any service.
"""
from __future__ import annotations

import re
from pathlib import Path

from ctml.ct.repo.vcs import git
from ctml.errors import UserError

ARTIFACT = "model"
_VERSION = re.compile(rf"^{ARTIFACT}@v(\d+)\.(\d+)\.(\d+)$")
_PROD = re.compile(rf"^{ARTIFACT}#prod#(\d+)$")
_STAGE = re.compile(rf"^{ARTIFACT}#([a-z]+)(!?)#(\d+)$")


def versions(root: Path) -> list[str]:
    """Released versions, oldest first (semver order)."""
    found = []
    for tag in git(root, "tag", "--list", f"{ARTIFACT}@v*").splitlines():
        if m := _VERSION.match(tag):
            found.append(tuple(int(x) for x in m.groups()))
    return [f"v{a}.{b}.{c}" for a, b, c in sorted(found)]


def next_version(root: Path, major: bool = False) -> str:
    """v1.0.0 for the first model, then the next minor version; the next major one (`major`) for the
    first model of a new lineage (another data.source, target or task)."""
    known = versions(root)
    if not known:
        return "v1.0.0"
    number, minor, _ = (int(x) for x in known[-1][1:].split("."))
    return f"v{number + 1}.0.0" if major else f"v{number}.{minor + 1}.0"


def tag_of(version: str) -> str:
    return f"{ARTIFACT}@{version}"


def commit_of(root: Path, version: str) -> str:
    return git(root, "rev-parse", f"{tag_of(version)}^{{commit}}")


def register(root: Path, version: str, message: str, rev: str = "HEAD") -> None:
    """Annotated GTO version tag on the commit holding that model's pipeline state."""
    git(root, "tag", "-a", tag_of(version), "-m", message, f"{rev}^{{commit}}")


def _prod_tags(root: Path) -> list[tuple[int, str]]:
    out = []
    for tag in git(root, "tag", "--list", f"{ARTIFACT}#prod#*").splitlines():
        if m := _PROD.match(tag):
            out.append((int(m.group(1)), tag))
    return sorted(out)


def production_version(root: Path) -> str | None:
    """The version of the newest prod assignment (its number orders them, not timestamps)."""
    tags = _prod_tags(root)
    if not tags:
        return None
    commit = git(root, "rev-parse", f"{tags[-1][1]}^{{commit}}")
    for version in reversed(versions(root)):
        if commit_of(root, version) == commit:
            return version
    return None


def production_history(root: Path) -> list[str]:
    """Versions in the order they were put in production (rollbacks included)."""
    by_commit = {commit_of(root, v): v for v in versions(root)}
    return [by_commit.get(git(root, "rev-parse", f"{tag}^{{commit}}"), "?") for _, tag in _prod_tags(root)]


def parse_version(name: str) -> str | None:
    """`v1.2.0` for the tag `model@v1.2.0`, None for any other name."""
    return name.split("@", 1)[1] if _VERSION.match(name) else None


def parse_stage(name: str) -> tuple[int, str, bool] | None:
    """(N, stage, unassigned) for `model#STAGE#N` or `model#STAGE!#N`, None for any other name."""
    m = _STAGE.match(name)
    return (int(m.group(3)), m.group(1), m.group(2) == "!") if m else None


def stage_tags(root: Path) -> list[tuple[int, str, bool, str]]:
    """Every stage tag, oldest first: (N, stage, unassigned, tag)."""
    out = []
    for tag in git(root, "tag", "--list", f"{ARTIFACT}#*").splitlines():
        if m := _STAGE.match(tag):
            out.append((int(m.group(3)), m.group(1), m.group(2) == "!", tag))
    return sorted(out)


def assign(root: Path, stage: str, version: str, message: str, unassign: bool = False) -> str:
    """A new `model#STAGE#N` (or, `unassign`, `model#STAGE!#N`) tag on the version's commit: how GTO
    records a stage assignment, N one above the artifact's highest."""
    known = stage_tags(root)
    tag = f"{ARTIFACT}#{stage}{'!' if unassign else ''}#{(known[-1][0] + 1) if known else 1}"
    git(root, "tag", "-a", tag, "-m", message, commit_of(root, version))
    return tag


def assign_prod(root: Path, version: str, message: str) -> str:
    """A new `model#prod#N` tag on the version's commit."""
    return assign(root, "prod", version, message)


def resolve(root: Path, version: str) -> str:
    """Accept `v1.2.0`, `1.2.0` or `model@v1.2.0`; refuse unknown versions listing the known ones."""
    version = version.removeprefix(f"{ARTIFACT}@")
    version = version if version.startswith("v") else f"v{version}"
    known = versions(root)
    if version not in known:
        raise UserError(f"unknown model version '{version}' (known: {', '.join(known) or 'none yet'})")
    return version


def previous_production(root: Path) -> str:
    """The version in production before the current one (what a plain `ct.py rollback` restores)."""
    current = production_version(root)
    earlier = [v for v in production_history(root)[:-1] if v != current]
    if not earlier:
        raise UserError(f"{current} is the only version ever in production; name a version to roll back to")
    return earlier[-1]
