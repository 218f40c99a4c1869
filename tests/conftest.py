"""Fixtures: projects built once per test run (whichever xdist worker asks first), copied for each test that changes them."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ctml.config import Params, load_params
from ctml.cpu import passive_openmp_waits, prefer_avx2_on_zen4
from tests.helpers import ROOT, VENV_BIN, built_once, copy_project, ct, dvc, env, git, make_project, python

# The test process computes as ct.py and the stages do (ctml/cpu.py); NumPy and scikit-learn are not imported yet.
prefer_avx2_on_zen4()
passive_openmp_waits()

# Variables that steer tracking; tests that read back tracking start from none of them.
TRACKING_ENV = ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE", "NEPTUNE_DATA_DIRECTORY",
                "CT_TRACKING", "CT_PIPELINE_ID", "CT_MODEL_VERSION")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first: the soak test, then the end-to-end (`slow`) tests, then the rest, each group in
    file order. With `--maxschedchunk=1` (pytest.ini) xdist hands each worker the next test when it
    has fewer than two waiting, so the short tests fill the gaps at the end, instead of a long test
    that started last running alone while the other worker idles."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("soak") else 1 if item.get_closest_marker("slow") else 2)
    # xdist's first handout gives each worker two tests: items 0-1 to the first, 2-3 to the second. Both
    # start on the baseline (`dvc repro`, ~30 s), one building and one waiting for it; a README-demo
    # test third instead has the second worker build that project meanwhile (its own `dvc repro`).
    demo = next((i for i in items[2:] if "readme_demo" in i.fixturenames and "baseline" not in i.fixturenames), None)
    if demo is not None and len(items) > 3:
        items.remove(demo)
        items.insert(2, demo)


@pytest.fixture
def mount():
    """`mount(args, target)`: a real mount (`mount ARGS TARGET`), or the test skipped with the reason where
    the machine does not allow one; every mount the test made is undone after it, whatever happened."""
    made: list[Path] = []

    def mount_(args: list[str], target: Path) -> None:
        proc = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount here ({proc.stderr.strip() or 'not permitted'}): needs root or CAP_SYS_ADMIN")
        made.append(target)

    yield mount_
    for target in reversed(made):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The project after `dvc repro` on the built-in data (tracked offline), committed; and what tests of
    tracking read back about that run: the `dvc repro` process id (every stage's run names it) and its output."""
    def build(parent: Path) -> dict[str, object]:
        repo = make_project(parent / "project")
        proc = subprocess.Popen([os.path.join(VENV_BIN, "dvc"), "repro"], cwd=repo, env=env(CT_TRACKING="on"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, out + err
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", "baseline pipeline run", cwd=repo)
        return {"dvc_pid": proc.pid, "output": out + err}

    return built_once(tmp_path_factory, "baseline", build)


@pytest.fixture(scope="session")
def baseline_repo(baseline: tuple[Path, dict[str, object]]) -> Path:
    """The baseline project. Do not modify: use `repo`."""
    return baseline[0]


@pytest.fixture
def repo(baseline_repo: Path, tmp_path: Path) -> Path:
    """A private copy of the baseline project (git history and DVC cache included)."""
    return copy_project(baseline_repo, tmp_path)


@pytest.fixture(scope="session")
def released(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline project after two CT runs of one step without drift: model@v1.0.0 in production,
    history rows 1-2 committed, `dvc status` clean (the second run re-runs the gates stage, stale once
    the release changed models/production, so tests do not pay for it on every copy). Do not modify:
    releasing costs a `dvc repro`, copying the result is cheap, so tests take `released_repo`."""
    def build(parent: Path) -> None:
        repo = copy_project(baseline_repo, parent)
        ct(repo, "simulate", "--scenario", "none", "--steps", "1", "--batch-size", "50")
        ct(repo, "simulate", "--scenario", "none", "--steps", "1", "--batch-size", "50", "--seed", "1")

    return built_once(tmp_path_factory, "released", build)[0]


@pytest.fixture
def released_repo(released: Path, tmp_path: Path) -> Path:
    """A private copy of the released project."""
    return copy_project(released, tmp_path)


@pytest.fixture(scope="session")
def readme_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """README command 1 on a fresh clone, minus creating the venv: `dvc repro`, then the CT simulation
    the README names (v1.0.0, a sudden drift at step 3 retrained into v1.1.0), tracked offline; and what
    the simulation printed. Do not modify: copy it (`copy_project`)."""
    def build(parent: Path) -> str:
        line = next(ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith("python3.11 -m venv"))
        job = line.split("&& dvc repro && ")[1].split()
        assert job[:2] == ["python", "ct.py"]
        repo = make_project(parent / "project")
        dvc("repro", cwd=repo, CT_TRACKING="on")
        return python(*job[1:], cwd=repo, CT_TRACKING="on").stdout

    return built_once(tmp_path_factory, "readme-demo", build)


@pytest.fixture
def fresh_repo(tmp_path: Path) -> Path:
    """The project as a fresh clone has it: nothing run yet."""
    return make_project(tmp_path / "project")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and an environment without tracking variables."""
    for name in TRACKING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def params() -> Params:
    """The project's own params.yaml, parsed."""
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def dask_client():
    """A real distributed.LocalCluster (threads, so the workers see this process's imports)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client
