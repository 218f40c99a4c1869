"""A run's life around a stage: open it (online, or offline when that fails), log what is known
before the stage works, and record how the stage ended.

Going online never blocks the stage for longer than `tracking.online_timeout_s`: a failed or slow
attempt falls back to offline with one warning line naming the exception's class only, and is
remembered for the pipeline (`fallback`), so the pipeline's other runs go offline at once and quietly.
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from ctml.provenance import git_commit, library_versions
from ctml.tracking import fallback, neptune_client
from ctml.tracking.mode import LOCAL_MODES, Settings, data_directory, settings
from ctml.tracking.pipeline import experiment, pipeline_id
from ctml.tracking.run import Run, first_line, redact, warn

if TYPE_CHECKING:
    from ctml.config import Params


def open_run(name: str, tags: Sequence[str], cfg: Settings, pipeline: str | None = None) -> tuple[Run, dict[str, Any]]:
    """A started Run and facts about how it was opened (mode, fallback); a disabled Run on failure.

    With a `pipeline`, a failure to go online is remembered for it, and a run of a pipeline that
    already failed goes offline without trying or warning again.
    """
    facts: dict[str, Any] = {}
    try:
        facts["run/libraries/neptune"] = neptune_client.version()
    except Exception as exc:  # noqa: BLE001
        warn(f"neptune unavailable ({first_line(exc)}); this run is not tracked")
        return Run(), facts
    neptune_client.write_runs_under(data_directory())
    mode = cfg.mode
    if mode not in LOCAL_MODES:
        if earlier := (fallback.earlier_failure(pipeline) if pipeline else None):
            facts.update({"run/requested_mode": mode, "run/fallback_reason": earlier, "run/online_skipped": True})
            mode = "offline"
        else:
            handle, why = None, cfg.problem
            if not why:
                tried = time.perf_counter()
                handle, why = neptune_client.init_online(mode, cfg.timeout_s, name, tags)
                facts["run/online_attempt_s"] = round(time.perf_counter() - tried, 4)
            if handle is not None:
                with suppress(Exception):
                    print(f"tracking: {name} -> {neptune_client.url(handle)}", file=sys.stderr, flush=True)
                return Run(handle, mode), facts
            _fall_back(pipeline, str(why))
            facts.update({"run/requested_mode": mode, "run/fallback_reason": why})
            mode = "offline"
    try:
        return Run(neptune_client.init_local(mode, name, tags), mode), facts
    except Exception as exc:  # noqa: BLE001
        warn(f"cannot start an offline run ({first_line(exc)}); this run is not tracked")
        return Run(), facts


def _fall_back(pipeline: str | None, why: str) -> None:
    """The one warning of a pipeline that cannot go online, and the marker its other runs read."""
    rest = ", as do the other runs of this pipeline" if pipeline else ""
    warn(f"cannot go online ({why}); logging offline to {data_directory()}/offline{rest} (docs/tracking.md)")
    if pipeline:
        with suppress(OSError):  # a read-only .neptune: each run then tries again, which is all that is lost
            fallback.remember_failure(pipeline, why)


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
    step = os.environ.get("CT_STEP", "").strip()
    exp = experiment()
    tags = [stage, f"pipeline:{pid}"] + ([f"model:{version}"] if version else []) + ([f"step:{step}"] if step else []) \
        + ([f"exp:{exp['experiment']}"] if exp else [])
    run, facts = open_run(f"{stage} {pid}" + (f" step {step}" if step else ""), tags, cfg, pid)
    if not run.enabled:
        return run
    run.log("pipeline", {"stage": stage, "id": pid, **({"model_version": version} if version else {}),
                         **({"step": step} if step else {}), **exp})
    if params is not None:
        run.log("config", params.as_dict())
        if section and (own := _section(params, section)) is not None:
            run.log("parameters", own if isinstance(own, Mapping) else {section: own})
    run.log("run", {"started_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    "mode": run.mode, "git_commit": git_commit(), "libraries": library_versions(),
                    "tracking_init_s": round(time.perf_counter() - opened, 4)})
    run._assign(facts)
    return run


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB: what a stage held at its fullest (its own
    process only; dask workers and other children are not counted). Linux reports kilobytes."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@contextmanager
def stage_run(stage: str, params: Params | None, section: str | None = None, *,
              pipeline: str | None = None, model_version: str | None = None) -> Iterator[Run]:
    """One tracked run per stage execution or CT command.

    Logs at the start: `pipeline/{stage,id,model_version,step}` (also as tags; in a `dvc exp run` also
    `pipeline/{experiment,baseline_rev}` and the tag `exp:<name>`), the whole resolved config
    under `config/`, the stage's own params section under `parameters/`, `run/{started_at,git_commit,
    libraries,mode,tracking_init_s}`; at the end: `run/{status,duration_s,peak_rss_mb,error,metric_keys}` and
    `sys/failed`. `pipeline` and `model_version` default to CT_PIPELINE_ID / CT_MODEL_VERSION; the
    step of a ct.py command (CT_STEP) is recorded when set.
    An exception in the block is recorded (status failed) and re-raised unchanged.
    """
    cfg = settings(params)
    run = Run()
    if cfg.enabled:
        try:
            run = _start(stage, params, section, cfg, pipeline, model_version)
        except Exception as exc:  # noqa: BLE001 - tracking must never fail the stage
            warn(f"run not started ({first_line(exc)}); this run is not tracked")
    started = time.perf_counter()
    status, error = "ok", None
    try:
        yield run
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        error = redact(first_line(exc))
        raise
    finally:
        run._finish(status, error, time.perf_counter() - started, cfg.timeout_s, peak_rss_mb())
