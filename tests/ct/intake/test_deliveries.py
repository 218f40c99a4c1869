"""`ct.py check` on an inbox as a production feed fills it: every ready file exactly once, oldest
first, the bad ones quarantined alone, re-deliveries recorded as duplicates, a folded batch never
folded again, and nothing new costing nothing (real git, dvc and Neptune offline)."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import built_once, copy_project, ct, dvc, git, history, set_params, sha256, tags
from tests.standins import webhook_receiver

pytestmark = pytest.mark.slow

INCOMING = Path("data/incoming")


def rows(repo: Path, n: int = 60, seed: int = 7, shift: float = 0.0) -> pd.DataFrame:
    """Rows like the training data (what a healthy feed sends); `shift` moves 15 features by that many
    std of the training data (not of the sample: two shifted batches then share one distribution)."""
    training = pd.read_parquet(repo / "data/raw/train.parquet")
    frame = training.sample(n, random_state=seed, replace=True).reset_index(drop=True)
    for name in [c for c in frame.columns if c != "target"][:15]:
        frame[name] = frame[name] + shift * training[name].std()
    return frame


def csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def deliver(repo: Path, name: str, content: bytes, mtime_s: float | None = None) -> Path:
    path = repo / INCOMING / name
    path.write_bytes(content)
    if mtime_s is not None:
        os.utime(path, (mtime_s, mtime_s))
    return path


def inbox(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / INCOMING).iterdir() if p.name != "README.md")


def archived(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / "data/archive/incoming").iterdir())


def neptune_runs(repo: Path) -> int:
    return len(list((repo / ".neptune").rglob("metadata.json")))


def head(repo: Path) -> str:
    return git("rev-parse", "HEAD", cwd=repo).stdout.strip()


@pytest.fixture(scope="module")
def fed(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory):
    """One check over an inbox of six ready files (two good, four bad, one a re-delivery of a good
    one) and one still being written, with modification times in a known order."""
    repo, (proc, before, good, url, received) = built_once(
        tmp_path_factory, "intake", lambda parent: _check_inbox(copy_project(baseline_repo, parent)))
    return repo, proc, before, good, url, received


def _check_inbox(repo: Path):
    good = rows(repo)
    deliver(repo, "writing.csv.part", csv(good), 100)  # oldest, but not finished: stays
    deliver(repo, "zz-first.csv", csv(good), 1_000)  # oldest ready file: step 1 despite its name
    deliver(repo, "empty.csv", b"", 2_000)
    deliver(repo, "photo.parquet", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, 3_000)  # not a table
    deliver(repo, "other-schema.csv", b"user,amount,country\n1,9.5,FR\n2,3.0,DE\n", 4_000)
    deliver(repo, "cut.parquet", parquet(rows(repo, seed=8))[:900], 5_000)  # truncated mid-write
    deliver(repo, "again.csv", csv(good), 6_000)  # the same bytes as zz-first.csv under another name
    deliver(repo, "second.parquet", parquet(rows(repo, seed=9)), 7_000)
    before = {"raw": sha256(repo / "data/raw/train.parquet"), "head": head(repo)}
    with webhook_receiver() as (url, received):
        proc = ct(repo, "check", check=False, CT_ALERT_WEBHOOK=url)
    return proc, before, good, url, received


def test_every_ready_file_is_one_step_oldest_first(fed):
    repo, proc, *_ = fed
    assert proc.returncode == 3, proc.stdout + proc.stderr  # something was quarantined: needs attention
    past = history(repo)
    assert past["file"].tolist() == [f"data/incoming/{name}" for name in (
        "zz-first.csv", "empty.csv", "photo.parquet", "other-schema.csv", "cut.parquet", "again.csv", "second.parquet")]
    assert past["status"].tolist() == ["ok", "quarantined", "quarantined", "quarantined", "quarantined", "duplicate", "ok"]
    assert past["step"].tolist() == list(range(1, 8))
    assert past["batch_rows"].iloc[[0, 6]].tolist() == [60, 60]


def test_processed_files_leave_the_inbox_and_nothing_is_lost(fed):
    repo, _, _, good, *_ = fed
    assert inbox(repo) == ["writing.csv.part"]
    past = history(repo)
    digest = sha256(repo / "data/archive/incoming" / archived(repo)[0])
    assert archived(repo) == [f"step-0001.{digest[:12]}.zz-first.csv", f"step-0006.{digest[:12]}.again.csv",
                              f"step-0007.{past['file_sha256'].iloc[6][:12]}.second.parquet"]
    assert past["file_sha256"].iloc[0] == digest == past["file_sha256"].iloc[5]
    assert (repo / "data/archive/incoming" / archived(repo)[0]).read_bytes() == csv(good), "archived byte for byte"
    reasons = {step: (repo / f"data/quarantine/step-{step:04d}.reason.txt").read_text() for step in (2, 3, 4, 5)}
    assert "file is empty" in reasons[2] and "delivered as data/incoming/empty.csv" in reasons[2]
    assert "photo.parquet" in reasons[3] and "cannot be parsed" in reasons[3]
    assert "column 'user': not in the schema" in reasons[4] or "missing (recorded in the schema)" in reasons[4]
    assert "cut.parquet" in reasons[5] and "cannot be parsed" in reasons[5]
    assert (repo / "data/quarantine/step-0002.csv").read_bytes() == b""
    assert (repo / "data/quarantine/step-0003.parquet").read_bytes().startswith(b"\x89PNG")


def test_a_duplicate_points_at_its_step_and_the_bad_files_touched_nothing(fed):
    repo, proc, before, *_ = fed
    past = history(repo)
    assert past["note"].iloc[5] == "duplicate of step 1 (same sha256); not checked again"
    assert sha256(repo / "data/raw/train.parquet") == before["raw"], "no batch was folded"
    assert list(tags(repo)) == ["model#prod#1", "model@v1.0.0"]  # the baseline, released first
    assert git("log", "-1", "--format=%s", cwd=repo).stdout.strip() == "ct: record steps 1-7 (check)"
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo).stdout == ""
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
    assert "QUARANTINED" in proc.stdout and "DUPLICATE" in proc.stdout.upper()


def test_each_quarantine_is_alerted_and_the_webhook_url_is_written_nowhere(fed):
    repo, proc, _, _, url, received = fed
    assert [(body["event"], body["step"]) for body in received] == [("quarantined", step) for step in (2, 3, 4, 5)]
    assert received[0]["text"].startswith("[project] step 2 (data/incoming/empty.csv): file quarantined: ")
    assert received[0]["details"]["file"] == "data/incoming/empty.csv" and received[0]["project"] == "project"
    secret = url.split("/", 3)[-1]
    assert secret not in proc.stdout + proc.stderr
    for path in repo.rglob("*"):
        if path.is_file() and ".git/objects" not in path.as_posix():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in git("log", "--all", "--format=%B", cwd=repo).stdout
    assert secret not in git("for-each-ref", "refs/tags", "--format=%(contents)", cwd=repo).stdout


def test_nothing_new_costs_nothing(fed, tmp_path):
    """A cron check with only an unfinished file: exit 0, one line, no step, commit, Neptune run or repro."""
    repo = copy_project(fed[0], tmp_path)
    before = {"head": head(repo), "runs": neptune_runs(repo), "rows": len(history(repo))}
    quiet = ct(repo, "-v", "check")
    assert quiet.returncode == 0 and quiet.stdout == "check: nothing new in data/incoming or data/labels\n"
    assert quiet.stderr == ""
    assert {"head": head(repo), "runs": neptune_runs(repo), "rows": len(history(repo))} == before
    assert inbox(repo) == ["writing.csv.part"]


def test_the_same_name_delivered_again_is_a_new_file_and_a_folded_batch_is_never_folded_again(fed, tmp_path):
    """batch.csv twice (different rows), then a drifted labelled batch: retrained once; its bytes
    again are a duplicate, and the next batch of the new distribution compares with the new model."""
    repo = copy_project(fed[0], tmp_path)
    steps = len(history(repo))
    for seed in (11, 12):
        deliver(repo, "batch.csv", csv(rows(repo, seed=seed)))
        assert ct(repo, "check").returncode == 0
    past = history(repo).iloc[steps:]
    assert past["status"].tolist() == ["ok", "ok"] and past["file"].tolist() == ["data/incoming/batch.csv"] * 2
    assert past["file_sha256"].nunique() == 2
    assert [name for name in archived(repo) if name.endswith(".batch.csv")] == [
        f"step-{steps + 1:04d}.{past['file_sha256'].iloc[0][:12]}.batch.csv",
        f"step-{steps + 2:04d}.{past['file_sha256'].iloc[1][:12]}.batch.csv"]

    drifted, more = (csv(rows(repo, n=150, seed=seed, shift=3.0)) for seed in (13, 14))  # both shifted from the same data
    deliver(repo, "drifted.csv", drifted)
    assert ct(repo, "check").returncode == 0
    assert history(repo)["status"].iloc[-1] == "retrained"
    folded = sorted((repo / "data/batches").rglob("batch-*.parquet"))
    training = len(pd.read_parquet(repo / "data/raw/train.parquet"))
    for _ in range(2):  # the report: re-checking re-folded the same batch each time
        deliver(repo, "drifted.csv", drifted)
        out = ct(repo, "check", check=False)
        assert out.returncode == 0 and history(repo)["status"].iloc[-1] == "duplicate", out.stdout
    deliver(repo, "drifted-more.csv", more)
    ct(repo, "check")
    last = history(repo).iloc[-1]
    assert last["status"] == "ok" and last["drift_score"] <= last["threshold"], "compared with the retrained model's data"
    assert sorted((repo / "data/batches").rglob("batch-*.parquet")) == folded
    assert len(pd.read_parquet(repo / "data/raw/train.parquet")) == training
    assert history(repo)["retrained"].sum() == 1 and list(tags(repo)).count("model@v1.1.0") == 1


def test_a_file_above_max_batch_mb_is_quarantined_unread_on_the_local_engine(baseline_repo, tmp_path):
    repo = copy_project(baseline_repo, tmp_path)
    set_params(repo, ct__max_batch_mb=0.001)
    git("commit", "-qam", "tiny batch bound", cwd=repo)
    big = csv(rows(repo, n=200))
    deliver(repo, "big.csv", big)
    assert ct(repo, "check", check=False).returncode == 3
    row = history(repo).iloc[-1]
    assert row["status"] == "quarantined" and "above ct.max_batch_mb (0.001)" in row["note"]
    assert (repo / "data/quarantine" / f"step-{row['step']:04d}.csv").read_bytes() == big


def test_an_accuracy_drop_fires_once_and_later_checks_measure_the_new_model(baseline_repo, tmp_path):
    """A labelled batch whose labels changed meaning retrains once; the same bytes again are a
    duplicate (not a second drop), and the next batch is scored by the released model, its drop
    taken from that model's own test accuracy (recomputed here with `ct.py predict`)."""
    repo = copy_project(baseline_repo, tmp_path)
    set_params(repo, gates__tolerance=1.0)  # whatever the flipped labels cost on the test split, release
    git("commit", "-qam", "release any candidate", cwd=repo)

    def flipped(seed: int) -> pd.DataFrame:
        frame = rows(repo, n=150, seed=seed)
        return frame.assign(target=1 - frame["target"])

    concept = csv(flipped(21))
    deliver(repo, "concept.csv", concept)
    assert ct(repo, "check").returncode == 0
    first = history(repo).iloc[-1]
    assert (first["status"], first["model_version"]) == ("retrained", "v1.1.0"), first["note"]
    assert first["note"].startswith("accuracy drop ") and first["accuracy_drop"] > 0.1
    deliver(repo, "concept-again.csv", concept)
    assert ct(repo, "check").returncode == 0
    again = history(repo).iloc[-1]
    assert again["status"] == "duplicate" and pd.isna(again["accuracy_drop"])
    assert len(list((repo / "data/batches").rglob("batch-*.parquet"))) == 1 and list(tags(repo)).count("model@v1.2.0") == 0

    later = flipped(22)
    deliver(repo, "later.csv", csv(later))
    ct(repo, "check", check=False)
    last = history(repo).iloc[-1]
    predicted = tmp_path / "predicted.csv"
    later.drop(columns="target").to_csv(tmp_path / "later-rows.csv", index=False)
    ct(repo, "predict", "--input", str(tmp_path / "later-rows.csv"), "--version", "v1.1.0", "--output", str(predicted))
    accuracy = float((pd.read_csv(predicted)["prediction"] == later["target"]).mean())
    test_accuracy = json.loads(git("show", "model@v1.1.0:metrics/metrics.json", cwd=repo).stdout)["accuracy"]
    assert last["batch_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    assert last["accuracy_drop"] == pytest.approx(test_accuracy - accuracy, abs=1e-3)
