"""Soak: 100 CT steps on small batches in one ct.py process; no growth in time per step or memory,
and history and tags consistent at the end. Skip locally with `-m "not soak"`."""
from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import env, git, history
from tests.reliability.support import check_history, check_releases, tracked_changes

pytestmark = [pytest.mark.slow, pytest.mark.soak]

STEPS = 100
WINDOW = 20
STEP_LINE = re.compile(r"^step (\d+)/(\d+) \(#(\d+)\): .*  (ok|RETRAINED -> \S+|BLOCKED|FAILED|QUARANTINED)  .*\[([\d.]+)s\]$")


def _status_kb(pid: int, field: str) -> int:
    """VmRSS / VmHWM of a live process, in kB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def _cpu_s(pid: int) -> float:
    """CPU seconds of a live process and of its children it has waited for (dvc, stages), from /proc:
    the work of its steps, whatever else the machine is doing (wall time grows with the load)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # fields 3 onwards
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])  # fields 14-17
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def test_100_steps_without_growth(released_repo: Path) -> None:
    repo = released_repo
    rows = len(history(repo))
    proc = subprocess.Popen([sys.executable, str(repo / "ct.py"), "simulate", "--scenario", "none", "--steps", str(STEPS),
                             "--batch-size", "50"], cwd=repo, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    steps, rss_kb, lines, peak_kb, cpu_s = [], [], [], 0, []
    for line in proc.stdout:  # one progress line per step, read as it is printed
        lines.append(line)
        if match := STEP_LINE.match(line.rstrip("\n")):
            cpu_s.append(_cpu_s(proc.pid))
            steps.append((int(match[1]), match[4], cpu_s[-1] - cpu_s[-2] if len(cpu_s) > 1 else None))
            rss_kb.append(_status_kb(proc.pid, "VmRSS"))
            if len(steps) == STEPS:
                peak_kb = _status_kb(proc.pid, "VmHWM")
    assert proc.wait(timeout=600) == 0, "".join(lines[-20:])
    assert [s[0] for s in steps] == list(range(1, STEPS + 1))

    # CPU time per step (from the previous step's line; step 1's includes start-up, so it is left out):
    # steps that only measured drift (a retrain is a different workload).
    plain = [(i, seconds) for i, outcome, seconds in steps if outcome == "ok" and seconds is not None]
    first = [s for i, s in plain if i <= WINDOW]
    last = [s for i, s in plain if i > STEPS - WINDOW]
    ratio = statistics.mean(last) / statistics.mean(first)
    children_peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = (f"{STEPS} steps: mean CPU {statistics.mean(first):.2f}s (steps 2-{WINDOW}) vs {statistics.mean(last):.2f}s "
              f"(steps {STEPS - WINDOW + 1}-{STEPS}), ratio {ratio:.2f}; ct.py RSS {rss_kb[WINDOW - 1] / 1024:.0f} MB at "
              f"step {WINDOW}, {rss_kb[-1] / 1024:.0f} MB at step {STEPS}, peak {peak_kb / 1024:.0f} MB; largest child "
              f"peak {children_peak_kb / 1024:.0f} MB; retrains {sum(o != 'ok' for _, o, _ in steps)}")
    print(report)
    assert len(first) >= WINDOW // 2 and len(last) >= WINDOW // 2, report
    assert ratio < 1.5, report

    # Memory of the long-lived ct.py process: flat after warm-up (imports, first plots).
    assert rss_kb[-1] - rss_kb[WINDOW - 1] < 48 * 1024, report
    assert max(rss_kb[WINDOW - 1:]) < 1.25 * rss_kb[WINDOW - 1] + 16 * 1024, report

    past = check_history(repo, check_releases(repo))
    assert len(past) == rows + STEPS
    assert set(past["status"].iloc[rows:]) <= {"ok", "retrained", "blocked"}
    assert tracked_changes(repo) == ""
    assert git("log", "-1", "--format=%s", cwd=repo).stdout.strip() == f"ct: record steps {rows + 1}-{rows + STEPS} (none)"
