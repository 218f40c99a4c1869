"""Experiment tracking with Neptune: one run per stage or CT step, offline unless told otherwise.

Modes, decided per run:
- disabled: `tracking.enabled: false` in params.yaml or `CT_TRACKING=off`; nothing is imported or written.
- offline (default): operations go to `.neptune/offline/run__*/` under the working directory (DVC runs
  stages from the project root) or under `NEPTUNE_DATA_DIRECTORY`; `neptune sync` uploads them later.
- online (async): when `NEPTUNE_API_TOKEN` and `NEPTUNE_PROJECT` are set; `NEPTUNE_MODE` overrides.
  If going online fails or takes longer than `tracking.online_timeout_s`, the run falls back to
  offline with one warning line.

Tracking never raises into the stage and never blocks it: every call is guarded, and the token is
read by Neptune from the environment only; this module never logs or prints it, nor any exception
text from going online (only the exception's class name).

Runs of one pipeline execution share a pipeline id: `CT_PIPELINE_ID` (set by ct.py), else derived
from the `dvc repro` process that started the stage, so all stages of one `dvc repro` share it.
"""
from __future__ import annotations

import atexit
import json
import logging
import math
import os
import sys
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from ctml.io import describe_data, file_digests

if TYPE_CHECKING:
    from ctml.config import Params

OFF_VALUES = ("off", "0", "false", "no", "disabled")
ONLINE_MODES = ("async", "sync")
DEFAULT_TIMEOUT_S = 5.0
TOKEN_ENV = "NEPTUNE_API_TOKEN"
_INIT_OPTIONS: dict[str, Any] = {
    "capture_stdout": False,  # speed, and a secret printed by a library must never be captured
    "capture_stderr": False,
    "capture_hardware_metrics": False,
    "capture_traceback": False,  # failure is recorded by stage_run itself (run/status, run/error)
    "git_ref": False,  # git remotes can embed credentials; the commit is logged as run/git_commit
    "source_files": [],  # no source upload: the git commit identifies the code
}


def warn(message: str) -> None:
    """One warning line on stderr; stdout stays the stage's own output."""
    print(f"warning: tracking: {_redact(message)}", file=sys.stderr, flush=True)


def _redact(text: str) -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    return text.replace(token, "***") if len(token) >= 8 else text


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


# --- what goes into fields ---------------------------------------------------------------------

def _scalar(value: Any) -> bool | int | float | str:
    """A value Neptune stores as a typed atom; lists and None become JSON text, anything else str()."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalars: an np.int64 would otherwise become a float
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # Neptune drops nan/inf with a warning
    if value is None or isinstance(value, (list, tuple, set, frozenset)):
        return json.dumps(None if value is None else list(value), default=str)
    if hasattr(value, "tolist"):  # numpy arrays, pandas Series
        return json.dumps(value.tolist(), default=str)
    return str(value)  # Path, datetime, ...


def flatten(value: Any, prefix: str = "") -> dict[str, bool | int | float | str]:
    """Nested mappings -> {"a/b/c": scalar}; lists and None become JSON text, an empty mapping "{}"."""
    if isinstance(value, Mapping):
        if not value:
            return {prefix: "{}"} if prefix else {}
        out: dict[str, bool | int | float | str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}/{key}" if prefix else str(key)))
        return out
    return {prefix: _scalar(value)}


# --- settings ----------------------------------------------------------------------------------

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


def data_directory(root: str | Path = ".", environ: Mapping[str, str] = os.environ) -> Path:
    """Where Neptune keeps its files for a process whose working directory is `root`."""
    return Path(root) / environ.get("NEPTUNE_DATA_DIRECTORY", ".neptune")


# --- pipeline id -------------------------------------------------------------------------------

def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot) from /proc, or None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _is_dvc(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    names = [os.path.basename(a.decode(errors="replace")) for a in argv[:2]]
    return "dvc" in names or argv[1:3] == [b"-m", b"dvc"]


def _process_id(pid: int, start_ticks: int | None) -> str:
    """`<UTC start time>-<pid>`: unique per process, sortable by time."""
    started = time.time()
    if start_ticks is not None:
        try:
            boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                        if line.startswith("btime "))
            started = boot + start_ticks / os.sysconf("SC_CLK_TCK")
        except (OSError, StopIteration, ValueError):
            pass
    return f"{datetime.fromtimestamp(started, timezone.utc):%Y%m%dT%H%M%S}-{pid}"


def new_pipeline_id() -> str:
    """A fresh id in the derived format, for a driver (ct.py) to export as CT_PIPELINE_ID."""
    return _process_id(os.getpid(), (_proc_stat(os.getpid()) or (0, None))[1])


def pipeline_id(environ: Mapping[str, str] = os.environ) -> str:
    """CT_PIPELINE_ID, else the id of the nearest `dvc` ancestor process, else of this process.

    DVC starts each stage as its child (through `$SHELL -c` when the command needs a shell), so
    every stage of one `dvc repro` finds the same dvc process, and two invocations never share it.
    """
    if environ.get("CT_PIPELINE_ID", "").strip():
        return environ["CT_PIPELINE_ID"].strip()
    pid, depth = os.getppid(), 0
    while pid > 1 and depth < 8:
        stat = _proc_stat(pid)
        if stat is None:
            break
        if _is_dvc(pid):
            return _process_id(pid, stat[1])
        pid, depth = stat[0], depth + 1
    return new_pipeline_id()


def _as_list(values: Any) -> list[Any]:
    """One value or an iterable of values (list, tuple, NumPy array, pandas Series) as a list."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return [values]
    return list(values)


