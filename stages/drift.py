"""Stage drift: the batch under check vs the training data, per feature, all features together (a
domain classifier), for the production model's predictions, its estimated accuracy (CBPE, no labels
needed), and (on a labelled batch) its realized accuracy, or a regressor's error."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from ctml import layout, stage, tracking
from ctml.data.folds import batch_files
from ctml.drift import detect, ranges
from ctml.config import DriftParams
from ctml.drift.reference import Segment, open_reference, training_segments
from ctml.drift.plots import write_plots
from ctml.errors import run_main
from ctml.io import read_json, read_table, table_rows, write_json
from ctml.model.estimator import load_verified
from ctml.data.schema import recorded_kinds
from ctml.data.task import task_of_model


REFERENCE_METRIC = {"classification": "accuracy", "regression": "rmse"}  # what a labelled batch is held to


def reference_score(production: str | Path, metrics: str | Path, task: str) -> float | None:
    """Test accuracy (a classifier) or RMSE (a regressor) of the production model (its metrics.json),
    else of the pipeline's model."""
    path = Path(production) / "metrics.json"
    path = path if path.exists() else Path(metrics)
    value = read_json(path).get(REFERENCE_METRIC[task]) if path.exists() else None
    return None if value is None else float(value)


def reference_for(training: str | Path, batches: str | Path, mode: str) -> Path:
    """One file for "normal": the newest batch (of `batches`, the current lineage's folder) folded into
    training (`latest`), else all training data (`training`, and `seen` on the Dask engine)."""
    newest = batch_files(batches)[-1:] if mode == "latest" else []
    return newest[0] if newest else Path(training)


def seen_reference(training: Path, batches: Path, current: pd.DataFrame, kinds: dict[str, str], open_one: Callable,
                   dp: DriftParams) -> tuple[Segment, int]:
    """`drift.reference: seen`: the stretch of the training data (source rows before any CT batch, or
    one folded batch: `training_segments`) the batch is nearest to, and how many there were.

    Why: the question is whether the model has seen data like this batch. `latest` (the newest folded
    batch) made the first normal batch after a shift "drifted" (it differs from the shifted one) and
    retrained again; all training data at once made a persisting shift retrain until the shifted rows
    outnumbered the old ones. benchmarks/results.md ("Drift reference design") has both measured.
    """
    segments = training_segments(training, batch_files(batches), table_rows)
    if len(segments) == 1:
        return segments[0], 1
    aligned = detect.align(current, kinds, "batch")
    found = detect.nearest([open_one(s)[0].summaries for s in segments], aligned, kinds, dp)
    return segments[found], len(segments)


def calibration_of(model_path: Path, production: str | Path, pipeline_calibration: str | Path) -> dict | None:
    """The CBPE calibration beside the model in use: production's, else the pipeline's; None when absent
    (a release made before calibrations travelled with it)."""
    path = Path(production) / "calibration.json" if model_path.parent == Path(production) else Path(pipeline_calibration)
    return read_json(path) if path.exists() else None


def kept_measurement(out: str | Path, features: str | Path) -> bool:
    """With no batch, whether the last measurement stays: both its files are there.

    Why keep it: a queued `dvc exp run` works in a copy of the project without git-ignored files, so
    it never sees the batch in data/checked; rewriting drift.json as "no batch" there would undo the
    workspace's measurement on `dvc exp apply`. The reference and production model do not change in
    an experiment, so the last measurement still describes the last batch.
    """
    return Path(out).exists() and Path(features).exists()


def staged_lineage(checked: str | Path) -> str | None:
    """The lineage the staged batch was checked under (its `batch.json`, written by ct.py); None when
    nothing says (a batch put there by hand is taken as the current source's)."""
    meta = Path(checked) / layout.STAGED_META.name
    return read_json(meta).get("lineage") if meta.exists() else None


