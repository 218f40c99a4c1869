"""Ground truth for served rows: `POST /feedback {"id": ..., "labels": [...]}`.

Every answered request is remembered (id, time, rows, whether it was captured) in a SQLite file,
`.ct/served.sqlite`: on disk, so memory stays flat however long the server runs, and a restart
still accepts feedback for requests served before it. Requests older than
`serve.feedback_retention_hours` are forgotten (404). The first labels for an id are recorded and,
when its rows were captured, handed to the capture (`ctml.serve.capture`), which writes them to
data/labels/ after the rows: the delayed-labels path of CT then measures the realized accuracy on
them and folds them into a retrain. The same labels again: 200, nothing new; different ones: 409.

A client that reuses a request id gets each serving's rows captured under a key of their own (`id`,
then `id~2`, `id~3`, ...: `serving` counts them), and feedback for the id labels the rows of its
latest serving only: rows an earlier serving of the id left are never labelled by it.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ctml.serve.protocol import RequestError, loads
from ctml.serve.scoring import Scored, Served


@dataclass(frozen=True)
class Recorded:
    id: str
    rows: int
    new: bool  # False: the same labels had been recorded before
    captured: bool
    key: str  # the captured rows' key: the id, or `id~N` for the Nth serving of a reused id


class Feedback:
    def __init__(self, path: Path, retention_hours: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.retention_s = retention_hours * 3600
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS served (id TEXT PRIMARY KEY, time REAL, rows INTEGER, "
                        "captured INTEGER, version TEXT, labels TEXT, serving INTEGER DEFAULT 1)")
        if "serving" not in {row[1] for row in self.db.execute("PRAGMA table_info(served)")}:  # a file from before
            self.db.execute("ALTER TABLE served ADD COLUMN serving INTEGER DEFAULT 1")

    def served(self, scored: list[Scored]) -> list[str]:
        """Remember a micro-batch's requests (before they are answered, so feedback can follow at once);
        returns each one's key for the capture (`row_key`)."""
        now = time.time()
        keys = []
        with self.lock:
            self.db.execute("BEGIN")
            for s in scored:
                serving = self.db.execute(
                    "INSERT INTO served VALUES (?, ?, ?, 0, ?, NULL, 1) ON CONFLICT(id) DO UPDATE SET time = excluded.time, "
                    "rows = excluded.rows, captured = 0, version = excluded.version, labels = NULL, serving = serving + 1 "
                    "RETURNING serving", (s.request.id, now, s.request.rows, s.version)).fetchone()[0]
                keys.append(row_key(s.request.id, serving))
            self.db.execute("COMMIT")
        return keys

    def captured(self, ids: list[str]) -> None:
        """The requests whose rows the capture took (feedback for them is handed to it)."""
        if ids:
            with self.lock:
                self.db.executemany("UPDATE served SET captured = 1 WHERE id = ?", [(i,) for i in ids])

    def forget_expired(self) -> None:
        with self.lock:
            self.db.execute("DELETE FROM served WHERE time < ?", (time.time() - self.retention_s,))

    def record(self, body: bytes, model: Served | None) -> tuple[Recorded, list[Any]]:
        """Check and record one feedback body; a RequestError (400, 404, 409) names what is wrong."""
        doc = loads(body)
        if not isinstance(doc, dict):
            raise RequestError("request body: must be a JSON object with 'id' and 'labels'")
        request_id, labels = doc.get("id"), doc.get("labels")
        if not isinstance(request_id, str) or not request_id:
            raise RequestError("id: missing or not a string (the id of a served inference request)")
        if not isinstance(labels, list) or not labels:
            raise RequestError("labels: missing or not a non-empty list (one label per row of the request, in order)")
        with self.lock:
            row = self.db.execute("SELECT time, rows, captured, labels, serving FROM served WHERE id = ?",
                                  (request_id,)).fetchone()
            if row is None or row[0] < time.time() - self.retention_s:
                raise RequestError(f"id '{request_id}': unknown, or served more than "
                                   f"{self.retention_s / 3600:g} hours ago (serve.feedback_retention_hours)", 404)
            _, rows, captured, earlier, serving = row
            key = row_key(request_id, serving or 1)
            if len(labels) != rows:
                raise RequestError(f"labels: {len(labels)} given, request '{request_id}' had {rows} rows")
            check_labels(labels, model)
            text = orjson.dumps(labels).decode()
            if earlier is not None:
                if earlier != text:
                    raise RequestError(f"id '{request_id}': other labels were recorded for it already", 409)
                return Recorded(request_id, rows, False, bool(captured), key), labels
            self.db.execute("UPDATE served SET labels = ? WHERE id = ?", (text, request_id))
        return Recorded(request_id, rows, True, bool(captured), key), labels

    def close(self) -> None:
        with self.lock:
            self.db.close()


def row_key(request_id: str, serving: int) -> str:
    """The key a serving's captured rows carry: the id itself the first time, `id~N` the Nth."""
    return request_id if serving <= 1 else f"{request_id}~{serving}"


def check_labels(labels: list[Any], model: Served | None) -> None:
    """Classes of the served classifier, or numbers for a regressor."""
    if model is None:
        return
    if model.classes is None:
        bad = next((i for i, v in enumerate(labels) if type(v) not in (int, float)), None)
        if bad is not None:
            raise RequestError(f"labels[{bad}]: {labels[bad]!r} is not a number")
        return
    classes = model.classes.tolist()
    bad = next((i for i, v in enumerate(labels) if v not in classes or type(v) is not type(classes[0])), None)
    if bad is not None:
        raise RequestError(f"labels[{bad}]: {labels[bad]!r} is not a class of the model (classes: "
                           f"{', '.join(map(repr, classes))})")
