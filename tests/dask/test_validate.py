"""ctml.dask.validate against the local engine on a real LocalCluster: the workers profile and check a row
group each; the schema recorded, the columns excluded and every problem line are the local engine's."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ctml.config import BoundsParams, DataParams, load_params
from ctml.dask.validate import check_on_cluster, profile_on_cluster
from ctml.data import profile
from ctml.data.exclusions import excluded_columns, excluded_from
from ctml.data.schema import check_frame, check_table, follow, follow_from, infer_from, infer_schema
from ctml.data.task import TaskDecision
from tests.helpers import ROOT

PARAMS = load_params(ROOT / "params.yaml")
CLASSES = TaskDecision("classification", "test")


def table(rows: int, seed: int) -> pd.DataFrame:
    """Every kind, and columns validate excludes: a written index, row positions, free text, mostly empty."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "Unnamed: 0": rng.permutation(rows).astype(float),
        "row": np.arange(1, rows + 1, dtype=float),
        "x": np.where(rng.random(rows) < 0.05, np.nan, rng.normal(size=rows)),
        "n": rng.integers(0, 9, rows).astype(float),
        "flag": pd.array(rng.choice([True, False], rows), dtype="boolean"),
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 500, rows), unit="D"),
        "city": pd.Series(rng.choice(["oslo", "rome", "lima"], rows), dtype="str"),
        "note": pd.Series([f"note {i}" for i in rng.permutation(rows)], dtype="str"),
        "empty": np.where(rng.random(rows) < 0.9, np.nan, 1.0),
    })
    frame["label"] = rng.choice(["no", "yes"], rows)
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=700)
    return path


def test_profile_schema_and_exclusions_on_the_cluster_are_the_local_engines(dask_client, tmp_path: Path):
    frame = table(3000, 0)
    path = write(frame, tmp_path / "raw.parquet")
    data = DataParams(**{**PARAMS.data.model_dump(), "source": "table", "target": "label", "date_columns": {}})
    vp = PARAMS.validate_

    facts = profile_on_cluster(dask_client, path, "label")
    assert facts == profile.of_frame(frame, "label")
    skip = excluded_from(list(frame.columns), facts, data, vp)
    assert skip == excluded_columns(frame, data, vp)
    assert sorted(skip) == ["Unnamed: 0", "empty", "note", "row"] and skip["row"].startswith("row identifier")
    schema = infer_from(facts, frame["label"], "table", "label", CLASSES, excluded_columns=skip)
    assert schema == infer_schema(frame, "table", "label", CLASSES, excluded_columns=skip)
    assert schema["columns"]["city"]["categories"] == ["lima", "oslo", "rome"] and schema["classes"] == ["no", "yes"]
    assert follow_from(schema, facts, frame["label"]) == follow(schema, frame)


def test_problems_on_the_cluster_are_the_local_engines_line_for_line(dask_client, tmp_path: Path):
    frame = table(3000, 0)
    schema = infer_schema(frame, "table", "label", CLASSES, excluded_columns={"note": "text", "Unnamed: 0": "index", "row": "id", "empty": "empty"})
    vp = PARAMS.validate_.model_copy(update={"bounds": {"n": BoundsParams(min=0, max=7)}, "max_unknown_category_share": 0.05})
    bad = table(3000, 1)
    bad.loc[2100, "x"] = np.inf  # the third row group: each rule's first offending row is in a different group
    bad.loc[1500, "x"], bad.loc[2500, "x"] = 1e9, -1e9
    bad.loc[5::10, "city"] = "paris"  # 10% unknown: above validate.max_unknown_category_share
    bad.loc[:1800, "when"] = pd.NaT  # 60% missing, above the allowed share
    bad["extra"] = 1.0
    path = write(bad, tmp_path / "bad.parquet")

    blocks = check_on_cluster(dask_client, path, schema, vp)
    assert len(blocks) == 5
    found = check_table(pq.read_schema(path).names, blocks, bad["label"], schema, vp)
    assert found == check_frame(bad, schema, vp)
    assert found[0] == "column 'extra': not in the schema (unexpected column; the schema is recorded from data.source)"
    assert [line.split(":")[0] for line in found[1:]] == ["column 'x'", "column 'x'", "column 'n'", "column 'when'",
                                                         "column 'city'"]
    assert "non-finite value inf" in found[1] and "value 1e+09 absurdly far" in found[2]  # rule order, first rows
    assert "above the declared bound 7" in found[3] and "unknown category 'paris'" in found[5]
