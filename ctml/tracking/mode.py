"""Whether a run is tracked, in which Neptune mode, and where Neptune keeps its files.

Pure functions of params and the environment, so every combination is tested without Neptune.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from ctml.config import Params

OFF_VALUES = ("off", "0", "false", "no", "disabled")
LOCAL_MODES = ("offline", "debug")  # Neptune modes that need no server: nothing to time out or fall back from
MODES = ("async", "sync", *LOCAL_MODES)  # what a stage may run in (Neptune's read-only mode cannot log)
DEFAULT_TIMEOUT_S = 5.0
TOKEN_ENV = "NEPTUNE_API_TOKEN"


@dataclass(frozen=True)
class Settings:
    enabled: bool
    mode: str  # what Neptune is asked for first: offline | async | sync | debug, or an unknown NEPTUNE_MODE
    timeout_s: float
    problem: str = ""  # why going online cannot work, found without trying (unknown mode, malformed token)


def token_problem(token: str) -> str:
    """Why a NEPTUNE_API_TOKEN cannot be one ("" when it can), without ever quoting it.

    A Neptune token is base64 of JSON holding the server's `api_address` (decoded as the client decodes
    it); checking that here gives one clear line instead of the client's exception class, and costs
    no import and no wait.
    """
    try:
        decoded = json.loads(base64.b64decode(token.strip().encode()).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return f"{TOKEN_ENV} is not a Neptune API token (not base64-encoded JSON)"
    if not isinstance(decoded, dict) or not decoded.get("api_address"):
        return f"{TOKEN_ENV} is not a Neptune API token (no api_address in it)"
    return ""


def settings(params: Params | None, environ: Mapping[str, str] = os.environ) -> Settings:
    """Resolve params + environment into what a run will do; pure, so it is tested directly."""
    tracking = getattr(params, "tracking", None)
    enabled = bool(getattr(tracking, "enabled", True))
    if environ.get("CT_TRACKING", "").strip().lower() in OFF_VALUES:
        enabled = False
    asked = environ.get("NEPTUNE_MODE", "").strip()
    mode = asked.lower()
    token = environ.get(TOKEN_ENV, "").strip()
    if not mode:
        mode = "async" if token and environ.get("NEPTUNE_PROJECT", "").strip() else "offline"
    problem = ""
    if mode not in MODES:
        problem = f"NEPTUNE_MODE={asked[:40]!r} is not a mode a stage can log in (allowed: {', '.join(MODES)})"
    elif mode not in LOCAL_MODES and token and token != "ANONYMOUS":
        problem = token_problem(token)
    return Settings(enabled, mode, float(getattr(tracking, "online_timeout_s", DEFAULT_TIMEOUT_S)), problem)


def data_directory(root: str | Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """Where Neptune keeps the runs of the project at `root`; None: of this process's project, which is
    DVC_ROOT when DVC runs the stage (in a queued `dvc exp run` the project, not the temporary copy the
    stage runs in, deleted with its runs afterwards), else the working directory."""
    base = Path(root) if root is not None else Path(environ.get("DVC_ROOT") or ".")
    return base / environ.get("NEPTUNE_DATA_DIRECTORY", ".neptune")
