"""ctml.dask.ingest against the local ingest (normalize + assemble_training_data) on the same
files, on a real distributed.LocalCluster: the typed training data must be equal."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ctml.dask.ingest import ingest_partitioned, stream_to_parquet
from ctml.data.tables import assemble_training_data, load_source, normalize
from ctml.errors import UserError
from ctml.io import write_parquet

pytestmark = pytest.mark.slow

ROWS, PART = 2600, 700  # four partitions, the last one short


def messy(n: int, seed: int, text_labels: bool = False) -> pd.DataFrame:
    """Every kind, and columns whose kind only shows in some partitions."""
    rng = np.random.default_rng(seed)
    late = np.full(n, np.nan)
    start = min(PART + 50, n // 2)
    late[start:] = rng.normal(size=n - start)  # all missing in the first partition
    frame = pd.DataFrame({
        "count": rng.integers(0, 50, n),
        "ratio": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "late": late,
        "empty": np.full(n, np.nan),
        "answer": rng.choice(["yes", "no", "YES"], n),
        "flag": rng.choice([True, False], n),
        "when": (pd.Timestamp("2024-03-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")).strftime("%Y-%m-%d"),
        "code": rng.choice(["1.50", "2", "07"], n).astype(object),
        "city": rng.choice(["oslo", "rome", "lima"], n).astype(object),
    })
    frame.loc[n - 3, "code"] = "x9"  # text only in the last partition: the column is categorical
    frame["label"] = rng.choice(["cat", "dog"], n) if text_labels else rng.integers(0, 2, n)
    return frame


def local(source: str, batches: list[Path], policy: str, window: int, date_columns=(), target="label",
          **fold) -> pd.DataFrame:
    typed = normalize(load_source(source), target, {n: "auto" for n in date_columns})
    return assemble_training_data(typed, [pd.read_parquet(b) for b in batches], policy, window, target=target, **fold)


def round_trip(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    write_parquet(path, frame)
    return pd.read_parquet(path)


def batch_files(tmp_path: Path, count: int, text_labels: bool) -> list[Path]:
    paths = []
    for i in range(count):
        batch = normalize(messy(300, 10 + i, text_labels), "label")
        paths.append(tmp_path / f"batch-{i:04d}.parquet")
        write_parquet(paths[-1], batch)
    return paths


@pytest.mark.parametrize("fmt, policy, n_batches, text_labels", [
    ("csv", "append", 0, False),
    ("csv", "window", 2, True),
    ("parquet", "append", 2, False),
    ("parquet", "cap", 2, True),
], ids=["csv", "csv-window-batches-text-labels", "parquet-batches", "parquet-cap-batches-text-labels"])
def test_dask_ingest_equals_local_ingest(dask_client, tmp_path: Path, fmt: str, policy: str, n_batches: int,
                                         text_labels: bool):
    source = tmp_path / f"source.{fmt}"
    raw = messy(ROWS, 0, text_labels)
    raw.to_csv(source, index=False) if fmt == "csv" else raw.to_parquet(source, index=False)
    batches = batch_files(tmp_path, n_batches, text_labels)
    window = 2000
    cap = {"max_growth": 0.1, "cap_min_rows": 100, "seed": 7}  # a cap the batches overflow
    want = round_trip(local(str(source), batches, policy, window, **cap), tmp_path / "local.parquet")
    rows, columns, unlabelled = ingest_partitioned(str(source), batches, "label", {}, policy, window, tmp_path / "dask.parquet",
                                       dask_client, partition_rows=PART, **cap)
    got = pd.read_parquet(tmp_path / "dask.parquet")
    pd.testing.assert_frame_equal(got, want)
    assert (tmp_path / "dask.parquet").read_bytes() == (tmp_path / "local.parquet").read_bytes()
    assert (rows, columns, unlabelled) == (len(want), 10, 0)
    assert len(want) == {"window": window, "cap": int(1.1 * ROWS)}.get(policy, ROWS + 300 * n_batches)
    kinds = {"count": "float64", "late": "float64", "empty": "float64", "answer": "boolean", "flag": "boolean",
             "when": "datetime64[ns]", "code": "str"}
    assert {n: str(got[n].dtype) for n in kinds} == kinds


def test_date_formats_and_unlabelled_rows_ingest_alike(dask_client, tmp_path: Path):
    """Year-first slash dates (detected), day-first dates (declared DMY) and rows without a label
    (dropped, and counted) give the local engine's bytes."""
    from ctml.data.tables import drop_unlabelled

    raw = messy(ROWS, 5)
    days = pd.Timestamp("2012-01-01") + pd.to_timedelta(np.arange(ROWS) % 700, unit="D")
    raw["slash"], raw["eu"] = days.strftime("%Y/%m/%d"), days.strftime("%d.%m.%Y %H:%M")
    raw["label"] = raw["label"].astype("float64")
    raw.loc[[3, PART + 1, ROWS - 2], "label"] = np.nan  # in the first, second and last partitions
    raw.to_csv(tmp_path / "source.csv", index=False)
    formats = {"eu": "DMY"}
    want, dropped = drop_unlabelled(normalize(load_source(str(tmp_path / "source.csv")), "label", formats), "label")
    write_parquet(tmp_path / "local.parquet", want)
    rows, _, unlabelled = ingest_partitioned(str(tmp_path / "source.csv"), [], "label", formats, "append", 10,
                                             tmp_path / "dask.parquet", dask_client, partition_rows=PART)
    assert (rows, unlabelled, dropped) == (ROWS - 3, 3, 3)
    assert (tmp_path / "dask.parquet").read_bytes() == (tmp_path / "local.parquet").read_bytes()
    got = pd.read_parquet(tmp_path / "dask.parquet")
    assert got["eu"].iloc[1] == got["slash"].iloc[1] == pd.Timestamp("2012-01-02")  # 02.01.2012: day first


