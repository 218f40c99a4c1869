"""A bad params.yaml stops `python ct.py` before any work: one line naming the key and what is
allowed, exit 1, and nothing in the project changed (tests/test_config.py covers `dvc repro`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import copy_project, ct, git
from tests.reliability.support import snapshot

pytestmark = pytest.mark.slow


def _edit(section: str, **changes: Any):
    def apply(params: dict[str, Any]) -> None:
        params[section].update(changes)
    return apply


def _rename(section: str, old: str, new: str):
    def apply(params: dict[str, Any]) -> None:
        params[section][new] = params[section].pop(old)
    return apply


# case -> (change to params.yaml (a function of the mapping, or raw text), what stderr must say)
CASES = {
    "malformed YAML": ("ct:\n  threshold: [0.3\n", "params.yaml: malformed YAML at line"),
    "unknown section": (lambda p: p.update(trainer={"model": "x"}),
                        "unknown key 'trainer' (did you mean 'train'? allowed: seed, data, validate"),
    "misspelled key": (_rename("ct", "threshold", "treshold"),
                       "unknown key 'ct.treshold' (did you mean 'threshold'? allowed: threshold, max_out_of_range_share, max_unknown_category_share, max_accuracy_drop"),
    "unknown nested key": (_edit("train", n_estimator=50),
                           "unknown key 'train.n_estimator' (did you mean 'n_estimators'? allowed: model, n_estimators"),
    "wrong type (text for an integer)": (_edit("train", n_estimators="many"),
                                         "key 'train.n_estimators' = 'many': Input should be a valid integer"),
    "wrong type (text for a number)": (_edit("ct", threshold="high"),
                                       "key 'ct.threshold' = 'high': Input should be a valid number"),
    "negative ct.threshold": (_edit("ct", threshold=-0.1),
                              "key 'ct.threshold' = -0.1: Input should be greater than or equal to 0"),
    "ct.threshold above 1": (_edit("ct", threshold=1.5), "key 'ct.threshold' = 1.5: Input should be less than or equal to 1"),
    "preprocess.test_size = 1": (_edit("preprocess", test_size=1.0),
                                 "key 'preprocess.test_size' = 1.0: Input should be less than 1"),
    "preprocess.test_size > 1": (_edit("preprocess", test_size=3),
                                 "key 'preprocess.test_size' = 3: Input should be less than 1"),
    "value outside a choice": (_edit("ct", policy="rolling"),
                               "key 'ct.policy' = 'rolling': Input should be 'append', 'window' or 'cap'"),
    "missing section": (lambda p: p.pop("ct"), "missing key 'ct'"),
}


def _break(repo: Path, change: Any) -> None:
    path = repo / "params.yaml"
    if isinstance(change, str):
        path.write_text(change)
        return
    params = yaml.safe_load(path.read_text())
    change(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def project(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy for the module: every case breaks params.yaml, runs ct.py, and restores it."""
    return copy_project(released, tmp_path_factory.mktemp("config"))


@pytest.mark.parametrize("command", [("simulate", "--steps", "1", "--batch-size", "50"), ("check",)], ids=["simulate", "check"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_params_are_rejected_before_any_work(project: Path, case: str, command: tuple[str, ...]) -> None:
    repo = project
    change, expected = CASES[case]
    git("checkout", "--", "params.yaml", cwd=repo)
    before = snapshot(repo)
    head = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    history = (repo / "metrics/ct_history.csv").read_bytes()
    _break(repo, change)
    broken = (repo / "params.yaml").read_text()

    proc = ct(repo, *command, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert expected in lines[0]
    assert proc.stdout == ""

    assert (repo / "params.yaml").read_text() == broken
    git("checkout", "--", "params.yaml", cwd=repo)
    assert snapshot(repo) == before
    assert git("rev-parse", "HEAD", cwd=repo).stdout.strip() == head
    assert (repo / "metrics/ct_history.csv").read_bytes() == history
    assert not (repo / ".ct/inflight.json").exists()
    assert not (repo / "data/quarantine").exists()
    assert git("status", "--porcelain", cwd=repo).stdout == ""