def summary(report: dict) -> dict:
    """What `dvc metrics show` and `dvc metrics diff` compare of a drift measurement: the score, the
    share of drifted features and the batch's realized (else estimated) metric of the task. The whole
    report (30+ values) stays in drift.json, an output, so the metrics table fits a terminal."""
    performance = report.get("performance") or {}
    found = {"drift_score": report.get("drift_score"), "drifted_share": report.get("drifted_share")}
    for key, shown in (("accuracy", "batch_accuracy"), ("rmse", "batch_rmse")):
        if performance.get(key) is not None:
            found[shown] = performance[key]
    if "batch_accuracy" not in found and performance.get("estimated_accuracy") is not None:
        found["estimated_accuracy"] = performance["estimated_accuracy"]
    return found


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--reference", required=True, help="training data (Parquet): the reference distribution")
    p.add_argument("--batches", required=True, help="CT batches folded into training (newest = `latest` reference)")
    p.add_argument("--checked", required=True, help="directory of the batch under check (batch.parquet or batch.csv)")
    p.add_argument("--model", required=True, help="pipeline model, used when no production model is deployed")
    p.add_argument("--meta", required=True, help="its metadata (sha256 checked before loading)")
    p.add_argument("--production", required=True, help="directory of the production model.joblib/json/metrics.json")
    p.add_argument("--metrics", required=True, help="test metrics of --model (reference accuracy or RMSE fallback)")
    p.add_argument("--schema", required=True, help="the pipeline's schema: the features and ranges when production has none")
    p.add_argument("--out", required=True, help="output: the drift report (JSON)")
    p.add_argument("--summary", required=True, help="output: its summary (JSON metric)")
    p.add_argument("--features", required=True, help="output: per-feature tests (JSON)")
    p.add_argument("--plots", required=True, help="output directory: drift plot data (CSV) and PNG images")
    p.add_argument("--calibration", required=True, help="CBPE calibration of --model (used with it when nothing is in production)")
    p.add_argument("--cache", required=True, help="folder of cached reference summaries (not a DVC dependency)")
    args, params = stage.parse(p, argv)
    dp, target = params.drift, params.data.target
    with tracking.stage_run("drift", params, section="drift") as run:
        batch = layout.find_batch(args.checked)
        lineage = layout.lineage_batches(args.batches, params.data)
        reference = reference_for(args.reference, lineage, dp.reference)
        # A batch checked under another source (data.source, target or task changed since) is not this one's.
        foreign = batch is not None and staged_lineage(args.checked) not in (None, layout.data_lineage(params.data))
        if batch is None or foreign:
            if batch is None and kept_measurement(args.out, args.features):
                if not Path(args.summary).exists():  # a measurement made before the summary was its own file
                    write_json(args.summary, summary(read_json(args.out)))
                print(f"drift: no batch in {args.checked}; {args.out} keeps the last measurement")
                return
            write_plots({}, [], args.plots)
            report, features = detect.split_report(ranges.annotate(
                detect.no_batch_report((table_rows(reference) or 0) if reference.exists() else 0), {}))
            write_json(args.features, features)
            write_json(args.out, report)
            write_json(args.summary, summary(report))
            run.metrics("drift", {"drift_score": 0.0})
            why = "the batch there was checked under another data.source" if foreign else "no batch"
            print(f"drift: {why} in {args.checked}; nothing to compare")
            return
        model_path, meta_path = layout.serving_model(args.production, args.model, args.meta)
        model, meta = load_verified(model_path, meta_path, shared=True)  # predicts only
        view = detect.ModelView(model, str(meta.get("model_sha256", "")),
                                reference_score(args.production, args.metrics, task_of_model(model)),
                                calibration_of(model_path, args.production, args.calibration))
        schema = read_json(layout.serving_schema(args.production, args.schema))  # production's features and ranges
        kinds = recorded_kinds(schema)
        how = "partitioned"
        if params.compute.engine == "dask":
            from ctml.dask import io as dask_io# dask and distributed cost ~0.4 s to import; only this engine needs them
            from ctml.dask import drift as dask_engine

            with dask_io.client_for(params.compute.scheduler) as client:
                result = dask_engine.detect_partitioned(reference, batch, target, dp, client, model=view,
                                                        partition_rows=params.compute.partition_rows, seed=params.seed,
                                                        kinds=kinds)
            counts = ranges.out_of_range_in_file(batch, schema)
            unknown = ranges.out_of_range_in_file(batch, schema, ranges.unknown_categories)
            nearest = "training data" if dp.reference == "seen" else reference.name
        else:
            def open_one(segment: Segment, with_model: bool = False):
                return open_reference(segment.path, target, dp.multivariate.max_rows, params.seed, Path(args.cache),
                                      dp.cache, read_table, model if with_model else None, view.sha256, kinds, segment.head)

            current = read_table(batch)
            if dp.reference == "seen":
                segment, n_segments = seen_reference(Path(args.reference), lineage, current, kinds, open_one, dp)
                nearest = segment.name if n_segments == 1 else f"{segment.name} (nearest of {n_segments})"
            else:
                segment, nearest = Segment(reference.name, reference), reference.name
            summaries, how = open_one(segment, with_model=True)
            result = detect.detect(summaries, current, target, dp, model=view, batch_path=batch, seed=params.seed)
            counts = ranges.out_of_range(current, schema)
            unknown = ranges.unknown_categories(current, schema)
        pngs = write_plots(result.features, detect.most_drifted(result.features, dp.top_plots), args.plots,
                           images=detect.wants_images(result.report, dp.images))
        report, features = detect.split_report({**ranges.annotate(result.report, counts, unknown),
                                                "reference": {"design": dp.reference, "nearest": nearest}})
        write_json(args.features, features)
        write_json(args.out, report)
        write_json(args.summary, summary(report))
        run.metrics("drift", {k: report[k] for k in ("drift_score", "drifted_share", "n_drifted", "n_features", "batch_rows",
                                                     "out_of_range_share")})
        run.metrics("drift/performance", {k: v for k, v in report["performance"].items()
                                          if isinstance(v, (int, float)) and not isinstance(v, bool)})
        run.metrics("drift/multivariate", {k: report["multivariate"][k] for k in ("score", "p_value")
                                           if report["multivariate"].get(k) is not None})
        run.metrics("drift/features", {n: f["score"] for n, f in features.items() if f["score"] is not None})
        for png in pngs:
            run.upload(f"drift/plots/{png.stem}", png)
        multi, perf = report["multivariate"], report["performance"]
        print(f"drift: {report['n_drifted']}/{report['n_counted']} features drifted "
              f"(drift_score {report['drift_score']:.3f}), {report['out_of_range_share']:.1%} of numeric values beyond "
              f"production's training ranges, on {report['batch_rows']} rows of {batch.name} vs {nearest}; "
              f"{report['unknown_category_share']:.1%} of a column's values unknown categories at most; "
              f"domain classifier AUC {multi['score'] if multi['score'] is not None else '-'}"
              f"{' (drifted)' if multi['drifted'] else ''}; estimated accuracy "
              f"{perf['estimated_accuracy'] if perf['estimated_accuracy'] is not None else '-'} ({perf['estimation']}); "
              f"reference {how}")


if __name__ == "__main__":
    sys.exit(run_main(main))
