"""Delayed labels: a file in data/labels/ (the id column and the label column) joins the rows
already checked that wait for labels (`ctml.ct.step.awaiting`), one CT step per file.

The rows it labels are staged as the batch under check, so the drift stage measures the production
model's realized accuracy on them (`performance.accuracy`, `performance.labelled_rows` in
metrics/drift.json) as it does for a labelled batch. A retrain then folds the labelled rows when
one waits for them (`ct.min_labelled_rows` of the rows of a trigger labelled) or when that accuracy
dropped. Their drift was measured, and acted on, when the rows arrived: it triggers nothing again.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ctml import layout
from ctml.ct.repo import lock
from ctml.ct.step.awaiting import LABEL, Store, key_columns
from ctml.ct.step.quarantine import quarantine
from ctml.ct.context import Context
from ctml.ct.records import REQUEST_ID, Batch, StepRecord
from ctml.ct.step.decide import performance_triggers
from ctml.ct.step.measure import begin, measure_drift, new_record, record_decision, record_measurement, stage
from ctml.ct.step.retrain import retrain
from ctml.data.tables import as_text
from ctml.errors import UserError
from ctml.io import read_json, read_table
from ctml.data.schema import check_frame
from ctml.drift.results import DriftSummary


def read_labels(ctx: Context, path: Path) -> tuple[pd.DataFrame | None, str, list[str]]:
    """(the id and label columns, the id column's name, problems) of a delivered label file."""
    schema = read_json(ctx.path(layout.SCHEMA))
    target, id_column = schema["target"], ctx.params.data.id_column
    try:
        frame = read_table(path, ctx.params.data.csv.model_dump()).rename(columns=str)
    except UserError as exc:
        return None, "", [str(exc)]
    key = next((name for name in (id_column, REQUEST_ID) if name and name in frame.columns), None)
    if key is None:
        expected = f"'{id_column}' (data.id_column)" if id_column else f"'{REQUEST_ID}' (data.id_column is empty)"
        return None, "", [f"{path.name}: no id column {expected}: a label file has the id and the label column '{target}'"]
    if target not in frame.columns:
        return None, key, [f"{path.name}: label column '{target}': missing"]
    labels = frame[[key, target]]
    if labels[key].isna().any():
        return None, key, [f"{path.name}: column '{key}': {int(labels[key].isna().sum())} missing ids"]
    repeated = labels[key][labels[key].duplicated()]
    if len(repeated):
        return None, key, [f"{path.name}: id {repeated.iloc[0]!r} labelled more than once"]
    problems = check_frame(labels[[target]], {**schema, "columns": {}}, ctx.params.validate_)
    return (None if problems else labels), key, problems


def labelled_frame(ctx: Context, rows: pd.DataFrame) -> pd.DataFrame:
    """Stored rows with their labels as a batch: features and the label column, typed as in training."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = read_json(ctx.path(layout.SCHEMA))
    target = schema["target"]
    _, aside = key_columns([c for c in rows.columns if c != LABEL], schema, ctx.params.data.id_column)
    frame = rows.drop(columns=[LABEL, *aside]).reset_index(drop=True)
    kind = pq.read_schema(ctx.path(layout.RAW)).field(target).type
    values = rows[LABEL].reset_index(drop=True)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = pd.to_numeric(values).astype(kind.to_pandas_dtype())
    elif pa.types.is_boolean(kind):
        values = values.astype(bool)
    else:
        values = as_text(values)
    return frame.assign(**{target: values})


def run_label_step(ctx: Context, step: int, path: Path, file: str = "", sha: str = "") -> StepRecord:
    """Join a label file to the waiting rows, measure the rows it labelled, retrain when one is due."""
    record = new_record(ctx, step, "labels", file, sha)
    labels, key, problems = read_labels(ctx, path)
    store = Store.open(ctx.root, layout.data_lineage(ctx.params.data))
    join = store.join(labels, key, ctx.params.data.target) if labels is not None else None
    waiting = store.keep_early(labels, key, ctx.params.data.target, join.unmatched) if join is not None else 0
    if join is not None and join.matched == 0:  # labels before their rows: kept until the rows come
        store.save()
        record.note = (f"{path.name}: none of its {len(labels)} ids ('{key}') matches a checked row yet: they wait for "
                       f"their rows (ct.label_wait_hours: {ctx.params.ct.label_wait_hours:g})")
        return record
    if problems:
        where = quarantine(ctx, step, Batch(path, None, None, problems), file)
        record.status, record.note = "quarantined", f"{problems[0]} -> {where.relative_to(ctx.root)}"
        return record
    begin(ctx, record)
    record.note = f"{len(join.fresh)} rows labelled" + (f" ({waiting} ids matched no row yet: they wait for it)" if waiting else "")
    drift: DriftSummary | None = None
    if len(join.fresh):
        fresh = labelled_frame(ctx, join.fresh)
        stage(ctx, record, fresh, "labels", len(fresh))
        drift = measure_drift(ctx, step)
        record_measurement(ctx, record, drift, len(fresh))
    _decide(ctx, record, store, drift)
    store.save()
    lock.clear_inflight(ctx.root)
    return record


def _decide(ctx: Context, record: StepRecord, store: Store, drift: DriftSummary | None) -> None:
    """Retrain when a trigger's rows are labelled enough or the realized accuracy dropped; else the
    labelled rows of no trigger are done with, and a trigger still short of labels keeps waiting."""
    triggers = store.triggers()
    waiting = store.labelled(set(triggers))
    needed = ctx.params.ct.min_labelled_rows
    # Only the realized performance: the rows' drift was measured, and acted on, when they arrived.
    fired = performance_triggers(drift, ctx.params) if drift is not None else ()
    record_decision(record, fired)
    dropped = fired[0] if fired else None
    if dropped is not None and (record.labelled_rows or 0) < needed:  # too few rows to act on their accuracy
        record.note += f"; {dropped.reason} on {record.labelled_rows} rows, fewer than ct.min_labelled_rows ({needed})"
        dropped = None
    if triggers and len(waiting) >= needed:
        first = min(triggers, key=int)
        reason = f"{triggers[first]} at step {first}, now {len(waiting)} of its rows labelled"
    elif dropped is not None:
        reason = f"{dropped.reason} on {record.labelled_rows} rows labelled late"
    else:
        store.drop_labelled({s for s in store.index if s not in triggers})
        if triggers:
            record.status = "awaiting_labels"
            record.note += f"; the retrain of step {', '.join(sorted(triggers, key=int))} waits: {len(waiting)} of " \
                           f"{needed} rows labelled (ct.min_labelled_rows)"
        return
    retrain(ctx, record.step, labelled_frame(ctx, store.labelled()), drift, reason, record)
    store.drop_labelled()
    store.clear_triggers()
