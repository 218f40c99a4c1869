"""Two ct.py processes at once: one runs, the other exits 75 with a message; nothing is corrupted."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ct, env, git, history, tags, wait_for
from tests.reliability.support import check_history, check_releases, start_ct, tracked_changes

pytestmark = pytest.mark.slow

STEPS = 3
SIMULATE = ("simulate", "--scenario", "none", "--steps", str(STEPS), "--batch-size", "50")


def _start(repo: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(repo / "ct.py"), *SIMULATE], cwd=repo, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_simulations_started_at_once(released_repo: Path) -> None:
    repo = released_repo
    rows, before = len(history(repo)), tags(repo)
    procs = [_start(repo), _start(repo)]
    outputs = [p.communicate(timeout=600) for p in procs]
    by_code = {p.returncode: (p.pid, out, err) for p, (out, err) in zip(procs, outputs, strict=True)}
    assert sorted(by_code) == [0, 75], outputs
    _, won, _ = by_code[0]
    _, lost_out, lost_err = by_code[75]
    # The pid is read from the lock file, which the winner writes just after taking the lock.
    assert re.fullmatch(rf"error: {re.escape(str(repo / '.ct.lock'))}: another ct.py \(pid (\d+|unknown)\) is running "
                        r"in this project; try again when it ends\n", lost_err), lost_err
    assert lost_out == ""
    assert "CT summary" in won

    past = check_history(repo, check_releases(repo))
    assert len(past) == rows + STEPS
    assert tags(repo) == before
    assert tracked_changes(repo) == ""
    assert git("log", "-1", "--format=%s", cwd=repo).stdout.strip() == f"ct: record steps {rows + 1}-{rows + STEPS} (none)"


def test_check_while_a_simulation_holds_the_lock(released_repo: Path) -> None:
    """Deterministic variant: the second process starts only once the first one holds the lock."""
    repo = released_repo
    runner = start_ct(repo, *SIMULATE)
    lock = repo / ".ct.lock"
    wait_for(lambda: lock.exists() and lock.read_text().strip() == str(runner.pid), proc=runner, what="the CT lock",
             timeout=300, every=0.002)
    busy = ct(repo, "check", check=False)
    still_running = runner.poll() is None
    out, _ = runner.communicate(timeout=600)
    assert still_running, "the first run ended before the second one was refused"
    assert busy.returncode == 75 and f"another ct.py (pid {runner.pid}) is running" in busy.stderr
    assert runner.returncode == 0, out
    check_history(repo, check_releases(repo))
    assert tracked_changes(repo) == ""
