"""Stage validate: hold the training data to the schema recorded from the baseline."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

from ctml import stage, tracking
from ctml.errors import UserError, run_main
from ctml.io import read_json, write_json
from ctml.schema import check_frame, infer_schema
from ctml.task import check_training_labels, in_force, recorded_task


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--data", required=True, help="training data (Parquet)")
    p.add_argument("--schema", required=True, help="recorded schema (JSON); recorded when absent or the source, target or task changed")
    p.add_argument("--out", required=True, help="validation report (JSON metric)")
    args, params = stage.parse(p, argv)
    data, vp = params.data, params.validate_
    with tracking.stage_run("validate", params, section="validate") as run:
        run.data_input("raw", args.data)
        frame = pd.read_parquet(args.data)
        schema_path = Path(args.schema)
        schema = read_json(schema_path) if schema_path.exists() else None
        task = in_force(frame[data.target], data, schema)
        check_training_labels(frame[data.target], data.target, task.task)
        recorded = schema is None or (schema.get("source"), schema.get("target"), recorded_task(schema)) != \
            (data.source, data.target, task.task)
        if recorded:
            schema = infer_schema(frame, data.source, data.target, task)
        problems = check_frame(frame, schema, vp)
        # Only facts about the data: whether the schema was recorded now depends on history, and
        # a report that changed with it would re-run every downstream stage for nothing.
        report = {"rows": len(frame), "columns": len(schema["columns"]),
                  "violations": len(problems), "passed": not problems}
        run.metrics("validation", {**report, "schema_recorded": recorded})
        run.log("task", {"task": task.task, "reason": task.reason})
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            hint = "" if recorded else f"; if the change is intended, delete {schema_path} to record the data anew"
            raise UserError(f"{args.data}: {problems[0]}{more}{hint}")
        if recorded:
            write_json(schema_path, schema)
        write_json(args.out, report)
        why = "named by data.task" if data.task != "auto" else f"data.task auto: {task.reason}"
        print(f"validate: {len(frame)} rows pass the schema{' (recorded now)' if recorded else ''}; task {task.task} ({why})")


if __name__ == "__main__":
    sys.exit(run_main(main))
