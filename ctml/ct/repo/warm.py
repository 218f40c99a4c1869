"""DVC inside ct.py's own, already warm process: `dvc repro` with the stage commands run here,
and `dvc status` / `add` / `checkout` / `push` through DVC's Python API.

Why: a retrain as `dvc repro` from the command line is seven fresh interpreters, each importing
pandas, scikit-learn, pyarrow and Neptune for a fraction of a second of work (about 22 s of a
25-30 s step, measured), and every DVC call is another ~0.6 s interpreter. ct.py has all of it
imported already.

How, so that the result is what `dvc repro` gives: DVC's own `Repo.reproduce` decides what is stale,
walks the DAG, and writes dvc.lock entries exactly as the CLI does (in one write at the end rather
than one per stage: each write re-parses the whole lock). Only the moment it would start
`$SHELL -c "python -m stages.<name> ..."` is replaced: when the command runs a module of this project
and none of the stage's code deps changed since this process started (it would otherwise run older
code than the files on disk), the module's `main(argv)` runs here, in the environment the subprocess
would have had. Any other command, or a stage whose code changed, runs as a subprocess as DVC would
run it. Each stage run is reported as a `StageRun` (where it ran and why), which `ct.py -v` prints.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import logging
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Literal, Sequence

from ctml.errors import UserError

PYTHONS = ("python", "python3")
CODE_DIRS = ("ctml", "stages")  # what the snapshot covers: every module a stage command can import
_modules: dict[tuple[str, int, int], ModuleType] = {}
_snapshots: dict[Path, dict[str, tuple[int, int]]] = {}


@dataclass
class StageRun:
    """One stage command DVC asked for: where it ran, why a new process if so, and what it printed."""

    stage: str
    where: Literal["in-process", "subprocess"]
    why: str = ""
    seconds: float = 0.0
    output: str = field(default="", repr=False)
    error: str = ""  # the failed command's own one-line error

    def describe(self) -> str:
        how = "in this process" if self.where == "in-process" else f"in a new process ({self.why})"
        return f"stage {self.stage}: {how}, {self.seconds:.2f}s{', FAILED' if self.error else ''}"


# --- the code this process runs ------------------------------------------------------------------

def snapshot_code(root: Path) -> None:
    """Remember the project's code as this process loaded it (call once, when ct.py starts)."""
    root = root.resolve()
    if root not in _snapshots:
        _snapshots[root] = _code_state(root)


