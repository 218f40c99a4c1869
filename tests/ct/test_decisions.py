"""CT decides on real data as a user brings it: a replay of scikit-learn's bundled datasets (written as CSV
in a temporary folder) through `ct.py simulate --scenario replay`, with the real dvc, git and stages.

What is decided: rows with no drift retrain nothing; a shift retrains once, and neither a return to normal
nor the shift persisting retrains again (drift.reference: seen); repeated rows are measured, not quarantined;
time moving on is not drift (drift.dates: monitor), while a new category is (ct.max_unknown_category_share),
never broken data. And the replay leaves the user's params.yaml as they wrote it but for the keys it must change.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from tests.helpers import built_once, copy_project, ct, git, history, read_json, set_params, tags

pytestmark = pytest.mark.slow

RETRAINED = ("retrained", "blocked")  # a retrain was decided (a blocked candidate was trained too)


def replay(repo: Path, frame: pd.DataFrame, tmp_path: Path, reference_rows: int, batch_size: int, steps: int) -> pd.DataFrame:
    data = tmp_path / "stream.csv"
    frame.to_csv(data, index=False)
    set_params(repo, ct__reference_rows=reference_rows)
    git("commit", "-qam", "replay params", cwd=repo)
    proc = ct(repo, "simulate", "--scenario", "replay", "--data", str(data), "--target", "target", "--steps", str(steps),
              "--batch-size", str(batch_size), check=False)
    rows = history(repo)
    attention = rows["status"].isin(["quarantined", "blocked", "awaiting_labels"]).any()
    assert proc.returncode == (3 if attention else 0), proc.stdout + proc.stderr  # 3: a person should look
    return rows


@pytest.mark.parametrize("kinds, nearest", [("SSNNN", "training data before CT batches"), ("SSSSS", "batch-")],
                         ids=["back-to-normal", "shift-persists"])
def test_a_shift_retrains_once_and_a_return_to_normal_does_not(repo: Path, tmp_path: Path, kinds: str, nearest: str) -> None:
    """breast_cancer, shuffled: 269 training rows, then two shifted batches and three normal ones (or five
    shifted: the shift persists), every batch drawn with replacement (served traffic repeats rows): one
    retrain either way. Before: `latest` compared the first normal batch with the shifted one and retrained
    on 3 of them. The last batch is measured against the stretch of training data nearest it."""
    frame = datasets.load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(0)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    train, rest = frame.iloc[:269], frame.iloc[269:]
    shifted = [c for c in frame.columns if c != "target"][::3]  # 10 of 30 features
    batches = []
    for kind in kinds:
        batch = rest.iloc[rng.integers(0, len(rest), 80)].reset_index(drop=True)
        if kind == "S":
            batch[shifted] = batch[shifted] + 2 * frame[shifted].std()
        batches.append(batch)
    past = replay(repo, pd.concat([train, *batches], ignore_index=True), tmp_path, 269, 80, 5)
    assert past["status"].tolist().count("quarantined") == 0 and past["batch_rows"].tolist() == [80] * 5
    decided = past["status"].isin(RETRAINED).tolist()
    assert decided == [True, False, False, False, False], past[["status", "drift_score", "note"]]
    drift = read_json(repo / "metrics/drift.json")
    assert drift["reference"]["design"] == "seen" and drift["reference"]["nearest"].startswith(nearest), drift["reference"]


def test_time_is_not_drift_and_a_new_category_is(repo: Path, tmp_path: Path) -> None:
    """diabetes (a regression) in time order, one row a day, with a clinic column: the dates always move
    (reported, not counted), the stream is otherwise stable; the third batch brings a clinic never seen:
    measured as drift and retrained on, not quarantined as broken."""
    frame = datasets.load_diabetes(as_frame=True).frame
    rng = np.random.default_rng(1)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    frame.insert(0, "day", pd.date_range("2020-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d"))
    frame.insert(1, "clinic", rng.choice(["north", "south", "east"], len(frame)))
    third = frame.index >= 292 + 2 * 50
    frame.loc[third, "clinic"] = np.where(rng.random(third.sum()) < 0.3, "west", frame.loc[third, "clinic"])
    set_params(repo, ct__max_error_increase=0.5)  # 50 labelled rows: an RMSE this noisy is not what is tested here
    past = replay(repo, frame, tmp_path, 292, 50, 3)
    assert past["status"].tolist().count("quarantined") == 0
    assert past["status"].isin(RETRAINED).tolist() == [False, False, True], past[["status", "drift_score", "note"]]
    features = read_json(repo / "metrics/drift_features.json")
    assert features["day"]["counted"] is False and features["clinic"]["counted"] is True
    assert features["clinic"]["unknown_category_share"] > 0.05


def as_a_user_keeps_it(text: str) -> str:
    """The project's params.yaml as a user edits it by hand: their own comment, quoted values (single and double),
    a flow list over two lines, a section indented by four, and ct.reference_rows set for the replay."""
    edits = [
        ("seed: 42 ", "# my notes: the clinic's replay, reviewed by hand (keep as is)\n\nseed: 42 "),
        ("  source: sklearn:breast_cancer  #", "  source: 'sklearn:breast_cancer'  #"),
        ("  target: target                 #", '  target: "target"               #'),
        ("  date_parts: [year, month, dayofweek]  #", "  date_parts: [year,\n      month, dayofweek]  #"),
        ("  engine: local                  #", '  engine: "local"                #'),
        ("  reference_rows: 500            #", "  reference_rows: 269            #"),
        ("tracking:\n  enabled: true                  #", "tracking:\n    enabled: true                #"),
        ("\n  online_timeout_s: 5            #", "\n    online_timeout_s: 5          #"),
    ]
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def no_drift_replay(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """breast_cancer shuffled with a seed (its rows exchangeable: no drift), its label named `diagnosis`,
    replayed through `ct.py simulate --scenario replay`: 269 training rows, then three batches of 100, on a
    project whose params.yaml the user formatted by hand. Do not modify: copy it."""
    def build(parent: Path) -> dict[str, object]:
        repo = copy_project(baseline_repo, parent)
        params = repo / "params.yaml"
        params.write_text(as_a_user_keeps_it(params.read_text()))
        git("commit", "-qam", "params as I keep them", cwd=repo)
        frame = datasets.load_breast_cancer(as_frame=True).frame.rename(columns={"target": "diagnosis"})
        frame = frame.iloc[np.random.default_rng(42).permutation(len(frame))].reset_index(drop=True)
        frame.to_csv(parent / "stream.csv", index=False)
        before = params.read_text()
        proc = ct(repo, "simulate", "--scenario", "replay", "--data", str(parent / "stream.csv"), "--target", "diagnosis",
                  "--steps", "3", "--batch-size", "100", check=False)
        return {"params": before, "returncode": proc.returncode, "output": proc.stdout + proc.stderr}

    return built_once(tmp_path_factory, "no-drift-replay", build)


def test_rows_without_drift_retrain_nothing(no_drift_replay: tuple[Path, dict[str, object]]) -> None:
    """Issue 28's "no drift: 0 retrains" on real data: every batch measured, none retrained or quarantined, no
    trigger fired; the only release is the new source's baseline."""
    repo, run = no_drift_replay
    assert run["returncode"] == 0, run["output"]
    past = history(repo)
    assert past["status"].tolist() == ["ok"] * 3 and past["batch_rows"].tolist() == [100] * 3, past[["status", "note"]]
    assert past["triggers"].isna().all() and (past["drift_score"] <= past["threshold"]).all()
    assert past["batch_accuracy"].notna().all()  # the batches carried their labels: realized accuracy measured too
    assert [t for t in tags(repo) if t.startswith("model@")] == ["model@v1.0.0"]
    assert read_json(repo / "data/schema.json")["source"] == "data/source/replay-stream.parquet"
    assert git("status", "--porcelain", cwd=repo).stdout == ""


