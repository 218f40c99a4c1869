"""Stage evaluate: test-set metrics and the confusion, ROC and feature-importance plots."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from ctml import plots, stage, tracking
from ctml.errors import run_main
from ctml.evaluate import classification_metrics, confusion_rows, feature_importance, roc_points
from ctml.features import feature_names, split_xy
from ctml.io import write_csv, write_json
from ctml.model import load_verified


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--test", required=True, help="test split (Parquet)")
    p.add_argument("--metrics", required=True, help="output: metrics JSON")
    p.add_argument("--plots", required=True, help="output directory: plot data (CSV) and PNG images")
    args, params = stage.parse(p, argv)
    with tracking.stage_run("evaluate", params, section="evaluate") as run:
        run.data_input("test_split", args.test)
        model, _ = load_verified(args.model, args.meta)
        x, y = split_xy(pd.read_parquet(args.test), params.data.target)
        classes = model.classes_
        pred, proba = model.predict(x), model.predict_proba(x)
        scores = classification_metrics(y, pred, proba, classes)
        out = Path(args.plots)
        confusion = confusion_rows(y, pred)
        roc = roc_points(y, proba, classes)
        importance = feature_importance(model.named_steps["model"], feature_names(model.named_steps["preprocess"]),
                                        params.evaluate.top_features)
        for name, frame, draw in (("confusion", confusion, plots.confusion_png), ("roc", roc, plots.roc_png),
                                  ("importance", importance, plots.importance_png)):
            write_csv(out / f"{name}.csv", frame)
            draw(frame, out / f"{name}.png")
            run.upload(f"plots/{name}", out / f"{name}.png")
        write_json(args.metrics, scores)
        run.metrics("metrics", scores)
        print("evaluate: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))


if __name__ == "__main__":
    sys.exit(run_main(main))
