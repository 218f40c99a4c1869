"""Model versions as GTO git tags: `model@vX.Y.Z` per release, `model#prod#N` per promotion,
`model#shadow#N` for a candidate served in shadow and `model#shadow!#N` when it leaves that stage
(GTO's unassignment, what `gto deprecate model VERSION shadow` writes). N counts every stage tag of
the artifact, as GTO numbers them, so the newest assignment of any stage has the highest N.

Why git tags: the version, the code, params, dvc.lock and metrics that made it are one commit,
and `gto show` / `git tag` answer "what is in prod" without any service.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ctml.ct.repo.vcs import git

if TYPE_CHECKING:
    from ctml.ct.context import Context
from ctml.errors import UserError

ARTIFACT = "model"
_VERSION = re.compile(rf"^{ARTIFACT}@v(\d+)\.(\d+)\.(\d+)$")
_PROD = re.compile(rf"^{ARTIFACT}#prod#(\d+)$")
_STAGE = re.compile(rf"^{ARTIFACT}#([a-z]+)(!?)#(\d+)$")


@dataclass(frozen=True)
class Registry:
    """Every model tag of the repository, from one `git for-each-ref`: the version tags with their
    commits, and the prod assignments in number order.

    Why one read: "which version is in production" took 3 + one per version git calls, and a CT
    step asked it ~5 times; a command reads the registry once (`of(ctx)`) and again after it tags."""

    commits: dict[str, str]  # version -> commit, semver order
    prod: tuple[tuple[int, str], ...]  # (N of model#prod#N, commit), in N order

    def versions(self) -> list[str]:
        """Released versions, oldest first (semver order)."""
        return list(self.commits)

    def production_version(self) -> str | None:
        """The version of the newest prod assignment (its number orders them, not timestamps)."""
        return self._version_at(self.prod[-1][1]) if self.prod else None

    def production_history(self) -> list[str]:
        """Versions in the order they were put in production (rollbacks included)."""
        return [self._version_at(commit) or "?" for _, commit in self.prod]

    def next_prod_number(self) -> int:
        return self.prod[-1][0] + 1 if self.prod else 1

    def _version_at(self, commit: str) -> str | None:
        """The newest version tagged on `commit`."""
        found = [v for v, c in self.commits.items() if c == commit]
        return found[-1] if found else None


def read(root: Path) -> Registry:
    """The registry as git has it now (one process)."""
    versions: list[tuple[tuple[int, ...], str]] = []
    prod: list[tuple[int, str]] = []
    refs = git(root, "for-each-ref", "--format=%(refname:short) %(*objectname) %(objectname)", "refs/tags")
    for line in refs.splitlines():
        name, peeled, obj = (line.split(" ") + ["", ""])[:3]
        commit = peeled or obj  # an annotated tag's commit, else a lightweight tag's
        if m := _VERSION.match(name):
            versions.append((tuple(int(x) for x in m.groups()), commit))
        elif m := _PROD.match(name):
            prod.append((int(m.group(1)), commit))
    return Registry({"v{}.{}.{}".format(*number): commit for number, commit in sorted(versions)}, tuple(sorted(prod)))


def of(ctx: Context) -> Registry:
    """The registry as this command knows it: read on first use, kept on the Context, read again
    after this command tags (`forget`)."""
    if ctx.registry is None:
        ctx.registry = read(ctx.root)
    return ctx.registry


def forget(ctx: Context) -> None:
    """This command changed the tags or production's files: the next look reads them again."""
    ctx.registry = None
    ctx.production = None


def versions(root: Path) -> list[str]:
    """Released versions, oldest first (semver order)."""
    return read(root).versions()


def next_version(root: Path | Registry, major: bool = False) -> str:
    """v1.0.0 for the first model, then the next minor version; the next major one (`major`) for the
    first model of a new lineage (another data.source, target or task)."""
    known = (root if isinstance(root, Registry) else read(root)).versions()
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


def production_version(root: Path) -> str | None:
    """The version of the newest prod assignment."""
    return read(root).production_version()


def production_history(root: Path) -> list[str]:
    """Versions in the order they were put in production (rollbacks included)."""
    return read(root).production_history()


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


def resolve(root: Path | Registry, version: str) -> str:
    """Accept `v1.2.0`, `1.2.0` or `model@v1.2.0`; refuse unknown versions listing the known ones."""
    version = version.removeprefix(f"{ARTIFACT}@")
    version = version if version.startswith("v") else f"v{version}"
    known = (root if isinstance(root, Registry) else read(root)).versions()
    if version not in known:
        raise UserError(f"unknown model version '{version}' (known: {', '.join(known) or 'none yet'})")
    return version


def previous_production(root: Path | Registry) -> str:
    """The version in production before the current one (what a plain `ct.py rollback` restores)."""
    registry = root if isinstance(root, Registry) else read(root)
    current = registry.production_version()
    earlier = [v for v in registry.production_history()[:-1] if v != current]
    if not earlier:
        raise UserError(f"{current} is the only version ever in production; name a version to roll back to")
    return earlier[-1]
