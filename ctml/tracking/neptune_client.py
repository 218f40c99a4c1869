"""The only module that touches Neptune's client: importing it, starting runs, writing, stopping.

Everything Neptune-specific (its API and the internals we have to reach into) is here, so a new
Neptune version or client changes this file alone. Callers guard these calls: the Run handle turns
any failure into one warning line, and `open_run` decides what a failure to start means.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any, Sequence

_INIT_OPTIONS: dict[str, Any] = {
    "capture_stdout": False,  # speed, and a secret printed by a library must never be captured
    "capture_stderr": False,
    "capture_hardware_metrics": False,
    "capture_traceback": False,  # failure is recorded by stage_run itself (run/status, run/error)
    "git_ref": False,  # git remotes can embed credentials; the commit is logged as run/git_commit
    "source_files": [],  # no source upload: the git commit identifies the code
}


def import_neptune() -> Any:
    """`import neptune`, about 1.2 s faster than plain.

    neptune imports jsonschema, whose optional `rfc3987_syntax` builds a grammar at import (≈ 0.9-1.2 s
    measured here). Neptune never needs it (it only adds the "iri" string format to jsonschema's
    format checker), so it is hidden during this import only; later imports of it work normally.
    """
    hide = "rfc3987_syntax" not in sys.modules and "jsonschema" not in sys.modules
    if hide:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment] - makes its import fail fast
    try:
        import neptune
    finally:
        if hide and "rfc3987_syntax" in sys.modules and sys.modules["rfc3987_syntax"] is None:
            del sys.modules["rfc3987_syntax"]
    for name in ("neptune", "neptune_no_prefix"):  # no "Neptune initialized" chatter on stdout
        logging.getLogger(name).setLevel(logging.WARNING)
    return neptune


def version() -> str:
    """The installed Neptune client's version; importing it here is where a missing client shows."""
    return str(getattr(import_neptune(), "__version__", ""))


def _options(name: str, tags: Sequence[str]) -> dict[str, Any]:
    return dict(_INIT_OPTIONS, name=name, tags=list(tags))


def init_online(mode: str, timeout_s: float, name: str, tags: Sequence[str]) -> tuple[Any, str | None]:
    """Try Neptune's online mode in a helper thread, for at most timeout_s: (run, None) or (None, why).

    A thread because a black-holed network can hold a request far longer than Neptune's own
    timeouts; a run that connects after we gave up is stopped at once and never used.
    """
    neptune = import_neptune()
    options = _options(name, tags)
    lock = threading.Lock()
    state: dict[str, Any] = {}
    done = threading.Event()

    def attempt() -> None:
        try:
            run = neptune.init_run(mode=mode, **options)
        except BaseException as exc:  # noqa: BLE001 - reported by class name only (no secrets)
            with lock:
                state["error"] = type(exc).__name__
        else:
            with lock:
                abandoned = state.get("abandoned", False)
                if not abandoned:
                    state["run"] = run
            if abandoned:
                with suppress(Exception):
                    run.stop(seconds=0)
        finally:
            done.set()

    threading.Thread(target=attempt, name="ctml-tracking-online", daemon=True).start()
    done.wait(timeout_s)
    with lock:
        if "run" in state:
            return state["run"], None
        state["abandoned"] = True
        return None, state.get("error") or f"no answer within {timeout_s:g} s (tracking.online_timeout_s)"


def write_runs_under(directory: Path) -> None:
    """Have Neptune write runs under `directory`: it reads NEPTUNE_DATA_DIRECTORY (default `.neptune`,
    relative to the working directory) when a run starts, so it is set only when that is elsewhere."""
    wanted = Path(directory).resolve()
    if wanted != Path(os.environ.get("NEPTUNE_DATA_DIRECTORY", ".neptune")).resolve():
        os.environ["NEPTUNE_DATA_DIRECTORY"] = str(wanted)


def init_local(mode: str, name: str, tags: Sequence[str]) -> Any:
    """A run in a mode that needs no server (offline, debug): it cannot hang, so no thread."""
    return import_neptune().init_run(mode=mode, **_options(name, tags))


def url(handle: Any) -> str:
    """Where an online run is shown in the Neptune app."""
    return str(handle.get_url())


def directory(handle: Any) -> Path | None:
    """The run's local folder (offline and async modes), or None."""
    try:
        return Path(handle._op_processor.data_path).resolve() if handle is not None else None
    except Exception:  # noqa: BLE001 - a convenience; Neptune internals may change
        return None


def assign(handle: Any, key: str, value: bool | int | float | str) -> None:
    handle[key] = value


def append(handle: Any, key: str, values: list[float], steps: list[float] | None) -> None:
    """Extend the numeric series at `key`; steps None lets Neptune number the points."""
    handle[key].extend(values, steps=steps)


def add_tags(handle: Any, tags: list[str]) -> None:
    handle["sys/tags"].add(tags)


def upload(handle: Any, key: str, path: Path) -> None:
    """Upload the bytes of `path` now (from a stream, so Neptune copies them into the run's folder
    instead of keeping a path to a file the stage may overwrite)."""
    from neptune.types import File

    with open(path, "rb") as stream:
        handle[key].upload(File.from_stream(stream, extension=path.suffix.lstrip(".") or "bin"))


def stop(handle: Any, seconds: float | None) -> None:
    """Flush and close the run; `seconds` bounds the wait for an online upload (None: no bound)."""
    handle.stop(seconds=seconds)


def release(handle: Any) -> None:
    """Let a stopped run's memory go: Neptune keeps every run reachable for the life of the process
    (an atexit hook it never removes, and `os.register_at_fork` hooks, which cannot be removed),
    so ct.py, which runs the drift stage in its own process every step, would grow by each run's
    field tree (~0.1 MB). Stopped, the run's fork hooks only read its state flags."""
    with suppress(Exception):
        atexit.unregister(handle._shutdown_hook)
        handle._structure.clear()
        handle._op_processor = handle._bg_job = handle._backend = None
