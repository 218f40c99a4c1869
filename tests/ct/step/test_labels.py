"""Delayed labels through `ct.py check`, as the server's capture feeds them: rows arrive without
labels (with `_ct_request_id` and the other reserved metadata columns), drift on them waits for
labels, label files delivered to data/labels join them by id, the realized accuracy is measured,
and the retrain folds exactly the labelled rows once `ct.min_labelled_rows` of them are labelled."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ctml import layout
from tests.helpers import copy_project, ct, dvc, git, history, read_json, set_params, sha256, tags

pytestmark = pytest.mark.slow

ROWS = 150


def captured(repo: Path) -> pd.DataFrame:
    """Drifted traffic as the server captures it: features, its metadata, no label."""
    frame = pd.read_parquet(repo / "data/raw/train.parquet").sample(ROWS, random_state=5, replace=True).reset_index(drop=True)
    for name in [c for c in frame.columns if c != "target"][:15]:
        frame[name] = frame[name] + 3.0 * frame[name].std()
    return frame.assign(_ct_request_id=[f"req-{i:04d}" for i in range(ROWS)], _ct_time="2026-12-01T10:00:00Z",
                        _ct_prediction=1, _ct_model_version="v1.0.0")


def labels(frame: pd.DataFrame, ids: range) -> pd.DataFrame:
    return frame.loc[list(ids), ["_ct_request_id", "target"]]


def check(repo: Path) -> tuple[int, dict]:
    proc = ct(repo, "check", check=False)
    assert proc.returncode in (0, 3), proc.stdout + proc.stderr
    return proc.returncode, history(repo).iloc[-1].to_dict()


@pytest.fixture(scope="module")
def traffic(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory):
    repo = copy_project(baseline_repo, tmp_path_factory.mktemp("labels"))
    return repo, captured(repo)


def test_delayed_labels_are_measured_then_folded_once_enough_are_labelled(traffic):
    repo, frame = traffic
    frame.drop(columns="target").to_csv(repo / "data/incoming/traffic.csv", index=False)
    code, row = check(repo)
    assert (code, row["status"]) == (3, "awaiting_labels"), row["note"]  # drifted, but nothing to fold yet
    assert "waits for 50 of them to be labelled (data/labels/, by '_ct_request_id')" in row["note"]
    lineage = layout.lineage_key("sklearn:breast_cancer", "target", "auto")
    index = read_json(repo / layout.AWAITING / lineage / "index.json")
    assert [(e["rows"], e["key"], bool(e["trigger"])) for e in index.values()] == [(ROWS, "_ct_request_id", True)]

    labels(frame, range(0, 30)).to_csv(repo / "data/labels/first.csv", index=False)
    code, row = check(repo)
    assert (code, row["status"], row["scenario"], row["labelled_rows"]) == (3, "awaiting_labels", "labels", 30)
    assert "30 rows labelled" in row["note"] and "30 of 50 rows labelled (ct.min_labelled_rows)" in row["note"]
    drift = read_json(repo / "metrics/drift.json")
    assert drift["performance"]["labelled_rows"] == 30 and 0.0 <= drift["performance"]["accuracy"] <= 1.0
    assert row["batch_accuracy"] == pytest.approx(drift["performance"]["accuracy"])
    assert list(tags(repo)) == ["model#prod#1", "model@v1.0.0"]

    labels(frame, range(30, 70)).to_parquet(repo / "data/labels/second.parquet", index=False)
    code, row = check(repo)
    assert (code, row["status"], row["labelled_rows"]) == (0, "retrained", 40), row["note"]
    assert "now 70 of its rows labelled" in row["note"] and row["model_version"] == "v1.1.0"
    folded = list((repo / "data/batches").rglob("batch-*.parquet"))
    assert len(folded) == 1
    rows = pd.read_parquet(folded[0])
    assert len(rows) == 70 and not [c for c in rows.columns if c.startswith("_ct_")]  # metadata is never training data
    assert rows["target"].tolist() == frame.loc[:69, "target"].tolist()
    assert read_json(repo / layout.AWAITING / lineage / "index.json") == {
        next(iter(index)): {**next(iter(index.values())), "rows": ROWS - 70, "trigger": None}}


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("no-id.csv", "order,target\n1,1\n", "no-id.csv: no id column '_ct_request_id' (data.id_column is empty)"),
    ("no-label.csv", "_ct_request_id,label\nreq-0100,1\n", "no-label.csv: label column 'target': missing"),
    ("twice.csv", "_ct_request_id,target\nreq-0100,1\nreq-0100,0\n", "twice.csv: id 'req-0100' labelled more than once"),
    ("bad-label.csv", "_ct_request_id,target\nreq-0100,maybe\n", "label column 'target'"),
])
def test_a_bad_label_file_is_quarantined_and_changes_nothing(traffic, tmp_path, name, content, reason):
    repo = copy_project(traffic[0], tmp_path)
    awaiting = {p.name: p.read_bytes() for p in (repo / layout.AWAITING).rglob("*") if p.is_file()}
    (repo / "data/labels" / name).write_text(content)
    code, row = check(repo)
    assert (code, row["status"], row["scenario"]) == (3, "quarantined", "labels")
    assert reason in row["note"]
    assert (repo / "data/quarantine" / f"step-{row['step']:04d}.csv").read_text() == content
    assert {p.name: p.read_bytes() for p in (repo / layout.AWAITING).rglob("*") if p.is_file()} == awaiting


def test_labels_delivered_before_their_rows_wait_and_label_exactly_them_when_they_come(baseline_repo, tmp_path):
    """Labels first (kept, not quarantined), then the drifted rows: the rows the labels name are
    labelled on arrival, and being enough (ct.min_labelled_rows 50) the waiting retrain goes ahead."""
    repo = copy_project(baseline_repo, tmp_path)
    frame = captured(repo)
    labels(frame, range(0, 60)).to_csv(repo / "data/labels/early.csv", index=False)
    code, row = check(repo)
    assert (code, row["status"], row["scenario"]) == (0, "ok", "labels"), row["note"]
    assert "none of its 60 ids ('_ct_request_id') matches a checked row yet: they wait for their rows" in row["note"]
    assert not (repo / "data/quarantine").exists() or not list((repo / "data/quarantine").iterdir())

    frame.drop(columns="target").to_csv(repo / "data/incoming/traffic.csv", index=False)
    code, row = check(repo)
    assert (code, row["status"]) == (0, "retrained"), row["note"]
    assert "retrained on the 60 waiting rows already labelled" in row["note"]
    [folded] = list((repo / "data/batches").rglob("batch-*.parquet"))
    assert pd.read_parquet(folded)["target"].tolist() == frame.loc[:59, "target"].tolist()
    steps = history(repo)["step"].tolist()
    assert steps == list(range(1, len(steps) + 1)) and git("status", "--porcelain", cwd=repo).stdout == ""


def test_labelled_trigger_retrains_at_once_on_the_waiting_rows_already_labelled(baseline_repo, tmp_path):
    """`ct.unlabelled_trigger: labelled`: a new trigger does not wait for ct.min_labelled_rows, it
    retrains on the rows of earlier triggers that are labelled by now; the realized accuracy of the
    label step is in history and in the CT command's Neptune run."""
    from ctml.runs.offline import offline_runs

    repo = copy_project(baseline_repo, tmp_path)
    frame = captured(repo)
    frame.drop(columns="target").to_csv(repo / "data/incoming/traffic.csv", index=False)
    assert check(repo)[1]["status"] == "awaiting_labels"
    labels(frame, range(70, 100)).to_csv(repo / "data/labels/late.csv", index=False)
    code, row = check(repo)
    assert (code, row["status"], row["labelled_rows"]) == (3, "awaiting_labels", 30), row["note"]
    ct_run = offline_runs(repo, stage="ct", limit=1)[0]
    assert ct_run.series["ct/labelled_rows"] == [(float(row["step"]), 30.0)]
    assert ct_run.fields[f"ct/steps/{row['step']}/labelled_rows"] == "30"

    set_params(repo, ct__unlabelled_trigger="labelled")
    git("commit", "-qam", "retrain on what is labelled", cwd=repo)
    more = frame.assign(_ct_request_id=[f"req-1{i:03d}" for i in range(ROWS)])
    more.drop(columns="target").to_csv(repo / "data/incoming/more-traffic.csv", index=False)
    code, row = check(repo)
    assert (code, row["status"]) == (0, "retrained"), row["note"]
    assert row["note"].endswith("on rows without labels; retrained on the 30 waiting rows already labelled")
    folded = pd.read_parquet(next((repo / "data/batches").rglob(f"batch-{row['step']:04d}.parquet")))
    assert folded["target"].tolist() == frame.loc[70:99, "target"].tolist()


