"""The Run handle a stage logs through, and the one warning line it gives instead of raising.

Tracking never raises into the stage: every call into Neptune is guarded here, and a failure is
one line on stderr, with the token redacted should any text ever contain it.
"""
from __future__ import annotations

import json
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ctml.io import describe_data, sha256_file
from ctml.tracking import neptune_client
from ctml.tracking.fields import flatten
from ctml.tracking.mode import LOCAL_MODES, TOKEN_ENV


def warn(message: str) -> None:
    """One warning line on stderr; stdout stays the stage's own output."""
    print(f"warning: tracking: {redact(message)}", file=sys.stderr, flush=True)


def redact(text: str) -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    return text.replace(token, "***") if len(token) >= 8 else text


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def _as_list(values: Any) -> list[Any]:
    """One value or an iterable of values (list, tuple, NumPy array, pandas Series) as a list."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return [values]
    return list(values)


class Run:
    """Handle a stage or CT step logs through; never raises, never blocks the pipeline.

    Keys are slash-separated Neptune paths. A disabled run accepts every call and does nothing.
    """

    def __init__(self, handle: Any = None, mode: str = "disabled") -> None:
        self._handle = handle
        self.mode = mode  # offline | async | sync | debug | disabled
        self._metric_keys: list[str] = []
        self.directory = neptune_client.directory(handle)  # the run's local folder (offline and async modes), or None

    @property
    def enabled(self) -> bool:
        return self._handle is not None

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - tracking must never fail the stage
            warn(f"{what} not logged ({first_line(exc)})")

    def _assign(self, fields: Mapping[str, Any]) -> None:
        for key, value in fields.items():
            with self._guard(key):
                neptune_client.assign(self._handle, key, value)

    def log(self, key: str, value: Any) -> None:
        """Assign a field (scalar, string or nested mapping) under `key` (slash-separated path)."""
        if self._handle is not None:
            self._assign(flatten(value, key))

    def metrics(self, namespace: str, values: Mapping[str, Any]) -> None:
        """Assign metrics under `namespace/<name>`: pass the same dict the stage writes to its metrics file."""
        if self._handle is not None:
            fields = flatten(dict(values), namespace)
            self._metric_keys.extend(k for k in fields if k not in self._metric_keys)
            self._assign(fields)

    def series(self, key: str, values: Sequence[float] | float, steps: Sequence[float] | float | None = None) -> None:
        """Append to a numeric series (e.g. `ct/drift_score`); one value or many. Non-finite values are skipped."""
        if self._handle is None:
            return
        with self._guard(key):
            values, steps = _as_list(values), None if steps is None else _as_list(steps)
            if steps is not None and len(steps) != len(values):
                raise ValueError(f"{len(values)} values but {len(steps)} steps")
            pairs = [(float(v), None if steps is None else float(s))
                     for v, s in zip(values, steps if steps is not None else [None] * len(values))]
            pairs = [(v, s) for v, s in pairs if math.isfinite(v)]
            if pairs:
                neptune_client.append(self._handle, key, [v for v, _ in pairs],
                                      None if steps is None else [s for _, s in pairs])

    def upload(self, key: str, path: str | Path) -> None:
        """Upload a file (artifact or PNG image) under `key`, with its sha256 beside it (`<key>_sha256`).

        The file is copied into the run's folder at once, so an offline run keeps the bytes of this
        run even after the stage overwrites the file. A directory uploads each file under `key/<name>`.
        """
        if self._handle is None:
            return
        path = Path(path)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = file.relative_to(path).with_suffix("").as_posix()
                self.upload(f"{key}/{rel}", file)
            return
        with self._guard(key):
            sha = sha256_file(path)
            neptune_client.upload(self._handle, key, path)
            self._assign({f"{key}_sha256": sha})

    def data_input(self, name: str, path: str | Path) -> None:
        """Record a data file or directory under `data/<name>`: path, sha256, md5 (as in dvc.lock), bytes, rows."""
        if self._handle is None:
            return
        with self._guard(f"data/{name}"):
            self._assign(flatten(describe_data(path), f"data/{name}"))

    def tag(self, *tags: str) -> None:
        """Add tags (e.g. a CT decision) to filter runs by in the Neptune app."""
        if self._handle is not None and tags:
            with self._guard("sys/tags"):
                neptune_client.add_tags(self._handle, [str(t) for t in tags])

    def _finish(self, status: str, error: str | None, duration_s: float, timeout_s: float, peak_rss_mb: float) -> None:
        if self._handle is None:
            return
        fields: dict[str, Any] = {"run/status": status, "run/duration_s": round(duration_s, 4), "run/peak_rss_mb": peak_rss_mb,
                                  "run/metric_keys": json.dumps(self._metric_keys)}
        if error:
            fields["run/error"] = error
        if status != "ok":
            fields["sys/failed"] = True
        self._assign(fields)
        with self._guard("stop"):
            # Offline: a local flush. Online: wait for the upload at most timeout_s; what is left stays
            # queued under .neptune/async for `neptune sync`.
            neptune_client.stop(self._handle, None if self.mode in LOCAL_MODES else timeout_s)
        handle, self._handle = self._handle, None
        neptune_client.release(handle)
