"""ctml.layout and dvc.yaml name the same paths: the stages get theirs from their command lines,
ct.py from the layout, so the two must agree for CT to find what the stages write."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from ctml import layout
from tests.helpers import ROOT

# (stage, command-line flag) -> the layout path it must be
FLAGS = {
    ("ingest", "--batches"): layout.BATCHES, ("ingest", "--out"): layout.RAW,
    ("validate", "--data"): layout.RAW, ("validate", "--schema"): layout.SCHEMA, ("validate", "--out"): layout.VALIDATION,
    ("validate", "--problems"): layout.VALIDATION_PROBLEMS,
    ("preprocess", "--data"): layout.RAW, ("preprocess", "--train-out"): layout.TRAIN_SPLIT,
    ("preprocess", "--test-out"): layout.TEST_SPLIT, ("preprocess", "--preprocessor"): layout.PREPROCESSOR,
    ("preprocess", "--schema"): layout.SCHEMA,
    ("train", "--train"): layout.TRAIN_SPLIT, ("train", "--preprocessor"): layout.PREPROCESSOR,
    ("train", "--model"): layout.MODEL, ("train", "--meta"): layout.MODEL_META, ("train", "--schema"): layout.SCHEMA,
    ("evaluate", "--model"): layout.MODEL, ("evaluate", "--meta"): layout.MODEL_META,
    ("evaluate", "--test"): layout.TEST_SPLIT, ("evaluate", "--metrics"): layout.METRICS, ("evaluate", "--plots"): layout.PLOTS,
    ("evaluate", "--calibration"): layout.CALIBRATION, ("evaluate", "--reference"): layout.REFERENCE_MODEL,
    ("evaluate", "--train"): layout.TRAIN_SPLIT,
    ("drift", "--reference"): layout.RAW, ("drift", "--batches"): layout.BATCHES, ("drift", "--checked"): layout.CHECKED,
    ("drift", "--model"): layout.MODEL, ("drift", "--meta"): layout.MODEL_META, ("drift", "--production"): layout.PRODUCTION,
    ("drift", "--metrics"): layout.METRICS, ("drift", "--schema"): layout.SCHEMA, ("drift", "--out"): layout.DRIFT, ("drift", "--summary"): layout.DRIFT_SUMMARY,
    ("drift", "--features"): layout.DRIFT_FEATURES,
    ("drift", "--plots"): layout.DRIFT_PLOTS, ("drift", "--calibration"): layout.CALIBRATION,
    ("drift", "--cache"): layout.DRIFT_CACHE,
    ("gates", "--model"): layout.MODEL, ("gates", "--meta"): layout.MODEL_META, ("gates", "--test"): layout.TEST_SPLIT,
    ("gates", "--production"): layout.PRODUCTION, ("gates", "--data"): layout.RAW, ("gates", "--batches"): layout.BATCHES,
    ("gates", "--validation"): layout.VALIDATION, ("gates", "--schema"): layout.SCHEMA, ("gates", "--out"): layout.GATES,
    ("gates", "--summary"): layout.GATES_SUMMARY,
}


@pytest.fixture(scope="module")
def pipeline() -> dict:
    return yaml.safe_load((ROOT / layout.DVC_YAML).read_text())


def _flags(cmd: str) -> dict[str, str]:
    argv = shlex.split(cmd)
    return {flag: value for flag, value in zip(argv, argv[1:]) if flag.startswith("--")}


def _paths(entries: list) -> set[str]:
    """Paths of a deps/outs/metrics list (entries are a path or {path: options})."""
    return {next(iter(e)) if isinstance(e, dict) else str(e) for e in entries}


def test_every_path_flag_of_every_stage_is_a_layout_path(pipeline):
    seen = set()
    for name, stage in pipeline["stages"].items():
        for flag, value in _flags(stage["cmd"]).items():
            if flag == "--params":
                continue
            assert (name, flag) in FLAGS, f"{name} {flag} {value}: not known to the layout test"
            assert Path(value) == FLAGS[(name, flag)], f"{name} {flag}: dvc.yaml says {value}, layout {FLAGS[(name, flag)]}"
            seen.add((name, flag))
    assert seen == set(FLAGS)


def test_inputs_are_deps_and_outputs_are_outs(pipeline):
    writes = {"--out", "--train-out", "--test-out", "--model", "--meta", "--metrics", "--plots", "--schema", "--preprocessor",
              "--features", "--summary", "--problems", "--calibration", "--reference"}
    untracked = {("drift", "--cache")}  # the reference summaries: a cache is never a dependency (ctml/drift/reference.py)
    for name, stage in pipeline["stages"].items():
        deps = _paths(stage.get("deps", []))
        outs = _paths(stage.get("outs", [])) | _paths(stage.get("metrics", []))
        for flag, value in _flags(stage["cmd"]).items():
            if flag == "--params":
                continue
            if (name, flag) in untracked:
                assert value not in deps | outs, f"{name} {flag} {value}: a cache must not be a dep or an out"
                continue
            declared = outs if (flag in writes and value in outs) else deps
            assert value in declared, f"{name} {flag} {value}: neither a dep nor an out of the stage"


def test_ct_records_and_production_are_where_dvc_yaml_plots_and_deps_say(pipeline):
    plots = {next(iter(p)) if isinstance(p, dict) else p for p in pipeline["plots"]}
    assert layout.TIMELINE.as_posix() in plots and layout.DRIFT_SCORES.as_posix() in plots
    assert not [p for p in plots if p.endswith(".png")]  # each picture once: Vega from the CSV
    assert {layout.METRICS, layout.DRIFT_SUMMARY, layout.GATES_SUMMARY} == {Path(m) for m in pipeline["metrics"]}
    assert pipeline["artifacts"]["model"]["path"] == layout.MODEL.as_posix()
    for rel in layout.PRODUCTION_FILES.values():
        assert any(rel.as_posix() in _paths(s.get("outs", [])) | _paths(s.get("metrics", []))
                   for s in pipeline["stages"].values()), f"{rel}: no stage writes it"


def test_find_batch_prefers_parquet_and_serving_model_prefers_production(tmp_path: Path):
    assert layout.find_batch(tmp_path) is None
    (tmp_path / "batch.csv").write_text("a\n1\n")
    assert layout.find_batch(tmp_path) == tmp_path / "batch.csv"
    (tmp_path / "batch.parquet").write_bytes(b"")
    assert layout.find_batch(tmp_path) == tmp_path / "batch.parquet"
    prod = tmp_path / "prod"
    assert layout.serving_model(prod, "m.joblib", "m.json") == (Path("m.joblib"), Path("m.json"))
    prod.mkdir()
    (prod / "model.joblib").write_bytes(b"")
    assert layout.serving_model(prod, "m.joblib", "m.json") == (Path("m.joblib"), Path("m.json"))  # half a release
    (prod / "model.json").write_text("{}")
    assert layout.serving_model(prod, "m.joblib", "m.json") == (prod / "model.joblib", prod / "model.json")
