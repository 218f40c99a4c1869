"""Served traffic into CT: captured rows (and their fed-back labels) written as files into the inboxes.

Rows carry the reserved columns CT sets aside (`ctml.ct.records`): `_ct_request_id` (the request id
and the row's place in it, `<id>/<row>`, unique per row so delayed labels join row by row),
`_ct_time`, `_ct_prediction` and `_ct_model_version`, and with a shadow loaded `_ct_shadow_prediction` and
`_ct_shadow_version` (set after the reply, by ctml.serve.shadow, while the rows are still buffered). A file is written every `serve.capture_rows`
rows or `serve.capture_seconds`, and on shutdown, by a thread of its own (a request never waits
for a write), atomically: `ctml.io` writes `.<name>.*.tmp` and renames, and the inbox ignores
dot-files, so a half-written file is never picked up. Labels go to data/labels/ in the same flush,
after the rows: a label file is never older than the rows it labels, as the inbox order requires.

A write that fails (a full or read-only disk) is logged and counted in /metrics, its rows dropped:
serving goes on. `serve.capture_sample` captures that share of requests, chosen by a hash of the id.
"""
from __future__ import annotations

import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ctml import layout
from ctml.ct.records import MODEL_VERSION, PREDICTION, REQUEST_ID, REQUEST_TIME, SHADOW_PREDICTION, SHADOW_VERSION
from ctml.io import write_parquet
from ctml.serve.metrics import Metrics
from ctml.serve.scoring import Scored


def row_ids(request_id: str, rows: int) -> list[str]:
    return [f"{request_id}/{i}" for i in range(rows)]


def sampled(request_id: str, share: float) -> bool:
    """Whether a request is captured: a stable hash of its id, so a retry is captured or not alike."""
    return share >= 1.0 or zlib.crc32(request_id.encode()) / 2**32 < share


@dataclass
class _Buffer:
    rows: list[dict[str, list[Any]]] = field(default_factory=list)  # one column dict per captured request
    at: dict[str, int] = field(default_factory=dict)  # request id -> its place in rows (where the shadow's labels go)
    count: int = 0
    labels: list[tuple[list[str], list[Any]]] = field(default_factory=list)  # (row ids, labels) fed back
    since: float = 0.0  # monotonic time of the oldest buffered entry


class Capture:
    def __init__(self, root: Path, target: str, every_rows: int, every_s: float, share: float, metrics: Metrics) -> None:
        self.incoming, self.labels_inbox = root / layout.INCOMING, root / layout.LABELS
        self.target, self.every_rows, self.every_s, self.share, self.metrics = target, every_rows, every_s, share, metrics
        self.lock = threading.Lock()
        self.buffer = _Buffer()
        self.features: tuple[str, ...] = ()
        self.files = 0
        self.due = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ct-serve-capture", daemon=True)
        self.thread.start()

    def add(self, scored: list[Scored], features: list[str], keys: list[str] | None = None) -> list[bool]:
        """Buffer the sampled requests of a micro-batch; returns which were captured. `keys`: each
        request's row key (`feedback.row_key`: a reused id's servings apart), default its id."""
        keys = keys or [s.request.id for s in scored]
        taken = [sampled(s.request.id, self.share) for s in scored]
        if not any(taken):
            return taken
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        other = None
        with self.lock:
            if self.buffer.rows and tuple(features) != self.features:
                other, self.buffer = self.buffer, _Buffer()  # another model's columns: a file of their own
            self.features = tuple(features)
            for s, take, key in zip(scored, taken, keys):
                if take:
                    n = s.request.rows
                    self.buffer.at[s.request.id] = len(self.buffer.rows)
                    self.buffer.rows.append({**{c: s.request.columns[c] for c in features}, REQUEST_ID: row_ids(key, n),
                                             REQUEST_TIME: [stamp] * n, PREDICTION: s.labels.tolist(),
                                             MODEL_VERSION: [s.version] * n})
                    self.buffer.count += n
            self._touch()
            self.metrics.capture_buffer.set(self.buffer.count)
            if self.buffer.count >= self.every_rows:
                self.due.set()
        if other is not None:
            self._write_buffer(other)
        return taken

    def add_shadow(self, labels: list[tuple[str, list[Any]]], version: str) -> int:
        """The shadow's labels (request id, one per row) onto rows still buffered; returns the rows that
        got them. A request written out before the shadow scored it stays production-only."""
        done = 0
        with self.lock:
            for request_id, values in labels:
                if (i := self.buffer.at.get(request_id)) is not None:
                    part = self.buffer.rows[i]
                    part[SHADOW_PREDICTION], part[SHADOW_VERSION] = values, [version] * len(values)
                    done += len(values)
        return done

    def add_labels(self, request_id: str, labels: list[Any]) -> None:
        """Fed-back labels of a captured request, written after its rows."""
        with self.lock:
            self.buffer.labels.append((row_ids(request_id, len(labels)), labels))
            self._touch()

    def _touch(self) -> None:
        if not self.buffer.since:
            self.buffer.since = time.monotonic()

    def _run(self) -> None:
        while not self.stopping.is_set():
            self.due.wait(timeout=min(self.every_s, 1.0))
            with self.lock:
                since = self.buffer.since
            if self.due.is_set() or (since and time.monotonic() - since >= self.every_s):
                self.flush()

    def flush(self) -> None:
        """Write what is buffered: the rows, then the labels (a failed write is counted and dropped)."""
        with self.lock:
            buffer, self.buffer = self.buffer, _Buffer()
            self.due.clear()
            self.metrics.capture_buffer.set(0)
        self._write_buffer(buffer)

    def _write_buffer(self, buffer: _Buffer) -> None:
        if not (buffer.rows or buffer.labels):
            return
        self.files += 1
        name = f"serve-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')}-{self.files:06d}"
        if buffer.rows:
            names = dict.fromkeys(c for part in buffer.rows for c in part)  # shadow columns: only once a shadow scored
            frame = pd.DataFrame({c: [v for part in buffer.rows for v in part.get(c) or [None] * len(part[REQUEST_ID])]
                                  for c in names})
            if self._write(self.incoming / f"{name}-1-rows.parquet", frame):
                self.metrics.captured.inc(len(frame))
            else:
                self.metrics.capture_dropped.inc(len(frame))
        if buffer.labels:
            labels = pd.DataFrame({REQUEST_ID: [i for ids, _ in buffer.labels for i in ids],
                                   self.target: [v for _, values in buffer.labels for v in values]})
            self._write(self.labels_inbox / f"{name}-2-labels.parquet", labels)

    def _write(self, path: Path, frame: pd.DataFrame) -> bool:
        try:
            write_parquet(path, frame)
            return True
        except OSError as exc:
            self.metrics.capture_failures.inc()
            print(f"serve: error: capture: cannot write {path}: {exc.strerror or exc}; {len(frame)} rows dropped",
                  file=sys.stderr, flush=True)
            return False

    def stop(self) -> None:
        """Flush what is left and end the thread (shutdown)."""
        self.stopping.set()
        self.due.set()
        self.thread.join()
        self.flush()
