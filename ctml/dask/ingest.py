"""The ingest stage on Dask: source file + CT batches -> typed training Parquet, a partition at a time.

The result equals the local engine's (`normalize` + `assemble_training_data`) without the data
ever being in memory whole:
1. the source is streamed into Parquet parts (a CSV as raw text, so no chunk guesses a type alone);
2. on the cluster, each part reports per-column `Evidence`; the driver decides every column's kind
   from all of it with `decide_kind`, the rule the local engine applies to the whole column;
3. on the cluster, each part is typed by those kinds and written back as a typed part;
4. the driver streams typed parts, then the CT batches, into one Parquet file, with the dtypes
   `pd.concat` would give them, keeping the rows the fold policy keeps (`fold_keep`, from the label column).
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from ctml.dask.io import ROW_GROUP, partition
from ctml.data.tables import (BUILTIN_PREFIX, as_text, cast_column, cast_label, check_columns, decide_kind, evidence, fold_keep,
                              load_source, no_label_error)
from ctml.io import atomic_path

_INT = re.compile(r"^[+-]?\d+$")
_CSV_BOOLS = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}


# --- tasks (run on the workers) -------------------------------------------------------------------

def _label_evidence(values: pd.Series) -> dict[str, Any]:
    """What pandas' CSV type inference would need to know about the label text of one part."""
    present = values.dropna().astype(str)
    numbers = pd.to_numeric(present, errors="coerce").notna()
    return {"present": len(present), "missing": int(values.isna().sum()), "numbers": bool(numbers.all()),
            "ints": bool(present.str.match(_INT).all()), "bools": bool(present.isin(list(_CSV_BOOLS)).all())}


_COMMA_NUMBER = r"^\s*[+-]?(?:\d+(?:,\d*)?|,\d+)(?:[eE][+-]?\d+)?\s*$"


def _decimal_points(values: pd.Series, decimal: str) -> pd.Series:
    """CSV text of numbers written with decimal commas ('1,5') as pandas' `read_csv(decimal=',')` reads
    them ('1.5'); other text as it is. Why here: the parts hold the fields as text, so data.csv.decimal is
    applied where a column is typed, and a column typed as text keeps its commas, as the local engine's."""
    if decimal == "." or not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return values
    numbers = values.str.match(_COMMA_NUMBER).fillna(False).astype(bool)
    return values.where(~numbers, values.str.replace(",", ".", regex=False)) if numbers.any() else values


def _part_evidence(path: str, target: str, date_formats: dict[str, str], raw: bool, decimal: str = ".") -> dict[str, Any]:
    frame = pd.read_parquet(path)
    if raw:
        frame = frame.apply(_decimal_points, decimal=decimal)
    out: dict[str, Any] = {n: evidence(frame[n], n in date_formats, raw, date_formats.get(n, "auto"))
                           for n in frame.columns if n != target}
    out[target] = _label_evidence(frame[target]) if raw else {"present": int(frame[target].notna().sum()),
                                                                "missing": int(frame[target].isna().sum())}
    return out


def _type_part(path: str, dest: str, kinds: dict[str, str], date_formats: dict[str, str], target: str,
               label: str | None, decimal: str = ".") -> pd.DataFrame:
    """Type one part, its rows without a label dropped (as `drop_unlabelled` does), write it to `dest`;
    returns its first row (the dtypes, for the final unification). `decimal`: data.csv.decimal, applied to
    the columns typed as numbers (and a number label)."""
    frame = pd.read_parquet(path)
    frame = frame[frame[target].notna()].reset_index(drop=True)
    for name, kind in kinds.items():
        values = _decimal_points(frame[name], decimal) if kind == "numeric" else frame[name]
        frame[name] = cast_column(values, kind, date_formats.get(name, "auto"))
    frame[target] = _cast_label(_decimal_points(frame[target], decimal) if label in ("int64", "float64") else frame[target],
                                label)
    frame.to_parquet(dest, index=False, engine="pyarrow")
    return frame.iloc[:1]


def _cast_label(values: pd.Series, label: str | None) -> pd.Series:
    if label is None:  # typed source (Parquet, a bundled dataset): numeric and bool labels keep their dtype
        return cast_label(values)
    if label in ("int64", "float64"):
        return pd.to_numeric(values).astype(label)
    if label == "bool":
        return values.map(_CSV_BOOLS).astype(bool)
    return as_text(values)


# --- the driver -----------------------------------------------------------------------------------

def _label_dtype(parts: list[dict[str, Any]]) -> str:
    """The dtype pandas' read_csv gives the whole label column, from per-part evidence."""
    present = sum(p["present"] for p in parts)
    missing = sum(p["missing"] for p in parts)
    seen = [p for p in parts if p["present"]]
    if not present or all(p["numbers"] for p in seen):
        return "int64" if present and not missing and all(p["ints"] for p in seen) else "float64"
    if not missing and all(p["bools"] for p in seen):
        return "bool"
    return "str"


