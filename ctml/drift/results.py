"""What the drift stage found, as records: a feature's test result and the whole report's parts."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
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
