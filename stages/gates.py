"""Stage gates: schema, freshness, the model's metric (the gate named after it: accuracy, rmse, ...),
latency and fairness checks of the candidate model.

A blocked candidate is a result, not an error: the stage writes gates.json and exits 0 either
way; `ct.py` reads it and promotes only a candidate whose blocking gates all passed.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ctml import layout, stage, tracking
from ctml.model import gates
from ctml.config import DataParams, FairnessParams, gate_metric
from ctml.data.tables import BUILTIN_PREFIX
from ctml.errors import run_main
from ctml.model.features import split_xy
from ctml.io import read_json, write_json
from ctml.model.estimator import load_verified
from ctml.serve.scoring import load_and_query
from ctml.data.task import task_of_model


def data_files(batches: str, data: DataParams) -> list[Path]:
    """Files whose modification time dates the data when it has no datetime column: the CT batches
    of the current lineage, and the source file."""
    files = sorted(layout.lineage_batches(batches, data).glob("*.parquet"))
    return files + ([Path(data.source)] if not data.source.startswith(BUILTIN_PREFIX) else [])


def fairness(model: Any, x: pd.DataFrame, y: pd.Series, task: str, fp: FairnessParams) -> gates.Gate:
    """Demographic parity for a classifier, the gap between groups' mean predictions for a regressor."""
    if task == "regression":
        return gates.mean_gap_gate(model, x, y, fp.sensitive_column, fp.max_mean_gap)
    return gates.fairness_gate(model, x, fp.sensitive_column, fp.max_dp_diff)


def production_lineage(production: str | Path) -> str | None:
    """The lineage production was trained for (its lineage.json), None when it does not say."""
    path = Path(production) / layout.PRODUCTION_LINEAGE.name
    return read_json(path).get("lineage") if path.exists() else None


@dataclass
class TestSplit:
    """What the gates read of the test split. Locally the frame itself in every role; on the dask engine
    the workers' predictions in the models' place (`gates.Predicted`), the column names, the sensitive
    column, and the first rows (the latency probe's requests and the compiled model's check)."""

    y: pd.Series
    candidate: Any
    production: tuple[Any, dict[str, Any]] | None
    names: pd.DataFrame  # the test split's feature columns (the accuracy gates read the names only)
    groups: pd.DataFrame  # the fairness gate's column (every row)
    rows: pd.DataFrame  # the first rows


PROBE_ROWS = 10_000  # dask engine: the rows the compiled model is checked on (the local engine: the whole split)


def on_cluster(args: Any, params: Any, candidate: Any, production: tuple[Any, dict[str, Any]] | None) -> TestSplit:
    """The test split predicted by the workers a row group at a time, by the candidate and (when it can
    score this split) production; the client reads the labels, the sensitive column and the first rows."""
    import pyarrow.parquet as pq

    from ctml.dask import io as dask_io
    from ctml.dask import train as dask_train

    target, column = params.data.target, params.gates.fairness.sensitive_column
    names = pd.DataFrame(columns=[n for n in pq.read_schema(args.test).names if n != target])
    groups = pd.read_parquet(args.test, columns=[column]) if column in names.columns else names
    rows = next(pq.ParquetFile(args.test).iter_batches(batch_size=PROBE_ROWS)).to_pandas().drop(columns=[target])
    classification = task_of_model(candidate) == "classification"
    with dask_io.client_for(params.compute.scheduler) as client:
        def predicted(model: Any, path: str) -> tuple[gates.Predicted, np.ndarray]:
            got = dask_train.predict_parts(client, path, args.test, target, classification and hasattr(model, "predict_proba"))
            return gates.Predicted(model, got["pred"], got.get("proba")), got["y"]

        mine, y = predicted(candidate, args.model)
        theirs = production
        if production is not None and gates.not_comparable(candidate, production[1], names) is None:
            theirs = (predicted(production[0], str(Path(args.production) / "model.joblib"))[0], production[1])
    return TestSplit(pd.Series(y, name=target), mine, theirs, names, groups, rows)


def main(argv: Sequence[str] | None = None) -> None:
    p = stage.parser(__doc__)
    p.add_argument("--model", required=True, help="candidate model pipeline (joblib)")
    p.add_argument("--meta", required=True, help="candidate model metadata (JSON)")
    p.add_argument("--test", required=True, help="test split (Parquet)")
    p.add_argument("--production", required=True, help="directory of the production model.joblib + model.json")
    p.add_argument("--data", required=True, help="training data (Parquet), dated by its datetime columns")
    p.add_argument("--batches", required=True, help="directory of CT batches, dated by file time otherwise")
    p.add_argument("--validation", required=True, help="validate stage report (JSON)")
    p.add_argument("--schema", required=True, help="the data contract (JSON): what a served request is held to")
    p.add_argument("--out", required=True, help="output: every gate's result, value, limit and detail (JSON)")
    p.add_argument("--summary", required=True, help="output: the verdict and counts (JSON metric)")
    args, params = stage.parse(p, argv)
    g = params.gates
    with tracking.stage_run("gates", params, section="gates") as run:
        candidate, meta = load_verified(args.model, args.meta)
        task = task_of_model(candidate)
        metric = gate_metric(g.metric, task)
        production = gates.load_production(args.production)
        same_lineage = production is None or production_lineage(args.production) in (None, layout.data_lineage(params.data))
        if params.compute.engine == "dask":
            test = on_cluster(args, params, candidate, production)
        else:
            x, y = split_xy(pd.read_parquet(args.test), params.data.target)
            test = TestSplit(y, candidate, production, x, x, x)
        y = test.y
        now = datetime.now(timezone.utc)
        newest, origin = gates.newest_data_time(gates.read_datetime_columns(args.data),
                                                data_files(args.batches, params.data))
        query = load_and_query(args.model, args.meta, args.schema, test.rows, params.validate_, g.latency_samples)
        latencies = gates.single_row_latencies_ms(query, g.latency_samples, g.p95_latency_ms, g.latency_confidence)
        results = {
            "schema": gates.schema_gate(read_json(args.validation)),
            "freshness": gates.freshness_gate(newest, origin, now, g.freshness_hours),
            metric: gates.metric_gate(test.candidate, test.production, test.names, y, metric, g.tolerance) if same_lineage
            else gates.naive_gate(test.candidate, test.names, y, pd.read_parquet(
                args.data, columns=[params.data.target])[params.data.target].dropna(), metric),
            "latency": gates.latency_gate(latencies, g.p95_latency_ms, g.latency_confidence),
            "fairness": fairness(test.candidate, test.groups, y, task, g.fairness),
        }
        result = gates.report(results, now)
        write_json(args.out, result)
        write_json(args.summary, gates.verdict(result))
        run.metrics("gates", result)
        run.log("models", {"candidate_sha256": meta.get("model_sha256"),
                           "production_sha256": production[1].get("model_sha256") if production else ""})
        run.series("latency/single_row_ms", latencies)
        run.upload("artifacts/gates", args.out)
        run.tag("gates:passed" if result["passed"] else "gates:blocked", *(f"alert:{a}" for a in result["alerts"]))
        print(gates.summary_line(result))


if __name__ == "__main__":
    sys.exit(run_main(main))