def _source_file(source: str, tmp: Path, csv_format: Mapping[str, str] | None = None) -> Path:
    """The source as a file the workers can read; a bundled dataset is small and written out once."""
    if source.startswith(BUILTIN_PREFIX):
        path = tmp / "builtin.parquet"
        load_source(source).to_parquet(path, index=False)
        return path
    path = Path(source)
    if not path.is_file():
        load_source(source, csv_format)  # the local engine's one-line error for a missing or odd path
    return path


def _chunks(path: Path) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches():
        yield batch.to_pandas()


def _heads(path: Path) -> Iterator[pd.DataFrame]:
    for chunk in _chunks(path):
        yield chunk.iloc[:1]


def stream_to_parquet(files: list[Path], heads: list[pd.DataFrame], out: str | Path, keep: np.ndarray | None,
                      row_group: int = ROW_GROUP) -> int:
    """Stream `files` into one Parquet file in the dtypes `pd.concat` gives `heads`, with only the rows
    `keep` marks (None: all), in order.

    Row groups are cut where `DataFrame.to_parquet` cuts them, so the file is byte for byte the
    local engine's: switching engines re-runs nothing downstream. Memory: one row group.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    dtypes = pd.concat(heads, ignore_index=True).dtypes.to_dict()  # column union and order as pd.concat
    pending: list[Any] = []
    rows = 0
    with atomic_path(out) as tmp:
        writer = None
        try:
            for chunk in _typed_chunks(files, dtypes, keep):
                table = pa.Table.from_pandas(chunk, preserve_index=False, schema=writer.schema if writer else None)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                pending.append(table)
                rows += len(chunk)
                while sum(t.num_rows for t in pending) >= row_group:
                    merged = pa.concat_tables(pending)
                    writer.write_table(merged.slice(0, row_group))
                    pending = [merged.slice(row_group)]
            if writer is not None and sum(t.num_rows for t in pending):
                writer.write_table(pa.concat_tables(pending))
        finally:
            if writer is not None:
                writer.close()
    return rows


def _typed_chunks(files: list[Path], dtypes: dict[str, Any], keep: np.ndarray | None) -> Iterator[pd.DataFrame]:
    start = 0
    for path in files:
        for chunk in _chunks(path):
            rows = slice(start, start + len(chunk))
            start += len(chunk)
            if keep is not None:
                chunk = chunk[keep[rows]]
                if chunk.empty:
                    continue
            yield chunk.reset_index(drop=True).reindex(columns=list(dtypes)).astype(dtypes)


def ingest_partitioned(source: str, batches: list[Path], target: str, date_formats: Mapping[str, str], policy: str,
                       window_rows: int, out: str | Path, client: Any, *, partition_rows: int,
                       workdir: str | Path | None = None, max_growth: float = 0.2, cap_min_rows: int = 1_000_000,
                       seed: int = 0, csv_format: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """Write the typed training data of `source` + `batches` to `out`; returns (rows, columns, source
    rows dropped for a missing label). The fold policy reads the label column alone (`fold_keep`).
    `csv_format`: how a CSV source is written (params.yaml's data.csv: sep, decimal, encoding)."""
    import pyarrow.parquet as pq

    decimal = (csv_format or {}).get("decimal", ".")
    with tempfile.TemporaryDirectory(prefix="ctml-ingest-", dir=workdir) as tmp:
        src = _source_file(source, Path(tmp), csv_format)
        raw = src.suffix.lower() == ".csv"
        parts = [str(p) for p in sorted(partition(src, Path(tmp) / "source", partition_rows, csv_format).glob("*.parquet"))]
        columns = pq.read_schema(parts[0]).names
        formats = dict(date_formats)
        check_columns(columns, target, formats)
        found: list[dict[str, Any]] = client.gather(client.map(
            _part_evidence, parts, target=target, date_formats=formats, raw=raw, decimal=decimal, pure=False))
        kinds = {n: decide_kind(n, [p[n] for p in found], n in formats) for n in columns if n != target}
        label = _label_dtype([p[target] for p in found]) if raw else None
        unlabelled = sum(p[target]["missing"] for p in found)
        if not any(p[target]["present"] for p in found):
            raise no_label_error(target)
        typed = [str(Path(tmp) / f"typed-{i:05d}.parquet") for i in range(len(parts))]
        heads = client.gather(client.map(_type_part, parts, typed, kinds=kinds, date_formats=formats, target=target,
                                         label=label, decimal=decimal if raw else ".", pure=False))
        for path in batches:
            heads.extend(_heads(path))
        files = [Path(p) for p in typed] + list(batches)
        keep = None
        if policy != "append":
            labels = pd.concat([pd.read_parquet(p, columns=[target])[target] for p in files], ignore_index=True)
            source_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in typed)
            newest = pq.ParquetFile(batches[-1]).metadata.num_rows if batches else 0
            keep = fold_keep(labels, source_rows, newest, policy, window_rows, max_growth, cap_min_rows, seed)
        rows = stream_to_parquet(files, heads, out, keep)
    return rows, len(columns), unlabelled

