"""Experiment tracking (Neptune). STUB: the interface stages call; the Neptune implementation lands with issue 4."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ctml.config import Params


class Run:
    """Handle a stage or CT step logs through; never raises, never blocks the pipeline."""

    def log(self, key: str, value: Any) -> None:
        """Assign a field (scalar, string or nested mapping) under `key` (slash-separated path)."""

    def metrics(self, namespace: str, values: Mapping[str, float]) -> None:
        """Assign numeric metrics under `namespace/<name>`."""

    def series(self, key: str, values: Sequence[float], steps: Sequence[float] | None = None) -> None:
        """Append a numeric series (e.g. the drift timeline) under `key`."""

    def upload(self, key: str, path: str | Path) -> None:
        """Upload a file (artifact or PNG image) under `key`, with its sha256 beside it."""

    def data_input(self, name: str, path: str | Path) -> None:
        """Record an input's hash and row count under `data/<name>`."""


@contextmanager
def stage_run(stage: str, params: Params, section: str | None = None) -> Iterator[Run]:
    """One tracked run per stage execution: config, section params, timing, git commit, versions."""
    yield Run()
