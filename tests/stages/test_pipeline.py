"""End to end: the user stories of issue 3, with the real `dvc` CLI in temporary git repos.

The session `baseline_repo` is the fresh project after one `dvc repro` on the built-in data; each test
works on a private copy (`repo`) so that only the stages a story needs are run again.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import built_once, copy_project, dvc, git, ran_stages, read_json, set_params, sha256, store

pytestmark = pytest.mark.slow

ALL_STAGES = ["ingest", "validate", "preprocess", "train", "evaluate", "drift", "gates"]
METRICS = {"accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc"}
# What a failed run must leave exactly as the last good run wrote it.
LAST_GOOD = ["models/model.joblib", "models/model.json", "models/preprocessor.joblib", "metrics/metrics.json",
             "metrics/validation.json", "data/schema.json", "data/prepared/train.parquet", "data/prepared/test.parquet"]


def hashes(repo: Path, paths: list[str] = LAST_GOOD) -> dict[str, str]:
    return {rel: sha256(repo / rel) for rel in paths}


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)


def user_table(rows: int, classes: list[str], seed: int) -> pd.DataFrame:
    """A user's table: numeric, categorical, two boolean spellings, a date, ~10% missing per feature."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(50, 10, rows)
    color = rng.choice(["red", "green", "blue"], rows)
    member = rng.random(rows) < 0.5
    signup = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    score = (amount - 50) / 10 + np.where(color == "red", 1.5, 0.0) + np.where(member, 1.0, -1.0) + rng.normal(0, 0.4, rows)
    cuts = np.quantile(score, np.linspace(0, 1, len(classes) + 1)[1:-1])
    frame = pd.DataFrame({
        "amount": amount.round(2),
        "color": color,
        "member": np.where(member, "yes", "no"),
        "paid": pd.array(rng.random(rows) < 0.3, dtype="boolean"),
        "signup": signup.strftime("%Y-%m-%d"),
        "label": np.array(classes)[np.searchsorted(cuts, score)],
    })
    for name in ("amount", "color", "member", "paid", "signup"):
        frame.loc[rng.random(rows) < 0.1, name] = None
    return frame


def use_source(repo: Path, frame: pd.DataFrame | None, name: str, target: str = "label") -> None:
    """What the README tells a user: put the file under data/source/, track it, point params at it."""
    path = repo / "data" / "source" / name
    if frame is not None:
        if name.endswith(".csv"):
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        dvc("add", f"data/source/{name}", cwd=repo)
    set_params(repo, data__source=f"data/source/{name}", data__target=target)


def metrics_of(repo: Path) -> dict[str, float]:
    return read_json(repo / "metrics" / "metrics.json")


