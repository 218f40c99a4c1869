"""Whether a revision's DVC-tracked data can be had, asked before anything is changed.

Why first: `dvc checkout --force` and `dvc.api.open` fail half-way when data is in neither the
DVC cache nor the remote, after git has already moved the pipeline state (seen in a fresh clone:
a rollback left 24 files staged and the CT history deleted, `predict --version` a 59-line
traceback). Asking the cache and the remote first costs ~0.3 s and lets a command refuse with one
line while nothing has been touched. The only module that reaches into DVC's outputs and object
databases for this.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from ctml.errors import UserError

SHOWN_FILES = 3  # files named in the error line; the rest are counted


@dataclass
class Availability:
    """Where the data of one revision's DVC outputs is: files with data in neither place, files
    to fetch from the remote, files missing from the workspace (for the revision checked out)."""

    rev: str
    remote: str  # `name (url)`, or why there is none
    missing: list[str] = field(default_factory=list)
    remote_only: list[str] = field(default_factory=list)
    not_in_workspace: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # in the cache, but its bytes are not the ones named (verify=True)


@contextlib.contextmanager
def _repo(root: Path) -> Iterator[Any]:
    from dvc.repo import Repo

    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.ERROR)  # DVC's warnings ("Some of the cache files do not exist ...") are not ours to print
    try:
        with contextlib.chdir(root), Repo(str(root)) as repo:
            yield repo
    finally:
        logger.setLevel(level)


def _remote(repo: Any) -> tuple[str, str | None]:
    name = repo.config["core"].get("remote")
    if not name:
        return "no DVC remote configured (`dvc remote add -d NAME URL`)", None
    url = (repo.config["remote"].get(name) or {}).get("url", "?")
    return f"remote '{name}' ({getattr(url, 'def_path', url)})", name


def _oids(out: Any, odbs: list[Any]) -> list[str]:
    """The objects an output needs: its file, or a directory's manifest and every file in it."""
    info = out.hash_info
    if not info.isdir:
        return [info.value]
    from dvc_data.hashfile.tree import Tree

    for odb in odbs:
        with contextlib.suppress(Exception):
            return [info.value, *(entry_info.value for _, _, entry_info in Tree.load(odb, info))]
    return [info.value]


def _exists(odb: Any, oids: list[str]) -> bool:
    try:
        return set(oids) <= set(odb.oids_exist(oids))
    except Exception:  # noqa: BLE001 - an unreachable remote holds nothing we can fetch
        return False


def _intact(odb: Any, oids: list[str]) -> bool:
    """Whether each cached object's bytes hash to its name (a truncated or overwritten object does
    not): what a rollback checks before it touches the tree."""
    import hashlib

    for oid in oids:
        path = Path(odb.oid_to_path(oid))
        if not path.is_file():
            return False
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != oid.removesuffix(".dir"):
            return False
    return True


def check(root: Path, rev: str, workspace: bool = False, only: Sequence[Path] = (), verify: bool = False) -> Availability:
    """Where the data of `rev`'s outputs (or of the `only` ones) is; `workspace`: files present in the
    working tree count as there; `verify`: cached objects are read and hashed (`damaged`)."""
    wanted = {Path(p).as_posix() for p in only}
    with _repo(root) as repo:
        described, name = _remote(repo)
        result = Availability(rev, described)
        remote = None
        if name:
            with contextlib.suppress(Exception):
                remote = repo.cloud.get_remote_odb(name, hash_name="md5")
        for _ in repo.brancher(revs=[rev], workspace=False):
            for out in repo.index.outs:
                if not out.use_cache or out.hash_info is None or not out.hash_info.value:
                    continue
                rel = repo.fs.relpath(out.fs_path, repo.root_dir)
                if (wanted and rel not in wanted) or (workspace and _present(root / rel, _nfiles(out))):
                    continue
                if workspace:
                    result.not_in_workspace.append(rel)
                oids = _oids(out, [out.cache] + ([remote] if remote is not None else []))
                if _exists(out.cache, oids):
                    if verify and not _intact(out.cache, oids):
                        result.damaged.append(rel)
                    continue
                (result.remote_only if remote is not None and _exists(remote, oids) else result.missing).append(rel)
        return result


