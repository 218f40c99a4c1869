"""Experiment tracking with Neptune: one run per stage or CT step, offline unless told otherwise.

Modes, decided per run (`mode`):
- disabled: `tracking.enabled: false` in params.yaml or `CT_TRACKING=off`; nothing is imported or written.
- offline (default): operations go to `.neptune/offline/run__*/` under the working directory (DVC runs
  stages from the project root) or under `NEPTUNE_DATA_DIRECTORY`; `ctml.runs` reads them back,
  exports them to a local MLflow store and prunes them (Neptune's hosted service is gone; `neptune
  sync` uploads them to a self-hosted server only).
- online (async): when `NEPTUNE_API_TOKEN` and `NEPTUNE_PROJECT` are set; `NEPTUNE_MODE` overrides.
  If going online fails or takes longer than `tracking.online_timeout_s`, the run falls back to
  offline with one warning line (`lifecycle`), once per pipeline (`fallback`).

Tracking never raises into the stage and never blocks it: every call is guarded (`run`), and the
token is read by Neptune from the environment only; this package never logs or prints it, nor any
exception text from going online (only the exception's class name).

Runs of one pipeline execution share a pipeline id (`pipeline`); nested mappings become typed Neptune
fields (`fields`). Only `neptune_client` touches
Neptune's client; `ctml.runs.offline` reads offline runs back without it. Stages use `stage_run`.
"""
from ctml.tracking.fields import flatten
from ctml.tracking.lifecycle import open_run, stage_run
from ctml.tracking.mode import Settings, data_directory, settings
from ctml.tracking.pipeline import new_pipeline_id, pipeline_id
from ctml.tracking.run import Run, warn

__all__ = ["Run", "Settings", "data_directory", "flatten", "new_pipeline_id", "open_run", "pipeline_id",
           "settings", "stage_run", "warn"]
