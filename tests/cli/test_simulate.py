"""End to end: `python ct.py simulate` with the real dvc, git and stages in a temporary repo."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ctml import layout
from ctml.data.folds import read_manifest
from tests.helpers import copy_project, ct, dvc, git, history, read_json, set_params, tags

pytestmark = pytest.mark.slow


def simulate(repo: Path, *args: str, check: bool = True):
    return ct(repo, "simulate", *args, check=check)


def test_none_scenario_never_retrains_or_tags(repo):
    simulate(repo, "--scenario", "none", "--steps", "3", "--batch-size", "150")
    past = history(repo)
    assert past["step"].tolist() == [1, 2, 3]
    assert not past["retrained"].any()
    assert (past["drift_score"] <= past["threshold"]).all()
    assert sorted(tags(repo)) == ["model#prod#1", "model@v1.0.0"]
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout == ""


def test_sudden_drift_retrains_exactly_once_at_the_shift(readme_demo):
    repo, out = readme_demo  # `simulate --scenario sudden --steps 4 --batch-size 200` after the baseline
    past = history(repo)
    start = 3  # params.yaml ct.start_step
    above = past["drift_score"] > past["threshold"]
    assert above.tolist() == [s == start for s in past["step"]]
    assert past["retrained"].tolist() == [s == start for s in past["step"]]
    assert past.loc[past["step"] == start, "model_version"].item() == "v1.1.0"
    assert sorted(tags(repo)) == ["model#prod#1", "model#prod#2", "model@v1.0.0", "model@v1.1.0"]
    message = git("tag", "-l", "--format=%(contents)", "model@v1.1.0", cwd=repo).stdout
    assert "drift_score: " in message and "accuracy: " in message
    shown = json.loads(dvc("metrics", "show", "--json", cwd=repo).stdout)
    drift = next(v for v in shown.values())["data"]["metrics/drift_summary.json"]["data"]
    assert 0.0 <= drift["drift_score"] <= 1.0
    assert "RETRAINED -> v1.1.0" in out and "CT summary" in out
    timeline = pd.read_csv(repo / "metrics/ct_timeline.csv")  # the data `dvc plots show` draws; no PNG per command
    assert sorted(timeline.loc[timeline["series"] == "drift score", "step"]) == sorted(past["step"])
    assert not (repo / "metrics/ct_timeline.png").exists()
    [folded] = (repo / "data/batches").glob("*/batch-0003.parquet")  # in the source's lineage folder, tracked with it
    assert layout.batch_pointer(folded.parent).is_file() and not list((repo / "data/batches").rglob("*.parquet.dvc"))
    assert [(b.file, b.step, b.rows) for b in read_manifest(folded.parent)] == [("batch-0003.parquet", 3, 200)]
    assert dvc("status", "--json", "ingest", "train", "evaluate", cwd=repo).stdout.strip() == "{}"


def test_same_seed_gives_the_same_history(repo, tmp_path):
    twin = copy_project(repo, tmp_path / "twin")
    for where in (repo, twin):
        simulate(where, "--scenario", "gradual", "--steps", "3", "--batch-size", "120", "--seed", "11")
    a, b = history(repo).drop(columns="time"), history(twin).drop(columns="time")
    pd.testing.assert_frame_equal(a, b)


def test_concept_drift_is_caught_by_accuracy_on_labelled_batches(repo):
    proc = simulate(repo, "--scenario", "concept", "--steps", "3", "--batch-size", "200", check=False)
    past = history(repo).set_index("step")
    assert proc.returncode == (3 if (past["status"] == "blocked").any() else 0), proc.stderr
    test_accuracy = read_json(repo / "models/production/metrics.json")["accuracy"]
    assert past.loc[1, "batch_accuracy"] > test_accuracy - 0.1
    assert past.loc[3, "batch_accuracy"] < test_accuracy - 0.1
    assert past.loc[3, "drift_score"] <= past.loc[3, "threshold"]
    assert past.loc[3, "note"].startswith("accuracy drop ")  # the trigger, whatever the gates said
    if past.loc[3, "status"] == "blocked":
        assert "; candidate blocked by " in past.loc[3, "note"] and past.loc[3, "gates"].startswith("blocked:")
    else:
        assert past.loc[3, "status"] == "retrained" and past.loc[3, "gates"] == "passed"


def test_threshold_in_params_changes_decisions_and_shows_in_params_diff(repo):
    set_params(repo, ct__threshold=0.95, ct__max_accuracy_drop=1.0, ct__multivariate_trigger=False,
               ct__max_out_of_range_share=1.0, ct__max_estimated_drop=1.0)  # every trigger out of reach
    diff = dvc("params", "diff", cwd=repo).stdout
    assert "ct.threshold" in diff and "0.95" in diff
    git("commit", "-qam", "raise threshold", cwd=repo)
    simulate(repo, "--scenario", "sudden", "--steps", "4", "--batch-size", "200")
    assert not history(repo)["retrained"].any()
    assert sorted(tags(repo)) == ["model#prod#1", "model@v1.0.0"]


def test_refuses_unrelated_uncommitted_changes(repo):
    (repo / "stages/train.py").write_text((repo / "stages/train.py").read_text() + "\n# local edit\n")
    proc = simulate(repo, "--steps", "1", check=False)
    assert proc.returncode == 1
    assert "stages/train.py: uncommitted change" in proc.stderr
    assert not (repo / "metrics/ct_history.csv").exists()


def test_replay_of_a_csv_with_categorical_and_date_columns(repo, tmp_path):
    rng = np.random.default_rng(3)
    n = 800
    x = rng.normal(size=n)
    x[600:] += 2.0  # the tail of the file drifts
    frame = pd.DataFrame({
        "amount": x,
        "channel": rng.choice(["web", "shop", "phone"], size=n),
        "member": rng.choice(["true", "false"], size=n),
        "day": pd.date_range("2026-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S"),
    })
    frame["label"] = np.where(frame["amount"] + (frame["channel"] == "web") > 0.5, "yes", "no")
    frame.loc[rng.choice(n, 30, replace=False), "channel"] = np.nan
    data = tmp_path / "stream.csv"
    frame.to_csv(data, index=False)
    proc = simulate(repo, "--scenario", "replay", "--data", str(data), "--target", "label", "--steps", "3", "--batch-size",
                    "100", check=False)
    past = history(repo)
    assert proc.returncode == (3 if (past["status"] == "blocked").any() else 0), proc.stderr
    assert past["batch_rows"].tolist() == [100, 100, 100]
    assert set(past["status"]) <= {"ok", "retrained", "blocked"}
    schema = read_json(repo / "data/schema.json")
    assert schema["source"] == "data/source/replay-stream.parquet"
    assert {k: v["kind"] for k, v in schema["columns"].items()} == {
        "amount": "numeric", "channel": "categorical", "member": "boolean", "day": "datetime"}
    assert past["drift_score"].iloc[-1] > past["drift_score"].iloc[0]
    assert "model@v1.0.0" in tags(repo)
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout == ""


def test_busy_lock_exits_75_with_a_message(repo):
    import fcntl

    with open(repo / ".ct.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write("4242")
        handle.flush()
        proc = simulate(repo, "--steps", "1", check=False)
    assert proc.returncode == 75
    assert "another ct.py (pid 4242) is running" in proc.stderr


def test_no_drift_after_a_retrain_on_shifted_data_is_no_drift(readme_demo, tmp_path):
    """Simulated batches come from the source's distribution, not from the training data a retrain
    folded shifted rows into: after the README's sudden retrain, `--scenario none` measures no drift
    and trains nothing (drawn from the training data, a quarter of its rows were shifted ones)."""
    repo = copy_project(readme_demo[0], tmp_path)
    simulate(repo, "--scenario", "none", "--steps", "2", "--batch-size", "300")
    new = history(repo).tail(2)
    assert new["status"].tolist() == ["ok", "ok"] and not new["retrained"].any()
    assert (new["drift_score"] == 0).all() and (new["model_version"] == "v1.1.0").all()


def test_readme_main_job_retrains_at_least_once(readme_demo):
    """README command 1, minus creating the venv: dvc repro then the short CT simulation (the fixture runs it)."""
    repo, _ = readme_demo
    assert history(repo)["retrained"].sum() >= 1
    assert dvc("metrics", "show", cwd=repo).stdout.count("accuracy") >= 1


def test_replay_of_a_seasonal_stream_written_with_its_index_measures_every_batch(repo, tmp_path):
    """The user story of issue 20: a multi-year CSV written by `to_csv(path)` (a first column of row
    numbers, `YYYY/MM/DD` dates, standardized readings that move with the seasons), one impossible
    row in it, `validate.bad_rows: drop_rows`: no batch is quarantined, the row is, and CT retrains."""
    from benchmarks.streams import weather_stream

    frame = weather_stream(years=2, stations=5, seed=1)
    frame.loc[1500 + 500 + 17, "humidity"] = 1e6  # in the second batch
    frame.to_csv(tmp_path / "weather.csv")
    set_params(repo, ct__reference_rows=1500, validate__bad_rows="drop_rows")
    git("commit", "-qam", "replay params", cwd=repo)
    simulate(repo, "--scenario", "replay", "--data", str(tmp_path / "weather.csv"), "--target", "rain_tomorrow",
             "--steps", "4", "--batch-size", "500")
    past = history(repo)
    assert past["status"].tolist().count("quarantined") == 0 and past["batch_rows"].tolist() == [500, 499, 500, 500]
    assert past["dropped_rows"].fillna(0).tolist() == [0, 1, 0, 0] and past["out_of_range_share"].notna().all()
    assert past["retrained"].any()
    rows = pd.read_csv(repo / "data/quarantine/step-0002.rows.csv")
    assert rows["_row"].tolist() == [17] and rows["humidity"].tolist() == [1e6]
    assert rows["_reason"].item().startswith("column 'humidity': value 1e+06 absurdly far outside the recorded range")
    schema = read_json(repo / "models/production/schema.json")
    assert schema["excluded"]["Unnamed: 0"].startswith("row identifier: unnamed column of row numbers")
    assert schema["columns"]["date"]["kind"] == "datetime" and "Unnamed: 0" not in schema["columns"]
    baseline = json.loads(git("show", "model@v1.0.0:models/production/schema.json", cwd=repo).stdout)
    assert baseline["columns"]["date"]["max"] == "2012-10-26T00:00:00"  # 1,500 rows: the first 300 days of 5 stations
    for name in ("date", "wind"):  # the ranges followed the data production was retrained on
        assert schema["columns"][name]["max"] > baseline["columns"][name]["max"]


def test_simulate_exits_3_after_a_quarantined_batch_and_after_a_blocked_candidate(repo):
    """The exit codes of `check` (records.exit_code), through the same step loop: 3 says a person should
    look. A shift of a thousand standard deviations is broken data, not drift (validate.absurd_factor);
    then, with production released, a latency bound no model meets blocks the candidate of a drift."""
    set_params(repo, ct__shift_magnitude=1000.0, ct__start_step=1)
    git("commit", "-qam", "absurd shift from the first step", cwd=repo)
    proc = simulate(repo, "--scenario", "sudden", "--steps", "1", "--batch-size", "100", check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert history(repo)["status"].tolist() == ["quarantined"]
    assert "QUARANTINED" in proc.stdout

    set_params(repo, ct__shift_magnitude=3.0, gates__p95_latency_ms=1e-6)
    git("commit", "-qam", "an unreachable latency bound", cwd=repo)
    proc = simulate(repo, "--scenario", "sudden", "--steps", "1", "--batch-size", "100", check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    row = history(repo).iloc[-1]
    assert (row["status"], row["gates"], row["triggers"].split("; ")[0]) == ("blocked", "blocked:latency", "drift")
    assert sorted(tags(repo)) == ["model#prod#1", "model@v1.0.0"]
