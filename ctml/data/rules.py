"""The value rules a row can break, each as the rows that break it and one sentence naming its key.

Why rows and not a verdict: the same rule decides a whole batch (`check_frame`: one line per column
and rule, about its first offending row) and single rows (`schema.row_faults`, for
`validate.bad_rows: drop_rows`), so dropping a row and quarantining a batch can never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ctml.config import ValidateParams
from ctml.data.tables import plain


@dataclass(frozen=True)
class Fault:
    """The rows of a column that break one rule."""

    rows: np.ndarray  # bool, one per row
    values: np.ndarray  # the column's values (what a message shows)
    noun: str  # "value", "non-finite value", "unknown class", ...
    rule: str  # the rest of the sentence, ending with the rule and its key
    order: int = 0  # the rule's place among its column's rules (a column's problems are listed in this order)

    def message(self, name: str, what: str = "column") -> str:
        """About the first row that breaks the rule."""
        return self._sentence(name, what, self.values[self.rows][0])

    def reasons(self, name: str, what: str = "column") -> list[str]:
        """One sentence per row that breaks the rule, each about its own value."""
        return [self._sentence(name, what, v) for v in self.values[self.rows]]

    def _sentence(self, name: str, what: str, value: Any) -> str:
        value = plain(value)
        shown = f"{value:g}" if isinstance(value, float) else repr(value)
        return f"{what} '{name}': {self.noun} {shown} {self.rule}"


def absurd_limits(low: float, high: float, factor: float) -> tuple[float, float]:
    """What is absurd beyond a recorded [low, high]: `factor` times the range's scale past either end.

    The scale is the larger of the range's width and its largest |bound|, so "absurd" means orders of
    magnitude for any column: a standardized reading in [-2.05, 1.81] is absurd beyond ±40, a price in
    [10, 1000] beyond 11,000, row numbers 0..499 beyond 5,489; a constant column's scale is its value.
    """
    scale = max(high - low, abs(low), abs(high)) or 1.0
    return low - factor * scale, high + factor * scale


def numeric_faults(name: str, col: pd.Series, spec: dict[str, Any], vp: ValidateParams) -> list[Fault]:
    """Non-finite values, values absurdly far outside the recorded range (`validate.absurd_factor`),
    values outside the bounds the user declared (`validate.bounds`); missing values break none."""
    values = col.to_numpy(dtype="float64", na_value=np.nan)
    faults = []
    infinite = np.isinf(values)
    if infinite.any():
        faults.append(Fault(infinite, values, "non-finite value", "(rule: values must be finite)", 0))
    finite = np.isfinite(values)
    if "min" in spec:
        lo, hi = absurd_limits(spec["min"], spec["max"], vp.absurd_factor)
        absurd = finite & ((values < lo) | (values > hi))
        if absurd.any():
            faults.append(Fault(absurd, values, "value", f"absurdly far outside the recorded range [{spec['min']:g}, "
                                f"{spec['max']:g}] (beyond [{lo:g}, {hi:g}]; rule: validate.absurd_factor {vp.absurd_factor})", 1))
    bound = vp.bounds.get(name)
    if bound is not None and bound.min is not None and (below := finite & (values < bound.min)).any():
        faults.append(Fault(below, values, "value", f"below the declared bound {bound.min:g} (rule: validate.bounds.{name}.min)", 2))
    if bound is not None and bound.max is not None and (above := finite & (values > bound.max)).any():
        faults.append(Fault(above, values, "value", f"above the declared bound {bound.max:g} (rule: validate.bounds.{name}.max)", 3))
    return faults


def label_faults(labels: pd.Series, schema: dict[str, Any]) -> list[Fault]:
    """A classifier's labels: numbers where the classes are numbers, and only the recorded classes."""
    recorded = schema["classes"]
    numeric = schema["label_kind"] != "categorical"
    values = pd.to_numeric(labels, errors="coerce") if numeric else labels
    given = labels.to_numpy(dtype=object)
    faults = []
    odd = (labels.notna() & values.isna()).to_numpy()
    if odd.any():
        faults.append(Fault(odd, given, "non-numeric label", f"(recorded classes: {recorded})"))
    unknown = (values.notna() & ~values.isin(recorded)).to_numpy()
    if unknown.any():
        shown = values.to_numpy(dtype=object)
        faults.append(Fault(unknown, shown, "unknown class", f"(recorded classes: {recorded}, from data.source)"))
    return faults
