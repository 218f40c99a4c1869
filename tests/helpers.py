"""Shared test plumbing: a real project copy in a temporary git repo, and real CLI calls into it."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = str(Path(sys.executable).parent)

# What a fresh clone of the project holds (generated pipeline state is not part of it).
PROJECT_FILES = ["dvc.yaml", "params.yaml", "ct.py", ".gitignore", ".dvcignore", ".dvc/config", ".dvc/.gitignore"]
PROJECT_DIRS = ["stages", "ctml", "dvc_plots_template"]
PROJECT_READMES = ["data/source/README.md", "data/batches/README.md", "data/incoming/README.md", "data/labels/README.md",
                   "data/checked/README.md", "models/production/README.md"]
# Each test project pushes to a store beside it (`<parent>/.dvcstore`), not to the user's default
# (`~/.dvcstore/ct`): `.dvc/config.local` says so with a path relative to `.dvc/`, so a copy of the
# project gets a store of its own. Tests of the shipped default remove the file and set HOME.
TEST_REMOTE = "['remote \"store\"']\n    url = ../../.dvcstore\n"


def env(**extra: str) -> dict[str, str]:
    """The environment a user has after activating the venv, minus any real Neptune credentials."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("NEPTUNE_")}
    out["PATH"] = VENV_BIN + os.pathsep + out.get("PATH", "")
    out["DVC_NO_ANALYTICS"] = "1"
    out["PYTHONDONTWRITEBYTECODE"] = "1"
    out.update(extra)
    return out


