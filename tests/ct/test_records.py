"""Step records and the history file: typed both ways, and old files migrated without misalignment."""
from __future__ import annotations

from pathlib import Path

from ctml.ct import history
from ctml.ct.records import COLUMNS, STATUSES, StepRecord


def record(step: int, **fields) -> StepRecord:
    return StepRecord(**{"step": step, "time": "2026-12-01T10:00:00+00:00", "scenario": "check", "status": "ok", **fields})


def test_records_round_trip_through_the_csv_typed(tmp_path: Path):
    path = tmp_path / "metrics" / "ct_history.csv"
    first = record(1, drift_score=0.125, threshold=0.3, batch_rows=200, batch_accuracy=None, note="a, b \"quoted\"")
    second = record(2, status="retrained", retrained=True, gates="passed", model_version="v1.1.0", accuracy_drop=-0.01)
    history.append(path, first)
    history.append(path, second)
    assert history.read(path) == [first, second]
    back = history.read(path)[1]
    assert back.retrained is True and isinstance(back.step, int) and back.batch_rows is None
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert history.next_step(path) == 3


def test_an_absent_or_empty_history_is_no_steps(tmp_path: Path):
    assert history.read(tmp_path / "none.csv") == [] and history.next_step(tmp_path / "none.csv") == 1
    (tmp_path / "empty.csv").write_text("")
    assert history.read(tmp_path / "empty.csv") == []


def test_a_file_from_an_older_version_is_migrated_on_append(tmp_path: Path):
    path = tmp_path / "ct_history.csv"
    # an older layout: fewer columns, another order
    path.write_text("step,time,status,scenario,drift_score,retrained,model_version,note\n"
                    "1,2026-01-01T00:00:00+00:00,ok,none,0.1,False,v1.0.0,first\n"
                    "2,2026-01-02T00:00:00+00:00,retrained,sudden,0.5,True,v1.1.0,second\n")
    history.append(path, record(3, drift_score=0.2, batch_rows=50, model_version="v1.1.0"))
    rows = history.read(path)
    assert [r.step for r in rows] == [1, 2, 3]
    assert (rows[0].status, rows[0].scenario, rows[0].drift_score, rows[0].note) == ("ok", "none", 0.1, "first")
    assert (rows[1].retrained, rows[1].model_version, rows[1].batch_rows) == (True, "v1.1.0", None)
    assert rows[2].batch_rows == 50
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)


def test_a_history_from_before_regression_gains_the_error_columns(tmp_path: Path):
    path = tmp_path / "ct_history.csv"
    old = [c for c in COLUMNS if c not in ("batch_rmse", "error_increase")]
    path.write_text(",".join(old) + "\n" + ",".join({"step": "1", "time": "t", "scenario": "none", "status": "ok",
                                                      "batch_accuracy": "0.9", "retrained": "False"}.get(c, "") for c in old) + "\n")
    history.append(path, record(2, batch_rmse=41.5, error_increase=0.25))
    first, second = history.read(path)
    assert (first.batch_accuracy, first.batch_rmse, first.error_increase) == (0.9, None, None)
    assert (second.batch_accuracy, second.batch_rmse, second.error_increase) == (None, 41.5, 0.25)
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)


def test_frame_has_the_history_columns_and_statuses_are_known():
    table = history.frame([record(1, drift_score=0.5), record(2, retrained=True)])
    assert list(table.columns) == list(COLUMNS) and table["retrained"].tolist() == [False, True]
    assert set(STATUSES) >= {"ok", "retrained", "blocked", "failed", "quarantined"}
