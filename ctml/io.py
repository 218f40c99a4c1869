"""File I/O with two guarantees the pipeline relies on: readable errors and atomic writes.

Atomic writes (temp file + rename) are why a failed or killed stage never leaves a half-written
model or metrics file where the last good one was. Hashes, sizes and row counts of data files
(`describe_data`) are here too: the model metadata and tracked runs identify data by them.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from ctml.errors import UserError

if TYPE_CHECKING:  # pandas costs ~0.3 s to import: only the functions that read or write tables load it
    import pandas as pd

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; give the file the mode open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def shown(text: str) -> str:
    """Any name (or message naming it) as printable UTF-8: bytes of a file name that are not UTF-8
    (which Python carries as surrogates) become `\\xff`, so a CSV row, a JSON file or a terminal takes it."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def write_json(path: str | Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    """Parquet without the pandas index; byte-stable for the same frame so DVC hashes repeat."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


CSV_DEFAULT = {"sep": ",", "decimal": ".", "encoding": "utf-8"}  # params.yaml data.csv's defaults


def read_table(path: str | Path, csv_format: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a user's CSV or Parquet file; every failure is one line naming the file. `csv_format`: how a CSV
    is written (data.csv: sep, decimal, encoding), default comma-separated UTF-8 with decimal points."""
    import pandas as pd

    path = Path(path)
    dialect = {**CSV_DEFAULT, **(csv_format or {})}
    read_table_header(path, dialect)
    suffix = path.suffix.lower()
    with _parse_errors(path, dialect):
        frame = pd.read_csv(path, low_memory=False, **dialect) if suffix == ".csv" else pd.read_parquet(path)
    if frame.empty:
        raise UserError(f"{path}: has a header but no rows")
    if suffix == ".csv":
        _check_csv_shape(path, frame, dialect)
    return frame


def read_table_chunks(path: str | Path, rows: int, csv_format: Mapping[str, str] | None = None,
                      text: bool = False) -> Iterator[pd.DataFrame]:
    """A CSV or Parquet file `rows` rows at a time, for a file too big for memory; the same
    one-line errors as `read_table` (encoding, delimiter, a CSV cut mid-row: on its last chunk);
    `csv_format` as `read_table`'s. `text`: a CSV's fields as read, with no type guessed per chunk
    (the Dask ingest decides each column's kind from all chunks; its decimal commas are its to read)."""
    import pandas as pd
    import pyarrow.parquet as pq

    path = Path(path)
    dialect = {**CSV_DEFAULT, **(csv_format or {})}
    read_table_header(path, dialect)
    with _parse_errors(path, dialect):
        if path.suffix.lower() != ".csv":
            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
                yield batch.to_pandas()
            return
        last = None
        options = {"sep": dialect["sep"], "encoding": dialect["encoding"], "dtype": str} if text else {"low_memory": False, **dialect}
        for chunk in pd.read_csv(path, chunksize=rows, **options):
            if len(chunk):
                last = chunk
                yield chunk
    if last is None:
        raise UserError(f"{path}: has a header but no rows")
    _check_csv_shape(path, last, dialect)


def _utf8(dialect: Mapping[str, str]) -> bool:
    return dialect["encoding"].lower().replace("_", "-") in ("utf-8", "utf8")


@contextmanager
def _parse_errors(path: Path, dialect: Mapping[str, str] = CSV_DEFAULT) -> Iterator[None]:
    """A reader's failure as one line naming the file."""
    import pandas as pd

    try:
        yield
    except UnicodeDecodeError as exc:
        if not _utf8(dialect):
            raise UserError(f"{path}: not {dialect['encoding']} text ({exc.reason} at byte {exc.start}); "
                            "set data.csv.encoding to how it is written") from None
        raise UserError(f"{path}: not UTF-8 text ({_decode_error(path, exc)}); save it as UTF-8 or set data.csv.encoding "
                        "(e.g. latin-1)") from None
    except LookupError:
        raise UserError(f"params.yaml: data.csv.encoding {dialect['encoding']!r} is not a known text encoding") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise UserError(f"{path}: cannot be parsed: {str(exc).splitlines()[0]}") from None


def read_table_header(path: Path, dialect: Mapping[str, str] = CSV_DEFAULT) -> None:
    """What `read_table` refuses before parsing: a missing, directory, unsupported, empty or UTF-16 file."""
    if not path.exists():
        raise UserError(f"{path}: file not found")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a CSV or Parquet file")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise UserError(f"{path}: unsupported file type '{suffix}' (allowed: {', '.join(TABLE_SUFFIXES)})")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty")
    if suffix == ".csv" and _utf8(dialect):
        _check_utf16(path)


_DELIMITERS = (";", "\t", "|")


def _check_utf16(path: Path) -> None:
    """UTF-16 text parses as garbage or fails at an odd byte; name it by its byte-order mark."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    if head in (b"\xff\xfe", b"\xfe\xff"):
        raise UserError(f"{path}: not UTF-8 text (UTF-16 byte-order mark at byte 0); save it as UTF-8 or set "
                        "data.csv.encoding: utf-16")


def _decode_error(path: Path, exc: UnicodeDecodeError) -> str:
    """The reason and the file offset of the first bad byte (pandas reports one inside its buffer)."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as whole:
        return f"{whole.reason} at byte {whole.start}"
    return exc.reason


def check_csv_columns(path: Path, columns: list[str], dialect: Mapping[str, str] = CSV_DEFAULT) -> None:
    """A file read with another delimiter than it is written with has one column named `a;b;c`: say which
    delimiter it looks like and the key that sets it (both engines' readers call this)."""
    if len(columns) == 1:
        found = [d for d in (",", *_DELIMITERS) if d in columns[0] and d != dialect["sep"]]
        if found:
            shown = "tab" if found[0] == "\t" else f"'{found[0]}'"
            expected = "comma" if dialect["sep"] == "," else repr(dialect["sep"])
            raise UserError(f"{path}: one column named {columns[0][:60]!r}: the file looks {shown}-delimited "
                            f"(expected {expected}-separated; set data.csv.sep)")


def _check_csv_shape(path: Path, frame: pd.DataFrame, dialect: Mapping[str, str] = CSV_DEFAULT) -> None:
    """Catch what pandas parses without complaint: another delimiter, and a file cut mid-row.

    A `;`-separated file reads as one column named `a;b;c`; a last line cut short reads as a row
    whose trailing fields are missing, so the field count of the last line is compared with the
    header (and with the NaNs pandas filled in, so a quoted multi-line field is not mistaken for it).
    """
    columns = [str(c) for c in frame.columns]
    check_csv_columns(path, columns, dialect)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - (1 << 16)))
        tail = handle.read()
    lines = [line for line in tail.splitlines() if line.strip()]
    if not lines:
        return
    fields = next(csv.reader([lines[-1].decode(dialect["encoding"], errors="replace")], delimiter=dialect["sep"]), [])
    if len(fields) < len(columns) and frame.iloc[-1, len(fields):].isna().all():
        raise UserError(f"{path}: truncated: the last row has {len(fields)} of {len(columns)} fields "
                        "(file cut mid-row?)")


