"""What the drift stage found, as records: a feature's test result and the whole report's parts."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd


@dataclass
class FeatureResult:
    kind: str
    method: str
    score: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    severity: float
    distribution: pd.DataFrame = field(repr=False)
    effect: float | None = None  # the difference's size (methods.effect), what drift.min_effect floors
    p_adjusted: float | None = None  # the p-value after drift.correction (= p_value with none)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "method": self.method, "score": rounded(self.score),
                "p_value": rounded(self.p_value), "p_adjusted": rounded(self.p_adjusted), "effect": rounded(self.effect),
                "threshold": rounded(self.threshold), "drifted": self.drifted}


@dataclass
class DriftResult:
    report: dict[str, Any]
    features: dict[str, FeatureResult]


def rounded(value: float | None) -> float | None:
    """6 decimals for stable diffs; a non-finite value (an infinite chi-square) becomes null."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)


@dataclass(frozen=True)
class Performance:
    """The model's performance on the batch, as metrics/drift.json's `performance` holds it: realized
    on labelled rows (accuracy or a regressor's RMSE, and how far they moved from the test figures)
    and estimated without labels (CBPE)."""

    labelled: bool = False
    labelled_rows: int | None = None
    accuracy: float | None = None
    accuracy_drop: float | None = None
    rmse: float | None = None
    error_increase: float | None = None
    estimated_accuracy: float | None = None
    estimated_drop: float | None = None


@dataclass(frozen=True)
class Multivariate:
    """The domain classifier's verdict (drift.multivariate): its ROC AUC, the AUC limit, drifted or not."""

    score: float | None = None
    threshold: float | None = None
    drifted: bool = False


@dataclass(frozen=True)
class DriftSummary:
    """metrics/drift.json read back typed: what a CT step decides on and records.

    Why: it travelled through the step as a dict whose keys every reader spelled again (and guarded
    against None again); the drift stage still writes the JSON, this is the one way it is read."""

    drift_score: float | None = None
    drifted_share: float | None = None
    out_of_range_share: float | None = None  # share of numeric values beyond production's training ranges
    unknown_category_share: float | None = None  # the largest share of a categorical column's values production never saw
    batch_rows: int = 0
    performance: Performance = field(default_factory=Performance)
    multivariate: Multivariate = field(default_factory=Multivariate)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DriftSummary:
        """From metrics/drift.json's content (absent or null sections: their defaults; unknown keys ignored)."""
        return cls(drift_score=doc.get("drift_score"), drifted_share=doc.get("drifted_share"),
                   out_of_range_share=doc.get("out_of_range_share"),
                   unknown_category_share=doc.get("unknown_category_share"), batch_rows=int(doc.get("batch_rows") or 0),
                   performance=_known(Performance, doc.get("performance")),
                   multivariate=_known(Multivariate, doc.get("multivariate")))


def _known(kind: type, section: dict[str, Any] | None) -> Any:
    """A section as its record: only the fields the record has (the JSON carries more: bands, notes)."""
    names = {f.name for f in fields(kind)}
    return kind(**{k: v for k, v in (section or {}).items() if k in names and v is not None})