@pytest.fixture(scope="module")
def csv_baseline(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline project switched to a user's binary CSV, run and committed. Do not modify."""
    def build(parent: Path) -> None:
        repo = copy_project(baseline_repo, parent)
        use_source(repo, user_table(400, ["no", "yes"], seed=1), "customers.csv")
        out = dvc("repro", cwd=repo).stdout
        assert ran_stages(out) == ALL_STAGES
        commit_all(repo, "use customers.csv")

    return built_once(tmp_path_factory, "csv", build)[0]


# --- fresh project, params, metrics ----------------------------------------------------------------


def test_fresh_project_repro_then_metrics_show(repo: Path) -> None:
    (workspace,) = json.loads(dvc("metrics", "show", "--json", cwd=repo).stdout).values()
    metrics = workspace["data"]["metrics/metrics.json"]["data"]
    assert set(metrics) == METRICS
    assert 0.9 <= metrics["accuracy"] <= 1 and 0.95 <= metrics["roc_auc"] <= 1
    # A library-default model on the same split, under the same metric names: what the configured one is held to.
    reference = read_json(repo / "metrics/reference_model.json")  # an output, not a metric: the table stays narrow
    assert reference["name"] == "HistGradientBoostingClassifier()" and set(reference) == METRICS | {"name"}
    assert 0.9 <= reference["accuracy"] <= 1
    assert read_json(repo / "metrics/validation.json") == {
        "rows": 569, "columns": 30, "excluded": 0, "violations": 0, "passed": True}
    text = dvc("metrics", "show", cwd=repo).stdout
    assert "metrics/metrics.json" in text and f"{metrics['accuracy']:.5f}".rstrip("0") in text
    # Only what a person compares: the drift report, validation and each gate's detail are outputs, not metrics.
    assert set(workspace["data"]) == {"metrics/metrics.json", "metrics/drift_summary.json", "metrics/gates_summary.json"}
    assert workspace["data"]["metrics/gates_summary.json"]["data"] == {"passed": True, "blocked": 0, "alerts": 0}
    assert max(map(len, text.splitlines())) <= 200  # 7,661 characters when the per-feature detail was a metric
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
    meta = read_json(repo / "models" / "model.json")
    assert meta["model_sha256"] == sha256(repo / "models" / "model.joblib")
    assert meta["train_data_sha256"] == sha256(repo / "data" / "prepared" / "train.parquet")
    assert (meta["train_rows"], meta["classes"], len(meta["features"])) == (426, [0, 1], 30)
    assert meta["params"] == {"seed": 42, "train": {"model": "random_forest", "n_estimators": 120, "max_depth": 5,
                                                    "learning_rate": 0.1, "C": 1.0, "max_iter": 1000,
                                                    "alpha": 1.0}}
    assert meta["git_commit"] == git("rev-list", "--max-parents=0", "HEAD", cwd=repo).stdout.strip()
    assert {"python", "scikit-learn", "dvc"} <= set(meta["libraries"])


def test_param_change_reruns_only_the_model_and_below(repo: Path) -> None:
    before = metrics_of(repo)
    set_params(repo, train__n_estimators=5, train__max_depth=2)
    diff = json.loads(dvc("params", "diff", "--json", cwd=repo).stdout)
    assert diff == {"params.yaml": {"train.n_estimators": {"old": 120, "new": 5, "diff": -115},
                                    "train.max_depth": {"old": 5, "new": 2, "diff": -3}}}
    assert ran_stages(dvc("repro", cwd=repo).stdout) == ["train", "evaluate", "drift", "gates"]
    after = metrics_of(repo)
    assert after != before and 0.85 <= after["accuracy"] <= 1
    changes = json.loads(dvc("metrics", "diff", "--json", cwd=repo).stdout)["metrics/metrics.json"]
    assert changes and all(changes[k]["old"] == before[k] and changes[k]["new"] == after[k] for k in changes)
    assert set(changes) == {k for k in METRICS if before[k] != after[k]}
    noop = dvc("repro", cwd=repo).stdout
    assert ran_stages(noop) == [] and "Data and pipelines are up to date." in noop


def test_dask_engine_ingests_the_same_bytes_so_nothing_downstream_reruns(repo: Path) -> None:
    lock = (repo / "dvc.lock").read_text()
    set_params(repo, compute__engine="dask", compute__partition_rows=1000)
    out = dvc("repro", cwd=repo).stdout
    # Every stage reads `compute`; each writes the local engine's bytes but model.json (it records HEAD,
    # which moved since the baseline ran) and gates.json (latency is timed, and the time is recorded).
    assert ran_stages(out) == ["ingest", "validate", "preprocess", "train", "evaluate", "drift", "gates"]
    assert "569 rows x 31 columns (0 CT batches, fold policy cap, dask engine)" in out
    moved = {"models/model.json", "metrics/gates.json"}
    before, after = lock_hashes(lock), lock_hashes((repo / "dvc.lock").read_text())
    assert {k: v for k, v in after.items() if k not in moved} == {k: v for k, v in before.items() if k not in moved}
    gates = read_json(repo / "metrics/gates.json")
    assert gates["passed"] and gates["gates"]["schema"]["value"] == 569 and gates["gates"]["accuracy"]["value"] > 0.9


def lock_hashes(text: str) -> dict[str, str]:
    """path -> md5 of every dep and out in a dvc.lock: the data and model bytes it records."""
    stages = yaml.safe_load(text)["stages"]
    return {e["path"]: e.get("md5", "") for s in stages.values() for e in (*s.get("deps", []), *s.get("outs", []))}


def test_repro_force_repeats_every_byte(repo: Path) -> None:
    outputs = [rel for rel in LAST_GOOD if rel != "models/model.json"]  # it records HEAD, which moved
    first, meta = hashes(repo, outputs), read_json(repo / "models" / "model.json")  # the fresh run's
    assert ran_stages(dvc("repro", "--force", cwd=repo).stdout) == ALL_STAGES
    assert hashes(repo, outputs) == first
    again = read_json(repo / "models" / "model.json")
    assert again.pop("git_commit") == git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    assert again == {k: v for k, v in meta.items() if k != "git_commit"}
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}


@pytest.mark.parametrize("model, estimator", [("logistic_regression", "LogisticRegression"),
                                              ("gradient_boosting", "GradientBoostingClassifier")])
