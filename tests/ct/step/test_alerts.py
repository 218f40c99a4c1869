"""Alerts against a real HTTP receiver on 127.0.0.1: the Slack-compatible body, which events and how
often, and that a webhook that is down, silent, answering 500 or malformed never fails anything and
never shows its URL."""
from __future__ import annotations

from pathlib import Path

import pytest

from ctml.config import ALERT_EVENTS, AlertsParams
from ctml.ct.step.alerts import step_events
from ctml.ct.step.decide import decide
from ctml.drift.results import DriftSummary
from ctml.ct.records import GatesResult
from ctml.ct.webhook import WEBHOOK_ENV, Alerter
from ctml.ct.records import StepRecord
from tests.standins import connections, posted, refusing_server, silent_server, webhook_receiver


def alerter(root: Path, url: str | None, monkeypatch: pytest.MonkeyPatch, **params) -> Alerter:
    settings = {"events": list(ALERT_EVENTS), "min_interval_s": 0, "timeout_s": 1.0, **params}
    if url is None:
        monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    else:
        monkeypatch.setenv(WEBHOOK_ENV, url)
    (root / "project").mkdir(exist_ok=True)
    return Alerter.from_env(root / "project", AlertsParams(**settings))


def test_an_alert_is_a_slack_compatible_post_with_its_fields(tmp_path, monkeypatch):
    with webhook_receiver() as (url, received):
        sent = alerter(tmp_path, url, monkeypatch)
        assert sent.send("retrained", "step 4: released model v1.1.0", 4, "v1.1.0", {"drift_score": 0.41}) == ""
    assert received == [{"content_type": "application/json", "path": "/services/T000/B000/secret-part",
                         "text": "[project] step 4: released model v1.1.0", "event": "retrained", "project": "project",
                         "step": 4, "version": "v1.1.0", "details": {"drift_score": 0.41}}]
    assert sent.sent == ["retrained"]


def test_no_webhook_in_the_environment_sends_nothing_and_says_nothing(tmp_path, monkeypatch, capsys):
    assert alerter(tmp_path, None, monkeypatch).send("drift", "x", 1) == ""
    assert capsys.readouterr().err == ""


def test_only_the_listed_events_are_sent(tmp_path, monkeypatch):
    with webhook_receiver() as (url, received):
        sent = alerter(tmp_path, url, monkeypatch, events=["blocked"])
        sent.send("drift", "drifted", 1)
        sent.send("blocked", "blocked", 2)
    assert [body["event"] for body in received] == ["blocked"]


def test_min_interval_holds_back_a_repeat_across_commands_but_not_other_events(tmp_path, monkeypatch):
    with webhook_receiver() as (url, received):
        alerter(tmp_path, url, monkeypatch, min_interval_s=3600).send("drift", "first", 1)
        again = alerter(tmp_path, url, monkeypatch, min_interval_s=3600)  # the next cron run
        assert again.send("drift", "second", 2) == ""  # not due: not a failure either
        again.send("quarantined", "other event", 2)
        alerter(tmp_path, url, monkeypatch, min_interval_s=0).send("drift", "no interval", 3)
    assert [body["text"] for body in received] == ["[project] first", "[project] other event", "[project] no interval"]
    assert url not in (tmp_path / "project/.ct/alerts.json").read_text()


def test_a_webhook_answering_500_is_noted_and_not_tried_again_in_the_command(tmp_path, monkeypatch):
    with webhook_receiver(status=500) as (url, received):
        sent = alerter(tmp_path, url, monkeypatch)
        first = sent.send("drift", "x", 1)
        second = sent.send("retrained", "y", 1)
    assert first == "alert drift not sent (webhook answered HTTP 500)"
    assert second == "alert retrained not sent (webhook answered HTTP 500 earlier)"
    assert len(received) == 1 and sent.sent == []


@pytest.mark.parametrize(("server", "cause"), [(refusing_server, "ConnectionRefusedError"), (silent_server, "TimeoutError")],
                         ids=["down", "never answers"])
def test_a_webhook_down_or_silent_costs_at_most_its_timeout(tmp_path, monkeypatch, server, cause):
    """One connection, whose every wait is bounded by alerts.timeout_s, and none for the rest of the
    command: what it tried is read from the process's socket calls, not from a clock (a busy machine
    stretches wall time, not the number of connections or their timeout)."""
    with server() as address:
        sent = alerter(tmp_path, f"{address}/hook", monkeypatch, timeout_s=0.5)
        with connections() as first:
            failure = sent.send("drift", "x", 1)
        with connections() as rest:
            assert sent.send("blocked", "y", 1).endswith("earlier)")  # the rest of the command does not wait again
    port = int(address.rsplit(":", 1)[1])
    assert first == [(("127.0.0.1", port), 0.5)] and rest == []
    assert failure == f"alert drift not sent (webhook unreachable: {cause})" and address not in failure


@pytest.mark.parametrize("url", ["hooks.example.com/T000/secret", "http://", "http://host:port/secret", "ftp://host/secret"])
def test_a_malformed_url_is_reported_once_without_the_url(tmp_path, monkeypatch, capsys, url):
    sent = alerter(tmp_path, url, monkeypatch)
    notes = [sent.send("drift", "x", 1), sent.send("quarantined", "y", 2)]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"warning: ${WEBHOOK_ENV} is not a usable URL (")
    assert "secret" not in err and "port/" not in err
    assert all(note.startswith("alert ") and "not sent" in note and "secret" not in note for note in notes)


