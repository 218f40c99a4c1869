"""Remembering, for one pipeline, that going online failed: one timeout per pipeline, not per stage.

Why: a forced `dvc repro` against a server that accepts connections and never answers took 47 s
instead of 12 s, each of its 7 stages waiting its own `tracking.online_timeout_s` and warning
again. The first run that fails to go online leaves a marker named after its pipeline id in
`.neptune/online-failed/` (git-ignored, outside every DVC dependency); the later runs of the same
pipeline (the other stages of one `dvc repro`, every stage of one `ct.py` command) find it and go
straight offline, silently. The marker lasts while the pipeline's owner process lives (the `dvc`
or `ct.py` process, `pipeline.owner`): the next command tries online again, and stale markers are
removed whenever one is read or written.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from ctml.io import atomic_path
from ctml.tracking.mode import data_directory
from ctml.tracking.pipeline import Owner, owner

FOLDER = "online-failed"


def _folder(root: str | Path) -> Path:
    return data_directory(root) / FOLDER


def _marker(root: str | Path, pipeline: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", pipeline)[:120] or "_"
    return _folder(root) / f"{safe}.json"


def _read(path: Path) -> tuple[str, str, Owner] | None:
    """(pipeline, reason, owner) of a marker, or None when it is unreadable."""
    try:
        data = json.loads(path.read_text())
        return str(data["pipeline"]), str(data["reason"]), Owner(int(data["owner"][0]), data["owner"][1])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def earlier_failure(pipeline: str, root: str | Path = ".") -> str | None:
    """Why an earlier run of this pipeline could not go online, while its owner still runs; else None."""
    path = _marker(root, pipeline)
    if not path.exists():
        return None
    found = _read(path)
    if found and found[0] == pipeline and found[2].alive():
        return found[1]
    path.unlink(missing_ok=True)  # the pipeline is over (or the marker is damaged): try online again
    return None


def remember_failure(pipeline: str, reason: str, root: str | Path = ".") -> None:
    """Record that this pipeline cannot go online (the reason holds no secret: a class name or our text)."""
    _remove_stale(root)
    who = owner(pipeline)
    with atomic_path(_marker(root, pipeline)) as tmp:
        tmp.write_text(json.dumps({"pipeline": pipeline, "reason": reason, "owner": [who.pid, who.start_ticks],
                                   "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}) + "\n")


def _remove_stale(root: str | Path) -> None:
    folder = _folder(root)
    if not folder.is_dir():
        return
    for path in folder.glob("*.json"):
        found = _read(path)
        if found is None or not found[2].alive():
            path.unlink(missing_ok=True)
