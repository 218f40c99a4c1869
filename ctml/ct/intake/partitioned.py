"""A delivered file larger than `ct.max_batch_mb`, checked and staged a partition at a time
(`compute.engine: dask`), so a batch larger than memory is never loaded whole.

Each partition (`compute.partition_rows` rows) is typed and held to the schema as a whole batch is
(`prepare_batch`), and appended to a temporary Parquet file that replaces the staged batch only when
every partition passed: a bad partition anywhere quarantines the whole file and nothing is staged,
so such a batch is never half-checked or half-folded. The drift stage then reads the staged file
partitioned (its dask engine). Rules over the whole batch are applied per partition here (missing
shares); its rows are not kept for delayed labels (they would not fit either).
"""
from __future__ import annotations

from pathlib import Path

from ctml import layout
from ctml.ct.intake.batches import prepare_batch
from ctml.ct.context import Context
from ctml.ct.records import Batch
from ctml.errors import UserError
from ctml.io import atomic_path, read_json, read_table_chunks


class _Refused(Exception):
    """A partition failed the check: the whole file is refused."""


def stage_partitioned(ctx: Context, path: Path) -> Batch:
    """Check `path` partition by partition into the staging path; a Batch that is `staged`, or refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = read_json(ctx.path(layout.SCHEMA))
    rows, labelled = 0, False
    try:
        with atomic_path(ctx.path(layout.STAGED_BATCH)) as tmp:
            writer = None
            try:
                for chunk in read_table_chunks(path, ctx.params.compute.partition_rows, ctx.params.data.csv.model_dump()):
                    part = prepare_batch(chunk, ctx, source=path, schema=schema)
                    if part.problems:
                        raise _Refused(f"rows {rows + 1}-{rows + len(chunk)}: {part.problems[0]}")
                    try:
                        table = pa.Table.from_pandas(part.typed, preserve_index=False,
                                                     schema=None if writer is None else writer.schema)
                    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
                        raise _Refused(f"rows {rows + 1}-{rows + len(chunk)}: columns do not match the rows before "
                                       f"({str(exc).splitlines()[0]})") from None
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                        labelled = part.labelled
                    writer.write_table(table)
                    rows += len(chunk)
            finally:
                if writer is not None:
                    writer.close()
    except (UserError, _Refused) as exc:
        return Batch(path, None, None, [str(exc)])
    return Batch(path, None, None, staged=True, rows=rows, labelled=labelled)
