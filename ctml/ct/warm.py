"""Reproduce one DVC stage inside ct.py's own, already warm process, and record it with `dvc commit`.

Why: a CT step runs the drift stage on every batch. As `dvc repro drift` that is two fresh
interpreters per step (DVC's CLI, then the stage importing pandas, scipy, scikit-learn and
Neptune), about 3 s of start-up around ~50 ms of work. ct.py has all of it imported already, so it
does what `dvc repro <stage>` does itself: ask DVC what changed, run the stage's own `main()` with
the argv of its `dvc.yaml` command, then `dvc commit` the stage so dvc.lock records the run exactly
as `dvc repro` would have (`dvc status` is clean afterwards).

It only does so in the one case where that is equivalent: the stage's command runs a module of this
project (`python -m stages.<name> ...`), nothing upstream is stale, and no code dependency changed
(this process could be running older code than the files on disk). Anything else returns an Outcome saying why not, and the caller runs the real `dvc repro`.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

from ctml.errors import UserError

PYTHONS = ("python", "python3")
_modules: dict[tuple[str, int, int], ModuleType] = {}


@dataclass(frozen=True)
class Outcome:
    """Whether the stage was brought up to date here; if not, why only `dvc repro` can do it (for -v)."""

    done: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.done


def repro(root: Path, stage: str, env: dict[str, str]) -> Outcome:
    """Bring `stage` up to date in this process, or say why only `dvc repro` can do it equivalently.

    A failure of the stage itself raises UserError in the form the CLI path gives
    ("`dvc repro <stage>` failed (exit 1): stage '<stage>': <its error line>").
    """
    try:
        from dvc.repo import Repo

        with contextlib.chdir(root), _quiet_dvc(), Repo(str(root)) as repo:  # DVC resolves targets from the cwd
            definition = repo.stage.collect(stage)[0]
            argv = _python_argv(root, definition.cmd)
            if argv is None:
                return Outcome(False, f"its command is not `python -m <project module> ...`: {definition.cmd}")
            status = repo.status(targets=[stage], with_deps=True)
            if why := _why_not_warm(root, stage, status):
                return Outcome(False, why)
            if status:
                _run_main(root, argv, stage, env)
                repo.commit(stage, force=True)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything DVC-side: the real CLI gives the user its own message
        return Outcome(False, f"DVC's API raised {type(exc).__name__}")
    return Outcome(True)


def _python_argv(root: Path, cmd: Any) -> list[str] | None:
    """`python -m stages.x --flag ...` -> [script path, --flag, ...]; None for any other kind of command.

    Only a module of this project qualifies: its file is what gets loaded and run here.
    """
    if not isinstance(cmd, str):
        return None
    argv = shlex.split(cmd)
    if len(argv) < 3 or argv[0] not in PYTHONS or argv[1] != "-m":
        return None
    script = Path(*argv[2].split(".")).with_suffix(".py")
    if not (root / script).is_file():
        return None
    return [str(script), *argv[3:]]


def _why_not_warm(root: Path, stage: str, status: dict[str, Any]) -> str:
    """Why running `stage` here could differ from `dvc repro` ("" when it cannot): another stage is
    stale, or one of its changed deps is code (this process may hold the older version)."""
    if others := sorted(set(status) - {stage}):
        return f"upstream stage(s) stale: {', '.join(others)}"
    for entry in status.get(stage, []):
        changed = entry.get("changed deps", {}) if isinstance(entry, dict) else {}
        if code := [path for path in changed if _is_code(root / path)]:
            return f"code changed: {', '.join(code)}"
    return ""


def _is_code(path: Path) -> bool:
    if path.is_dir():
        return any(path.rglob("*.py"))
    return path.suffix == ".py"


def _load(script: Path) -> ModuleType:
    """The stage script as a module, loaded once per version of the file."""
    stat = script.stat()
    key = (str(script), stat.st_mtime_ns, stat.st_size)
    if key not in _modules:
        spec = importlib.util.spec_from_file_location(f"_ct_stage_{script.stem}", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[key] = module
    return _modules[key]


def _run_main(root: Path, argv: list[str], stage: str, env: dict[str, str]) -> None:
    module = _load(root / argv[0])
    output = io.StringIO()
    try:
        with _environ(env), contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            module.main(argv[1:])
    except UserError as exc:
        raise UserError(f"`dvc repro {stage}` failed (exit 1): stage '{stage}': {exc}") from exc
    except SystemExit as exc:  # argparse rejected the command line in dvc.yaml
        last = (output.getvalue().strip().splitlines() or [f"exit {exc.code}"])[-1]
        raise UserError(f"`dvc repro {stage}` failed (exit 1): stage '{stage}': {last}") from exc
    except Exception as exc:  # noqa: BLE001 - as the CLI path reports a crashed stage: one line, not fatal to CT
        raise UserError(f"`dvc repro {stage}` failed (exit 1): stage '{stage}': {type(exc).__name__}: {exc}") from exc


@contextlib.contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _quiet_dvc() -> Iterator[None]:
    """DVC's API logs what its CLI would print ("Updating lock file ..."); CT keeps its own output."""
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