def test_a_replay_changes_only_the_lines_of_the_keys_it_must_in_params_yaml(no_drift_replay) -> None:
    """After a successful replay, params.yaml is the user's byte for byte but for data.source and data.target,
    whose lines keep their quotes and their comments; the release committed exactly that file."""
    repo, run = no_drift_replay
    before, after = str(run["params"]).splitlines(keepends=True), (repo / "params.yaml").read_text().splitlines(keepends=True)
    assert len(after) == len(before)
    changed = [i for i, (old, new) in enumerate(zip(before, after)) if old != new]
    assert [before[i].split(":")[0] for i in changed] == ["  source", "  target"], [after[i] for i in changed]
    source, target = (after[i] for i in changed)
    assert source.startswith("  source: 'data/source/replay-stream.parquet' # sklearn:<name> (breast_cancer, ")
    assert target == '  target: "diagnosis"'.ljust(before[changed[1]].index("#")) + "# label column\n"  # the comment stays put
    assert source.split(" # ", 1)[1] == before[changed[0]].split("  # ", 1)[1]
    assert git("show", "HEAD:params.yaml", cwd=repo).stdout == (repo / "params.yaml").read_text()


def test_a_firm_never_seen_is_drift_retrained_on_not_broken_data(repo: Path, tmp_path: Path) -> None:
    """statsmodels' grunfeld (11 firms' yearly investment 1935-1954, public domain), a regression: the rows of
    nine firms, shuffled, are the training data and a first batch; the second batch is the two firms the model
    never saw. Their name is an unknown category in every row: measured (share 1.0), a retrain, never a quarantine."""
    import statsmodels.datasets

    frame = pd.read_csv(Path(statsmodels.datasets.grunfeld.__file__).parent / "grunfeld.csv").rename(columns={"invest": "target"})
    rng = np.random.default_rng(2)
    new = frame["firm"].isin(["Diamond Match", "American Steel"])
    seen, unseen = frame[~new], frame[new]
    stream = pd.concat([seen.iloc[rng.permutation(len(seen))], unseen.iloc[rng.permutation(len(unseen))]], ignore_index=True)
    past = replay(repo, stream, tmp_path, 140, 40, 2)
    assert past["status"].tolist().count("quarantined") == 0 and past["batch_rows"].tolist() == [40, 40]
    assert past["status"].isin(RETRAINED).tolist() == [False, True], past[["status", "triggers", "note"]]
    assert "unknown_category" in past["triggers"].iloc[1].split("; ")
    features = read_json(repo / "metrics/drift_features.json")
    assert features["firm"]["unknown_category_share"] == 1.0 and features["firm"]["counted"] is True


