"""The retrain rules, in one place: which triggers a drift measurement fires (alerts, history notes and the
report read the same record)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctml.config import Params


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reason: str


def performance_trigger(drift: dict[str, Any], params: Params) -> Decision | None:
    """A labelled batch where a classifier's accuracy dropped more than ct.max_accuracy_drop or a
    regressor's RMSE rose more than ct.max_error_increase; None when neither."""
    ct = params.ct
    performance = drift.get("performance") or {}
    drop = performance.get("accuracy_drop")
    if drop is not None and drop > ct.max_accuracy_drop:
        return Decision(True, f"accuracy drop {drop:.3f} > {ct.max_accuracy_drop}")
    increase = performance.get("error_increase")
    if increase is not None and increase > ct.max_error_increase:
        return Decision(True, f"rmse increase {increase:.1%} > {ct.max_error_increase:.0%}")
    return None


def decide(drift: dict[str, Any], params: Params) -> Decision:
    """Retrain on data drift above ct.threshold, on a share of values beyond production's training
    ranges above ct.max_out_of_range_share, on a column's share of categories production never saw above
    ct.max_unknown_category_share, on multivariate drift (ct.multivariate_trigger), on a batch
    without labels whose estimated accuracy (CBPE) dropped more than ct.max_estimated_drop, or on a
    performance drop of a labelled batch."""
    ct = params.ct
    score = float(drift.get("drift_score") or 0.0)
    if score > ct.threshold:
        return Decision(True, f"drift {score:.3f} > {ct.threshold}")
    beyond = drift.get("out_of_range_share")
    if beyond is not None and beyond > ct.max_out_of_range_share:
        return Decision(True, f"out of range {beyond:.3f} > {ct.max_out_of_range_share}")
    unknown = drift.get("unknown_category_share")
    if unknown is not None and unknown > ct.max_unknown_category_share:
        return Decision(True, f"unknown categories {unknown:.3f} > {ct.max_unknown_category_share}")
    multi = drift.get("multivariate") or {}
    if ct.multivariate_trigger and multi.get("drifted"):
        return Decision(True, f"multivariate drift: domain classifier AUC {multi['score']:.3f} >= {multi['threshold']}")
    performance = drift.get("performance") or {}
    estimated = performance.get("estimated_drop")
    if not performance.get("labelled") and estimated is not None and estimated > ct.max_estimated_drop:
        return Decision(True, f"estimated accuracy drop {estimated:.3f} > {ct.max_estimated_drop} (CBPE, no labels)")
    return performance_trigger(drift, params) or Decision(False, f"drift {score:.3f} <= {ct.threshold}")
