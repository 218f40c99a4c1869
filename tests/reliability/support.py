"""What the reliability tests share: running ct.py, snapshots of everything CT must not touch,
and the release invariants (every tagged model is the one its metadata names, byte for byte)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tests.helpers import env, git, history, sha256, tags

def start_ct(repo: Path, *args: str, **extra_env: str) -> subprocess.Popen:
    """ct.py in its own session (process group), so a kill takes its dvc and stage children too."""
    return subprocess.Popen([sys.executable, str(repo / "ct.py"), *args], cwd=repo, env=env(**extra_env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def kill_group(proc: subprocess.Popen) -> str:
    """SIGKILL the whole process group; returns what the process printed before it died."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    out, _ = proc.communicate(timeout=60)
    return out or ""


def snapshot(repo: Path) -> dict[str, Any]:
    """What a bad batch, a bad config or a killed step must leave exactly as it was."""
    production = repo / "models/production"
    return {
        "training data": sha256(repo / "data/raw/train.parquet"),
        "batches": sorted(p.name for p in (repo / "data/batches").iterdir()),
        "model": sha256(repo / "models/model.joblib"),
        "model meta": (repo / "models/model.json").read_text(),
        "production": {p.name: sha256(p) for p in sorted(production.iterdir()) if p.is_file()},
        "dvc.lock (training stages)": _training_lock(repo),
        "params": (repo / "params.yaml").read_text(),
        "tags": tags(repo),
    }


# Stages whose dvc.lock entries change with every step by design: drift measures the incoming batch,
# gates re-measures latency and freshness whenever the production model or data move.
MEASUREMENT_STAGES = ("drift", "gates")


def _training_lock(repo: Path) -> dict[str, Any]:
    stages = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {name: entry for name, entry in stages.items() if name not in MEASUREMENT_STAGES}


def tracked_changes(repo: Path) -> str:
    return git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout


def _show(repo: Path, rev: str, path: str) -> str:
    return git("show", f"{rev}:{path}", cwd=repo).stdout


def _cached(repo: Path, md5: str) -> Path:
    return repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]


def _lock_md5(lockfile: dict[str, Any], stage: str, path: str) -> str:
    return next(o["md5"] for o in lockfile["stages"][stage]["outs"] if o["path"] == path)


def check_releases(repo: Path) -> list[str]:
    """Assert the release invariants; return the versions, oldest first.

    - versions are v1.0.0, v1.1.0, ... with no gap;
    - at every version tag, models/model.json's sha256 is the sha256 of the model bytes DVC cached
      for that commit (dvc.lock), and models/production holds the same model (its .dvc pointer);
    - every prod tag points at a version's commit, and the working tree's production model is the
      one the newest prod tag names.
    """
    names = tags(repo)
    versions = sorted((n for n in names if n.startswith("model@v")), key=lambda n: [int(x) for x in n[7:].split(".")])
    assert versions == [f"model@v1.{i}.0" for i in range(len(versions))], versions
    commits = {}
    for tag in versions:
        meta = json.loads(_show(repo, tag, "models/model.json"))
        lockfile = yaml.safe_load(_show(repo, tag, "dvc.lock"))
        model = _cached(repo, _lock_md5(lockfile, "train", "models/model.joblib"))
        assert sha256(model) == meta["model_sha256"], f"{tag}: cached model bytes do not match models/model.json"
        pointer = yaml.safe_load(_show(repo, tag, "models/production/model.joblib.dvc"))
        prod_model = _cached(repo, pointer["outs"][0]["md5"])
        prod_meta = json.loads(_show(repo, tag, "models/production/model.json"))
        assert sha256(prod_model) == prod_meta["model_sha256"] == meta["model_sha256"], f"{tag}: production copy differs"
        commits[git("rev-parse", f"{tag}^{{commit}}", cwd=repo).stdout.strip()] = tag
    prod = sorted((n for n in names if n.startswith("model#prod#")), key=lambda n: int(n.rsplit("#", 1)[1]))
    assert prod, "no prod assignment"
    for tag in prod:
        assert git("rev-parse", f"{tag}^{{commit}}", cwd=repo).stdout.strip() in commits, f"{tag}: not on a release"
    current = commits[git("rev-parse", f"{prod[-1]}^{{commit}}", cwd=repo).stdout.strip()]
    current_meta = json.loads(_show(repo, current, "models/model.json"))
    assert json.loads((repo / "models/production/model.json").read_text())["model_sha256"] == current_meta["model_sha256"]
    assert sha256(repo / "models/production/model.joblib") == current_meta["model_sha256"]
    return [v.split("@")[1] for v in versions]


def check_history(repo: Path, versions: list[str]) -> pd.DataFrame:
    """Steps numbered 1..N without gaps, and every version after the baseline made by one retrain row."""
    past = history(repo)
    assert past["step"].tolist() == list(range(1, len(past) + 1)), past["step"].tolist()
    retrained = past[past["retrained"].astype(str).str.lower() == "true"]
    assert sorted(retrained["model_version"].tolist()) == versions[1:], (retrained, versions)
    return past


PARK_HOOK = """import os
import sys


def _park(event, args):
    if (event == {event!r} and {fragment!r} in repr(args) and sys.argv[0].endswith("ct.py")
            and not os.path.exists({reached!r})):
        open({reached!r}, "w").close()
        with open({fifo!r}) as fifo:
            fifo.read()


sys.addaudithook(_park)
"""


def park_on_call(repo: Path, event: str, fragment: str) -> tuple[Path, dict[str, str]]:
    """Park ct.py in the first call that raises the interpreter's audit event `event` (PEP 578:
    `os.rename` for os.replace, `os.remove` for unlink, ...) with `fragment` in its arguments, before
    the call runs, until the test kills it: the points between two file operations that no git hook
    reaches. The hook is a sitecustomize on PYTHONPATH; it parks ct.py itself, never its dvc or
    stage children, and changes nothing it observes. Returns the file touched on arrival (poll it,
    then SIGKILL) and the environment to start ct.py with."""
    where = repo.parent / f"park-{event}"
    where.mkdir()
    reached, fifo = where / "reached", where / "fifo"
    os.mkfifo(fifo)
    (where / "sitecustomize.py").write_text(PARK_HOOK.format(event=event, fragment=fragment, reached=str(reached),
                                                             fifo=str(fifo)))
    return reached, {"PYTHONPATH": os.pathsep.join(filter(None, (str(where), os.environ.get("PYTHONPATH"))))}


def park_on_git_hook(repo: Path, hook: str, when: str) -> Path:
    """A git hook (`hook`, e.g. post-commit) that parks ct.py where the shell test `when` holds, until the
    test kills it; returns the file the hook touches on arrival (poll it, then SIGKILL at that point)."""
    reached, fifo = repo.parent / f"{hook}.reached", repo.parent / f"{hook}.fifo"
    os.mkfifo(fifo)
    path = repo / ".git/hooks" / hook
    path.write_text(f"#!/bin/sh\nif {when}; then\n  touch '{reached}'\n  exec cat '{fifo}' >/dev/null\nfi\nexit 0\n")
    path.chmod(0o755)
    return reached