def test_each_model_type_trains_evaluates_and_repeats(repo: Path, model: str, estimator: str) -> None:
    set_params(repo, train__model=model, train__n_estimators=40)
    assert ran_stages(dvc("repro", "evaluate", cwd=repo).stdout) == ["train", "evaluate"]
    assert 0.9 <= metrics_of(repo)["accuracy"] <= 1
    assert type(joblib.load(repo / "models" / "model.joblib").named_steps["model"]).__name__ == estimator
    assert read_json(repo / "models" / "model.json")["params"]["train"]["model"] == model
    first = hashes(repo, ["models/model.joblib", "models/model.json", "metrics/metrics.json"])
    assert ran_stages(dvc("repro", "--force", "--single-item", "train", "evaluate", cwd=repo).stdout) == ["train", "evaluate"]
    assert hashes(repo, list(first)) == first


# --- the user's own data --------------------------------------------------------------------------


def test_user_csv_binary_with_every_column_kind(csv_baseline: Path) -> None:
    schema = read_json(csv_baseline / "data" / "schema.json")
    assert (schema["source"], schema["target"], schema["classes"]) == ("data/source/customers.csv", "label", ["no", "yes"])
    assert {k: v["kind"] for k, v in schema["columns"].items()} == {
        "amount": "numeric", "color": "categorical", "member": "boolean", "paid": "boolean", "signup": "datetime"}
    assert all(0.05 < v["missing_share"] < 0.15 for v in schema["columns"].values())
    metrics = metrics_of(csv_baseline)
    assert set(metrics) == METRICS and 0.75 <= metrics["accuracy"] <= 1 and 0.8 <= metrics["roc_auc"] <= 1
    features = set(pd.read_csv(csv_baseline / "metrics" / "plots" / "importance.csv")["feature"])
    assert {"amount", "member", "color_red", "signup_month"} <= features
    confusion = pd.read_csv(csv_baseline / "metrics" / "plots" / "confusion.csv")
    assert set(confusion["actual"]) == {"no", "yes"} and len(confusion) == 100
    assert read_json(csv_baseline / "models" / "model.json")["classes"] == ["no", "yes"]


def test_user_csv_multiclass(repo: Path) -> None:
    use_source(repo, user_table(450, ["low", "mid", "high"], seed=2), "tiers.csv", target="label")
    assert ran_stages(dvc("repro", cwd=repo).stdout) == ALL_STAGES
    assert read_json(repo / "data" / "schema.json")["classes"] == ["high", "low", "mid"]
    metrics = metrics_of(repo)
    assert set(metrics) == METRICS and 0.6 <= metrics["accuracy"] <= 1 and 0.75 <= metrics["roc_auc"] <= 1
    assert set(pd.read_csv(repo / "metrics" / "plots" / "roc.csv")["class"]) == {"high", "low", "mid"}


def test_user_parquet_with_native_dtypes(repo: Path) -> None:
    frame = user_table(400, ["no", "yes"], seed=3)
    frame["member"] = frame["member"].map({"yes": True, "no": False}).astype("boolean")
    frame["signup"] = pd.to_datetime(frame["signup"]).dt.tz_localize("Europe/Paris")
    frame["label"] = (frame["label"] == "yes").astype(int)
    use_source(repo, frame, "customers.parquet")
    assert ran_stages(dvc("repro", cwd=repo).stdout) == ALL_STAGES
    schema = read_json(repo / "data" / "schema.json")
    assert schema["classes"] == [0, 1] and schema["columns"]["signup"]["kind"] == "datetime"
    assert schema["columns"]["member"]["kind"] == "boolean"
    assert 0.75 <= metrics_of(repo)["accuracy"] <= 1


def test_builtin_multiclass_iris(repo: Path) -> None:
    set_params(repo, data__source="sklearn:iris")
    assert ran_stages(dvc("repro", cwd=repo).stdout) == ALL_STAGES
    assert read_json(repo / "data" / "schema.json")["classes"] == [0, 1, 2]
    metrics = metrics_of(repo)
    assert 0.85 <= metrics["accuracy"] <= 1 and 0.95 <= metrics["roc_auc"] <= 1
    assert len(pd.read_csv(repo / "metrics" / "plots" / "confusion.csv")) == 38


# --- bad input: one line naming the culprit, non-zero exit, last good outputs kept ----------------


def write(rel: str, content: str) -> Callable[[Path], None]:
    def edit(repo: Path) -> None:
        (repo / rel).write_text(content)
        set_params(repo, data__source=rel)
    return edit


def params_text(old: str, new: str) -> Callable[[Path], None]:
    def edit(repo: Path) -> None:
        path = repo / "params.yaml"
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new, 1))
    return edit


def one_class(repo: Path) -> None:
    frame = user_table(60, ["no", "yes"], seed=4).assign(label="yes")
    use_source(repo, frame, "one.csv")


def non_numeric(repo: Path) -> None:
    path = repo / "data" / "source" / "customers.csv"
    frame = pd.read_csv(path, dtype=str)
    frame.loc[7, "amount"] = "12,5 EUR"
    frame.to_csv(path, index=False)
    dvc("add", "data/source/customers.csv", cwd=repo)


