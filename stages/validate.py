"""Stage validate: hold the training data to the recorded schema, then record its ranges anew."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from ctml import stage, tracking
from ctml.config import DataParams
from ctml.errors import UserError, run_main
from ctml.dask.io import engine_client
from ctml.data import profile
from ctml.data.exclusions import excluded_from
from ctml.io import atomic_path, read_json, write_json
from ctml.data.schema import check_block, check_table, excluded, follow_from, infer_from
from ctml.data.task import check_training_labels, in_force, recorded_task


def needs_recording(schema: dict[str, Any] | None, data: DataParams, task: str) -> bool:
    """A new contract when there is none, or the data params that shape it name something else."""
    if schema is None:
        return True
    recorded = (schema.get("source"), schema.get("target"), recorded_task(schema), schema.get("id_column", ""),
                schema.get("date_columns", {}), schema.get("features", []), schema.get("exclude", []))
    return recorded != (data.source, data.target, task, data.id_column, data.date_formats, data.features, data.exclude)


def notes(schema: dict[str, Any]) -> list[str]:
    """What a person should know about the recorded contract: the columns left out, and why."""
    return [f"warning: column '{name}' is not a feature: {reason}" for name, reason in excluded(schema).items()]


def dates_taken(schema: dict[str, Any], data: DataParams) -> str:
    """`when (detected), day (data.date_columns: DMY)`: which columns are dates, and on whose word."""
    named = data.date_formats
    return ", ".join(f"{n} ({'data.date_columns: ' + named[n] if n in named else 'detected'})"
                     for n, spec in schema["columns"].items() if spec["kind"] == "datetime")


def check_bounds(schema: dict[str, Any], bounds: Mapping[str, object]) -> None:
    """`validate.bounds` may only name numeric features or a regression label: a misspelt column would
    otherwise bound nothing, silently."""
    numeric = [n for n, spec in schema["columns"].items() if spec["kind"] == "numeric"]
    numeric += [schema["target"]] if recorded_task(schema) == "regression" else []
    for name in bounds:
        if name not in numeric:
            raise UserError(f"validate.bounds.{name}: not a numeric feature or label of the data "
                            f"(numeric: {', '.join(numeric[:20]) or 'none'})")


NONE = "no problems, no warnings"  # an empty output file would make DVC warn "is empty" on every run


def write_lines(path: str | Path, lines: list[str]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in lines or [NONE]))


@dataclass
class Table:
    """The training data as validate reads it: its column names, its profile (`ctml.data.profile`) and its
    label column; locally the frame too. On the dask engine (`client`) the workers profile and check a row
    group each (`ctml.dask.validate`) and the client reads the labels alone. The findings combine exactly,
    so both engines record the same schema and report the same problems."""

    path: str
    columns: list[str]
    facts: dict[str, dict[str, Any]]
    labels: pd.Series
    frame: pd.DataFrame | None


def read_table(path: str, target: str, client: Any) -> Table:
    if client is None:
        frame = pd.read_parquet(path)
        return Table(path, list(frame.columns), profile.of_frame(frame, target), frame[target], frame)
    import pyarrow.parquet as pq

    from ctml.dask import validate as dask_validate

    return Table(path, pq.read_schema(path).names, dask_validate.profile_on_cluster(client, path, target),
                 pd.read_parquet(path, columns=[target])[target], None)


def table_problems(table: Table, schema: dict[str, Any], vp: Any, client: Any) -> list[str]:
    """Every violation of `schema` (`ctml.data.schema.check_frame`'s list)."""
    if not len(table.labels):
        return ["no rows"]
    if client is None:
        blocks = [check_block(table.frame, schema, vp)]
    else:
        from ctml.dask import validate as dask_validate

        blocks = dask_validate.check_on_cluster(client, table.path, schema, vp)
    return check_table(table.columns, blocks, table.labels, schema, vp)


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--data", required=True, help="training data (Parquet)")
    p.add_argument("--schema", required=True, help="recorded schema (JSON); recorded when absent or the data params changed")
    p.add_argument("--out", required=True, help="validation report (JSON metric)")
    p.add_argument("--problems", required=True, help="every problem and warning in full, one per line (text)")
    args, params = stage.parse(p, argv)
    data, vp = params.data, params.validate_
    with tracking.stage_run("validate", params, section="validate") as run, engine_client(params.compute) as client:
        run.data_input("raw", args.data)
        table = read_table(args.data, data.target, client)
        schema_path = Path(args.schema)
        schema = read_json(schema_path) if schema_path.exists() else None
        task = in_force(table.labels, data, schema)
        check_training_labels(table.labels, data.target, task.task)
        recorded = needs_recording(schema, data, task.task)
        if recorded:
            schema = infer_from(table.facts, table.labels, data.source, data.target, task,
                                excluded_columns=excluded_from(table.columns, table.facts, data, vp),
                                date_formats=data.date_formats, id_column=data.id_column,
                                chosen={"features": data.features, "exclude": data.exclude})
        check_bounds(schema, vp.bounds)
        problems = table_problems(table, schema, vp, client)
        warnings = notes(schema)
        write_lines(args.problems, problems + warnings)
        # Only facts about the data: whether the schema was recorded now depends on history, and
        # a report that changed with it would re-run every downstream stage for nothing.
        report = {"rows": len(table.labels), "columns": len(schema["columns"]), "excluded": len(excluded(schema)),
                  "violations": len(problems), "passed": not problems}
        run.metrics("validation", {**report, "schema_recorded": recorded})
        run.log("task", {"task": task.task, "reason": task.reason})
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            hint = "" if recorded else f"; if the change is intended, delete {schema_path} to record the data anew"
            raise UserError(f"{args.data}: {problems[0]}{more}; all of them in {args.problems}{hint}")
        write_json(schema_path, follow_from(schema, table.facts, table.labels))  # the ranges of this training data: what batches meet next
        write_json(args.out, report)
        for line in warnings:
            print(f"validate: {line}")
        if taken := dates_taken(schema, data):
            print(f"validate: dates: {taken}")
        why = "named by data.task" if data.task != "auto" else f"data.task auto: {task.reason}"
        print(f"validate: {len(table.labels)} rows pass the schema{' (recorded now)' if recorded else ''}; task {task.task} ({why})")


if __name__ == "__main__":
    sys.exit(run_main(main))
