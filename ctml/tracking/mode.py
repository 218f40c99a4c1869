"""Whether a run is tracked, in which Neptune mode, and where Neptune keeps its files.

Pure functions of params and the environment, so every combination is tested without Neptune.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from ctml.config import Params

OFF_VALUES = ("off", "0", "false", "no", "disabled")
LOCAL_MODES = ("offline", "debug")  # Neptune modes that need no server: nothing to time out or fall back from
DEFAULT_TIMEOUT_S = 5.0
TOKEN_ENV = "NEPTUNE_API_TOKEN"


@dataclass(frozen=True)
class Settings:
    enabled: bool
    mode: str  # what Neptune is asked for first: offline | async | sync | debug | ...
    timeout_s: float


def settings(params: Params | None, environ: Mapping[str, str] = os.environ) -> Settings:
    """Resolve params + environment into what a run will do; pure, so it is tested directly."""
    tracking = getattr(params, "tracking", None)
    enabled = bool(getattr(tracking, "enabled", True))
    if environ.get("CT_TRACKING", "").strip().lower() in OFF_VALUES:
        enabled = False
    mode = environ.get("NEPTUNE_MODE", "").strip().lower()
    if not mode:
        mode = "async" if environ.get(TOKEN_ENV, "").strip() and environ.get("NEPTUNE_PROJECT", "").strip() else "offline"
    return Settings(enabled, mode, float(getattr(tracking, "online_timeout_s", DEFAULT_TIMEOUT_S)))


def data_directory(root: str | Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """Where Neptune keeps the runs of the project at `root`; None: of this process's project, which is
    DVC_ROOT when DVC runs the stage (in a queued `dvc exp run` the project, not the temporary copy the
    stage runs in, deleted with its runs afterwards), else the working directory."""
    base = Path(root) if root is not None else Path(environ.get("DVC_ROOT") or ".")
    return base / environ.get("NEPTUNE_DATA_DIRECTORY", ".neptune")
