"""Switching the training source for a replay: the leading rows of a file become `data.source`."""
from __future__ import annotations

from ctml import layout
from ctml.config import load_params, set_scalars
from ctml.ct.repo import warm
from ctml.ct.context import Context
from ctml.errors import UserError
from ctml.io import atomic_path, read_table, write_parquet


def use_replay_source(ctx: Context, data: str, target: str) -> tuple[str, ...]:
    """The first ct.reference_rows rows of `data` become the training source (named after the file:
    replaying another file is a new source, so a new lineage) and params point at them (ctx.params
    is reloaded); returns the paths the baseline release must commit too."""
    frame = read_table(data, ctx.params.data.csv.model_dump())
    if target not in frame.columns:
        raise UserError(f"{data}: --target '{target}' is not a column")
    rows = ctx.params.ct.reference_rows
    if len(frame) <= rows:
        raise UserError(f"{data}: {len(frame)} rows, need more than ct.reference_rows={rows} to replay")
    source = layout.replay_source(data)
    write_parquet(ctx.path(source), frame.iloc[:rows])
    warm.add(ctx.root, source)
    path = ctx.path(layout.PARAMS)
    text = set_scalars(path.read_text(), {("data", "source"): source.as_posix(), ("data", "target"): target})
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    ctx.params = load_params(path)
    return (str(layout.PARAMS), str(layout.SOURCE_DIR))
