"""Going online against stand-in servers: one attempt (one timeout, one warning) per pipeline, bad settings caught."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ctml import tracking
from ctml.tracking import fallback
from ctml.tracking.mode import token_problem
from ctml.runs.offline import offline_runs
from ctml.tracking.pipeline import new_pipeline_id, owner
from tests.helpers import ROOT, env
from tests.standins import API_KEY, answering_server, refusing_server, silent_server, token_for

ON = {"CT_TRACKING": "on"}
TIMEOUT_S = 1

# Three stage runs in one process, as three stages of one pipeline would open them.
RUNS = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
        "from ctml import tracking; from ctml.config import load_params\n"
        "params = load_params('params.yaml')\n"
        "for stage in ('ingest', 'train', 'evaluate'):\n"
        "    with tracking.stage_run(stage, params, section='tracking', pipeline=sys.argv[1]) as run:\n"
        "        run.metrics('m', {'x': 1})\n")


def project_with_timeout(tmp_path: Path) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["tracking"]["online_timeout_s"] = TIMEOUT_S
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path


def three_runs(cwd: Path, pipeline: str, **extra: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUNS, pipeline], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False, env=env(**ON, **extra))
    assert proc.returncode == 0, proc.stderr
    return proc, time.perf_counter() - started


# --- settings caught before any attempt --------------------------------------------------------------

@pytest.mark.parametrize("token", ["not base64 at all!", "bm90IGpzb24=", "eyJhcGlfdXJsIjogIngifQ=="])
def test_a_token_that_is_not_a_neptune_token_is_named_never_quoted(token: str) -> None:
    problem = token_problem(token)
    assert problem.startswith("NEPTUNE_API_TOKEN is not a Neptune API token (") and token not in problem


def test_a_well_formed_token_has_no_problem() -> None:
    assert token_problem(token_for("http://127.0.0.1:1")) == ""


def test_unknown_neptune_mode_is_named(params) -> None:
    cfg = tracking.settings(params, {"NEPTUNE_MODE": "Turbo"})
    assert cfg.problem == "NEPTUNE_MODE='Turbo' is not a mode a stage can log in (allowed: async, sync, offline, debug)"
    assert tracking.settings(params, {"NEPTUNE_MODE": "offline"}).problem == ""


@pytest.mark.parametrize("variable,value,named", [
    ("NEPTUNE_MODE", "turbo", "NEPTUNE_MODE='turbo' is not a mode"),
    ("NEPTUNE_API_TOKEN", "not-base64-%%%", "NEPTUNE_API_TOKEN is not a Neptune API token"),
])
def test_bad_setting_is_one_line_per_pipeline_and_runs_stay_offline(workdir: Path, params, monkeypatch, capsys,
                                                                    variable: str, value: str, named: str) -> None:
    monkeypatch.setenv("NEPTUNE_PROJECT", "ws/proj")
    monkeypatch.setenv(variable, value)
    for stage in ("ingest", "train"):
        with tracking.stage_run(stage, params, section="train", pipeline="p-bad") as run:
            run.metrics("m", {"a": 1})
    err = capsys.readouterr().err
    assert err.count("warning: tracking:") == 1 and named in err and f"({named}" in err
    assert "not-base64-%%%" not in err
    first, second = reversed(offline_runs(workdir))
    assert first.fields["run/fallback_reason"].startswith(named) and "run/online_attempt_s" not in first.fields
    assert second.fields["run/online_skipped"] is True and second.metrics == {"m/a": 1}


# --- the marker: one pipeline, one attempt -------------------------------------------------------------

def test_marker_lasts_while_the_owner_lives(workdir: Path) -> None:
    pipeline = f"ct-{new_pipeline_id()}"  # names this process, as ct.py's id names ct.py
    assert owner(pipeline).pid == __import__("os").getpid()
    assert fallback.earlier_failure(pipeline) is None
    fallback.remember_failure(pipeline, "ConnectTimeout")
    assert fallback.earlier_failure(pipeline) == "ConnectTimeout"
    assert fallback.earlier_failure("another-pipeline") is None


def test_a_marker_whose_owner_is_gone_is_removed_and_online_tried_again(workdir: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                           "from ctml.tracking.pipeline import new_pipeline_id; print(new_pipeline_id())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    folder = workdir / ".neptune" / "online-failed"
    folder.mkdir(parents=True)
    (folder / "old.json").write_text(json.dumps({"pipeline": f"ct-{gone}", "reason": "x",
                                                 "owner": [int(gone.rsplit("-", 1)[1]), 1]}))
    (folder / "damaged.json").write_text("{")
    fallback.remember_failure("p-now", "ConnectTimeout")  # writing one clears the stale ones
    assert sorted(p.name for p in folder.iterdir()) == ["p-now.json"]
    assert fallback.earlier_failure(f"ct-{gone}") is None


@pytest.mark.parametrize("standin", [refusing_server, silent_server], ids=["refuses", "never-answers"])
def test_one_timeout_and_one_warning_for_the_runs_of_one_pipeline(tmp_path: Path, standin) -> None:
    """Three runs of one pipeline against a server that refuses / never answers: only the first waits."""
    cwd = project_with_timeout(tmp_path)
    with standin() as address:
        token = token_for(address)
        proc, seconds = three_runs(cwd, "pipe-7", NEPTUNE_API_TOKEN=token, NEPTUNE_PROJECT="ws/proj")
        again, _ = three_runs(cwd, "pipe-8", NEPTUNE_API_TOKEN=token, NEPTUNE_PROJECT="ws/proj")
    assert proc.stderr.count("warning: tracking:") == 1
    assert f"no answer within {TIMEOUT_S} s (tracking.online_timeout_s)" in proc.stderr
    assert "as do the other runs of this pipeline" in proc.stderr
    first, *rest = sorted(offline_runs(cwd, pipeline="pipe-7"), key=lambda r: r.created_at)
    assert TIMEOUT_S <= first.fields["run/online_attempt_s"] < TIMEOUT_S + 0.5
    assert [r.fields.get("run/online_skipped") for r in rest] == [True, True]
    assert all("run/online_attempt_s" not in r.fields and r.metrics == {"m/x": 1} for r in rest)
    assert seconds < 2 * TIMEOUT_S + 6  # one timeout, plus interpreter and Neptune start-up
    # the next pipeline tries again: one more timeout and one more warning
    assert again.stderr.count("warning: tracking:") == 1
    assert offline_runs(cwd, pipeline="pipe-8", stage="ingest")[0].fields["run/online_attempt_s"] >= TIMEOUT_S
    secrets = [token, API_KEY]
    files = [p for p in cwd.rglob("*") if p.is_file()]
    assert not [str(p) for p in files for s in secrets if s.encode() in p.read_bytes()]
    assert not [s for s in secrets if s in proc.stdout + proc.stderr]


# --- a server that answers: runs go online ---------------------------------------------------------------

ONLINE_RUN = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
              "from pathlib import Path\n"
              "from ctml import tracking; from ctml.config import load_params\n"
              "Path('model.bin').write_bytes(b'model bytes')\n"
              "with tracking.stage_run('evaluate', load_params('params.yaml'), section='evaluate', pipeline='pipe-on') as run:\n"
              "    run.metrics('metrics', {'accuracy': 0.93})\n"
              "    run.series('ct/drift_score', [0.1, 0.4], steps=[1, 2])\n"
              "    run.upload('artifacts/model', 'model.bin')\n")


def test_runs_go_online_to_a_server_that_answers(tmp_path: Path) -> None:
    """A self-hosted server stand-in: the values the stage logs arrive there, nothing falls back offline.

    OAUTHLIB_INSECURE_TRANSPORT: the client's OAuth library refuses plain http otherwise (a real
    self-hosted server on http needs it too; one on https does not)."""
    cwd = project_with_timeout(tmp_path)
    with answering_server() as (address, received):
        token = token_for(address)
        proc = subprocess.run([sys.executable, "-c", ONLINE_RUN], cwd=cwd, capture_output=True, text=True, timeout=120,
                              check=False, env=env(NEPTUNE_API_TOKEN=token, NEPTUNE_PROJECT="ws/proj",
                                                   OAUTHLIB_INSECURE_TRANSPORT="1", **ON))
    assert proc.returncode == 0, proc.stderr
    assert "warning: tracking" not in proc.stderr
    assert f"tracking: evaluate pipe-on -> {address}/ws/proj/e/PRJ-1" in proc.stderr
    values = {op["path"]: next(v for k, v in op.items() if k != "path") for op in received if "call" not in op}
    assert values["metrics/accuracy"] == {"value": 0.93} and values["pipeline/id"] == {"value": "pipe-on"}
    assert values["run/mode"] == {"value": "async"} and values["run/status"] == {"value": "ok"}
    series = [op for op in received if op.get("path") == "ct/drift_score"]
    assert [(p["step"], p["value"]) for op in series for p in op["logFloats"]["entries"]] == [(1, 0.1), (2, 0.4)]
    assert any(op.get("call") == "fileAtomUpload" and op["path"] == "artifacts/model" and op["bytes"] > 0 for op in received)
    assert offline_runs(cwd) == [] and not (cwd / ".neptune" / "online-failed").exists()
    files = [p for p in cwd.rglob("*") if p.is_file()]
    assert not [str(p) for p in files for s in (token, API_KEY) if s.encode() in p.read_bytes()]