def test_rows_without_ids_wait_in_their_own_batch_only(baseline_repo, tmp_path):
    """A drifted batch with neither labels nor an id: nothing can label it later, so none of it is
    kept for labels and the step says why."""
    repo = copy_project(baseline_repo, tmp_path)
    frame = captured(repo)
    frame.drop(columns=["target", "_ct_request_id"]).to_csv(repo / "data/incoming/anonymous.csv", index=False)
    code, row = check(repo)
    assert (code, row["status"]) == (3, "awaiting_labels")
    assert row["note"].endswith("on rows without labels or ids: they can only be labelled in their own batch "
                                "(data.id_column names the id delayed labels join on)")
    index = repo / layout.AWAITING / layout.lineage_key("sklearn:breast_cancer", "target", "auto") / "index.json"
    assert not index.exists() or read_json(index) == {}


def test_a_retrain_on_the_data_production_learnt_from_is_never_released(baseline_repo, tmp_path):
    """The same-data guard: a fold that adds no row gives the candidate production's training data,
    so it is thrown away (`blocked:same_data`) and production, tags and pipeline state stay."""
    from ctml.config import load_params
    from ctml.ct.context import Context
    from ctml.ct.step.measure import new_record
    from ctml.ct.step.retrain import retrain

    repo = copy_project(baseline_repo, tmp_path)
    set_params(repo, drift__reference="training", ct__start_step=1)  # not against the (empty) newest fold
    git("commit", "-qam", "drift against all training data", cwd=repo)
    ct(repo, "simulate", "--scenario", "sudden", "--steps", "1", "--batch-size", "200")  # production v1.1.0: one fold
    earlier = {p: sha256(p) for p in (repo / "data/batches").rglob("batch-*.parquet")}
    assert len(earlier) == 1
    before = {"tags": tags(repo), "production": sha256(repo / "models/production/model.joblib"),
              "model": sha256(repo / "models/model.joblib")}
    ctx = Context(root=repo, params=load_params(repo / "params.yaml"), commit=False)
    nothing = pd.read_parquet(repo / "data/raw/train.parquet").iloc[:0]
    record = new_record(ctx, 99, "check")
    retrain(ctx, 99, nothing, None, "drift 0.500 > 0.3", record)
    assert (record.status, record.gates, record.retrained) == ("blocked", "blocked:same_data", False), record.note
    assert record.note == "drift 0.500 > 0.3; the candidate learnt from the data production learnt from: not released"
    assert {"tags": tags(repo), "production": sha256(repo / "models/production/model.joblib"),
            "model": sha256(repo / "models/model.joblib")} == before
    assert not list((repo / "data/batches").rglob("batch-0099*"))
    assert {p: sha256(p) for p in (repo / "data/batches").rglob("batch-*.parquet")} == earlier  # --no-commit kept it
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
