"""The records CT passes around: a batch under check and the history row of a step.

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

Status = Literal["ok", "retrained", "blocked", "failed", "quarantined"]
STATUSES: tuple[Status, ...] = get_args(Status)
Scenario = Literal["none", "gradual", "sudden", "concept", "replay"]  # what `ct.py simulate` feeds
SCENARIOS: tuple[Scenario, ...] = get_args(Scenario)


@dataclass
class Batch:
    """One batch under check: where it came from, as read, as typed, and what is wrong with it."""

    source: Path | None  # the delivered file, or None for a simulated batch
    raw: pd.DataFrame | None  # as read (what a quarantine keeps when there is no file)
    typed: pd.DataFrame | None = None  # typed like the training data; None when it could not be
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.typed is not None and not self.problems


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
    batch_rows: int | None = None
    batch_accuracy: float | None = None
    accuracy_drop: float | None = None
    batch_rmse: float | None = None  # regression: the production model's RMSE on the labelled batch
    error_increase: float | None = None  # ... and its rise over the test RMSE, as a share of it
    estimated_accuracy: float | None = None  # CBPE: the production model's accuracy estimated without labels
    estimated_drop: float | None = None  # ... below its test accuracy (batch_accuracy is the realized one, when labelled)
    multivariate_score: float | None = None  # domain classifier's cross-validated ROC AUC (0.5: batch like the reference)
    multivariate_drifted: bool = False
    top_drifted: str = ""  # the batch's drifted features, most drifted first, `; `-separated (at most drift.top_plots)
    retrained: bool = False
    gates: str = ""
    model_version: str = ""
    note: str = ""

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


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(StepRecord))
_KINDS = {"step": int, "batch_rows": int, "retrained": bool, "multivariate_drifted": bool,
          **{n: float for n in ("drift_score", "threshold", "drifted_share", "batch_accuracy", "accuracy_drop",
                               "batch_rmse", "error_increase", "estimated_accuracy", "estimated_drop", "multivariate_score")}}
_KINDS.update({n: str for n in COLUMNS if n not in _KINDS})


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
