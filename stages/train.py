"""Stage train: fit train.model on the preprocessed train split; save the full pipeline and its metadata."""
from __future__ import annotations

import sys
from typing import Sequence

import joblib
import pandas as pd

from ctml import stage, tracking
from ctml.errors import run_main
from ctml.model.features import full_pipeline, split_xy
from ctml.data.tables import plain
from ctml.io import read_json, sha256_file, write_json
from ctml.model.estimator import build_estimator, save_model
from ctml.provenance import git_commit, library_versions
from ctml.data.schema import feature_kinds_of
from ctml.data.task import recorded_task


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--train", required=True, help="train split (Parquet)")
    p.add_argument("--preprocessor", required=True, help="fitted preprocessor (joblib)")
    p.add_argument("--model", required=True, help="output: preprocessing + model pipeline (joblib)")
    p.add_argument("--meta", required=True, help="output: model metadata (JSON)")
    p.add_argument("--schema", required=True, help="recorded schema (JSON): the task and the feature columns")
    args, params = stage.parse(p, argv)
    with tracking.stage_run("train", params, section="train") as run:
        run.data_input("train_split", args.train)
        schema = read_json(args.schema)
        task = recorded_task(schema)
        frame = pd.read_parquet(args.train)
        x, y = split_xy(frame, params.data.target, list(feature_kinds_of(schema, frame)))
        preprocessor = joblib.load(args.preprocessor)
        estimator = build_estimator(params.train, task, params.seed).fit(preprocessor.transform(x), y)
        sha = save_model(full_pipeline(preprocessor, estimator), args.model)
        meta = {
            "model_sha256": sha,
            "train_data_sha256": sha256_file(args.train),
            "train_rows": len(x),
            "features": list(x.columns),
            "task": task,
            **({"classes": [plain(c) for c in estimator.classes_]} if task == "classification" else {}),
            "params": {"seed": params.seed, "train": params.train.model_dump()},
            "git_commit": git_commit(),
            "libraries": library_versions(),
        }
        write_json(args.meta, meta)
        run.log("model", {"sha256": sha, "type": params.train.model})
        run.upload("artifacts/model", args.model)
        run.upload("artifacts/model_meta", args.meta)
        print(f"train: {params.train.model} ({task}) on {len(x)} rows -> {args.model} (sha256 {sha[:12]})")


if __name__ == "__main__":
    sys.exit(run_main(main))
