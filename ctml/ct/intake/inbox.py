"""The inboxes feeds deliver to: data/incoming (batches) and data/labels (delayed labels).

The rules, the same for both: any regular file at the top level of the folder is a delivery once it
is ready, that is unless its name starts with `.` or ends in `.tmp`, `.part` or `.partial` (a feed
writes under such a name and renames when done), and once it has settled: its size and
modification time held for `ct.settle_s` (a plain `cp` is taken as soon as it stops growing; a
file still being written waits for the next look). Deliveries are taken oldest first (modification
time, then name), one CT step each. A processed file leaves the inbox: archived under
`data/archive/<inbox>/` with its step number, content hash and a safe, bounded form of its name, or
moved to the quarantine with its reason; nothing is deleted unread and nothing is overwritten. A
file whose bytes were processed before is a duplicate of that step.

Any name a filesystem allows is taken, including bytes that are not UTF-8 and names near the
255-byte limit: records and messages show it with such bytes escaped (`bad-\\xff.csv`), archive
names are derived from it. Symlinks, FIFOs, sockets and devices are never opened: each is refused
with one line and left as it is.

Only the standard library here: `ct.py check` lists the inboxes before importing anything heavy.
"""
from __future__ import annotations

import hashlib
import os
import stat
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ctml import layout
from ctml.errors import UserError
from ctml.io import shown

Kind = Literal["batch", "labels"]
NOT_READY_SUFFIXES = (".tmp", ".part", ".partial")  # still being written by the feed
INBOX_DOCS = "README.md"  # each inbox's own documentation, shipped with the project: never a delivery
NAME_BYTES = 120  # an archive name's part from the delivered name: with `step-NNNN.<sha12>.` far below 255 bytes
SUFFIX_BYTES = 16  # the longest extension kept when a name is shortened


@dataclass(frozen=True)
class Delivery:
    """One ready file in an inbox. `path` is the name as on disk (any bytes); `rel` is how records and
    messages show it (relative to the project root, undecodable bytes escaped)."""

    kind: Kind
    path: Path  # absolute
    rel: str  # relative to the project root, e.g. data/incoming/orders-0612.csv
    size: int
    mtime_ns: int
    inode: int  # with size and time: the file listed is the file archived


def safe_name(name: str) -> str:
    """The delivered name for an archive or quarantine file: printable, no control or undecodable
    byte (each becomes `_`), at most NAME_BYTES bytes with its extension kept."""
    text = os.fsencode(name).decode("utf-8", "replace")
    clean = "".join("_" if ch == "\ufffd" or unicodedata.category(ch)[0] == "C" else ch for ch in text).lstrip(".") or "_"
    if len(clean.encode()) <= NAME_BYTES:
        return clean
    stem, dot, suffix = clean.rpartition(".")
    suffix = f".{suffix}" if dot and stem and len(suffix.encode()) < SUFFIX_BYTES else ""
    head = clean[:-len(suffix)] if suffix else clean
    budget = NAME_BYTES - len(suffix.encode()) - 1
    return head.encode()[:budget].decode("utf-8", "ignore") + "~" + suffix


def is_ready(name: str) -> bool:
    """A delivery a feed has finished writing (see the module docstring)."""
    return not name.startswith(".") and not name.endswith(NOT_READY_SUFFIXES) and name != INBOX_DOCS


