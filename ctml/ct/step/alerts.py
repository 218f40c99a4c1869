"""The alerts a finished step raises, as (event, text): what the webhook (ctml.ct.webhook) is sent."""
from __future__ import annotations

from typing import Any

from ctml.config import Params
from ctml.ct.records import StepRecord


def step_events(record: StepRecord, params: Params, gates: dict[str, Any]) -> list[tuple[str, str]]:
    """(event, text) of each alert a finished step raises; `gates`: the candidate's gates.json, if one was trained."""
    where = f"step {record.step}" + (f" ({record.file})" if record.file else "")
    found: list[tuple[str, str]] = []
    if record.scenario != "labels" and record.drift_score is not None and record.drift_score > params.ct.threshold:
        found.append(("drift", f"{where}: drift {record.drift_score:.3f} above ct.threshold {params.ct.threshold}"))
    dropped = (record.accuracy_drop is not None and record.accuracy_drop > params.ct.max_accuracy_drop) or \
        (record.error_increase is not None and record.error_increase > params.ct.max_error_increase)
    if dropped:
        shown = f"accuracy {record.batch_accuracy:.3f}" if record.batch_accuracy is not None else f"RMSE {record.batch_rmse:.4g}"
        found.append(("accuracy_drop", f"{where}: {shown} on {record.labelled_rows or record.batch_rows} labelled rows"))
    if "freshness" in gates.get("alerts", []):
        found.append(("freshness", f"{where}: the newest training data is older than gates.freshness_hours "
                                   f"({params.gates.freshness_hours:g} h)"))
    outcome = {"retrained": f"released model {record.model_version}", "blocked": "candidate blocked",
               "quarantined": "file quarantined", "awaiting_labels": "retrain waits for labels",
               "shadow_promoted": f"shadow {record.model_version} promoted", "shadow_retired": "shadow retired"}.get(record.status)
    if outcome:
        found.append((record.status, f"{where}: {outcome}: {record.note}"))
    return found
