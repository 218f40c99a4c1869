"""Simulated production batches: no drift, gradual, sudden, concept drift, or a replayed file.

Batches are drawn from the reference data (with a little noise so rows are not copies) and then
shifted; every random choice comes from `(seed, step)`, so the same seed gives the same batches.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd

from ctml.config import CTParams
from ctml.data.tables import feature_kinds

JITTER_STD = 0.05  # noise added to numeric features, in reference standard deviations
# Columns with fewer distinct values than this share of rows are left as drawn: noise on a discrete
# column (a 0/1 flag, a score in steps) breaks its ties, which KS reads as drift (measured on
# diabetes: `sex` and `s4` drifted in every undrifted batch). Every breast_cancer column is above it.
JITTER_MIN_DISTINCT_SHARE = 0.5


def shifted_columns(reference: pd.DataFrame, target: str, share: float, seed: int) -> list[str]:
    """The numeric features a simulation shifts: a fixed, seeded share of them."""
    numeric = [c for c, k in feature_kinds(reference, target).items() if k == "numeric"]
    count = max(1, int(round(share * len(numeric)))) if numeric else 0
    order = np.random.default_rng(seed).permutation(len(numeric))
    return [numeric[i] for i in sorted(order[:count])]


def shift_fraction(scenario: str, step: int, steps: int, start_step: int) -> float:
    """How much of the full shift applies at `step` (1-based)."""
    if scenario == "gradual":
        return step / steps
    if scenario == "sudden":
        return 1.0 if step >= start_step else 0.0
    return 0.0


def flip_labels(labels: pd.Series, mask: np.ndarray, classes: list) -> pd.Series:
    """Concept drift: each masked label moves to the next class, so the feature->label relation changes."""
    nxt = {c: classes[(i + 1) % len(classes)] for i, c in enumerate(classes)}
    out = labels.copy()
    out[mask] = labels[mask].map(nxt)
    return out


def mirror_targets(targets: pd.Series, mask: np.ndarray, centre: float) -> pd.Series:
    """Concept drift of a numeric target: masked values are mirrored about `centre` (the reference
    mean), so where the relation rose it now falls, while the values keep their spread."""
    out = targets.astype("float64")
    out[mask] = 2 * centre - out[mask]
    return out


def make_batch(reference: pd.DataFrame, target: str, scenario: str, step: int, steps: int,
               batch_size: int, seed: int, ct: CTParams, task: str = "classification") -> pd.DataFrame:
    """One labelled batch of `scenario` at `step` (1-based) drawn from `reference`; `task` says how
    concept drift changes the labels (next class, or a mirrored target)."""
    rng = np.random.default_rng([seed, step])
    rows = rng.choice(len(reference), size=batch_size, replace=batch_size > len(reference))
    batch = reference.iloc[np.sort(rows)].reset_index(drop=True)
    kinds = feature_kinds(reference, target)
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    std = reference[numeric].std(ddof=0).fillna(0.0)
    continuous = (reference[numeric].nunique() >= JITTER_MIN_DISTINCT_SHARE * len(reference)).to_numpy()
    noise = rng.normal(0.0, JITTER_STD, size=(batch_size, len(numeric))) * std.to_numpy() * continuous
    batch[numeric] = batch[numeric].to_numpy() + noise
    chosen = shifted_columns(reference, target, ct.shift_share, seed)
    fraction = shift_fraction(scenario, step, steps, ct.start_step)
    if fraction and chosen:
        batch[chosen] = batch[chosen] + fraction * ct.shift_magnitude * std[chosen]
    if scenario == "concept" and step >= ct.start_step and chosen:
        pivot = chosen[0]
        mask = (batch[pivot] > reference[pivot].median()).to_numpy()
        if task == "regression":
            batch[target] = mirror_targets(batch[target], mask, float(pd.to_numeric(reference[target]).mean()))
        else:
            classes = sorted(reference[target].dropna().unique().tolist())
            batch[target] = flip_labels(batch[target], mask, classes)
    return batch


def replay_batches(frame: pd.DataFrame, reference_rows: int, batch_size: int) -> Iterator[pd.DataFrame]:
    """The rows after the first `reference_rows`, in file order, `batch_size` at a time."""
    for start in range(reference_rows, len(frame), batch_size):
        yield frame.iloc[start:start + batch_size].reset_index(drop=True)
