"""The pipeline id that groups the runs of one pipeline execution, the process that owns it, and the
DVC experiment it belongs to.

`CT_PIPELINE_ID` (set by ct.py for every stage of one command), else derived from the `dvc repro`
process that started the stage, so all stages of one `dvc repro` share it and two invocations
never do. Both kinds end in `<UTC start time>-<pid>` of the process that runs the whole pipeline,
so while that process lives, anything keyed by the id (ctml.tracking.fallback) is still current.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

_ID_TAIL = re.compile(r"(\d{8}T\d{6}-(\d+))$")  # what _process_id writes, at the end of an id


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot) from /proc, or None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _is_dvc(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    names = [os.path.basename(a.decode(errors="replace")) for a in argv[:2]]
    return "dvc" in names or argv[1:3] == [b"-m", b"dvc"]


def _process_id(pid: int, start_ticks: int | None) -> str:
    """`<UTC start time>-<pid>`: unique per process, sortable by time."""
    started = time.time()
    if start_ticks is not None:
        try:
            boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                        if line.startswith("btime "))
            started = boot + start_ticks / os.sysconf("SC_CLK_TCK")
        except (OSError, StopIteration, ValueError):
            pass
    return f"{datetime.fromtimestamp(started, timezone.utc):%Y%m%dT%H%M%S}-{pid}"


def new_pipeline_id() -> str:
    """A fresh id in the derived format, for a driver (ct.py) to export as CT_PIPELINE_ID."""
    return _process_id(os.getpid(), (_proc_stat(os.getpid()) or (0, None))[1])


def _dvc_ancestor() -> tuple[int, int] | None:
    """(pid, start ticks) of the nearest `dvc` ancestor process, or None."""
    pid, depth = os.getppid(), 0
    while pid > 1 and depth < 8:
        stat = _proc_stat(pid)
        if stat is None:
            break
        if _is_dvc(pid):
            return pid, stat[1]
        pid, depth = stat[0], depth + 1
    return None


def pipeline_id(environ: Mapping[str, str] = os.environ) -> str:
    """CT_PIPELINE_ID, else the id of the nearest `dvc` ancestor process, else of this process.

    DVC starts each stage as its child (through `$SHELL -c` when the command needs a shell), so
    every stage of one `dvc repro` finds the same dvc process, and two invocations never share it.
    """
    if environ.get("CT_PIPELINE_ID", "").strip():
        return environ["CT_PIPELINE_ID"].strip()
    if ancestor := _dvc_ancestor():
        return _process_id(*ancestor)
    return new_pipeline_id()


@dataclass(frozen=True)
class Owner:
    """The process a pipeline belongs to; (pid, start ticks) so a reused pid is not taken for it."""

    pid: int
    start_ticks: int | None

    def alive(self) -> bool:
        stat = _proc_stat(self.pid)
        return stat is not None and stat[1] == self.start_ticks


def owner(pipeline: str) -> Owner:
    """The live process the id names (ct.py's or dvc's), else the nearest dvc ancestor, else this process.

    An id a user chose (`CT_PIPELINE_ID=nightly`) names no process: it then lasts as long as the
    `dvc repro` that runs this stage, which is what "one pipeline" means for it.
    """
    if match := _ID_TAIL.search(pipeline):
        pid = int(match.group(2))
        stat = _proc_stat(pid)
        if stat is not None and _process_id(pid, stat[1]) == match.group(1):
            return Owner(pid, stat[1])
    if ancestor := _dvc_ancestor():
        return Owner(*ancestor)
    return Owner(os.getpid(), (_proc_stat(os.getpid()) or (0, None))[1])


def experiment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The `dvc exp run` experiment a stage runs in: its name and the commit it started from (DVC sets
    DVC_EXP_NAME and DVC_EXP_BASELINE_REV for every stage of one); empty outside experiments."""
    name = environ.get("DVC_EXP_NAME", "").strip()
    return {"experiment": name, "baseline_rev": environ.get("DVC_EXP_BASELINE_REV", "").strip()} if name else {}
