"""The git and DVC operations CT needs, run as real CLI processes in the project.

Why subprocesses: CT must do exactly what a user's `dvc repro` / `git commit` would do, with the
project's virtual environment first on PATH (DVC runs stage commands through the shell).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from ctml import layout
from ctml.errors import UserError

# Files CT owns and commits: the pipeline state. Anything else modified is a user's change.
STATE_PATHS = tuple(p.as_posix() for p in (
    layout.DVC_LOCK, layout.SCHEMA, layout.BATCHES, layout.RAW.parent / ".gitignore", layout.TRAIN_SPLIT.parent / ".gitignore",
    layout.MODEL.parent / ".gitignore", layout.MODEL_META, layout.CALIBRATION, layout.PRODUCTION, layout.METRICS_DIR,
))
FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "ct.py", "GIT_AUTHOR_EMAIL": "ct@localhost",
                     "GIT_COMMITTER_NAME": "ct.py", "GIT_COMMITTER_EMAIL": "ct@localhost"}


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for dvc and stage processes: this interpreter's venv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.update(extra)
    return env


def run(cmd: Sequence[str], root: Path, *, check: bool = True, stream: bool = False, **extra_env: str) -> subprocess.CompletedProcess:
    """Run a command in the project; on failure raise UserError with the tool's last error line."""
    proc = subprocess.run(list(cmd), cwd=root, env=tool_env(**extra_env), text=True,
                          stdout=None if stream else subprocess.PIPE, stderr=None if stream else subprocess.PIPE)
    if check and proc.returncode != 0:
        raise UserError(f"`{' '.join([Path(cmd[0]).name, *cmd[1:3]])}` failed (exit {proc.returncode}): "
                        f"{_failure(proc.stdout or '', proc.stderr or '')}")
    return proc


def _failure(stdout: str, stderr: str) -> str:
    """The line that says what went wrong: a stage's own `error: ...` line (it names the file, key or
    column) with the stage DVC was running, else the tool's last error line."""
    lines = [ln.strip() for ln in (stderr + "\n" + stdout).splitlines() if ln.strip()]
    stage = next((ln.split("'")[1] for ln in lines if "failed to reproduce '" in ln), None)
    ours = [ln.removeprefix("error: ") for ln in lines if ln.startswith("error: ")]
    if ours:
        return f"stage '{stage}': {ours[-1]}" if stage else ours[-1]
    errors = [ln for ln in lines if "error" in ln.lower()] or lines or ["(no output)"]
    return errors[-1]


def dvc(root: Path, *args: str, stream: bool = False, **extra_env: str) -> subprocess.CompletedProcess:
    return run([str(Path(sys.executable).parent / "dvc"), *args], root, stream=stream, **extra_env)


# git commands that record an author or committer: only these need the identity (looking it up is a process).
_WRITES_IDENTITY = frozenset({"commit", "tag", "merge", "revert", "cherry-pick", "rebase", "am", "stash", "notes"})


def git(root: Path, *args: str, check: bool = True) -> str:
    proc = run(["git", *args], root, check=check, **(_identity(root) if args and args[0] in _WRITES_IDENTITY else {}))
    return (proc.stdout or "").strip()


def _identity(root: Path) -> dict[str, str]:
    """Commit as the user when git knows them, else as `ct.py` (CI machines often have no identity)."""
    proc = subprocess.run(["git", "config", "user.email"], cwd=root, capture_output=True, text=True)
    return {} if proc.stdout.strip() else FALLBACK_IDENTITY


def project_root(start: Path | None = None) -> Path:
    root = Path(start or Path.cwd()).resolve()
    for candidate in (root, *root.parents):
        if (candidate / layout.DVC_YAML).exists() and (candidate / layout.PARAMS).exists():
            if not (candidate / ".git").exists():
                raise UserError(f"{candidate}: not a git repository; run `git init` first (CT commits and tags models)")
            return candidate
    raise UserError(f"{root}: no dvc.yaml/params.yaml here or above; run ct.py inside the project")


def is_state(path: str) -> bool:
    """Whether a path (relative to the project) is pipeline state CT owns and commits."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in STATE_PATHS)


def uncommitted(root: Path, path: str | Path) -> bool:
    """Whether a file differs from HEAD, or is new (e.g. history rows of a command killed before its commit)."""
    return bool(git(root, "status", "--porcelain", "--", str(path)))


def unrelated_changes(root: Path) -> list[str]:
    """Tracked files with uncommitted changes that are not CT's pipeline state."""
    # Raw -z output: `git()` strips, which would eat the leading space of the first " M path" line.
    entries = iter(run(["git", "status", "--porcelain", "-z", "--untracked-files=no"], root).stdout.split("\0"))
    paths = []
    for entry in entries:
        if entry:
            paths.append(entry[3:])
            if entry[0] in "RC":  # a rename or copy: its source path is the next entry
                next(entries, None)
    return [p for p in paths if not is_state(p)]


def commit_state(root: Path, message: str, extra_paths: Sequence[str] = ()) -> str:
    """Stage only pipeline state (plus `extra_paths` CT itself changed) and commit; return the commit."""
    present = [p for p in (*STATE_PATHS, *extra_paths) if (root / p).exists()]
    git(root, "add", "-A", "--", *present)
    if git(root, "diff", "--cached", "--name-only"):
        git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def commit_paths(root: Path, message: str, paths: Sequence[str]) -> None:
    """Commit `paths` alone (their additions, changes and deletions), whatever else is changed or staged."""
    paths = [p for p in paths if (root / p).exists()]
    git(root, "add", "-A", "--", *paths)
    if git(root, "diff", "--cached", "--name-only", "--", *paths):
        git(root, "commit", "-q", "-m", message, "--", *paths)


def restore_state(root: Path, rev: str = "HEAD", keep: Sequence[str | Path] = ()) -> None:
    """Put pipeline state (files and DVC outputs) back to `rev`, dropping uncommitted CT work.

    Untracked batch and production files are removed too (DVC restores the ones `rev` tracks), so
    a half-folded batch can never leak into the next training run. Files in `keep` (CT's own
    append-only records, e.g. the history of steps not committed yet) are never touched (excluded from
    every git command here), so they keep their current content even when a kill cuts this short: a
    copy put back at the end would be lost with it, and rows with it.
    """
    spare = [f":(exclude){Path(rel).as_posix()}" for rel in keep]
    git(root, "reset", "-q", rev, "--", *STATE_PATHS, *spare)
    at_rev = [p for p in STATE_PATHS if git(root, "ls-tree", "--name-only", rev, "--", p)]
    if at_rev:
        git(root, "checkout", rev, "--", *at_rev, *spare)
    git(root, "clean", "-fdq", "--", *STATE_PATHS, *spare)
    git(root, "clean", "-fdxq", "--", layout.BATCHES.as_posix(), layout.PRODUCTION.as_posix())
    from ctml.ct.repo import warm

    warm.checkout(root)
