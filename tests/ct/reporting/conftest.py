"""One CT project per task (binary, multiclass, regression), built once per session: a first source with
three CT steps (a drift retrain among them), then a second source (a new lineage, a major version) with
three more. What the views are tested on: every task, several steps, two lineages."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from tests.helpers import built_once, ct, dvc, git, make_project, set_params

FIRST_SOURCE = {"binary": "sklearn:breast_cancer", "multiclass": "sklearn:wine", "regression": "sklearn:diabetes"}


def second_source(task: str) -> pd.DataFrame:
    """The second lineage's data: another table of the same task (a user's own CSV)."""
    from sklearn import datasets

    if task == "binary":
        frame = datasets.load_wine(as_frame=True).frame
        frame["target"] = (frame["target"] == 0).astype(int)
        return frame
    if task == "multiclass":
        return datasets.load_iris(as_frame=True).frame
    return datasets.load_diabetes(as_frame=True, scaled=False).frame.sample(frac=0.9, random_state=1)


def build(task: str, dest: Path) -> Path:
    repo = make_project(dest)
    set_params(repo, data__source=FIRST_SOURCE[task], ct__start_step=1)
    git("commit", "-qam", "first source", cwd=repo)
    ct(repo, "simulate", "--scenario", "sudden", "--steps", "3", "--batch-size", "150")
    second_source(task).to_csv(repo / "data/source/second.csv", index=False)
    dvc("add", "data/source/second.csv", cwd=repo)
    set_params(repo, data__source="data/source/second.csv")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "second source", cwd=repo)
    ct(repo, "simulate", "--scenario", "sudden", "--steps", "3", "--batch-size", "150")
    return repo


@pytest.fixture(scope="session")
def task_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`task_project(task)`: that task's project, built on first use in this test run, whichever xdist
    worker asks first (do not modify)."""
    built: dict[str, Path] = {}

    def get(task: str) -> Path:
        if task not in built:
            built[task] = built_once(tmp_path_factory, f"views-{task}", lambda parent: build(task, parent / "project"))[0]
        return built[task]

    return get
