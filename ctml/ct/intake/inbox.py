"""The inboxes feeds deliver to: data/incoming (batches) and data/labels (delayed labels).

The rules, the same for both: any file at the top level of the folder is a delivery once it is
ready, that is unless its name starts with `.` or ends in `.tmp`, `.part` or `.partial` (a feed
writes under such a name and renames when done; there is no age threshold, so a plain `cp` is
taken at once). Deliveries are taken oldest first (modification time, then name), one CT step
each. A processed file leaves the inbox: archived under `data/archive/<inbox>/` with its step
number and content hash, or moved to the quarantine with its reason; nothing is deleted unread and
nothing is overwritten. A file whose bytes were processed before is a duplicate of that step.

Only the standard library here: `ct.py check` lists the inboxes before importing anything heavy.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ctml import layout

Kind = Literal["batch", "labels"]
NOT_READY_SUFFIXES = (".tmp", ".part", ".partial")  # still being written by the feed
INBOX_DOCS = "README.md"  # each inbox's own documentation, shipped with the project: never a delivery


@dataclass(frozen=True)
class Delivery:
    """One ready file in an inbox."""

    kind: Kind
    path: Path  # absolute
    rel: str  # relative to the project root, e.g. data/incoming/orders-0612.csv
    size: int
    mtime_ns: int


def is_ready(name: str) -> bool:
    """A delivery a feed has finished writing (see the module docstring)."""
    return not name.startswith(".") and not name.endswith(NOT_READY_SUFFIXES) and name != INBOX_DOCS


def pending(root: Path) -> list[Delivery]:
    """Every ready file of both inboxes, oldest first (modification time, then name): labels
    delivered after their rows are taken after them."""
    found = []
    for kind, folder in layout.INBOXES.items():
        try:
            entries = list(os.scandir(root / folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_file() and is_ready(entry.name):
                stat = entry.stat()
                found.append(Delivery(kind, Path(entry.path), (folder / entry.name).as_posix(), stat.st_size, stat.st_mtime_ns))
    return sorted(found, key=lambda d: (d.mtime_ns, d.path.name, d.kind))


def archive(root: Path, delivery: Delivery, step: int, sha256: str) -> Path:
    """Move a processed delivery out of its inbox to `data/archive/<inbox>/step-NNNN.<sha12>.<name>`.

    A rename within the project's filesystem: the bytes are never copied or lost. An archive file of
    that name (a re-run of the same step number after a crash) is never overwritten: a suffix is added.
    """
    folder = root / layout.ARCHIVE / Path(delivery.rel).parent.name
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"step-{step:04d}.{sha256[:12]}.{delivery.path.name}"
    n = 1
    while dest.exists():
        n += 1
        dest = folder / f"step-{step:04d}.{sha256[:12]}.{n}.{delivery.path.name}"
    os.replace(delivery.path, dest)
    return dest