def sh(*cmd: str, cwd: Path, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
    """Run a command as a user would; on unexpected failure show its output in the assertion."""
    proc = subprocess.run(list(cmd), cwd=cwd, env=env(**extra_env), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def dvc(*args: str, cwd: Path, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
    return sh(os.path.join(VENV_BIN, "dvc"), *args, cwd=cwd, check=check, **extra_env)


def python(*args: str, cwd: Path, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
    return sh(sys.executable, *args, cwd=cwd, check=check, **extra_env)


def git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return sh("git", *args, cwd=cwd, check=check)


def make_project(dest: Path) -> Path:
    """Copy the project as a fresh clone would have it into `dest` and make it a git repo."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in PROJECT_FILES + PROJECT_READMES:
        src = ROOT / rel
        if src.exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for rel in PROJECT_DIRS:
        shutil.copytree(ROOT / rel, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / ".dvc" / "config.local").write_text(TEST_REMOTE)
    git("init", "-q", "-b", "main", cwd=dest)
    git("config", "user.name", "Test", cwd=dest)
    git("config", "user.email", "test@example.com", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", "project", cwd=dest)
    return dest


def artifact_repo(repo: Path) -> Path:
    """An empty git repo at `repo` whose dvc.yaml declares the model artifact: what GTO's tags need and no more."""
    repo.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    git("config", "user.name", "T", cwd=repo)
    git("config", "user.email", "t@e.com", cwd=repo)
    (repo / "dvc.yaml").write_text("artifacts:\n  model:\n    path: models/model.joblib\n    type: model\n")
    return repo


def copy_project(src: Path, parent: Path) -> Path:
    """A private copy of a built project (git history and DVC cache included) at `parent/project`."""
    dest = parent / "project"
    shutil.copytree(src, dest, symlinks=True)
    return dest


def built_once(factory: Any, name: str, build: Callable[[Path], Any]) -> tuple[Path, Any]:
    """A private copy of a project built once per test run, and what its build returned.

    `build(parent)` makes `parent/project` (a `dvc repro`, a CT run...) and returns what the tests
    need besides the project (picklable; paths in it name the build, not the copy). Under xdist each
    worker is a session of its own, so a session or module fixture is built once per worker that
    needs it: on 2 cores that second build costs as much as the first. The first worker to ask
    builds under the run's common temp folder while holding a lock; the others wait, then copy.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        parent = factory.mktemp(name)
        return parent / "project", build(parent)
    shared = factory.getbasetemp().parent / "built-once"
    shared.mkdir(exist_ok=True)
    built, result = shared / name, shared / f"{name}.pickle"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held by the worker that builds, until it is done
        if not result.exists():
            shutil.rmtree(built, ignore_errors=True)  # a build that failed in another worker
            built.mkdir()
            result.write_bytes(pickle.dumps(build(built)))
    return copy_project(built / "project", factory.mktemp(name)), pickle.loads(result.read_bytes())


def wait_for(condition: Callable[[], Any], *, timeout: float = 30, every: float = 0.1, what: str = "",
             proc: subprocess.Popen | None = None) -> Any:
    """The first truthy value of `condition()`, polled every `every` s; AssertionError when `timeout`
    seconds pass or `proc` ends first (with what it printed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"process ended (exit {proc.returncode}) before {what or condition}:\n{out}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition}")
        time.sleep(every)


def store(repo: Path) -> Path:
    """The DVC remote of a test project (see TEST_REMOTE)."""
    return repo.parent / ".dvcstore"


def lineage_folder(repo: Path) -> Path:
    """Where CT folds batches for the project's current data source (created): ingest reads only this folder."""
    from ctml import layout
    from ctml.config import load_params

    folder = repo / layout.lineage_batches(layout.BATCHES, load_params(repo / layout.PARAMS).data)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def ct(repo: Path, *args: str, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
    """`python ct.py ARGS` in the project, as a user runs it."""
    return python(str(repo / "ct.py"), *args, cwd=repo, check=check, **extra_env)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tags(repo: Path) -> dict[str, str]:
    """Every tag and the object it names (an annotated tag object, so a re-created tag shows)."""
    out = git("for-each-ref", "refs/tags", "--format=%(refname:short) %(objectname)", cwd=repo).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())


def history(repo: Path):
    """metrics/ct_history.csv as a user reads it with pandas."""
    import pandas as pd

    return pd.read_csv(repo / "metrics/ct_history.csv", dtype={"model_version": str, "note": str, "gates": str})


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def set_params(repo: Path, **updates: Any) -> None:
    """Set dotted keys in params.yaml (e.g. `train__n_estimators=50` sets train.n_estimators)."""
    import yaml

    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in updates.items():
        node = params
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def drift_from_the_first_step(repo: Path) -> None:
    """`ct.start_step: 1`, committed (ct.py works on a committed params.yaml): simulated `sudden` batches
    drift from the next step on."""
    set_params(repo, ct__start_step=1)
    git("commit", "-qam", "drift from the first step", cwd=repo)


def retrain_on_drift(repo: Path, steps: int = 1, **extra_env: str) -> subprocess.CompletedProcess:
    """`drift_from_the_first_step`, then `steps` sudden steps of 200 rows: the first retrains and releases."""
    drift_from_the_first_step(repo)
    return ct(repo, "simulate", "--scenario", "sudden", "--steps", str(steps), "--batch-size", "200", **extra_env)


def ran_stages(output: str) -> list[str]:
    """Stage names `dvc repro` actually ran, read from its output."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run")


def chromium(page: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium (Debian's `chromium`, which .ci/run installs) on a local page, no network."""
    import tempfile

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed: `apt-get install -y chromium` (.ci/run installs it)"
    with tempfile.TemporaryDirectory(prefix="ct-chromium-") as profile:
        return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args,
                               Path(page).resolve().as_uri()], capture_output=True, text=True, timeout=180, check=True)


def rendered_dom(page: Path) -> str:
    """The page's DOM after its scripts ran (what a person's browser would show)."""
    return chromium(page, "--dump-dom").stdout


def screenshot_ink(page: Path, out: Path) -> float:
    """Share of the screenshot's pixels that are not background white: 0 for a blank page."""
    import matplotlib.image

    chromium(page, f"--screenshot={out}", "--window-size=1280,1600")
    pixels = matplotlib.image.imread(out)[..., :3]
    return float((pixels.min(axis=-1) < 0.95).mean())


@contextlib.contextmanager
def dask_cluster(folder: Path, workers: int, memory_limit: str, pythonpath: Path) -> Iterator[tuple[str, list[int]]]:
    """A real cluster on 127.0.0.1: `dask scheduler` and `workers` single-thread `dask worker` processes
    with `memory_limit`, importing the project at `pythonpath`; yields (scheduler address, worker pids),
    and stops every process it started whatever happened."""
    dask = str(Path(sys.executable).with_name("dask"))
    info, run_env = folder / "scheduler.json", {**env(), "PYTHONPATH": str(pythonpath)}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], env=run_env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        wait_for(info.exists, timeout=120, what="the scheduler file")
        address = json.loads(info.read_text())["address"]
        procs += [subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--memory-limit",
                                    memory_limit, "--no-dashboard", "--host", "127.0.0.1"], env=run_env, cwd=folder,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
            pids = sorted(client.run(os.getpid).values())  # the worker processes (their nannies started them)
        yield address, pids
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
