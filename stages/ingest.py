"""Stage ingest: the source named by data.source plus the CT batches folded under it -> typed training data.

Only the batches of the current lineage (data.source, data.target, data.task: `layout.lineage_batches`)
are folded in: batches of another source stay in git and DVC for the lineage of their versions.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from ctml import layout, stage, tracking
from ctml.data.folds import batch_files
from ctml.data.tables import assemble_training_data, drop_unlabelled, load_source, normalize
from ctml.errors import run_main
from ctml.io import write_parquet


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--batches", required=True, help="directory of CT batches folded into training")
    p.add_argument("--out", required=True, help="training data (Parquet)")
    args, params = stage.parse(p, argv)
    data, ct, compute = params.data, params.ct, params.compute
    with tracking.stage_run("ingest", params, section="data") as run:
        files = batch_files(layout.lineage_batches(args.batches, data))
        fold = {"max_growth": ct.max_growth, "cap_min_rows": ct.cap_min_rows, "seed": params.seed}
        if compute.engine == "dask":
            from ctml.dask import io as dask_io
            from ctml.dask import ingest as dask_ingest# dask and distributed cost ~0.4 s to import; only this engine needs them

            with dask_io.client_for(compute.scheduler) as client:
                rows, columns, unlabelled = dask_ingest.ingest_partitioned(
                    data.source, files, data.target, data.date_formats, ct.policy, ct.window_rows, args.out, client,
                    partition_rows=compute.partition_rows, csv_format=data.csv.model_dump(), **fold)
        else:
            source, unlabelled = drop_unlabelled(normalize(load_source(data.source, data.csv.model_dump()), data.target, data.date_formats),
                                                 data.target)
            batches = [pd.read_parquet(path) for path in files]
            frame = assemble_training_data(source, batches, ct.policy, ct.window_rows, target=data.target, **fold)
            write_parquet(args.out, frame)
            rows, columns = frame.shape
        run.data_input("batches", args.batches)
        if Path(data.source).is_file():
            run.data_input("source", data.source)
        run.data_input("raw", args.out)
        run.metrics("ingest", {"rows": rows, "columns": columns, "batches": len(files), "unlabelled_dropped": unlabelled})
        if unlabelled:
            print(f"ingest: warning: {unlabelled} rows of {data.source} without a label '{data.target}' dropped "
                  "(training cannot use them; rule: data.target)")
        print(f"ingest: {rows} rows x {columns} columns ({len(files)} CT batches, fold policy {ct.policy}, {compute.engine} engine) -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_main(main))