# --- the run handle ----------------------------------------------------------------------------

class Run:
    """Handle a stage or CT step logs through; never raises, never blocks the pipeline.

    Keys are slash-separated Neptune paths. A disabled run accepts every call and does nothing.
    """

    def __init__(self, handle: Any = None, mode: str = "disabled") -> None:
        self._handle = handle
        self.mode = mode  # offline | async | sync | debug | disabled
        self._metric_keys: list[str] = []
        self.directory = _directory(handle)  # the run's local folder (offline and async modes), or None

    @property
    def enabled(self) -> bool:
        return self._handle is not None

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - tracking must never fail the stage
            warn(f"{what} not logged ({_first_line(exc)})")

    def _assign(self, fields: Mapping[str, Any]) -> None:
        for key, value in fields.items():
            with self._guard(key):
                self._handle[key] = value

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
                self._handle[key].extend([v for v, _ in pairs], steps=None if steps is None else [s for _, s in pairs])

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
            from neptune.types import File

            sha = file_digests(path)[0]
            with open(path, "rb") as stream:
                self._handle[key].upload(File.from_stream(stream, extension=path.suffix.lstrip(".") or "bin"))
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
                self._handle["sys/tags"].add([str(t) for t in tags])

    def _finish(self, status: str, error: str | None, duration_s: float, timeout_s: float) -> None:
        if self._handle is None:
            return
        fields: dict[str, Any] = {"run/status": status, "run/duration_s": round(duration_s, 4),
                                  "run/metric_keys": json.dumps(self._metric_keys)}
        if error:
            fields["run/error"] = error
        if status != "ok":
            fields["sys/failed"] = True
        self._assign(fields)
        with self._guard("stop"):
            # Offline: a local flush. Online: wait for the upload at most timeout_s; what is left stays
            # queued under .neptune/async for `neptune sync`.
            self._handle.stop(seconds=None if self.mode in ("offline", "debug") else timeout_s)
        self._release()

    def _release(self) -> None:
        """Let a stopped run's memory go: Neptune keeps every run reachable for the life of the process
        (an atexit hook it never removes, and `os.register_at_fork` hooks, which cannot be removed),
        so ct.py, which runs the drift stage in its own process every step, would grow by each run's
        field tree (~0.1 MB). Stopped, the run's fork hooks only read its state flags."""
        handle, self._handle = self._handle, None
        with suppress(Exception):
            atexit.unregister(handle._shutdown_hook)
            handle._structure.clear()
            handle._op_processor = handle._bg_job = handle._backend = None


def _directory(handle: Any) -> Path | None:
    try:
        return Path(handle._op_processor.data_path).resolve() if handle is not None else None
    except Exception:  # noqa: BLE001 - a convenience; Neptune internals may change
        return None


# --- creating runs -----------------------------------------------------------------------------

def _import_neptune() -> Any:
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


