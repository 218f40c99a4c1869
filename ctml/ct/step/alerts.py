"""The alerts a finished step raises, as (event, text): what the webhook (ctml.ct.webhook) is sent.

Which retrain triggers fired is read off the record (`StepRecord.triggers`, set from
`decide.Decision`): the rules live once, in ctml.ct.step.decide."""
from __future__ import annotations

from ctml.config import Params
from ctml.ct.records import GatesResult, StepRecord
from ctml.ct.step.decide import PERFORMANCE


def step_events(record: StepRecord, params: Params, gates: GatesResult | None) -> list[tuple[str, str]]:
    """(event, text) of each alert a finished step raises; `gates`: the candidate's gates result, if one was trained."""
    where = f"step {record.step}" + (f" ({record.file})" if record.file else "")
    found: list[tuple[str, str]] = []
    if record.fired("drift"):
        found.append(("drift", f"{where}: drift {record.drift_score:.3f} above ct.threshold {record.threshold}"))
    if record.fired(*PERFORMANCE):
        shown = f"accuracy {record.batch_accuracy:.3f}" if record.batch_accuracy is not None else f"RMSE {record.batch_rmse:.4g}"
        found.append(("accuracy_drop", f"{where}: {shown} on {record.labelled_rows or record.batch_rows} labelled rows"))
    if gates is not None and "freshness" in gates.alerts:
        from ctml.model.gates import readable_age

        age = ((gates.gates or {}).get("freshness") or {}).get("value")
        shown = f": {readable_age(age)} old" if isinstance(age, (int, float)) else ""
        found.append(("freshness", f"{where}: the newest training data is older than gates.freshness_hours "
                                   f"({params.gates.freshness_hours:g} h){shown}"))
    outcome = {"retrained": f"released model {record.model_version}", "blocked": "candidate blocked",
               "quarantined": "file quarantined", "awaiting_labels": "retrain waits for labels",
               "shadow_promoted": f"shadow {record.model_version} promoted", "shadow_retired": "shadow retired"}.get(record.status)
    if outcome:
        found.append((record.status, f"{where}: {outcome}: {record.note}"))
    return found
