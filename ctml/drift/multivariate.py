"""Multivariate drift by a domain classifier: can a model tell batch rows from reference rows?

Why: every per-feature test looks at one column's distribution, so a batch whose columns each
keep their distribution but no longer go together (a feed that shuffles or misaligns columns, a
population whose mix of traits changed) passes them all. A classifier trained to separate the two
samples sees the joint distribution: its cross-validated ROC AUC is 0.5 when it cannot tell them
apart and approaches 1 as they differ (NannyML's domain classifier; Alibi Detect's ClassifierDrift).

Drifted needs both an effect and evidence: the AUC at or above `threshold` (a large batch makes a
trivial difference significant; 0.6 is a real one) and a p-value below `p_value` against AUC 0.5
(Mann-Whitney, asymptotic), so a small batch's noisy AUC does not fire. Extra trees keep it cheap
and single-threaded (histogram boosting with OpenMP was 10x slower on this shared 2-core machine).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ctml.config import MultivariateParams

METHOD = "domain_classifier"


def sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most `rows` rows of `frame`, drawn without replacement (seeded), in their original order."""
    if len(frame) <= rows:
        return frame
    picked = np.sort(np.random.default_rng(seed).choice(len(frame), size=rows, replace=False))
    return frame.iloc[picked]


def encode(reference: pd.DataFrame, batch: pd.DataFrame, kinds: dict[str, str]) -> np.ndarray:
    """Both samples as one float matrix, reference rows first: numbers and dates as numbers, booleans
    as 0/1, categories as codes over the union of both samples' labels; missing stays NaN (the trees
    route it)."""
    columns = []
    for name, kind in kinds.items():
        both = pd.concat([reference[name], batch[name]], ignore_index=True)
        if kind == "datetime":
            values = both.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64") / 1e9
            values[both.isna().to_numpy()] = np.nan
        elif kind == "categorical":
            codes = pd.Categorical(both.astype("string")).codes.astype("float64")
            values = np.where(codes < 0, np.nan, codes)
        else:
            values = both.to_numpy(dtype="float64", na_value=np.nan)
        columns.append(np.where(np.isfinite(values), values, np.nan))
    return np.column_stack(columns) if columns else np.empty((len(reference) + len(batch), 0))


def not_tested(note: str) -> dict[str, Any]:
    return {"method": METHOD, "score": None, "p_value": None, "drifted": False, "note": note}


def auc_p_value(scores: np.ndarray, is_batch: np.ndarray) -> float:
    """One-sided p-value of AUC > 0.5: Mann-Whitney U of batch vs reference scores (asymptotic, ties corrected)."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(scores[is_batch], scores[~is_batch], alternative="greater", method="asymptotic").pvalue)


def domain_classifier(reference: pd.DataFrame, batch: pd.DataFrame, kinds: dict[str, str], params: MultivariateParams,
                      seed: int) -> dict[str, Any]:
    """The `multivariate` section of the drift report: method, score (cross-validated ROC AUC),
    p-value, threshold, rows used per side, drifted; `drifted: false` with a note when not tested.

    `reference` is a shuffled sample (`reference.shuffled_sample`): its first rows, as many as the
    batch has, are a random sample, so the two sides are balanced and the cost follows the batch."""
    if not params.enabled:
        return not_tested("drift.multivariate.enabled is false")
    if not kinds:
        return not_tested("no feature columns")
    # Rows a batch repeats (served traffic does) count once: a copy on each side of a fold is a row the
    # classifier memorized, not a difference between the samples.
    cur = sample(batch[list(kinds)].drop_duplicates(), params.max_rows, seed + 1)
    ref = reference.head(min(len(cur), params.max_rows))
    if len(cur) < params.min_rows or len(ref) < params.min_rows:
        return not_tested(f"too few rows to train the classifier: {len(cur)} batch and {len(ref)} reference rows "
                          f"(drift.multivariate.min_rows: {params.min_rows})")
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    x = encode(ref, cur, kinds)
    y = np.concatenate([np.zeros(len(ref), dtype="int64"), np.ones(len(cur), dtype="int64")])
    scores = np.empty(len(y))
    folds = StratifiedKFold(n_splits=params.folds, shuffle=True, random_state=seed)
    for train, test in folds.split(x, y):
        forest = ExtraTreesClassifier(n_estimators=params.n_estimators, min_samples_leaf=3, random_state=seed, n_jobs=1)
        scores[test] = forest.fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    auc = float(roc_auc_score(y, scores))
    p_value = auc_p_value(scores, y == 1)
    return {"method": METHOD, "score": round(auc, 6), "p_value": round(p_value, 6), "threshold": params.threshold,
            "reference_rows": len(ref), "batch_rows": len(cur),
            "drifted": bool(auc >= params.threshold and p_value < params.p_value)}

