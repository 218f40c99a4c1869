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
from ctml.data import feature_kinds
from ctml.drift import detect, summary
from ctml.drift.summary import Summary
from ctml.dask_io import partition


# --- tasks (run on the workers) -------------------------------------------------------------------

def _partition_summary(frame: pd.DataFrame, kinds: dict[str, str], target: str, model: Any,
                       source: str, aligned: bool) -> dict[str, Any]:
    """One partition reduced to what the statistics need."""
    features = frame if aligned else detect.align(frame, kinds, source)
    out: dict[str, Any] = {"rows": len(frame), "features": {n: detect.summarize(features[n], k) for n, k in kinds.items()}}
    if model is not None:
        labelled = features.assign(**{target: frame[target]}) if target in frame.columns else features
        out["tally"] = detect.label_tally(model, labelled, list(kinds), target)
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

def detect_partitioned(reference: str | Path, batch: str | Path, target: str, params: DriftParams, client: Any, *,
                       partition_rows: int, model: Any = None, reference_score: float | None = None,
                       workdir: str | Path | None = None, kinds: dict[str, str] | None = None) -> detect.DriftResult:
    """The drift report of `batch` vs `reference` (Parquet or CSV files), computed on `client`'s cluster;
    `kinds`: the features to test, as in `detect.detect`."""
    import dask.dataframe as dd
    from dask import delayed

    with tempfile.TemporaryDirectory(prefix="ctml-drift-", dir=workdir) as tmp:
        ref_dir = partition(reference, Path(tmp) / "reference", partition_rows)
        cur_dir = partition(batch, Path(tmp) / "batch", partition_rows)
        ref_ddf, cur_ddf = dd.read_parquet(str(ref_dir)), dd.read_parquet(str(cur_dir))
        kinds = kinds or feature_kinds(ref_ddf._meta, target)
        detect.check_overrides(kinds, params)
        model_ref = client.scatter(model, broadcast=True) if model is not None else None
        parts = {
            "reference": [delayed(_partition_summary, pure=True)(p, kinds, target, model_ref, str(reference), True)
                          for p in ref_ddf.to_delayed()],
            "current": [delayed(_partition_summary, pure=True)(p, kinds, target, model_ref, str(batch), False)
                        for p in cur_ddf.to_delayed()],
        }
        merged = {side: {n: _tree([delayed(_pick, pure=True)(p, "features", n) for p in ps]) for n in kinds}
                  for side, ps in parts.items()}
        tasks: dict[str, Any] = {
            n: delayed(detect.test_feature, pure=True)(n, k, merged["reference"][n], merged["current"][n], params)
            for n, k in kinds.items()}
        rows = {side: delayed(_sum, pure=True)(*[delayed(_pick)(p, "rows") for p in ps]) for side, ps in parts.items()}
        extra: dict[str, Any] = {"rows": rows}
        if model is not None:
            extra["tally"] = {side: _tree([delayed(_pick, pure=True)(p, "tally") for p in ps], merge=detect.merge_tallies)
                              for side, ps in parts.items()}
        features, extra = client.gather(client.compute([tasks, extra]))
    prediction, perf = None, detect.performance(0, 0, reference_score)
    if model is not None:
        tally = extra["tally"]
        prediction = detect.prediction_drift(tally["reference"].predicted, tally["current"].predicted, params)
        perf = detect.performance_of(tally["current"], reference_score)
    report = detect.build_report(features, extra["rows"]["reference"], extra["rows"]["current"], prediction, perf)
    return detect.DriftResult(report, features)
