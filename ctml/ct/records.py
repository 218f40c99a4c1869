"""The records CT passes around: a batch under check, the history row of a step and a gates result.

Why dataclasses: a step used to be a `dict[str, Any]` whose statuses were strings compared in
several files and whose history was read back as text (`"true"`); one typed record whose fields
are the history's columns keeps writer, readers and the CSV in step.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    import pandas as pd

Status = Literal["ok", "retrained", "blocked", "failed", "quarantined", "duplicate", "awaiting_labels", "shadow_promoted",
                 "shadow_retired"]
STATUSES: tuple[Status, ...] = get_args(Status)
Scenario = Literal["none", "gradual", "sudden", "concept", "replay"]  # what `ct.py simulate` feeds
SCENARIOS: tuple[Scenario, ...] = get_args(Scenario)
# The scenario column of a delivered file's step: a batch from data/incoming, or labels from data/labels.
DELIVERED = {"batch": "check", "labels": "labels"}

# Exit codes of the CT commands cron runs (0 success, 1 error, 2 usage, 75 locked: ctml.ct.repo.lock).
EXIT_ATTENTION = 3  # something needs a person: a file was quarantined, a candidate blocked, a retrain waits for labels
ATTENTION: frozenset[Status] = frozenset({"quarantined", "blocked", "awaiting_labels"})

# Columns a feed may add to delivered rows that are metadata, never features: the server (`ct.py serve`)
# writes these when it captures traffic. Any column starting with the prefix is reserved: it never
# fails the schema check, is never a feature and is never folded into training data.
RESERVED_PREFIX = "_ct_"
REQUEST_ID = "_ct_request_id"  # joins delayed labels when data.id_column is empty
REQUEST_TIME = "_ct_time"
PREDICTION = "_ct_prediction"
MODEL_VERSION = "_ct_model_version"
SHADOW_PREDICTION = "_ct_shadow_prediction"  # the shadow model's answer to the same row (missing: it did not score it)
SHADOW_VERSION = "_ct_shadow_version"
RESERVED_COLUMNS = (REQUEST_ID, REQUEST_TIME, PREDICTION, MODEL_VERSION, SHADOW_PREDICTION, SHADOW_VERSION)


def is_reserved(column: str) -> bool:
    return str(column).startswith(RESERVED_PREFIX)


@dataclass
class Batch:
    """One batch under check: where it came from, as read, as typed, and what is wrong with it."""

    source: Path | None  # the delivered file, or None for a simulated batch
    raw: pd.DataFrame | None  # as read (what a quarantine keeps when there is no file)
    typed: pd.DataFrame | None = None  # features (+ labels) typed like the training data; None when it could not be
    problems: list[str] = field(default_factory=list)
    keys: pd.DataFrame | None = None  # the row id (data.id_column) and reserved metadata columns, row by row with `typed`
    staged: bool = False  # already written to the staging path (a file checked a partition at a time)
    rows: int = 0
    labelled: bool = False  # it carries the label column
    dropped: pd.DataFrame | None = None  # `validate.bad_rows: drop_rows`: the broken rows as read, with `_row` and `_reason` columns

    @property
    def ok(self) -> bool:
        return (self.typed is not None or self.staged) and not self.problems


@dataclass
class StepRecord:
    """One CT step: the fields are the columns of metrics/ct_history.csv, in order."""

    step: int
    time: str
    scenario: str
    status: Status
    drift_score: float | None = None
    threshold: float | None = None
    drifted_share: float | None = None
    out_of_range_share: float | None = None  # share of the batch's numeric values beyond production's training ranges
    batch_rows: int | None = None
    dropped_rows: int | None = None  # broken rows dropped from the batch (validate.bad_rows: drop_rows), kept in data/quarantine/
    batch_accuracy: float | None = None
    accuracy_drop: float | None = None
    batch_rmse: float | None = None  # regression: the production model's RMSE on the labelled batch
    error_increase: float | None = None  # ... and its rise over the test RMSE, as a share of it
    estimated_accuracy: float | None = None  # CBPE: the production model's accuracy estimated without labels
    estimated_drop: float | None = None  # ... below its test accuracy (batch_accuracy is the realized one, when labelled)
    multivariate_score: float | None = None  # domain classifier's cross-validated ROC AUC (0.5: batch like the reference)
    multivariate_drifted: bool = False
    top_drifted: str = ""  # the batch's drifted features, most drifted first, `; `-separated (at most drift.top_plots)
    triggers: str = ""  # the retrain triggers the measurement fired (ctml.ct.step.decide names), `; `-separated
    retrained: bool = False
    gates: str = ""
    model_version: str = ""
    note: str = ""
    file: str = ""  # the delivered file (inbox/name) the step processed; empty for a simulated batch
    file_sha256: str = ""  # its content hash: a re-delivery of the same bytes is a duplicate of this step
    labelled_rows: int | None = None  # rows whose labels the step's performance figures come from
    lineage: str = ""  # the lineage (layout.data_lineage) whose batch the step checked: timelines are drawn per lineage

    def as_row(self) -> dict[str, str]:
        """CSV cells: None as empty, booleans as `True`/`False`."""
        return {f.name: "" if (v := getattr(self, f.name)) is None else str(v) for f in fields(self)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StepRecord:
        """A history row (CSV text, or values already typed) as a record; absent columns take defaults."""
        values = {}
        for f in fields(cls):
            if f.name in row:
                values[f.name] = _parse(_KINDS[f.name], row[f.name])
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fired(self, *names: str) -> bool:
        """Whether the step's measurement fired any of these triggers (ctml.ct.step.decide.TRIGGERS)."""
        return any(name in self.triggers.split("; ") for name in names)