def _init_online(neptune: Any, mode: str, timeout_s: float, options: dict[str, Any]) -> tuple[Any, str | None]:
    """Try Neptune's online mode in a helper thread, for at most timeout_s: (run, None) or (None, why).

    A thread because a black-holed network can hold a request far longer than Neptune's own
    timeouts; a run that connects after we gave up is stopped at once and never used.
    """
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


def open_run(name: str, tags: Sequence[str], cfg: Settings) -> tuple[Run, dict[str, Any]]:
    """A started Run and facts about how it was opened (mode, fallback); a disabled Run on failure."""
    facts: dict[str, Any] = {}
    try:
        neptune = _import_neptune()
    except Exception as exc:  # noqa: BLE001
        warn(f"neptune unavailable ({_first_line(exc)}); this run is not tracked")
        return Run(), facts
    facts["run/libraries/neptune"] = getattr(neptune, "__version__", "")
    options = dict(_INIT_OPTIONS, name=name, tags=list(tags))
    mode = cfg.mode
    if mode not in ("offline", "debug"):
        tried = time.perf_counter()
        handle, why = _init_online(neptune, mode, cfg.timeout_s, options)
        facts["run/online_attempt_s"] = round(time.perf_counter() - tried, 4)
        if handle is not None:
            with suppress(Exception):
                print(f"tracking: {name} -> {handle.get_url()}", file=sys.stderr, flush=True)
            return Run(handle, mode), facts
        warn(f"cannot go online ({why}); logging offline to {data_directory()}/offline, "
             "upload later with `neptune sync`")
        facts.update({"run/requested_mode": mode, "run/fallback_reason": why})
        mode = "offline"
    try:
        return Run(neptune.init_run(mode=mode, **options), mode), facts
    except Exception as exc:  # noqa: BLE001
        warn(f"cannot start an offline run ({_first_line(exc)}); this run is not tracked")
        return Run(), facts


def _section(params: Params, section: str) -> Any:
    node: Any = params.as_dict()
    for part in section.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _start(stage: str, params: Params | None, section: str | None, cfg: Settings,
           pipeline: str | None, model_version: str | None) -> Run:
    """Open the run and log what is known before the stage works."""
    opened = time.perf_counter()
    pid = pipeline or pipeline_id()
    version = model_version if model_version is not None else os.environ.get("CT_MODEL_VERSION", "").strip()
    tags = [stage, f"pipeline:{pid}"] + ([f"model:{version}"] if version else [])
    run, facts = open_run(f"{stage} {pid}", tags, cfg)
    if not run.enabled:
        return run
    from ctml.provenance import git_commit, library_versions

    run.log("pipeline", {"stage": stage, "id": pid, **({"model_version": version} if version else {})})
    if params is not None:
        run.log("config", params.as_dict())
        if section and (own := _section(params, section)) is not None:
            run.log("parameters", own if isinstance(own, Mapping) else {section: own})
    run.log("run", {"started_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    "mode": run.mode, "git_commit": git_commit(), "libraries": library_versions(),
                    "tracking_init_s": round(time.perf_counter() - opened, 4)})
    run._assign(facts)
    return run


@contextmanager
def stage_run(stage: str, params: Params | None, section: str | None = None, *,
              pipeline: str | None = None, model_version: str | None = None) -> Iterator[Run]:
    """One tracked run per stage execution or CT command.

    Logs at the start: `pipeline/{stage,id,model_version}` (also as tags), the whole resolved config
    under `config/`, the stage's own params section under `parameters/`, `run/{started_at,git_commit,
    libraries,mode,tracking_init_s}`; at the end: `run/{status,duration_s,error,metric_keys}` and
    `sys/failed`. `pipeline` and `model_version` default to CT_PIPELINE_ID / CT_MODEL_VERSION.
    An exception in the block is recorded (status failed) and re-raised unchanged.
    """
    cfg = settings(params)
    run = Run()
    if cfg.enabled:
        try:
            run = _start(stage, params, section, cfg, pipeline, model_version)
        except Exception as exc:  # noqa: BLE001 - tracking must never fail the stage
            warn(f"run not started ({_first_line(exc)}); this run is not tracked")
    started = time.perf_counter()
    status, error = "ok", None
    try:
        yield run
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        error = _redact(_first_line(exc))
        raise
    finally:
        run._finish(status, error, time.perf_counter() - started, cfg.timeout_s)