def _hash_file(path: str | Path, algorithms: tuple[str, ...], chunk: int) -> list[str]:
    """Hex digests of a file for each of `algorithms`, reading it once in `chunk`-byte blocks."""
    digests = [hashlib.new(name) for name in algorithms]
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            for digest in digests:
                digest.update(block)
    return [digest.hexdigest() for digest in digests]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file, read in blocks: models and data files need not fit in memory."""
    return _hash_file(path, ("sha256",), chunk)[0]


def file_digests(path: str | Path, chunk: int = 1 << 20) -> tuple[str, str]:
    """(sha256, md5) of a file in one read; the md5 is what dvc.lock records for a file."""
    sha, md5 = _hash_file(path, ("sha256", "md5"), chunk)
    return sha, md5


def table_rows(path: Path) -> int | None:
    """Rows of a Parquet file (from its footer) or CSV file (lines after the header); else None."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    if suffix == ".csv":
        with open(path, "rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
            handle.seek(max(0, path.stat().st_size - 1))
            unterminated = path.stat().st_size > 0 and handle.read(1) != b"\n"
        return max(0, lines + unterminated - 1)
    return None


def describe_data(path: str | Path) -> dict[str, Any]:
    """Hash, size and row count of a data file, or of every file in a directory."""
    path = Path(path)
    info: dict[str, Any] = {"path": str(path)}
    if path.is_file():
        sha, md5 = file_digests(path)
        info.update(sha256=sha, md5=md5, bytes=path.stat().st_size)
        rows = table_rows(path)
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        manifest = hashlib.sha256()
        rows = 0
        for file in files:
            manifest.update(f"{file.relative_to(path).as_posix()}\0{sha256_file(file)}\n".encode())
            rows += table_rows(file) or 0
        info.update(sha256=manifest.hexdigest(), files=len(files), bytes=sum(f.stat().st_size for f in files))
    else:
        info["exists"] = False
        return info
    if rows is not None:
        info["rows"] = rows
    return info
