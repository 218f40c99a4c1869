"""The drift computation on Dask: partitioned Parquet in, the same report out as the local engine.

Each partition is reduced on the cluster to per-column summaries (numeric: sorted distinct values
with counts, i.e. an ECDF piece; categorical: category counts) plus the model's tally (predicted
classes or numbers, hits or error sums); the pieces of a column are merged pairwise in a tree, and
its statistic runs on the cluster from the merged summary. The merge is exact, so quantile bins, histograms, KS and Wasserstein equal the
local engine's (which computes the very same summaries from the whole column) up to float rounding.
Memory: no worker ever holds more than one partition, or one column's distinct values.

Inputs are rewritten as Parquet parts of `compute.partition_rows` rows by streaming (pyarrow
batches, or CSV chunks read as text and typed per partition), so neither file is loaded whole.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ctml.config import DriftParams
from ctml.data.tables import feature_kinds
from ctml.drift import detect, multivariate, results, summary, tally
from ctml.drift.reference import shuffled_sample
from ctml.drift.summary import Summary
from ctml.dask.io import partition


# --- tasks (run on the workers) -------------------------------------------------------------------

def _partition_summary(frame: pd.DataFrame, kinds: dict[str, str], target: str, model: Any, calibration: Any,
                       source: str, aligned: bool, sample_rows: int, seed: int) -> dict[str, Any]:
    """One partition reduced to what the statistics need, and a random sample of its rows (the
    domain classifier's share of this partition)."""
    features = frame if aligned else detect.align(frame, kinds, source)
    out: dict[str, Any] = {"rows": len(frame), "features": {n: tally.summarize(features[n], k) for n, k in kinds.items()},
                           "sample": shuffled_sample(features[list(kinds)], sample_rows, seed)}
    if model is not None:
        labelled = features.assign(**{target: frame[target]}) if target in frame.columns else features
        out["tally"] = tally.label_tally(model, labelled, list(kinds), target, calibration)
    return out


def _pick(part: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        part = part[key]
    return part


def _merge_all(*pieces: Summary) -> Summary:
    merged = pieces[0]
    for piece in pieces[1:]:
        merged = summary.merge(merged, piece)
    return merged


def _tree(items: list[Any], fan_in: int = 4, merge: Any = _merge_all) -> Any:
    """Merge delayed summaries (or tallies) a few at a time, level by level, into one."""
    from dask import delayed

    while len(items) > 1:
        items = [delayed(merge, pure=True)(*items[i:i + fan_in]) for i in range(0, len(items), fan_in)]
    return items[0]


def _sum(*values: int) -> int:
    return int(sum(values))


# --- driver ---------------------------------------------------------------------------------------

def _samples(rows: list[int], samples: list[pd.DataFrame], total: int, seed: int) -> pd.DataFrame:
    """`total` rows drawn from the partitions' samples in proportion to their rows, shuffled."""
    picked = [s.head(int(round(total * n / max(1, sum(rows))))) for n, s in zip(rows, samples)]
    return shuffled_sample(pd.concat(picked, ignore_index=True), total, seed)


def detect_partitioned(reference: str | Path, batch: str | Path, target: str, params: DriftParams, client: Any, *,
                       partition_rows: int, model: detect.ModelView | None = None, seed: int = 0,
                       workdir: str | Path | None = None, kinds: dict[str, str] | None = None) -> results.DriftResult:
    """The drift report of `batch` vs `reference` (Parquet or CSV files), computed on `client`'s cluster;
    `kinds`: the features to test, as in `detect.detect`.

    The domain classifier trains on a sample drawn from every partition in proportion to its rows,
    so its score differs from the local engine's (another sample), not its meaning."""
    import dask.dataframe as dd
    from dask import delayed

    with tempfile.TemporaryDirectory(prefix="ctml-drift-", dir=workdir) as tmp:
        ref_dir = partition(reference, Path(tmp) / "reference", partition_rows)
        cur_dir = partition(batch, Path(tmp) / "batch", partition_rows)
        ref_ddf, cur_ddf = dd.read_parquet(str(ref_dir)), dd.read_parquet(str(cur_dir))
        kinds = kinds or feature_kinds(ref_ddf._meta, target)
        detect.check_overrides(kinds, params)
        model_ref = client.scatter(model.model, broadcast=True) if model is not None else None
        calibration, note = model.usable_calibration() if model is not None else (None, None)
        sample_rows = params.multivariate.max_rows
        parts = {
            "reference": [delayed(_partition_summary, pure=True)(p, kinds, target, model_ref, None, str(reference), True,
                                                                 sample_rows, seed + i) for i, p in enumerate(ref_ddf.to_delayed())],
            "current": [delayed(_partition_summary, pure=True)(p, kinds, target, model_ref, calibration, str(batch), False,
                                                               sample_rows, seed + 1 + i) for i, p in enumerate(cur_ddf.to_delayed())],
        }
        merged = {side: {n: _tree([delayed(_pick, pure=True)(p, "features", n) for p in ps]) for n in kinds}
                  for side, ps in parts.items()}
        tasks: dict[str, Any] = {
            n: delayed(detect.test_feature, pure=True)(n, k, merged["reference"][n], merged["current"][n], params)
            for n, k in kinds.items()}
        counts = {side: [delayed(_pick)(p, "rows") for p in ps] for side, ps in parts.items()}
        extra: dict[str, Any] = {"rows": {side: delayed(_sum, pure=True)(*c) for side, c in counts.items()},
                                 "sample": {side: delayed(_samples, pure=True)(counts[side], [delayed(_pick)(p, "sample") for p in ps],
                                                                               sample_rows, seed + (side == "current"))
                                            for side, ps in parts.items()}}
        if model is not None:
            extra["tally"] = {side: _tree([delayed(_pick, pure=True)(p, "tally") for p in ps], merge=tally.merge_tallies)
                              for side, ps in parts.items()}
        features, extra = client.gather(client.compute([tasks, extra]))
    features = detect.finalize(features, params)
    counted = detect.counted_features(kinds, params)
    multi = multivariate.domain_classifier(extra["sample"]["reference"], extra["sample"]["current"],
                                           {n: kinds[n] for n in counted}, params.multivariate, seed)
    reference_score = model.reference_score if model is not None else None
    prediction = None
    perf = {**detect.performance(0, 0, reference_score),
            **detect.estimated_performance(None, None, "not available: no model", None, 0.0)}
    if model is not None:
        tallies = extra["tally"]
        prediction = detect.prediction_drift(tallies["reference"].predicted, tallies["current"].predicted, params)
        estimated = detect.estimated_performance(tallies["current"], calibration, note, reference_score,
                                                 params.estimation.band_sigmas)
        perf = detect.performance_of(tallies["current"], reference_score, estimated)
    report = detect.build_report(features, extra["rows"]["reference"], extra["rows"]["current"], prediction, perf, multi,
                                 counted)
    return results.DriftResult(report, features)
