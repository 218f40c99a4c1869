"""Stage train: fit train.model on the preprocessed train split; save the full pipeline and its metadata."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import joblib  # noqa: E402
import pandas as pd  # noqa: E402

from ctml import stage, tracking  # noqa: E402
from ctml.errors import run_main  # noqa: E402
from ctml.features import full_pipeline, split_xy  # noqa: E402
from ctml.io import sha256_file, write_json  # noqa: E402
from ctml.model import build_estimator, save_model  # noqa: E402
from ctml.provenance import git_commit, library_versions  # noqa: E402


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--train", required=True, help="train split (Parquet)")
    p.add_argument("--preprocessor", required=True, help="fitted preprocessor (joblib)")
    p.add_argument("--model", required=True, help="output: preprocessing + model pipeline (joblib)")
    p.add_argument("--meta", required=True, help="output: model metadata (JSON)")
    args, params = stage.parse(p, argv)
    with tracking.stage_run("train", params, section="train") as run:
        run.data_input("train_split", args.train)
        x, y = split_xy(pd.read_parquet(args.train), params.data.target)
        preprocessor = joblib.load(args.preprocessor)
        estimator = build_estimator(params.train, params.seed).fit(preprocessor.transform(x), y)
        sha = save_model(full_pipeline(preprocessor, estimator), args.model)
        meta = {
            "model_sha256": sha,
            "train_data_sha256": sha256_file(args.train),
            "train_rows": len(x),
            "features": list(x.columns),
            "classes": [c.item() if hasattr(c, "item") else c for c in estimator.classes_],
            "params": {"seed": params.seed, "train": params.train.model_dump()},
            "git_commit": git_commit(),
            "libraries": library_versions(),
        }
        write_json(args.meta, meta)
        run.log("model", {"sha256": sha, "type": params.train.model})
        run.upload("artifacts/model", args.model)
        run.upload("artifacts/model_meta", args.meta)
        print(f"train: {params.train.model} on {len(x)} rows -> {args.model} (sha256 {sha[:12]})")


if __name__ == "__main__":
    sys.exit(run_main(main))