def _nfiles(out: Any) -> int | None:
    """The files DVC recorded in a directory a `.dvc` file tracks (None for anything else)."""
    return getattr(out.meta, "nfiles", None) if getattr(out.stage, "is_data_source", False) else None


def _present(path: Path, nfiles: int | None) -> bool:
    """Whether an output is in the working tree: a file, or a directory (a lineage's folder of CT batches)
    with at least the files DVC recorded in it (one deleted batch brings the folder back, as a deleted
    file of its own would)."""
    if nfiles is None or not path.is_dir():
        return path.exists()
    return sum(1 for p in path.rglob("*") if p.is_file()) >= nfiles


def _refuse(found: Availability, label: str) -> UserError:
    shown = ", ".join(found.missing[:SHOWN_FILES]) + (f" (+{len(found.missing) - SHOWN_FILES} more)"
                                                      if len(found.missing) > SHOWN_FILES else "")
    return UserError(f"{label}: {shown}: in neither the DVC cache nor {found.remote}; nothing was changed. "
                     "`dvc push` from a copy that has the data, or point the remote at its store "
                     "(`dvc remote modify --local NAME url PATH`)")


def ensure(root: Path, rev: str, label: str, only: Sequence[Path] = (), verify: bool = False) -> Availability:
    """Make sure `rev`'s data (or the `only` outputs') is in the DVC cache: fetch what only the remote
    has; refuse (UserError, nothing changed) when some is in neither, or (`verify`) damaged. `label`
    names the version."""
    found = check(root, rev, only=only, verify=verify)
    if found.damaged:
        shown = ", ".join(found.damaged[:SHOWN_FILES]) + (f" (+{len(found.damaged) - SHOWN_FILES} more)"
                                                          if len(found.damaged) > SHOWN_FILES else "")
        raise UserError(f"{label}: {shown}: the DVC cache object is damaged (its bytes do not match its hash); nothing "
                        "was changed. Delete that object from .dvc/cache and `dvc fetch` it from the remote")
    if found.missing:
        raise _refuse(found, label)
    if found.remote_only:
        fetch(root, rev, found)
    return found


def ensure_workspace(root: Path, label: str) -> list[str]:
    """Bring HEAD's DVC outputs missing from the working tree back (what `dvc pull` does), from the
    cache or the remote; refuse with nothing changed when some data is in neither. Returns the files restored."""
    if _outputs_present(root):
        return []
    found = check(root, "HEAD", workspace=True)
    if found.missing:
        raise _refuse(found, label)
    if not found.not_in_workspace:
        return []
    if found.remote_only:
        fetch(root, "HEAD", found)
    with _repo(root) as repo:
        repo.checkout(targets=found.not_in_workspace, force=False)
    return found.not_in_workspace


def _outputs_present(root: Path) -> bool:
    """Whether every output HEAD's dvc.lock and .dvc files record is in the working tree, asked
    without DVC: opening its index at a revision costs ~0.3 s a command, and outside a fresh clone
    the answer is yes. Only when those files are as HEAD has them; otherwise DVC is asked."""
    import yaml

    from ctml.ct.repo.vcs import git

    if git(root, "status", "--porcelain", "--untracked-files=no", "--", "dvc.lock", "*.dvc"):
        return False
    lock = root / "dvc.lock"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    wanted = []
    if lock.exists():
        for stage in (yaml.load(lock.read_text(), Loader=loader) or {}).get("stages", {}).values():
            wanted += [(root / out["path"], None) for out in stage.get("outs", [])]
    for pointer in git(root, "ls-files", "--", "*.dvc").splitlines():
        where = (root / pointer).parent
        wanted += [(where / out["path"], out.get("nfiles")) for out in
                   (yaml.load((root / pointer).read_text(), Loader=loader) or {}).get("outs", [])]
    return all(_present(path, nfiles) for path, nfiles in wanted)


def fetch(root: Path, rev: str, found: Availability) -> None:
    """Copy `rev`'s objects that only the remote has into the DVC cache (the working tree is not touched)."""
    with _repo(root) as repo:
        try:
            repo.fetch(targets=found.remote_only, revs=[rev], workspace=False)
        except Exception as exc:  # noqa: BLE001 - DVC's download errors, as one line
            raise UserError(f"{rev}: fetching {len(found.remote_only)} file(s) from {found.remote} failed: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; nothing was changed") from None