def _kind_of(mode: int) -> str:
    return ("a symlink" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")


def scan(root: Path) -> tuple[list[Delivery], list[str]]:
    """(every ready regular file of both inboxes, oldest first; one line per entry refused). Nothing is
    followed: an entry is judged by its own `lstat`. Labels delivered after their rows come after them."""
    found, refused = [], []
    for kind, folder in layout.INBOXES.items():
        try:
            entries = list(os.scandir(root / folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if not is_ready(entry.name):
                continue
            info = entry.stat(follow_symlinks=False)
            rel = shown((folder / entry.name).as_posix())
            if stat.S_ISREG(info.st_mode):
                found.append(Delivery(kind, Path(entry.path), rel, info.st_size, info.st_mtime_ns, info.st_ino))
            elif not stat.S_ISDIR(info.st_mode):  # a folder is nobody's delivery: ignored, as ever
                refused.append(f"{rel}: {_kind_of(info.st_mode)}, not a regular file: refused, never opened, left as it is "
                               "(deliver the file itself)")
    return sorted(found, key=lambda d: (d.mtime_ns, os.fsencode(d.path.name), d.kind)), refused


def pending(root: Path) -> list[Delivery]:
    """Every ready regular file of both inboxes, oldest first (modification time, then name)."""
    return scan(root)[0]


def refused(root: Path) -> list[str]:
    """One line per symlink, FIFO, socket or device in an inbox."""
    return scan(root)[1]


def _same(delivery: Delivery) -> bool:
    try:
        info = os.lstat(delivery.path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(info.st_mode) and (info.st_size, info.st_mtime_ns, info.st_ino) == \
        (delivery.size, delivery.mtime_ns, delivery.inode)


def settled(delivery: Delivery, window_s: float) -> bool:
    """Whether the file held its size and modification time for `window_s`: a young file is looked at
    again once it is that old (a feed writing without a temp name is caught mid-write)."""
    age_s = (time.time_ns() - delivery.mtime_ns) / 1e9
    if age_s < window_s:
        time.sleep(window_s - age_s)
    return _same(delivery)


def unchanged(delivery: Delivery) -> bool:
    """Whether the file is still the one listed (same size, time and inode): the bytes hashed are the
    bytes archived."""
    return _same(delivery)


def identity(delivery: Delivery) -> dict[str, object]:
    """What the in-flight marker keeps of a delivery under way (JSON: the name as hex bytes), so that
    recovery can finish its archive (`recorded`)."""
    return {"kind": delivery.kind, "name": os.fsencode(delivery.path.name).hex(), "size": delivery.size,
            "mtime_ns": delivery.mtime_ns, "inode": delivery.inode}


def recorded(root: Path, marked: dict[str, object]) -> Delivery | None:
    """The delivery an in-flight marker names (`identity`), if it is still in its inbox as it was listed."""
    folder = layout.INBOXES[marked["kind"]]
    name = os.fsdecode(bytes.fromhex(str(marked["name"])))
    delivery = Delivery(marked["kind"], root / folder / name, shown((folder / name).as_posix()), int(marked["size"]),
                        int(marked["mtime_ns"]), int(marked["inode"]))
    return delivery if _same(delivery) else None


def digest(delivery: Delivery, chunk: int = 1 << 20) -> str:
    """The sha256 of the delivered bytes, read through a descriptor that refuses a symlink swapped in
    since the listing (O_NOFOLLOW) and never blocks on a FIFO; OSError when it is not that file."""
    fd = os.open(delivery.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (info.st_size, info.st_mtime_ns) != (delivery.size, delivery.mtime_ns):
            raise OSError(0, "changed since the inbox was listed")
        hasher = hashlib.sha256()
        while block := handle.read(chunk):
            hasher.update(block)
    return hasher.hexdigest()


def check_places(root: Path) -> None:
    """Refuse, before any step, an inbox a processed file could not leave by a rename: read-only, or on
    another filesystem than data/archive and data/quarantine (a mount: the rename would fail after the
    step, or copy). One line naming the folder."""
    for folder in layout.INBOXES.values():
        inbox = root / folder
        if not inbox.is_dir():
            continue
        if os.statvfs(inbox).f_flag & os.ST_RDONLY or not os.access(inbox, os.W_OK):
            raise UserError(f"{folder}: read-only: a processed file cannot leave it; nothing was processed (make it "
                            "writable)")
        device = os.stat(inbox).st_dev
        for place in (layout.ARCHIVE / folder.name, layout.QUARANTINE):
            try:
                (root / place).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"{place}: cannot be created ({exc.strerror}); nothing was processed") from None
            if os.stat(root / place).st_dev != device:
                raise UserError(f"{folder}: on another filesystem than {place} (a mount?): a processed file would be "
                                f"copied, not moved; nothing was processed (deliver into the project's filesystem)")


def archive(root: Path, delivery: Delivery, step: int, sha256: str) -> Path:
    """Move a processed delivery out of its inbox to `data/archive/<inbox>/step-NNNN.<sha12>.<name>`
    (`safe_name`: any delivered name fits; the history row keeps it as delivered).

    A rename within the project's filesystem (`check_places`): the bytes are never copied or lost. An
    archive file of that name (a re-run of the same step number after a crash) is never overwritten:
    a suffix is added.
    """
    folder = root / layout.ARCHIVE / Path(delivery.rel).parent.name
    folder.mkdir(parents=True, exist_ok=True)
    name = safe_name(delivery.path.name)
    dest = folder / f"step-{step:04d}.{sha256[:12]}.{name}"
    n = 1
    while os.path.lexists(dest):
        n += 1
        dest = folder / f"step-{step:04d}.{sha256[:12]}.{n}.{name}"
    os.replace(delivery.path, dest)
    return dest
