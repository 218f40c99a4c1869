"""Stage evaluate: test-set metrics and plots: confusion and ROC for a classifier, predicted vs
actual, residuals and their histogram for a regressor, feature importance for both; and the
calibration a classifier's label-free performance estimates (CBPE) use, fitted on the same test split."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import joblib
import pandas as pd

from ctml import stage, tracking
from ctml.dask import io as dask_io
from ctml.model import images
from ctml.drift import estimate
from ctml.errors import run_main
from ctml.model.evaluate import (classification_metrics, confusion_rows, feature_importance, fit_reference, reference_rows,
                                 reference_scores, regression_metrics, residual_histogram, residual_rows, roc_points, trails)
from ctml.model.features import feature_names, split_xy
from ctml.io import write_csv, write_json
from ctml.model.estimator import load_verified
from ctml.data.task import task_of_model

# Each task's plots: name -> (title, CSV columns). dvc.yaml declares both sets; the other task's
# are written as an empty table (the page of `dvc plots show` leaves a plot without data out) and
# their images removed, so `dvc plots show` reports nothing missing and shows nothing that does not apply.
PLOTS = {
    "classification": {"confusion": ("Confusion matrix", ["actual", "predicted"]),
                       "roc": ("ROC curve", ["fpr", "tpr", "class"])},
    "regression": {"predicted_vs_actual": ("Predicted vs actual", ["actual", "predicted"]),
                   "residuals": ("Residuals vs predicted", ["predicted", "residual"]),
                   "residual_hist": ("Residual histogram", ["bin_start", "bin_end", "count"])},
}
Plot = tuple[str, pd.DataFrame, Callable[[pd.DataFrame, Path], None]]


def classification_plots(model: Any, pred: Any, y: pd.Series, proba: Any) -> tuple[dict[str, float], list[Plot]]:
    classes = model.classes_
    return classification_metrics(y, pred, proba, classes), [
        ("confusion", confusion_rows(y, pred), images.confusion_png), ("roc", roc_points(y, proba, classes), images.roc_png)]


def regression_plots(pred: Any, y: pd.Series, bins: int) -> tuple[dict[str, float], list[Plot]]:
    rows = residual_rows(y, pred)
    return regression_metrics(y, pred), [
        ("predicted_vs_actual", rows[["actual", "predicted"]], images.predicted_vs_actual_png),
        ("residuals", rows[["predicted", "residual"]], images.residuals_png),
        ("residual_hist", residual_histogram(rows["residual"], bins), images.residual_hist_png)]


def not_applicable(out: Path, task: str) -> None:
    """The other task's plots as an empty table, and no image (one left by a model of the other task goes)."""
    for other, names in PLOTS.items():
        if other != task:
            for name, (_, columns) in names.items():
                write_csv(out / f"{name}.csv", pd.DataFrame(columns=columns))
                (out / f"{name}.png").unlink(missing_ok=True)


def calibration(model: Any, meta: dict[str, Any], proba: Any, y: pd.Series, params: Any) -> dict[str, Any]:
    """What models/calibration.json holds for this model: its curves, or why there are none."""
    sha = str(meta.get("model_sha256", ""))
    if (note := estimate.inapplicable(model)) is not None:
        return estimate.unavailable(note, sha)
    return estimate.fit_calibration(model, proba, y, sha, params.evaluate.calibration, params.seed)


def predictions(model: Any, path: str, test: str, target: str, task: str, client: Any) -> tuple[pd.Series, Any, Any]:
    """(labels, predictions, probabilities or None) of the test split by the model saved at `path`: here,
    or on the dask engine predicted by the workers a row group at a time (the client holds these columns only)."""
    classification = task == "classification" and hasattr(model, "predict_proba")
    if client is not None:
        from ctml.dask import train as dask_train

        got = dask_train.predict_parts(client, path, test, target, classification)
        return pd.Series(got["y"], name=target), got["pred"], got.get("proba")
    x, y = split_xy(pd.read_parquet(test), target)
    return y, model.predict(x), model.predict_proba(x) if classification else None


def reference_metrics(model: Any, args: Any, params: Any, task: str, client: Any) -> dict[str, Any]:
    """The reference model's test metrics (`ctml.model.evaluate.fit_reference`), fitted on the same rows
    of the train split on both engines (`reference_rows`); on the dask engine the workers hand over those
    rows and predict the test split."""
    import pyarrow.parquet as pq

    target = params.data.target
    rows = reference_rows(pq.ParquetFile(args.train).metadata.num_rows, params.seed)
    if client is None:
        train = pd.read_parquet(args.train)
        train = train if rows is None else train.iloc[rows]
    else:
        train = dask_io.take(client, args.train, rows)
    fitted = fit_reference(model, *split_xy(train, target), task, params.seed)
    del train
    with tempfile.TemporaryDirectory(prefix="ctml-reference-", dir=Path(args.model).resolve().parent) as tmp:
        path = str(Path(tmp) / "reference.joblib")
        if client is not None:
            joblib.dump(fitted, path)  # for the workers: a shared filesystem, as every path the cluster reads
        y, pred, proba = predictions(fitted, path, args.test, target, task, client)
    return reference_scores(fitted, y, pred, proba, task)


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--test", required=True, help="test split (Parquet)")
    p.add_argument("--train", required=True, help="training split (Parquet): the reference model is fitted on it")
    p.add_argument("--metrics", required=True, help="output: metrics JSON")
    p.add_argument("--plots", required=True, help="output directory: plot data (CSV) and PNG images")
    p.add_argument("--calibration", required=True, help="output: CBPE calibration of a classifier (JSON)")
    p.add_argument("--reference", required=True, help="output: a library-default model's test metrics on the same split (JSON)")
    args, params = stage.parse(p, argv)
    with tracking.stage_run("evaluate", params, section="evaluate") as run, dask_io.engine_client(params.compute) as client:
        run.data_input("test_split", args.test)
        model, meta = load_verified(args.model, args.meta)
        task = task_of_model(model)
        y, pred, proba = predictions(model, args.model, args.test, params.data.target, task, client)
        if task == "regression":
            scores, drawn = regression_plots(pred, y, params.evaluate.residual_bins)
        else:
            scores, drawn = classification_plots(model, pred, y, proba)
        importance = feature_importance(model.named_steps["model"], feature_names(model.named_steps["preprocess"]),
                                        params.evaluate.top_features)
        out = Path(args.plots)
        for name, frame, draw in (*drawn, ("importance", importance, images.importance_png)):
            write_csv(out / f"{name}.csv", frame)
            draw(frame, out / f"{name}.png")
            run.upload(f"plots/{name}", out / f"{name}.png")
        not_applicable(out, task)
        write_json(args.calibration, calibration(model, meta, proba, y, params))
        reference = reference_metrics(model, args, params, task, client)
        write_json(args.metrics, scores)
        write_json(args.reference, reference)
        run.metrics("metrics", scores)
        run.metrics("metrics/reference_model", {k: v for k, v in reference.items() if k != "name"})
        print(f"evaluate ({task}): " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
        metric = params.gates.metric if params.gates.metric != "auto" else {"classification": "accuracy"}.get(task, "rmse")
        if trails(scores, reference, metric, params.evaluate.reference_tolerance):
            print(f"evaluate: warning: {metric} {scores[metric]:.4f} trails a default {reference['name']} on the same split "
                  f"({reference[metric]:.4f}, beyond evaluate.reference_tolerance {params.evaluate.reference_tolerance}); "
                  "see train in params.yaml")


if __name__ == "__main__":
    sys.exit(run_main(main))