@dataclass(frozen=True)
class GatesResult:
    """metrics/gates.json (ctml.model.gates.report) read back typed: the verdict, the gates that blocked or alerted, and each
    gate's value, limit and detail (`gates`, as `report` wrote them). What CT reads to release, block
    or alert; the file stays the stage's output."""

    passed: bool
    blocked_by: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    checked_at: str = ""
    gates: dict[str, dict[str, Any]] | None = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> GatesResult:
        """From gates.json's content (other keys, such as a blocked candidate's `step`, ignored)."""
        return cls(passed=bool(doc.get("passed", False)), blocked_by=tuple(doc.get("blocked_by") or ()),
                   alerts=tuple(doc.get("alerts") or ()), checked_at=str(doc.get("checked_at") or ""),
                   gates=dict(doc.get("gates") or {}))

    def as_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "blocked_by": list(self.blocked_by), "alerts": list(self.alerts),
                "checked_at": self.checked_at, "gates": self.gates or {}}


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(StepRecord))
_KINDS = {"step": int, "batch_rows": int, "labelled_rows": int, "dropped_rows": int, "retrained": bool,
          "multivariate_drifted": bool,
          **{n: float for n in ("drift_score", "threshold", "drifted_share", "out_of_range_share", "batch_accuracy",
                               "accuracy_drop", "batch_rmse", "error_increase", "estimated_accuracy", "estimated_drop",
                               "multivariate_score")}}
_KINDS.update({n: str for n in COLUMNS if n not in _KINDS})


def exit_code(records: list[StepRecord]) -> int:
    """What a cron job is told: 1 when a step failed, 3 when one needs attention, else 0."""
    if any(r.status == "failed" for r in records):
        return 1
    return EXIT_ATTENTION if any(r.status in ATTENTION for r in records) else 0


def _parse(kind: type, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None if kind is not str else ""
    if kind is str:
        return str(value)
    text = str(value).strip()
    if text == "":
        return {bool: False, str: ""}.get(kind)
    if kind is bool:
        return text.lower() == "true"
    if kind is int:
        return int(float(text))
    return float(text)
