"""ct.py's progress line per step: the drift said once, with the outcome and the note's rest."""
from __future__ import annotations

from ctml.ct.records import StepRecord
from ctml.ct.reporting.console import progress_line


def record(**fields) -> StepRecord:
    return StepRecord(**{"step": 3, "time": "2026-12-01T10:00:00+00:00", "scenario": "sudden", "status": "ok", **fields})


def test_the_drift_is_said_once_when_the_note_starts_with_it():
    retrained = record(drift_score=0.4, threshold=0.3, batch_accuracy=0.595, status="retrained", model_version="v1.1.0",
                       note="drift 0.400 > 0.3")
    assert progress_line(3, 4, retrained, 9.44) == "step 3/4 (#3): drift 0.400 > 0.3  acc 0.595  RETRAINED -> v1.1.0    [9.4s]"
    blocked = record(drift_score=0.4, threshold=0.3, batch_rmse=61.25, status="blocked",
                     note="drift 0.400 > 0.3; candidate blocked by rmse", file="b.csv")
    line = progress_line(1, 1, blocked, 2.0)
    assert line == "step 1/1 (#3) b.csv: drift 0.400 > 0.3  rmse 61.25  BLOCKED  candidate blocked by rmse  [2.0s]"
    assert line.count("drift") == 1 and "accuracy" not in line


def test_another_trigger_keeps_the_drift_score_and_its_own_reason():
    fired = record(drift_score=0.0, batch_accuracy=0.6, status="retrained", model_version="v1.2.0",
                   note="accuracy drop 0.350 > 0.1")
    assert progress_line(2, 2, fired, 1.0) == (
        "step 2/2 (#3): drift 0.000  acc 0.600  RETRAINED -> v1.2.0  accuracy drop 0.350 > 0.1  [1.0s]")
    quiet = record(drift_score=None, status="quarantined", note="column 'x' missing -> data/quarantine/step-0003.csv")
    assert progress_line(1, 1, quiet, 0.5).startswith("step 1/1 (#3): drift -  QUARANTINED  column 'x' missing")
