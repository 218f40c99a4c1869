"""Stage preprocess: deterministic train/test split and a preprocessor fitted on the train part only."""
from __future__ import annotations

import sys
from typing import Any, Sequence

import pandas as pd

from ctml import stage, tracking
from ctml.data.schema import feature_kinds_of
from ctml.data.split import split
from ctml.data.task import labels_for_task, recorded_task
from ctml.errors import run_main
from ctml.io import read_json, write_parquet
from ctml.model.blocks import fit_local
from ctml.model.estimator import save_model
from ctml.model.features import split_xy


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--data", required=True, help="validated training data (Parquet)")
    p.add_argument("--train-out", required=True)
    p.add_argument("--test-out", required=True)
    p.add_argument("--preprocessor", required=True, help="fitted ColumnTransformer (joblib)")
    p.add_argument("--schema", required=True, help="recorded schema (JSON): the task and the feature columns")
    args, params = stage.parse(p, argv)
    target = params.data.target
    with tracking.stage_run("preprocess", params, section="preprocess") as run:
        run.data_input("raw", args.data)
        schema = read_json(args.schema)
        if params.compute.engine == "dask":
            train_rows, test_rows, preprocessor = on_cluster(args, params, schema)
        else:
            frame = pd.read_parquet(args.data)
            task, kinds = recorded_task(schema), feature_kinds_of(schema, frame)  # excluded columns are no features
            frame[target] = labels_for_task(frame[target], task)
            train, test = split(frame, target, params.preprocess.test_size, params.seed, task)
            del frame
            preprocessor = fit_local(split_xy(train, target, list(kinds))[0], kinds, params.preprocess)
            write_parquet(args.train_out, train)
            write_parquet(args.test_out, test)
            train_rows, test_rows = len(train), len(test)
        save_model(preprocessor, args.preprocessor)
        run.metrics("preprocess", {"train_rows": train_rows, "test_rows": test_rows,
                                   "features_out": int(preprocessor.transform(_first_row(args.train_out)).shape[1])})
        print(f"preprocess: {train_rows} train / {test_rows} test rows ({params.compute.engine} engine)")


def _first_row(path: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    return next(pq.ParquetFile(path).iter_batches(batch_size=1)).to_pandas()


def on_cluster(args: Any, params: Any, schema: dict[str, Any]) -> tuple[int, int, Any]:
    """The split and the fit on the cluster of `compute` (`ctml.dask.preprocess`): the same files and
    preprocessor as the local engine, the client holding the label column only."""
    import pyarrow.parquet as pq

    from ctml.dask import io as dask_io
    from ctml.dask import preprocess as dask_preprocess

    task = recorded_task(schema)
    kinds = feature_kinds_of(schema, pd.DataFrame(columns=pq.read_schema(args.data).names))
    with dask_io.client_for(params.compute.scheduler) as client:
        rows = dask_preprocess.split_on_cluster(client, args.data, args.train_out, args.test_out, params.data.target, task,
                                                params.preprocess.test_size, params.seed)
        preprocessor = dask_preprocess.fit_on_cluster(client, args.train_out, kinds, params.preprocess)
    return *rows, preprocessor


if __name__ == "__main__":
    sys.exit(run_main(main))
