"""Stage ingest: the source named by data.source plus folded CT batches -> typed training data."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from ctml import stage, tracking  # noqa: E402
from ctml.data import assemble_training_data, batch_files, load_source, normalize  # noqa: E402
from ctml.errors import run_main  # noqa: E402
from ctml.io import write_parquet  # noqa: E402


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--batches", required=True, help="directory of CT batches folded into training")
    p.add_argument("--out", required=True, help="training data (Parquet)")
    args, params = stage.parse(p, argv)
    data, ct = params.data, params.ct
    with tracking.stage_run("ingest", params, section="data") as run:
        source = normalize(load_source(data.source), data.target, data.date_columns)
        batches = [pd.read_parquet(path) for path in batch_files(args.batches)]
        frame = assemble_training_data(source, batches, ct.policy, ct.window_rows)
        write_parquet(args.out, frame)
        run.data_input("batches", args.batches)
        if Path(data.source).is_file():
            run.data_input("source", data.source)
        run.data_input("raw", args.out)
        run.metrics("ingest", {"rows": len(frame), "columns": frame.shape[1], "batches": len(batches)})
        print(f"ingest: {len(frame)} rows x {frame.shape[1]} columns ({len(batches)} CT batches) -> {args.out}")


if __name__ == "__main__":
    sys.exit(run_main(main))
