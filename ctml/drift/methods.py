"""Drift methods by name: the function, its default threshold, which side of it means drift, and
the column kinds it applies to; plus `auto`, which is a table lookup in `params.drift.auto`."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

from ctml.config import DriftAutoParams, DriftParams
from ctml.drift import stats
from ctml.errors import UserError

NUMERIC_KINDS = ("numeric", "datetime")
ALL_KINDS = ("numeric", "datetime", "boolean", "categorical")


@dataclass(frozen=True)
class Method:
    name: str
    func: Callable[..., stats.Stat]
    default_threshold: float
    drift_when: Literal["p_value_below", "score_at_or_above"]
    kinds: tuple[str, ...]


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("ks", stats.ks, 0.05, "p_value_below", NUMERIC_KINDS),
    Method("wasserstein", stats.wasserstein, 0.1, "score_at_or_above", NUMERIC_KINDS),
    Method("psi", stats.psi, 0.1, "score_at_or_above", ALL_KINDS),
    Method("chi2", stats.chi2, 0.05, "p_value_below", ALL_KINDS),
    Method("jensenshannon", stats.jensenshannon, 0.1, "score_at_or_above", ALL_KINDS),
)}


def get(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"unknown drift method '{name}' (allowed: {', '.join(METHODS)})") from None


def is_drifted(method: Method, stat: stats.Stat, threshold: float) -> bool:
    """The one place that reads a statistic against its threshold."""
    if method.drift_when == "p_value_below":
        return stat.p_value is not None and stat.p_value < threshold
    return stat.score >= threshold


def effect(method: Method, stat: stats.Stat, current_rows: int) -> float:
    """The size of a difference, whatever the sample sizes: a distance is one already; KS has its
    distance D; chi-square's statistic grows with the rows, so its effect is Cohen's w = sqrt(chi2 / n).
    `drift.min_effect` floors it: at 100,000 rows a p-value test flags a shift nobody would act on."""
    if method.name == "chi2":
        return math.sqrt(stat.score / current_rows) if current_rows and math.isfinite(stat.score) else math.inf
    return stat.score


def adjusted_p_values(p_values: list[float], correction: str) -> list[float]:
    """`drift.correction` over one batch's p-value tests: Bonferroni (p x m, family-wise error) or
    Benjamini-Hochberg (false discovery rate; = scipy.stats.false_discovery_control), or none."""
    m = len(p_values)
    if correction == "none" or m == 0:
        return list(p_values)
    if correction == "bonferroni":
        return [min(1.0, p * m) for p in p_values]
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 1.0
    for rank in range(m, 0, -1):  # from the largest p down: the running minimum of p x m / rank
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def tested_value(method: Method, stat: stats.Stat) -> float | None:
    """The number compared with the threshold: the p-value of a test, else the score."""
    return stat.p_value if method.drift_when == "p_value_below" else stat.score


def severity(method: Method, stat: stats.Stat, threshold: float) -> float:
    """How far past its threshold a result is (1.0 = at the threshold), comparable across methods."""
    value = tested_value(method, stat)
    if value is None or not math.isfinite(value):
        return math.inf
    if method.drift_when == "p_value_below":
        if value <= 0:
            return math.inf
        return math.log(value) / math.log(threshold) if 0 < threshold < 1 else 0.0
    return value / threshold if threshold > 0 else value


def group_of(kind: str, distinct: int, auto: DriftAutoParams) -> str:
    """`numeric` or `categorical` test family: booleans and low-cardinality numbers are categorical
    (Evidently: at most 5 distinct values over both samples)."""
    if kind in NUMERIC_KINDS and distinct > auto.categorical_max_unique:
        return "numeric"
    return "categorical"


def auto_method(group: str, reference_rows: int, auto: DriftAutoParams) -> str:
    """The `drift.auto` table: (numeric | categorical) x (small | large reference)."""
    size = "small" if reference_rows <= auto.small_sample_rows else "large"
    return getattr(auto, f"{group}_{size}")


def choose(column: str, kind: str, reference_rows: int, distinct: int, params: DriftParams) -> tuple[Method, float]:
    """Method and threshold for one column: per-feature override, else drift.method, else auto.

    A global `drift.method` that does not apply to a column's kind (ks on a categorical column)
    falls back to auto for that column; a per-feature method that does not apply is an error.
    """
    override = params.per_feature.get(column)
    group = group_of(kind, distinct, params.auto)
    if override is not None and override.method is not None:
        method = get(override.method)
        if kind not in method.kinds:
            allowed = ", ".join(m.name for m in METHODS.values() if kind in m.kinds)
            raise UserError(f"params.yaml: drift.per_feature.{column}.method '{method.name}' does not apply "
                            f"to {kind} column '{column}' (allowed: {allowed})")
    elif params.method != "auto" and kind in get(params.method).kinds:
        method = get(params.method)
    else:
        method = get(auto_method(group, reference_rows, params.auto))
    if override is not None and override.threshold is not None:
        threshold = override.threshold
    else:
        threshold = params.thresholds.get(method.name, method.default_threshold)
    return method, threshold