def test_a_source_without_a_single_label_is_refused_before_writing(dask_client, tmp_path: Path):
    raw = messy(ROWS, 6).assign(label=np.nan)
    raw.to_csv(tmp_path / "source.csv", index=False)
    with pytest.raises(UserError, match=r"^data.source: no row has a label in column 'label' \(data.target names"):
        ingest_partitioned(str(tmp_path / "source.csv"), [], "label", {}, "append", 10, tmp_path / "out.parquet",
                           dask_client, partition_rows=PART)
    assert not (tmp_path / "out.parquet").exists()


def test_row_groups_are_cut_where_pyarrow_cuts_them(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = normalize(messy(2600, 3), "label")
    parts = []
    for i, start in enumerate(range(0, 2600, 700)):
        parts.append(tmp_path / f"part-{i}.parquet")
        frame.iloc[start:start + 700].to_parquet(parts[-1], index=False)
    keep = np.arange(2600) >= 100
    rows = stream_to_parquet(parts, [frame.iloc[:1]], tmp_path / "streamed.parquet", keep, row_group=1000)
    whole = frame.iloc[100:].reset_index(drop=True)
    pq.write_table(pa.Table.from_pandas(whole, preserve_index=False), tmp_path / "whole.parquet", row_group_size=1000,
                   compression="zstd")
    assert rows == 2500 and pq.ParquetFile(tmp_path / "streamed.parquet").num_row_groups == 3
    assert (tmp_path / "streamed.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()


def test_a_bundled_dataset_ingests_alike(dask_client, tmp_path: Path):
    want = round_trip(local("sklearn:wine", [], "append", 10, target="target"), tmp_path / "local.parquet")
    ingest_partitioned("sklearn:wine", [], "target", {}, "append", 10, tmp_path / "dask.parquet", dask_client,
                       partition_rows=50)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask.parquet"), want)


def test_a_bad_date_in_a_late_partition_is_the_local_engines_error(dask_client, tmp_path: Path):
    raw = messy(ROWS, 0)
    raw.loc[ROWS - 10, "when"] = "soon"
    raw.to_csv(tmp_path / "source.csv", index=False)
    with pytest.raises(UserError) as local_error:
        local(str(tmp_path / "source.csv"), [], "append", 10, date_columns=["when"])
    with pytest.raises(UserError) as dask_error:
        ingest_partitioned(str(tmp_path / "source.csv"), [], "label", {"when": "auto"}, "append", 10, tmp_path / "out.parquet",
                           dask_client, partition_rows=PART)
    assert str(dask_error.value) == str(local_error.value) == \
        "column 'when': listed in data.date_columns but 'soon' is not a date"
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("target, dates, message", [
    ("labels", {}, "data.target 'labels' is not a column"),
    ("label", {"day": "auto"}, "data.date_columns: 'day' is not a column"),
])
def test_unknown_columns_are_named(dask_client, tmp_path: Path, target: str, dates: dict[str, str], message: str):
    messy(800, 0).to_csv(tmp_path / "source.csv", index=False)
    with pytest.raises(UserError, match=message):
        ingest_partitioned(str(tmp_path / "source.csv"), [], target, dates, "append", 10, tmp_path / "out.parquet",
                           dask_client, partition_rows=PART)


@pytest.mark.parametrize("content, message", [
    (b"", "source.csv: file is empty"),
    (b"a;b;label\n1;2;0\n", "source.csv: one column named 'a;b;label': the file looks ';'-delimited (expected "
                            "comma-separated; set data.csv.sep)"),
], ids=["empty", "semicolons"])
def test_a_bad_source_csv_is_one_line_and_writes_nothing(dask_client, tmp_path: Path, content: bytes, message: str):
    (tmp_path / "source.csv").write_bytes(content)
    with pytest.raises(UserError) as info:
        ingest_partitioned(str(tmp_path / "source.csv"), [], "label", {}, "append", 10, tmp_path / "out.parquet",
                           dask_client, partition_rows=PART)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out.parquet").exists()


def test_a_semicolon_csv_with_decimal_commas_types_as_the_local_engine(dask_client, tmp_path: Path):
    """scikit-learn's diabetes table (unscaled: decimals in most features, a number label) written as a
    German spreadsheet writes it: ';'-separated, decimal commas, latin-1, with a column of city names.
    Read with data.csv, both engines give the same bytes; read without, each refusal names its key."""
    from sklearn import datasets

    raw = datasets.load_diabetes(as_frame=True, scaled=False).frame
    raw.insert(0, "stadt", np.random.default_rng(0).choice(["Z\u00fcrich", "K\u00f6ln", "Graz"], len(raw)))
    path = tmp_path / "source.csv"
    raw.to_csv(path, index=False, sep=";", decimal=",", encoding="latin-1")
    assert "Z\u00fcrich;" in path.read_text(encoding="latin-1") and ";32,1;" in path.read_text(encoding="latin-1")
    dialect = {"sep": ";", "decimal": ",", "encoding": "latin-1"}
    write_parquet(tmp_path / "local.parquet", normalize(load_source(str(path), dialect), "target"))
    rows, columns, _ = ingest_partitioned(str(path), [], "target", {}, "append", 10, tmp_path / "dask.parquet", dask_client,
                                          partition_rows=100, csv_format=dialect)
    assert (rows, columns) == (442, 12)
    assert (tmp_path / "dask.parquet").read_bytes() == (tmp_path / "local.parquet").read_bytes()
    got = pd.read_parquet(tmp_path / "dask.parquet")
    assert got["bmi"].tolist() == raw["bmi"].tolist() and got["target"].tolist() == raw["target"].tolist()
    assert got["stadt"].tolist() == raw["stadt"].tolist() and got["bmi"].dtype == "float64"
    for wrong, key in (({}, "data.csv.encoding"), ({"encoding": "latin-1"}, "data.csv.sep")):
        with pytest.raises(UserError) as info:
            ingest_partitioned(str(path), [], "target", {}, "append", 10, tmp_path / "out.parquet", dask_client,
                               partition_rows=100, csv_format=wrong)
        assert str(info.value).startswith(f"{path}: ") and key in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out.parquet").exists()


def test_a_missing_source_file_is_named(dask_client, tmp_path: Path):
    with pytest.raises(UserError, match="nowhere.csv: file not found"):
        ingest_partitioned(str(tmp_path / "nowhere.csv"), [], "label", {}, "append", 10, tmp_path / "out.parquet",
                           dask_client, partition_rows=PART)