BAD_INPUTS = {
    "missing source file": (lambda r: set_params(r, data__source="data/source/nope.csv"),
                            "error: data/source/nope.csv: file not found"),
    "unknown target column": (lambda r: set_params(r, data__target="diagnosis"),
                              "error: data.target 'diagnosis' is not a column"),
    "empty file": (write("data/source/empty.csv", ""), "error: data/source/empty.csv: file is empty"),
    "header-only file": (write("data/source/header.csv", "a,b,target\n"),
                         "error: data/source/header.csv: has a header but no rows"),
    "label with one class": (one_class, "error: label column 'label': has 1 class ('yes'), need at least two"),
    "non-numeric value in a numeric column": (
        non_numeric, "error: data/raw/train.parquet: column 'amount': recorded numeric, found non-numeric value '12,5 EUR'"),
    "unknown model type": (lambda r: set_params(r, train__model="catboost"), "error: params.yaml: key 'train.model' = 'catboost'"),
    "malformed params.yaml": (params_text("  max_depth: 5", "  max_depth: [5"), "ERROR: unable to read: 'params.yaml'"),
    "misspelled key": (params_text("n_estimators:", "n_estimatorz:"),
                       "error: params.yaml: unknown key 'train.n_estimatorz' (did you mean 'n_estimators'?"),
    "misspelled top-level key": (params_text("seed:", "sed:"), "Parameters 'seed' are missing from 'params.yaml'"),
    "test_size 1": (lambda r: set_params(r, preprocess__test_size=1.0),
                    "error: params.yaml: key 'preprocess.test_size' = 1.0: Input should be less than 1"),
    "unknown builtin dataset": (lambda r: set_params(r, data__source="sklearn:titanic"),
                                "error: params.yaml: data.source 'sklearn:titanic' is not a bundled dataset"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_in_one_line_and_keeps_the_last_good_outputs(
    case: str, baseline_repo: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    edit, expected = BAD_INPUTS[case]
    base = request.getfixturevalue("csv_baseline") if edit is non_numeric else baseline_repo
    repo = copy_project(base, tmp_path)
    good = hashes(repo)
    edit(repo)
    proc = dvc("repro", cwd=repo, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if expected in line]
    assert lines, f"no stderr line contains {expected!r}:\n{proc.stderr}"
    if expected.startswith("error: "):  # our own message: exactly one line, and no traceback anywhere
        assert len(lines) == 1 and lines[0].startswith(expected)
        assert "Traceback" not in proc.stderr
    assert hashes(repo) == good


def test_fixing_the_input_after_a_failure_runs_nothing(repo: Path) -> None:
    original = (repo / "params.yaml").read_text()
    set_params(repo, train__model="catboost")
    assert dvc("repro", cwd=repo, check=False).returncode != 0
    (repo / "params.yaml").write_text(original)
    assert ran_stages(dvc("repro", cwd=repo).stdout) == []


# --- plots and remote storage ---------------------------------------------------------------------


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plots_show_json_lists_the_plot_data_and_valid_pngs(repo: Path) -> None:
    shown = json.loads(dvc("plots", "show", "--json", cwd=repo).stdout)
    assert not [e for e in shown.get("errors", []) if e["name"].startswith("metrics/plots/")]
    rows = {"confusion": 143, "roc": len(pd.read_csv(repo / "metrics" / "plots" / "roc.csv")), "importance": 15}
    for name, count in rows.items():
        (vega,) = shown["data"][f"metrics/plots/{name}.csv"]
        assert vega["type"] == "vega" and len(vega["content"]["data"]["values"]) == count
        # the PNG twin is written (Neptune, people who open files) but not a DVC plot: each picture once
        assert f"metrics/plots/{name}.png" not in shown["data"]
        png = (repo / "metrics" / "plots" / f"{name}.png").read_bytes()
        assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR" and len(png) > 5000
    confusion = shown["data"]["metrics/plots/confusion.csv"][0]["content"]["data"]["values"]
    assert {(v["actual"], v["predicted"]) for v in confusion} <= {("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")}
    assert rows["roc"] > 10


def test_push_then_pull_restores_outputs_from_the_local_remote(repo: Path) -> None:
    tracked = ["data/raw/train.parquet", "data/prepared/train.parquet", "data/prepared/test.parquet",
               "models/preprocessor.joblib", "models/model.joblib"]
    before = hashes(repo, tracked)
    dvc("push", cwd=repo)
    assert (store(repo) / "files" / "md5").is_dir()
    for rel in tracked:
        (repo / rel).unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    dvc("pull", cwd=repo)
    assert hashes(repo, tracked) == before
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