def _code_state(root: Path) -> dict[str, tuple[int, int]]:
    state = {}
    for folder in CODE_DIRS:
        for path in (root / folder).rglob("*.py"):
            stat = path.stat()
            state[path.relative_to(root).as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return state


def changed_code(root: Path, deps: Sequence[str]) -> list[str]:
    """The Python files among `deps` (files or folders) that differ from this process's snapshot."""
    root = root.resolve()
    snapshot_code(root)
    before, now = _snapshots[root], _code_state(root)
    changed = []
    for dep in deps:
        prefix = dep.rstrip("/")
        for rel in sorted(set(before) | set(now)):
            if (rel == prefix or rel.startswith(prefix + "/")) and before.get(rel) != now.get(rel):
                changed.append(rel)
    return changed


def python_module_argv(root: Path, cmd: Any) -> list[str] | None:
    """`python -m stages.x --flag ...` -> [path of stages/x.py, --flag, ...]; None for any other command."""
    if not isinstance(cmd, str):
        return None
    argv = shlex.split(cmd)
    if len(argv) < 3 or argv[0] not in PYTHONS or argv[1] != "-m":
        return None
    script = Path(*argv[2].split(".")).with_suffix(".py")
    if not (root / script).is_file():
        return None
    return [str(script), *argv[3:]]


def _load(script: Path) -> ModuleType:
    """The stage script as a module, loaded once per version of the file."""
    stat = script.stat()
    key = (str(script), stat.st_mtime_ns, stat.st_size)
    if key not in _modules:
        spec = importlib.util.spec_from_file_location(f"_ct_stage_{script.stem}", script)
        module = importlib.util.module_from_spec(spec)
        # Registered before it runs, as `import` does: a stage's @dataclass (or pickle, or typing) looks its
        # module up in sys.modules, and found nothing ("'NoneType' object has no attribute '__dict__'").
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _modules[key] = module
    return _modules[key]


# --- dvc repro -----------------------------------------------------------------------------------

def reproduce(root: Path, targets: Sequence[str] = (), env: dict[str, str] | None = None, *,
              single_item: bool = False, on_run: Callable[[StageRun], None] | None = None) -> list[StageRun]:
    """`dvc repro [--single-item] TARGETS` in this process; returns the stage commands run, in order,
    and hands each to `on_run` as it ends (a failing one too, before the error is raised).

    A failing stage raises UserError in the CLI path's form:
    "`dvc repro <targets>` failed (exit 1): stage '<stage>': <the stage's error line>".
    """
    import dvc.stage.run as stage_run
    from dvc.exceptions import ReproductionError
    from dvc.repo import lock_repo
    from dvc.stage.exceptions import StageCmdFailedError

    root = root.resolve()
    snapshot_code(root)
    runs: list[StageRun] = []
    original = stage_run.cmd_run
    stdout = sys.stdout  # DVC's API runs with its own chatter hidden; `on_run` writes where the caller's output goes

    def run_command(stage: Any, dry: bool = False, run_env: dict[str, str] | None = None) -> None:
        if dry:
            return original(stage, dry=dry, run_env=run_env)
        run = _run_stage(root, stage, {**(env or {}), **(run_env or {})})
        runs.append(run)
        if on_run is not None:
            with contextlib.redirect_stdout(stdout):
                on_run(run)
        if run.error:
            raise StageCmdFailedError(stage.cmd, 1)

    done: list[Any] = []

    def reproduce_stage(stage: Any, **kwargs: Any) -> Any:
        # DVC's own `_reproduce_stage` minus its dump: each dump re-parses and rewrites the whole
        # dvc.lock (round-trip YAML, ~0.2 s a stage); the stages run are written in one dump below.
        ran = stage.reproduce(**kwargs)
        if ran:
            done.append(stage)
        return ran

    label = " ".join(["dvc repro", *(["--single-item"] if single_item else []), *targets])
    stage_run.cmd_run = run_command
    try:
        with _dvc_repo(root) as repo, lock_repo(repo), repo.scm_context():  # held across the dump too
            try:
                repo.reproduce(list(targets) or None, single_item=single_item, repro_fn=reproduce_stage)
            finally:  # as `dvc repro` leaves them: every stage that ran before a failure is recorded
                _dump_lock(done)
    except ReproductionError as exc:
        if failed := [run for run in runs if run.error]:
            raise UserError(f"`{label}` failed (exit 1): stage '{failed[0].stage}': {failed[0].error}") from None
        raise UserError(f"`{label}` failed: {_cause(exc)}") from None
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - DVC's own errors (a missing dep, a bad dvc.yaml): one line, as its CLI says it
        raise UserError(f"`{label}` failed: {_cause(exc)}") from None
    finally:
        stage_run.cmd_run = original
    return runs


@contextlib.contextmanager
def _yaml_once() -> Iterator[None]:
    """Parse and schema-check each distinct YAML text once while a DVC Repo is open here.

    DVC re-reads params.yaml, dvc.yaml and dvc.lock for every stage it checks: 63 parses and 28 schema
    checks in five no-drift steps, a fifth of a step's CPU, all pure-Python YAML construction. The same
    text parses to the same data, so each distinct text is parsed once and handed out as a fresh copy
    (DVC mutates what it loads), and a text that passed a schema is not checked against it again. The
    key is the text itself: a file rewritten in between (dvc.lock) is parsed afresh, and a text that
    fails to parse or validate is never cached, so DVC raises its own error as before."""
    import pickle

    from dvc.utils import strictyaml
    from dvc.utils.serialize import _yaml

    parse, validate = _yaml.parse_yaml, strictyaml.validate
    parsed: dict[str, bytes] = {}
    valid: set[tuple[int, str]] = set()

    def parse_once(text: str, path: str, typ: str = "safe") -> Any:
        if typ != "safe":  # a round-trip parse keeps comments and positions: DVC's own each time
            return parse(text, path, typ=typ)
        if text not in parsed:
            parsed[text] = pickle.dumps(parse(text, path, typ=typ), protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(parsed[text])

    def validate_once(data: Any, schema: Any, text: str | None = None, path: str | None = None,
                      rev: str | None = None) -> Any:
        if text is None or (id(schema), text) not in valid:
            data = validate(data, schema, text=text, path=path, rev=rev)
            if text is not None:
                valid.add((id(schema), text))
        return data

    _yaml.parse_yaml, strictyaml.parse_yaml, strictyaml.validate = parse_once, parse_once, validate_once
    try:
        yield
    finally:
        _yaml.parse_yaml, strictyaml.parse_yaml, strictyaml.validate = parse, parse, validate


def _dump_lock(stages: list[Any]) -> None:
    """Record the stages in their dvc.lock, one write per dvc.yaml, in the order they ran (spliced,
    see `_splicing_lock_dumps`)."""
    by_file: dict[str, list[Any]] = {}
    for stage in stages:
        by_file.setdefault(stage.dvcfile.path, []).append(stage)
    with _splicing_lock_dumps():
        for group in by_file.values():
            group[0].dvcfile.dump_stages(group, update_pipeline=False)


@contextlib.contextmanager
def _splicing_lock_dumps() -> Iterator[None]:
    """While open, DVC's rewrites of dvc.lock re-emit only the entries of stages whose record changed.

    DVC re-reads dvc.lock with its round-trip YAML parser (pure Python, kept for comments) and
    re-emits all of it (pure Python too): 0.3-0.7 s of a 2 s CT step for a 25 kB lock whose one stage
    changed, and about 0.7 s of each `dvc commit` a release makes. dvc.lock is DVC's own output,
    without comments, so it is read here with the safe parser, and only the entries of stages whose
    record changed are emitted, by DVC's own dumper, into the text they replace (`_splice`); anything
    else (a new lock, a new or reordered stage, a file not read for update just before) is DVC's whole
    dump. The bytes are the same either way: tests compare the file with DVC's dump of its data."""
    from dvc.utils.serialize import _yaml

    read: dict[str, Any] = {}
    round_trip, dump = _yaml.parse_yaml_for_update, _yaml._dump

    def parse_for_update(text: str, path: str) -> Any:
        parsed = _yaml.parse_yaml(text, path)
        read.clear()
        read.update(text=text, data=copy.deepcopy(parsed))  # DVC updates `parsed` in place
        return parsed

    def dump_changed(data: Any, stream: Any) -> Any:
        spliced = _splice(read["text"], read["data"], data, dump) if read else None
        read.clear()  # one read, one write: a later dump of another file is DVC's own
        return stream.write(spliced) if spliced is not None else dump(data, stream)

    _yaml.parse_yaml_for_update, _yaml._dump = parse_for_update, dump_changed
    try:
        yield
    finally:
        _yaml.parse_yaml_for_update, _yaml._dump = round_trip, dump


def _splice(text: str, old: dict[str, Any], new: dict[str, Any], dump: Callable[[Any, Any], Any]) -> str | None:
    """`text` (DVC's dump of `old`) with the entries of the stages whose data changed in `new`
    re-emitted by `dump`; None when more than stage entries changed, or the text is not laid out
    as DVC writes it (`stages:` then one `  <name>:` line per stage, in order)."""
    old_stages, new_stages = old.get("stages"), new.get("stages")
    if (not isinstance(old_stages, dict) or not isinstance(new_stages, dict) or list(old) != list(new)
            or list(old_stages) != list(new_stages) or any(old[k] != new[k] for k in old if k != "stages")):
        return None
    lines = text.splitlines(keepends=True)
    try:
        at = lines.index("stages:\n")
        starts = [lines.index(f"  {name}:\n", at) for name in old_stages]
    except ValueError:
        return None
    end = next((i for i in range(at + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    if starts != sorted(starts) or (starts and starts[0] != at + 1):
        return None
    bounds = list(zip(starts, [*starts[1:], end]))
    pieces = lines[:at + 1]
    for name, (start, stop) in zip(old_stages, bounds):
        if new_stages[name] == old_stages[name]:
            pieces += lines[start:stop]
            continue
        stream = io.StringIO()
        dump({"stages": {name: new_stages[name]}}, stream)
        entry = stream.getvalue().splitlines(keepends=True)
        if entry[:2] != ["stages:\n", f"  {name}:\n"]:
            return None
        pieces += entry[1:]
    return "".join(pieces + lines[end:])


def _run_stage(root: Path, stage: Any, env: dict[str, str]) -> StageRun:
    """Run one stage's command: its module's main() here when that equals the subprocess, else a subprocess.
    A failure is in the returned record (`error`), for DVC to be told and the user to read."""
    name = stage.addressing
    env = {**env, "DVC_ROOT": str(root), "DVC_STAGE": name}
    argv = python_module_argv(root, stage.cmd)
    code = [dep.def_path for dep in stage.deps if _is_code(root / dep.def_path)]
    why = "its command is not `python -m <project module> ...`" if argv is None else ""
    if not why and (changed := changed_code(root, code)):
        why = f"code changed since ct.py started: {', '.join(changed[:3])}"
    run = StageRun(name, "subprocess" if why else "in-process", why)
    started = time.perf_counter()
    try:
        run.output = _subprocess(stage, env) if why else _in_process(root, argv, env)
    except _Failure as exc:
        run.error, run.output = exc.line, exc.output
    run.seconds = time.perf_counter() - started
    return run


def _is_code(path: Path) -> bool:
    if path.is_dir():
        return any(path.rglob("*.py"))
    return path.suffix == ".py"


class _Failure(Exception):
    """A command's one-line error and everything it printed."""

    def __init__(self, line: str, output: str) -> None:
        super().__init__(line)
        self.line, self.output = line, output


def _in_process(root: Path, argv: list[str], env: dict[str, str]) -> str:
    module = _load(root / argv[0])
    output = io.StringIO()
    try:
        with _environ(env), contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            module.main(argv[1:])
    except UserError as exc:
        raise _Failure(str(exc), output.getvalue()) from exc
    except SystemExit as exc:  # argparse rejected the command line in dvc.yaml
        last = (output.getvalue().strip().splitlines() or [f"exit {exc.code}"])[-1]
        raise _Failure(last, output.getvalue()) from exc
    except Exception as exc:  # noqa: BLE001 - as the CLI path reports a crashed stage: one line, not fatal to CT
        raise _Failure(f"{type(exc).__name__}: {exc}", output.getvalue()) from exc
    return output.getvalue()


def _subprocess(stage: Any, env: dict[str, str]) -> str:
    """The command through the shell, as DVC's `cmd_run` starts it, with its output kept for the error line."""
    from dvc.stage.run import _make_cmd, get_executable, prepare_kwargs

    kwargs = prepare_kwargs(stage, run_env=env)
    kwargs["env"]["PATH"] = str(Path(sys.executable).parent) + os.pathsep + kwargs["env"].get("PATH", "")
    output = []
    for cmd in ([stage.cmd] if isinstance(stage.cmd, str) else stage.cmd):
        proc = subprocess.run(_make_cmd(get_executable(), cmd), capture_output=True, text=True, **kwargs)
        output.append(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
            ours = [ln.removeprefix("error: ") for ln in lines if ln.startswith("error: ")]
            raise _Failure((ours or lines or [f"exit {proc.returncode}"])[-1], "".join(output))
    return "".join(output)


def _cause(exc: BaseException) -> str:
    """The innermost message of a DVC exception chain, on one line."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


# --- the rest of DVC that CT uses -----------------------------------------------------------------

def stale(root: Path, targets: Sequence[str] = ()) -> dict[str, Any]:
    """`dvc status --json TARGETS` with upstream stages: {} when everything is up to date."""
    with _dvc_repo(root) as repo:
        return repo.status(targets=list(targets) or None, with_deps=bool(targets))


def commit_if_only(root: Path, stage: str, dep: str) -> bool:
    """`dvc commit --force STAGE` when the only thing that changed for it is the dependency `dep`:
    its outputs are kept as they are and recorded against the new `dep`. True when committed."""
    with _dvc_repo(root) as repo:
        changes = repo.status(targets=[stage]).get(stage, [])
    if [change for change in changes if change != {"changed deps": {dep: "modified"}}] or not changes:
        return False
    _call(root, f"dvc commit --force {stage}", lambda repo: _commit(repo, stage))
    return True


def add(root: Path, path: str | Path) -> None:
    """`dvc add PATH` (PATH relative to the project root): a file, or a folder tracked as one directory
    (a lineage's CT batches: DVC hashes only the files its state database does not know)."""
    _call(root, f"dvc add {path}", lambda repo: repo.add(str(path)))


def commit(root: Path, stage: str) -> None:
    """`dvc commit --force STAGE`: dvc.lock records the stage's outputs as they are in the workspace."""
    _call(root, f"dvc commit {stage}", lambda repo: _commit(repo, stage))


def _commit(repo: Any, stage: str) -> Any:
    with _splicing_lock_dumps():
        return repo.commit(stage, force=True)


def checkout(root: Path) -> None:
    """`dvc checkout --force`: the workspace's DVC outputs back to what dvc.lock and the .dvc files say."""
    _call(root, "dvc checkout --force", lambda repo: repo.checkout(force=True))


def push(root: Path) -> None:
    """`dvc push` to the default remote."""
    _call(root, "dvc push", lambda repo: repo.push())


def _call(root: Path, label: str, action: Any) -> Any:
    try:
        with _dvc_repo(root) as repo:
            return action(repo)
    except Exception as exc:  # noqa: BLE001 - DVC's errors become the one line its CLI would print
        raise UserError(f"`{label}` failed: {_cause(exc)}") from None


@contextlib.contextmanager
def _dvc_repo(root: Path) -> Iterator[Any]:
    """A DVC Repo of the project, quiet (CT prints its own progress), with the cwd DVC resolves paths from."""
    from dvc.repo import Repo

    with contextlib.chdir(root), _quiet_dvc(), _yaml_once(), Repo(str(root)) as repo:
        yield repo


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
    """DVC's API logs what its CLI would print ("Running stage ...", "Updating lock file ...")."""
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
