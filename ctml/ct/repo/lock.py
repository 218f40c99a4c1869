"""One CT process at a time per project, and a marker that tells the next run a step was cut short."""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ctml import layout
from ctml.errors import UserError
from ctml.io import write_json

EXIT_BUSY = 75  # EX_TEMPFAIL: another ct.py holds the lock; try again later


class Busy(UserError):
    """Another ct.py process is running steps in this project."""

    exit_code = EXIT_BUSY


@contextmanager
def exclusive(root: Path) -> Iterator[None]:
    """An flock held for the whole command; the kernel drops it if the process dies, even by SIGKILL."""
    path = root / layout.LOCK
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise Busy(f"{path}: another ct.py (pid {holder}) is running in this project; try again when it ends") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def mark_inflight(root: Path, info: dict[str, Any]) -> None:
    """The step under way; a delivery loop's marker keeps its `delivery` (the file under way, what
    recovery archives once the step stands) through the step's phases."""
    held = {"delivery": previous} if (previous := (inflight(root) or {}).get("delivery")) else {}
    write_json(root / layout.INFLIGHT, {**held, **info})


def clear_inflight(root: Path) -> None:
    """The step's own work is done. A delivered file's step keeps its marker, as `phase: done`, until
    its history row is written (`finish_delivery`): a kill in between leaves recovery a step to record."""
    marker = inflight(root)
    if marker is not None and marker.get("delivery"):
        write_json(root / layout.INFLIGHT, {**marker, "phase": "done"})
        return
    (root / layout.INFLIGHT).unlink(missing_ok=True)


def finish_delivery(root: Path) -> None:
    """The delivered file's step is recorded (and the file archived): nothing is left to recover."""
    (root / layout.INFLIGHT).unlink(missing_ok=True)


def inflight(root: Path) -> dict[str, Any] | None:
    path = root / layout.INFLIGHT
    return json.loads(path.read_text()) if path.exists() else None
