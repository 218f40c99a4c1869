"""The shape of ctml: a folder per job, small folders, and imports that run one way.

Imports inside functions count: a dependency hidden in a function is still a dependency, and two
modules that need each other are one job split in two (or a third module is missing).
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = "ctml"
MAX_MODULES = 15  # per folder, __init__.py included


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (a package is its __init__)."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package modules it imports, anywhere in its body. `from a import b` points at
    the module a.b when there is one, else at a."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(set(edges) | {n for targets in edges.values() for n in targets}):
        if node not in index:
            visit(node)
    return found


def package_of(name: str, mods: dict[str, Path]) -> str:
    return name if mods[name].name == "__init__.py" else name.rpartition(".")[0]


def package_graph(edges: dict[str, set[str]], mods: dict[str, Path]) -> dict[str, set[str]]:
    """Folder -> the folders its modules import."""
    folders: dict[str, set[str]] = defaultdict(set)
    for source, targets in edges.items():
        for target in targets:
            a, b = package_of(source, mods), package_of(target, mods)
            if a != b:
                folders[a].add(b)
    return folders


def test_no_import_cycle_between_modules():
    mods = modules()
    assert cycles(import_graph(mods)) == []


def test_no_two_folders_import_each_other_nor_any_cycle_of_folders():
    mods = modules()
    folders = package_graph(import_graph(mods), mods)
    mutual = sorted((a, b) for a, targets in folders.items() for b in targets if a < b and a in folders.get(b, ()))
    assert mutual == []
    assert cycles(folders) == []


def test_no_folder_holds_more_than_15_modules():
    counts = defaultdict(int)
    for path in (ROOT / PACKAGE).rglob("*.py"):
        counts[path.parent.relative_to(ROOT).as_posix()] += 1
    assert {folder: n for folder, n in counts.items() if n > MAX_MODULES} == {}


def test_every_package_folder_says_what_it_holds():
    """A folder's __init__ is the map a newcomer reads first: it names its modules."""
    for init in (ROOT / PACKAGE).rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        siblings = sorted(p.stem for p in init.parent.glob("*.py") if p.name != "__init__.py")
        unnamed = [s for s in siblings if s not in doc] if init.parent.name != "cli" else []
        assert doc and not unnamed, f"{init.relative_to(ROOT)}: docstring does not name {unnamed}"


def test_tests_mirror_the_package():
    """tests/<folder>/ for each folder of ctml that has tests; none for a folder that does not exist."""
    packages = {p.parent.relative_to(ROOT / PACKAGE).as_posix() for p in (ROOT / PACKAGE).rglob("__init__.py")}
    cross_cutting = {"reliability", "stages"}  # whole-product behaviour and the stage scripts
    for folder in (ROOT / "tests").rglob("__init__.py"):
        rel = folder.parent.relative_to(ROOT / "tests").as_posix()
        if rel == "." or rel.split("/")[0] in cross_cutting:
            continue
        assert rel in packages, f"tests/{rel}/ mirrors no ctml/{rel}/"


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": {"c"}}, []),
])
def test_cycles_finds_what_a_person_would(graph, expected):
    assert cycles(graph) == expected


def test_import_graph_counts_imports_inside_functions(tmp_path: Path):
    pkg = tmp_path / PACKAGE / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from ctml.sub import b\n")
    (pkg / "b.py").write_text("from ctml.sub.a import f\n")
    mods = modules(tmp_path)
    assert cycles(import_graph(mods)) == [["ctml.sub.a", "ctml.sub.b"]]