def record(**fields) -> StepRecord:
    return StepRecord(**{"step": 7, "time": "", "scenario": "check", "status": "ok", "threshold": 0.3,
                         "file": "data/incoming/a.csv", **fields})


def test_step_events_name_what_happened(params):
    assert step_events(record(drift_score=0.1), params, None) == []
    gates = GatesResult(passed=True, alerts=("freshness",))
    events = step_events(record(status="retrained", drift_score=0.5, triggers="drift", model_version="v1.2.0",
                                note="drift 0.500 > 0.3"), params, gates)
    assert [event for event, _ in events] == ["drift", "freshness", "retrained"]
    assert events[0][1] == "step 7 (data/incoming/a.csv): drift 0.500 above ct.threshold 0.3"
    assert events[1][1] == "step 7 (data/incoming/a.csv): the newest training data is older than gates.freshness_hours (24 h)"
    aged = GatesResult(passed=True, alerts=("freshness",), gates={"freshness": {"passed": False, "value": 393_878.2}})
    assert step_events(record(drift_score=0.1), params, aged) == [
        ("freshness", "step 7 (data/incoming/a.csv): the newest training data is older than gates.freshness_hours "
                      "(24 h): 393,878 h = 16,412 days old")]
    assert events[-1][1] == "step 7 (data/incoming/a.csv): released model v1.2.0: drift 0.500 > 0.3"
    dropped = step_events(record(batch_accuracy=0.7, accuracy_drop=0.25, labelled_rows=60, triggers="accuracy_drop"),
                          params, None)
    assert dropped == [("accuracy_drop", "step 7 (data/incoming/a.csv): accuracy 0.700 on 60 labelled rows")]
    assert [e for e, _ in step_events(record(status="awaiting_labels", drift_score=0.5, triggers="drift"), params, None)] == \
        ["drift", "awaiting_labels"]
    # A label file re-measures rows whose drift was alerted when they arrived: its decision fires no drift trigger.
    assert step_events(record(scenario="labels", drift_score=0.5), params, None) == []


def test_the_alerts_follow_the_decision_not_a_second_copy_of_the_rules(params):
    """The triggers decide fired are what is alerted: a changed limit changes both at once."""
    measured = DriftSummary.from_json({"drift_score": 0.5, "out_of_range_share": 0.2,
                                       "performance": {"labelled": True, "accuracy": 0.7, "accuracy_drop": 0.25}})
    for threshold, alerted in ((0.3, ["drift", "accuracy_drop"]), (0.6, ["accuracy_drop"])):
        moved = params.model_copy(update={"ct": params.ct.model_copy(update={"threshold": threshold})})
        decision = decide(measured, moved)
        step = record(drift_score=0.5, batch_accuracy=0.7, accuracy_drop=0.25, threshold=threshold,
                      triggers="; ".join(decision.names))
        assert [e for e, _ in step_events(step, moved, None)] == alerted
        assert decision.names == (("drift",) if threshold == 0.3 else ()) + ("out_of_range", "accuracy_drop")


@pytest.mark.slow
def test_simulate_alerts_drift_freshness_and_the_release_to_a_real_receiver(repo, tmp_path):
    """End to end through `ct.py simulate`: a replayed stream whose dated rows ended months ago and
    whose batch drifts raises drift, freshness (a non-blocking gate) and the release or block, each
    sent before the command exits; the URL is in none of them, nor in what the project keeps."""
    import json

    import numpy as np
    import pandas as pd

    from tests.helpers import ct, git, history

    rng = np.random.default_rng(4)
    n = 600
    frame = pd.DataFrame({"amount": rng.normal(size=n), "channel": rng.choice(["web", "shop"], size=n),
                          "day": pd.date_range("2026-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S")})
    frame.loc[500:, "amount"] += 3.0  # the batch after the 500 reference rows (ct.reference_rows) drifts
    frame["label"] = np.where(frame["amount"] > 0.5, "yes", "no")
    frame.to_csv(tmp_path / "stream.csv", index=False)
    with webhook_receiver() as (url, received):
        proc = ct(repo, "simulate", "--scenario", "replay", "--data", str(tmp_path / "stream.csv"), "--target", "label",
                  "--steps", "1", "--batch-size", "100", check=False, CT_ALERT_WEBHOOK=url)
    step = history(repo).iloc[-1]
    assert step["status"] in ("retrained", "blocked"), step["note"]
    assert proc.returncode == (3 if step["status"] == "blocked" else 0), proc.stderr
    received = [body for body in received if body["event"] != "accuracy_drop"]  # the shift may cost accuracy too
    assert [body["event"] for body in received] == ["drift", "freshness", step["status"]]
    assert received[1]["text"].startswith(f"[project] step {step['step']}: the newest training data is older than "
                                          "gates.freshness_hours (24 h): ")
    assert received[1]["text"].endswith(" days old")  # the rows ended in 2026-01: months, said in days
    assert all(body["step"] == step["step"] and body["project"] == "project" for body in received)
    secret = url.split("/", 3)[-1]
    assert all(secret not in json.dumps(body) for body in posted(received))
    assert secret not in (repo / "metrics/ct_history.csv").read_text()
    assert secret not in git("log", "--all", "--format=%B", cwd=repo).stdout
