"""ctml.model.predict: predictions on a tiny real model, integrity check, and one-line errors on bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ctml.config import Params, load_params
from ctml.data.tables import feature_kinds, normalize
from ctml.errors import UserError
from ctml.model.features import build_preprocessor, full_pipeline, split_xy
from ctml.io import write_json
from ctml.model.estimator import build_estimator, save_model
from ctml.model.predict import predict_file, prepare_input
from ctml.data.schema import infer_schema
from ctml.data.task import TaskDecision
from tests.helpers import read_json

CLASSES = TaskDecision("classification", "test")


def raw_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Rows as a user's CSV has them: numbers, a text category, yes/no flags, text labels."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    return pd.DataFrame({
        "x1": x1,
        "x2": rng.uniform(0, 10, size=n),
        "color": rng.choice(["red", "green", "blue"], size=n),
        "flag": rng.choice(["yes", "no"], size=n),
        "label": np.where(x1 > 0.5, "high", np.where(x1 < -0.5, "low", "mid")),
    })


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, params: Params) -> dict[str, Path]:
    """A trained pipeline, its metadata and the recorded schema, as files."""
    out = tmp_path_factory.mktemp("served")
    frame = normalize(raw_frame(), "label")
    x, y = split_xy(frame, "label")
    pre = build_preprocessor(feature_kinds(frame, "label"), params.preprocess).fit(x)
    model = full_pipeline(pre, build_estimator(params.train, "classification", seed=0).fit(pre.transform(x), y))
    sha = save_model(model, out / "model.joblib")
    write_json(out / "model.json", {"model_sha256": sha, "features": list(x.columns)})
    write_json(out / "schema.json", infer_schema(frame, "test", "label", CLASSES))
    return {"model": out / "model.joblib", "meta": out / "model.json", "schema": out / "schema.json", "dir": out}


def run(served: dict[str, Path], params: Params, input_path: Path, output: Path | None = None) -> pd.DataFrame:
    return predict_file(input_path, served["model"], served["meta"], served["schema"], output, params)


def one_line_error(served: dict[str, Path], params: Params, input_path: Path) -> str:
    with pytest.raises(UserError) as info:
        run(served, params, input_path)
    message = str(info.value)
    assert "\n" not in message
    return message


def write_input(tmp_path: Path, frame: pd.DataFrame, name: str = "in.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_parquet(path, index=False)
    return path


def test_predictions_match_the_model_and_probabilities_sum_to_one(served, tmp_path: Path, params):
    import joblib

    rows = raw_frame(n=40, seed=7)
    out = run(served, params, write_input(tmp_path, rows.drop(columns="label")), tmp_path / "pred.csv")
    model = joblib.load(served["model"])
    expected = model.predict(normalize(rows, "label").drop(columns="label"))
    assert list(out.columns) == ["prediction", "proba_high", "proba_low", "proba_mid"]
    assert out["prediction"].tolist() == expected.tolist()
    assert out.filter(like="proba_").sum(axis=1).to_numpy() == pytest.approx(np.ones(40))
    picked = out[["proba_high", "proba_low", "proba_mid"]].to_numpy().argmax(axis=1)
    assert [model.classes_[i] for i in picked] == expected.tolist()
    written = pd.read_csv(tmp_path / "pred.csv")
    assert written["prediction"].tolist() == expected.tolist()
    assert written["proba_mid"].to_numpy() == pytest.approx(out["proba_mid"].to_numpy())


def test_parquet_in_and_out_with_the_label_column_present_and_ignored(served, tmp_path: Path, params):
    rows = raw_frame(n=10, seed=3)
    with_label = run(served, params, write_input(tmp_path, rows, "in.parquet"), tmp_path / "pred.parquet")
    without = run(served, params, write_input(tmp_path, rows.drop(columns="label"), "in2.parquet"))
    pd.testing.assert_frame_equal(with_label, without)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "pred.parquet"), with_label)


def test_stdout_csv_when_no_output(served, tmp_path: Path, capsys: pytest.CaptureFixture, params):
    out = run(served, params, write_input(tmp_path, raw_frame(n=3, seed=4).drop(columns="label")))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction,proba_high,proba_low,proba_mid"
    assert [line.split(",")[0] for line in lines[1:]] == out["prediction"].tolist()


def test_single_row_with_missing_value_and_numeric_looking_category(served, tmp_path: Path, params):
    row = pd.DataFrame({"x1": [2.0], "x2": [None], "color": ["7"], "flag": ["no"]})
    out = run(served, params, write_input(tmp_path, row))
    assert out["prediction"].tolist() == ["high"]
    x = prepare_input(pd.read_csv(tmp_path / "in.csv"), read_json(served["schema"]), params)
    assert x["color"].tolist() == ["7"] and list(x.columns) == ["color", "flag", "x1", "x2"]


def test_tampered_model_is_refused(served, tmp_path: Path, params):
    tampered = tmp_path / "model.joblib"
    data = bytearray(served["model"].read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    with pytest.raises(UserError) as info:
        predict_file(write_input(tmp_path, raw_frame(n=3)), tampered, served["meta"], served["schema"], None, params)
    assert str(info.value).startswith(f"{tampered}: sha256 ") and "refusing to load" in str(info.value)


def test_missing_column(served, tmp_path: Path, params):
    message = one_line_error(served, params, write_input(tmp_path, raw_frame(n=5).drop(columns=["label", "x2"])))
    assert message == f"{tmp_path / 'in.csv'}: column 'x2': missing (recorded in the schema from data.source)"


def test_extra_column(served, tmp_path: Path, params):
    rows = raw_frame(n=5).assign(shoe_size=42)
    message = one_line_error(served, params, write_input(tmp_path, rows))
    assert message == f"{tmp_path / 'in.csv'}: column 'shoe_size': not in the schema (unexpected column; the schema is recorded from data.source)"


def test_renamed_column_names_both(served, tmp_path: Path, params):
    message = one_line_error(served, params, write_input(tmp_path, raw_frame(n=5).rename(columns={"x1": "X1"})))
    assert "column 'x1': missing" in message and "column 'X1': not in the schema" in message


def test_non_numeric_value_in_numeric_column(served, tmp_path: Path, params):
    rows = raw_frame(n=5).astype({"x2": object})
    rows.loc[2, "x2"] = "ten"
    message = one_line_error(served, params, write_input(tmp_path, rows))
    assert message == f"{tmp_path / 'in.csv'}: column 'x2': recorded numeric, found non-numeric value 'ten' (kinds recorded from data.source)"


def test_wrong_kind_in_boolean_column(served, tmp_path: Path, params):
    rows = raw_frame(n=5).assign(flag="maybe")
    message = one_line_error(served, params, write_input(tmp_path, rows))
    assert message == f"{tmp_path / 'in.csv'}: column 'flag': recorded boolean, found categorical (e.g. 'maybe') (kinds recorded from data.source)"


def test_empty_file_and_header_only(served, tmp_path: Path, params):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert one_line_error(served, params, empty) == f"{empty}: file is empty"
    header = tmp_path / "header.csv"
    header.write_text("x1,x2,color,flag\n")
    assert one_line_error(served, params, header) == f"{header}: has a header but no rows"


def test_unsupported_output_type_fails_before_any_work(served, tmp_path: Path, params):
    with pytest.raises(UserError, match=r"pred\.xlsx: unsupported output type '\.xlsx'"):
        run(served, params, tmp_path / "absent.csv", tmp_path / "pred.xlsx")


@pytest.mark.slow
def test_predict_with_the_pipeline_model_reproduces_the_test_metrics(baseline_repo: Path, tmp_path: Path):
    """The default model served through predict_file scores exactly what the evaluate stage recorded."""
    test = baseline_repo / "data/prepared/test.parquet"
    out = predict_file(test, baseline_repo / "models/model.joblib", baseline_repo / "models/model.json",
                       baseline_repo / "data/schema.json", tmp_path / "pred.csv", load_params(baseline_repo / "params.yaml"))
    labels = pd.read_parquet(test)["target"]
    accuracy = float((out["prediction"].to_numpy() == labels.to_numpy()).mean())
    assert accuracy == pytest.approx(read_json(baseline_repo / "metrics/metrics.json")["accuracy"], abs=1e-6)


def test_a_regressor_predicts_the_number_without_probability_columns(tmp_path: Path, params):
    import joblib

    frame = normalize(raw_frame().assign(label=lambda f: 5 * f["x1"] + f["x2"]), "label")
    x, y = split_xy(frame, "label")
    pre = build_preprocessor(feature_kinds(frame, "label"), params.preprocess).fit(x)
    model = full_pipeline(pre, build_estimator(params.train, "regression", seed=0).fit(pre.transform(x), y))
    sha = save_model(model, tmp_path / "model.joblib")
    write_json(tmp_path / "model.json", {"model_sha256": sha, "features": list(x.columns), "task": "regression"})
    write_json(tmp_path / "schema.json", infer_schema(frame, "test", "label", TaskDecision("regression", "test")))
    rows = raw_frame(n=12, seed=5).drop(columns="label")
    out = predict_file(write_input(tmp_path, rows), tmp_path / "model.joblib", tmp_path / "model.json",
                       tmp_path / "schema.json", tmp_path / "pred.csv", params)
    assert list(out.columns) == ["prediction"] and out["prediction"].dtype == "float64"
    expected = joblib.load(tmp_path / "model.joblib").predict(normalize(rows.assign(label=0.0), "label").drop(columns="label"))
    assert out["prediction"].to_numpy() == pytest.approx(expected)
    assert pd.read_csv(tmp_path / "pred.csv")["prediction"].to_numpy() == pytest.approx(expected)
