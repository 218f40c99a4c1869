"""The retrain rules, in one place: which triggers a drift measurement fires, as one typed record that
the step, the alerts (`alerts.step_events`), the history (the `triggers` column and the note) and the
report read. They used to be derived twice, here and in the alerts: a limit changed in one place was
not changed in the other."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from ctml.config import Params
from ctml.drift.results import DriftSummary

TriggerName = Literal["drift", "out_of_range", "unknown_category", "multivariate", "estimated_drop", "accuracy_drop", "error_increase"]
TRIGGERS: tuple[TriggerName, ...] = get_args(TriggerName)  # in the order they are checked: the first one fired is the note
PERFORMANCE: tuple[TriggerName, ...] = ("accuracy_drop", "error_increase")  # realized on labelled rows


@dataclass(frozen=True)
class Trigger:
    """One retrain rule that fired: the measured value above its params.yaml limit, and why in words."""

    name: TriggerName
    value: float
    limit: float
    reason: str


@dataclass(frozen=True)
class Decision:
    """Every trigger a measurement fired, in TRIGGERS order; retrain when any did."""

    fired: tuple[Trigger, ...]
    drift_score: float
    threshold: float

    @property
    def retrain(self) -> bool:
        return bool(self.fired)

    @property
    def names(self) -> tuple[TriggerName, ...]:
        return tuple(t.name for t in self.fired)

    @property
    def reason(self) -> str:
        """The history note: the first trigger fired, or the drift score under its threshold."""
        return self.fired[0].reason if self.fired else f"drift {self.drift_score:.3f} <= {self.threshold}"


def performance_triggers(drift: DriftSummary, params: Params) -> tuple[Trigger, ...]:
    """A labelled batch where a classifier's accuracy dropped more than ct.max_accuracy_drop, or a
    regressor's RMSE rose more than ct.max_error_increase."""
    ct, performance = params.ct, drift.performance
    fired = []
    if (drop := performance.accuracy_drop) is not None and drop > ct.max_accuracy_drop:
        fired.append(Trigger("accuracy_drop", drop, ct.max_accuracy_drop, f"accuracy drop {drop:.3f} > {ct.max_accuracy_drop}"))
    if (increase := performance.error_increase) is not None and increase > ct.max_error_increase:
        fired.append(Trigger("error_increase", increase, ct.max_error_increase,
                             f"rmse increase {increase:.1%} > {ct.max_error_increase:.0%}"))
    return tuple(fired)


def decide(drift: DriftSummary, params: Params) -> Decision:
    """Retrain on data drift above ct.threshold, on a share of values beyond production's training
    ranges above ct.max_out_of_range_share, on a column's share of categories production never saw above
    ct.max_unknown_category_share, on multivariate drift (ct.multivariate_trigger), on a batch
    without labels whose estimated accuracy (CBPE) dropped more than ct.max_estimated_drop, or on a
    performance drop of a labelled batch."""
    ct = params.ct
    score = float(drift.drift_score or 0.0)
    fired = []
    if score > ct.threshold:
        fired.append(Trigger("drift", score, ct.threshold, f"drift {score:.3f} > {ct.threshold}"))
    if (beyond := drift.out_of_range_share) is not None and beyond > ct.max_out_of_range_share:
        fired.append(Trigger("out_of_range", beyond, ct.max_out_of_range_share,
                             f"out of range {beyond:.3f} > {ct.max_out_of_range_share}"))
    if (unknown := drift.unknown_category_share) is not None and unknown > ct.max_unknown_category_share:
        fired.append(Trigger("unknown_category", unknown, ct.max_unknown_category_share,
                             f"unknown categories {unknown:.3f} > {ct.max_unknown_category_share}"))
    multi = drift.multivariate
    if ct.multivariate_trigger and multi.drifted:
        fired.append(Trigger("multivariate", float(multi.score), float(multi.threshold),
                             f"multivariate drift: domain classifier AUC {multi.score:.3f} >= {multi.threshold}"))
    estimated = drift.performance.estimated_drop
    if not drift.performance.labelled and estimated is not None and estimated > ct.max_estimated_drop:
        fired.append(Trigger("estimated_drop", estimated, ct.max_estimated_drop,
                             f"estimated accuracy drop {estimated:.3f} > {ct.max_estimated_drop} (CBPE, no labels)"))
    return Decision((*fired, *performance_triggers(drift, params)), score, ct.threshold)