def test_a_stock_series_in_time_order_does_not_retrain_for_its_dates(repo: Path, tmp_path: Path) -> None:
    """river's SP500Stocks (daily returns of ten stocks, Feb 2013 - Feb 2018, from Kaggle's CC0 S&P 500 data;
    river: BSD-3-Clause), its CSV as river ships it, `date` column included, replayed in time order: every batch's
    dates lie beyond the training data's (reported, not counted: drift.dates monitor, neither in drift_score,
    out-of-range values nor the domain classifier). Before: 5 retrains in 5 batches. Now a batch retrains only on
    what the returns themselves do (the model's error rising, the classifier telling the returns apart: markets do
    change: 3 of 5 here), and some batches not at all."""
    import river.datasets

    frame = pd.read_csv(river.datasets.SP500Stocks().path).rename(columns={"next_day_return": "target"})
    assert frame["date"].is_monotonic_increasing and frame["date"].iloc[0] == "2013-02-11"
    past = replay(repo, frame, tmp_path, 500, 150, 5)
    assert past["status"].tolist().count("quarantined") == 0 and past["batch_rows"].tolist() == [150] * 5
    fired = {t for row in past["triggers"].dropna() for t in row.split("; ")}
    assert fired <= {"error_increase", "multivariate"}, past[["status", "triggers", "note"]]  # nothing time made
    assert (past["drift_score"] <= past["threshold"]).all() and (past["out_of_range_share"] <= 0.05).all()
    assert past["status"].isin(RETRAINED).sum() < 5, past[["status", "triggers", "note"]]
    features = read_json(repo / "metrics/drift_features.json")
    assert features["date"]["drifted"] is True and features["date"]["counted"] is False
