"""dvc.yaml tells the truth: every module a stage imports is one of its deps, so editing any of
them makes `dvc status` (and ct.py's warm path) see the stage as changed."""
from __future__ import annotations

import ast
import functools
import json
import shlex
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, dvc

PACKAGE = "ctml"


@functools.cache
def _parsed(text: str) -> ast.Module:
    """A module's tree, parsed once per distinct text: the dep checks walk the same files once per stage
    and per trimmed dvc.yaml, and parsing was nearly all of their time."""
    return ast.parse(text)


@functools.cache
def _imported_names(text: str) -> frozenset[str]:
    """Dotted names a module's text imports anywhere, found once per distinct text."""
    names: set[str] = set()
    for node in ast.walk(_parsed(text)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from ctml import io`
    return frozenset(names)


def _is_docstring_only(path: Path) -> bool:
    """A package `__init__.py` with nothing but a docstring cannot change what a stage does."""
    body = _parsed(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(root: Path, path: Path) -> set[Path]:
    """Project modules `path` imports anywhere (lazy imports in functions included), with the
    packages Python runs on the way (`ctml.drift.detect` runs `ctml/drift/__init__.py`)."""
    found: set[Path] = set()
    for name in _imported_names(path.read_text()):
        if name.split(".")[0] != PACKAGE:
            continue
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            file = _module_file(root, ".".join(parts[:depth]))
            if file is not None:
                found.add(file)
    return found


def import_closure(root: Path, script: Path) -> set[str]:
    """Every project module `script` can run, as paths relative to `root` (docstring-only packages left out)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        for module in _imported(root, path):
            if module not in seen:
                seen.add(module)
                todo.append(module)
    return {p.relative_to(root).as_posix() for p in seen if not (p.name == "__init__.py" and _is_docstring_only(p))}


def stage_modules(root: Path, cmd: str) -> set[str]:
    """Every project file a `python -m stages.<name> ...` command runs: the packages on the way
    (`stages/__init__.py`, unless docstring-only), the script, and all they import."""
    argv = shlex.split(cmd)
    assert argv[:2] == ["python", "-m"], f"stage command is not `python -m <module>`: {cmd}"
    parts = argv[2].split(".")
    files = [_module_file(root, ".".join(parts[:depth])) for depth in range(1, len(parts) + 1)]
    modules: set[str] = set()
    for file in files:
        if file.name == "__init__.py" and _is_docstring_only(file):
            continue
        modules |= import_closure(root, file) | {file.relative_to(root).as_posix()}
    return modules


def missing_deps(root: Path, stages: dict, modules: dict[str, set[str]] | None = None) -> list[tuple[str, str]]:
    """(stage, module) pairs where the stage imports the module but dvc.yaml lists neither it nor a folder
    holding it. `modules`: each stage's `stage_modules`, when the caller already has them."""
    missing = []
    for name, stage in stages.items():
        deps = [str(d).rstrip("/") for d in stage.get("deps", [])]
        needed = modules[name] if modules is not None else stage_modules(root, stage["cmd"])
        for module in sorted(needed):
            if not any(module == d or module.startswith(d + "/") for d in deps):
                missing.append((name, module))
    return missing


def unused_code_deps(root: Path, stages: dict) -> list[tuple[str, str]]:
    """(stage, dep) pairs where a listed code dep holds nothing the stage imports: it re-runs the stage for nothing."""
    unused = []
    for name, stage in stages.items():
        needed = stage_modules(root, stage["cmd"])
        for dep in (str(d).rstrip("/") for d in stage.get("deps", [])):
            if dep.split("/")[0] not in (PACKAGE, "stages"):
                continue
            if not any(module == dep or module.startswith(dep + "/") for module in needed):
                unused.append((name, dep))
    return unused


@pytest.fixture(scope="module")
def stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_every_imported_module_is_a_dep(stages):
    assert missing_deps(ROOT, stages) == []


def test_no_code_dep_is_listed_for_nothing(stages):
    assert unused_code_deps(ROOT, stages) == []


def test_the_check_fails_when_one_dep_is_removed(stages):
    modules = {name: stage_modules(ROOT, stage["cmd"]) for name, stage in stages.items()}  # deps do not change them
    for name, stage in stages.items():
        deps = [d for d in stage["deps"] if str(d).startswith(PACKAGE)]
        for dep in deps:
            trimmed = {**stages, name: {**stage, "deps": [d for d in stage["deps"] if d != dep]}}
            assert any(s == name for s, _ in missing_deps(ROOT, trimmed, modules)), f"{name}: removing {dep} went unnoticed"


def test_closure_follows_lazy_and_from_imports(tmp_path: Path):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""docs only"""\n')
    (pkg / "sub" / "__init__.py").write_text("X = 1\n")
    (pkg / "a.py").write_text("def f():\n    from ctml.sub import b\n")
    (pkg / "sub" / "b.py").write_text("import ctml.c\n")
    (pkg / "c.py").write_text("import os\n")
    script = tmp_path / "s.py"
    script.write_text("from ctml import a\n")
    assert import_closure(tmp_path, script) == {"ctml/a.py", "ctml/sub/__init__.py", "ctml/sub/b.py", "ctml/c.py"}


@pytest.mark.slow
def test_editing_a_shared_module_makes_its_stages_stale(repo: Path, stages):
    assert dvc("status", "--json", cwd=repo).stdout.strip() == "{}"
    with open(repo / "ctml/io.py", "a") as handle:
        handle.write("\n# an edit\n")
    status = json.loads(dvc("status", "--json", cwd=repo).stdout)
    users = {name for name, stage in stages.items() if "ctml/io.py" in stage_modules(ROOT, stage["cmd"])}
    assert set(status) == users == set(stages)  # every stage writes through ctml.io
    for name in users:
        changed = [entry["changed deps"] for entry in status[name] if "changed deps" in entry]
        assert changed and changed[0].get("ctml/io.py") == "modified"


def _outs(stage: dict) -> set[str]:
    return {next(iter(o)) if isinstance(o, dict) else o for key in ("outs", "metrics", "plots") for o in stage.get(key, [])}


def test_a_candidate_reproduces_every_stage_but_drift(stages):
    """A retrain reproduces `layout.CANDIDATE_TARGETS` (ctml/ct/step/retrain.py): their ancestors must be every
    stage but drift, and no stage may read what drift writes, or a candidate would be judged on a stale input."""
    from ctml import layout

    def writes(stage: dict, dep: str) -> bool:  # an output, or a file inside an output folder
        return any(dep == out or dep.startswith(out.rstrip("/") + "/") for out in _outs(stage))

    def ancestors(name: str) -> set[str]:
        found = {name}
        for dep in stages[name].get("deps", []):
            for parent in [p for p, stage in stages.items() if p not in found and writes(stage, dep)]:
                found |= ancestors(parent)
        return found

    reached = set().union(*(ancestors(target) for target in layout.CANDIDATE_TARGETS))
    assert reached == set(stages) - {layout.DRIFT_STAGE}
    drift = stages[layout.DRIFT_STAGE]
    assert not [(name, dep) for name, stage in stages.items() for dep in stage.get("deps", []) if writes(drift, dep)]
