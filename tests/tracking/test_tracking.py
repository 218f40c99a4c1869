"""Tracking: settings, field contents, offline runs read back, online fallback, and the real pipeline."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ctml import tracking
from ctml.config import load_params, parse_params
from ctml.errors import UserError
from ctml.runs.offline import OfflineRun, offline_runs, print_runs
from tests.helpers import ROOT, copy_project, dvc, env, git, make_project, read_json, set_params

CORE_STAGES = ("ingest", "validate", "preprocess", "train", "evaluate")
ON = {"CT_TRACKING": "on"}  # subprocesses track even if the caller's environment has CT_TRACKING=off
API_KEY = "0f3c1d2e-7a6b-4c5d-9e8f-123456789abc"
WORK_S = 0.05  # seconds a test run spends working inside its block


def bogus_token(address: str = "https://neptune.bogus-host.invalid") -> str:
    """A token that decodes like a real one (base64 JSON with api_address) but reaches nothing."""
    return base64.b64encode(json.dumps({"api_address": address, "api_url": address, "api_key": API_KEY}).encode()).decode()


def only_run(root: Path) -> OfflineRun:
    runs = offline_runs(root)
    assert len(runs) == 1, [r.directory.name for r in runs]
    return runs[0]


def raw_assignments(run_dir: Path) -> dict[str, object]:
    """Field values straight from the operation log, independent of ctml.runs.offline."""
    out = {}
    for line in (run_dir / "data-1.log").read_text().splitlines():
        op = json.loads(line)["obj"]
        if op["type"].startswith("Assign"):
            out["/".join(op["path"])] = op["value"]
    return out


def work(seconds: float) -> None:
    """Keep the CPU busy for `seconds` (work the run times, not a wait)."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- settings ----------------------------------------------------------------------------------

def test_settings_default_is_offline_and_enabled(params) -> None:
    cfg = tracking.settings(params, environ={})
    assert (cfg.enabled, cfg.mode, cfg.timeout_s) == (True, "offline", 5.0)


def test_settings_online_needs_token_and_project(params) -> None:
    assert tracking.settings(params, {"NEPTUNE_API_TOKEN": "t", "NEPTUNE_PROJECT": "ws/p"}).mode == "async"
    assert tracking.settings(params, {"NEPTUNE_API_TOKEN": "t"}).mode == "offline"
    assert tracking.settings(params, {"NEPTUNE_PROJECT": "ws/p"}).mode == "offline"


def test_settings_neptune_mode_overrides(params) -> None:
    environ = {"NEPTUNE_API_TOKEN": "t", "NEPTUNE_PROJECT": "ws/p", "NEPTUNE_MODE": "offline"}
    assert tracking.settings(params, environ).mode == "offline"
    assert tracking.settings(params, {"NEPTUNE_MODE": "Sync"}).mode == "sync"


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no", "disabled"])
def test_settings_disabled_by_env(params, value: str) -> None:
    assert tracking.settings(params, {"CT_TRACKING": value}).enabled is False


def test_settings_disabled_by_params_and_timeout_from_params() -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["tracking"] = {"enabled": False, "online_timeout_s": 1.5}
    cfg = tracking.settings(parse_params(raw), environ={"CT_TRACKING": "on"})
    assert (cfg.enabled, cfg.timeout_s) == (False, 1.5)


# --- field contents ----------------------------------------------------------------------------

def test_flatten_nests_mappings_and_keeps_types() -> None:
    flat = tracking.flatten({"a": {"b": 1, "c": 0.5, "d": True, "e": "x"}, "f": [1, 2], "g": None, "h": {},
                             "i": np.int64(7), "j": np.float32(0.25), "k": float("nan"), "l": Path("m/n"),
                             "m": np.array([1.5, 2.0]), "n": pd.Timestamp("2026-01-02 03:04:05"), "o": ("a", 1)}, "cfg")
    assert flat == {"cfg/a/b": 1, "cfg/a/c": 0.5, "cfg/a/d": True, "cfg/a/e": "x", "cfg/f": "[1, 2]",
                    "cfg/g": "null", "cfg/h": "{}", "cfg/i": 7, "cfg/j": 0.25, "cfg/k": "nan", "cfg/l": "m/n",
                    "cfg/m": "[1.5, 2.0]", "cfg/n": "2026-01-02 03:04:05", "cfg/o": '["a", 1]'}
    assert type(flat["cfg/i"]) is int and type(flat["cfg/a/d"]) is bool


# --- pipeline id -------------------------------------------------------------------------------

def test_pipeline_id_from_env() -> None:
    assert tracking.pipeline_id({"CT_PIPELINE_ID": " ct-7-3 "}) == "ct-7-3"


def test_pipeline_id_is_the_nearest_dvc_ancestor(tmp_path: Path) -> None:
    """A process called `dvc` starting stages through a shell, as DVC does: every child finds it."""
    fake = tmp_path / "bin" / "dvc"
    fake.parent.mkdir()
    probe = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from ctml.tracking import pipeline_id; print(pipeline_id({{}}))"
    fake.write_text(f"#!{sys.executable}\nimport os, subprocess, sys\nprint(os.getpid(), flush=True)\n"
                    f"for _ in range(2):\n"
                    f"    subprocess.run(['/bin/sh', '-c', {sys.executable + ' -c ' + repr(probe)!r} + ' | cat'], check=True)\n")
    fake.chmod(0o755)
    out = subprocess.run([str(fake)], capture_output=True, text=True, check=True, env=env()).stdout.split()
    dvc_pid, first, second = out
    assert first == second and first.endswith(f"-{dvc_pid}")
    assert len(first.split("-")[0]) == len("20260101T000000")


def test_pipeline_id_without_dvc_is_per_process() -> None:
    probe = f"import sys, os; sys.path.insert(0, {str(ROOT)!r}); from ctml.tracking import pipeline_id; print(pipeline_id({{}}), os.getpid())"
    ids = [subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env()).stdout.split()
           for _ in range(2)]
    assert all(pid.endswith(f"-{own}") for pid, own in ids) and ids[0][0] != ids[1][0]


# --- runs in this process (offline, real Neptune) ------------------------------------------------

def test_stage_run_logs_header_fields(workdir: Path, params, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CT_PIPELINE_ID", "pipe-1")
    monkeypatch.setenv("CT_MODEL_VERSION", "v1.2.3")
    entered = time.perf_counter()
    with tracking.stage_run("train", params, section="train") as run:
        assert run.enabled and run.mode == "offline"
        work(WORK_S)
    elapsed = time.perf_counter() - entered
    rec = only_run(workdir)
    assert rec.directory.resolve() == run.directory and rec.directory.parent == workdir / ".neptune" / "offline"
    assert (rec.stage, rec.pipeline, rec.model_version, rec.status) == ("train", "pipe-1", "v1.2.3", "ok")
    assert rec.tags == {"train", "pipeline:pipe-1", "model:v1.2.3"}
    assert rec.fields["sys/name"] == "train pipe-1" and rec.fields["sys/failed"] is False
    assert {k[len("config/"):]: v for k, v in rec.fields.items() if k.startswith("config/")} == tracking.flatten(params.as_dict())
    assert {k: v for k, v in rec.fields.items() if k.startswith("parameters/")} == tracking.flatten(params.train.model_dump(), "parameters")
    assert rec.fields["run/libraries/scikit-learn"] and rec.fields["run/libraries/neptune"].startswith("1.14")
    assert rec.fields["run/mode"] == "offline"
    # the stage's own time: at least its work, and without tracking's start-up (nor the stop after it)
    assert WORK_S <= rec.fields["run/duration_s"] < elapsed - rec.fields["run/tracking_init_s"]
    assert rec.fields["run/git_commit"] == ""  # the temp dir is no git repo
    assert not any(k.startswith(("monitoring", "source_code/git")) for k in rec.fields)


def test_stage_run_arguments_override_env(workdir: Path, params, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CT_PIPELINE_ID", "from-env")
    with tracking.stage_run("ct", params, section="ct", pipeline="ct-20260101-ab12", model_version="v2.0.0"):
        pass
    rec = only_run(workdir)
    assert (rec.pipeline, rec.model_version) == ("ct-20260101-ab12", "v2.0.0")
    assert rec.fields["parameters/threshold"] == params.ct.threshold


def test_run_methods_log_values(workdir: Path, params) -> None:
    (workdir / "model.bin").write_bytes(b"model v1")
    (workdir / "plots").mkdir()
    (workdir / "plots" / "roc.png").write_bytes(b"\x89PNG fake roc")
    with tracking.stage_run("evaluate", params, section="evaluate") as run:
        run.metrics("metrics", {"accuracy": 0.9, "rows": np.int64(12), "passed": True})
        run.log("model", {"sha256": "abc", "classes": [0, 1]})
        run.series("ct/drift_score", 0.25, steps=3)
        run.series("ct/drift_score", [0.5, float("nan"), 0.75], steps=[4, 5, 6])
        run.series("latency_ms", np.array([1.5, 2.5]))
        run.upload("artifacts/model", workdir / "model.bin")
        run.upload("drift/plots", workdir / "plots")
        run.data_input("model", workdir / "model.bin")
        run.tag("retrain")
    (workdir / "model.bin").write_bytes(b"model v2, written by the next run")
    rec = only_run(workdir)
    assert rec.metrics == {"metrics/accuracy": 0.9, "metrics/rows": 12, "metrics/passed": True}
    assert rec.fields["model/sha256"] == "abc" and rec.fields["model/classes"] == "[0, 1]"
    assert rec.series["ct/drift_score"] == [(3.0, 0.25), (4.0, 0.5), (6.0, 0.75)]
    assert [v for _, v in rec.series["latency_ms"]] == [1.5, 2.5]
    assert rec.files["artifacts/model"].read_bytes() == b"model v1"  # a copy, not a path to the live file
    assert rec.fields["artifacts/model_sha256"] == hashlib.sha256(b"model v1").hexdigest()
    assert rec.files["drift/plots/roc"].read_bytes() == b"\x89PNG fake roc" and rec.files["drift/plots/roc"].suffix == ".png"
    assert rec.fields["data/model/sha256"] == hashlib.sha256(b"model v1").hexdigest()
    assert "retrain" in rec.tags
    assert raw_assignments(rec.directory)["metrics/accuracy"] == 0.9


def test_failure_is_recorded_and_reraised(workdir: Path, params) -> None:
    with pytest.raises(UserError, match="bad column"), tracking.stage_run("validate", params, section="validate") as run:
        run.metrics("validation", {"passed": False})
        raise UserError("data/raw/train.parquet: bad column 'x'")
    rec = only_run(workdir)
    assert rec.status == "failed" and rec.fields["sys/failed"] is True
    assert rec.fields["run/error"] == "UserError: data/raw/train.parquet: bad column 'x'"


def test_bad_calls_warn_and_never_raise(workdir: Path, params, capsys: pytest.CaptureFixture) -> None:
    with tracking.stage_run("gates", params) as run:
        run.log("gates", {"accuracy": {"passed": True}})
        run.log("gates/accuracy", 1)  # a namespace cannot become a field
        run.upload("artifacts/missing", workdir / "nope.joblib")
        run.series("s", [1.0, 2.0], steps=[1.0])
        run.metrics("m", {"ok": 1})
    err = capsys.readouterr().err
    assert err.count("warning: tracking:") == 3
    assert "gates/accuracy not logged" in err and "artifacts/missing not logged" in err
    rec = only_run(workdir)
    assert rec.status == "ok" and rec.fields["gates/accuracy/passed"] is True and rec.metrics == {"m/ok": 1}


@pytest.mark.parametrize("how", ["params", "env"])
def test_disabled_run_writes_nothing(workdir: Path, params, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    if how == "env":
        monkeypatch.setenv("CT_TRACKING", "off")
    else:
        params = params.model_copy(update={"tracking": params.tracking.model_copy(update={"enabled": False})})
    (workdir / "f.bin").write_bytes(b"x")
    with tracking.stage_run("train", params, section="train") as run:
        run.metrics("m", {"a": 1})
        run.upload("f", workdir / "f.bin")
        run.series("s", [1.0])
        run.data_input("f", workdir / "f.bin")
    assert not run.enabled and run.mode == "disabled" and run.directory is None
    assert sorted(p.name for p in workdir.iterdir()) == ["f.bin"]


def test_bogus_token_falls_back_offline_without_leaking(workdir: Path, params, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    token = bogus_token()
    monkeypatch.setenv("NEPTUNE_API_TOKEN", token)
    monkeypatch.setenv("NEPTUNE_PROJECT", "ws/proj")
    with tracking.stage_run("train", params, section="train") as run:
        run.metrics("m", {"a": 1})
    out, err = capsys.readouterr()
    assert run.mode == "offline"
    assert err.count("warning: tracking: cannot go online (CannotResolveHostname)") == 1
    rec = only_run(workdir)
    assert rec.fields["run/requested_mode"] == "async" and rec.fields["run/fallback_reason"] == "CannotResolveHostname"
    assert rec.metrics == {"m/a": 1}
    assert_no_secret(workdir, out + err, token)


def test_unresponsive_server_falls_back_within_timeout(tmp_path: Path) -> None:
    """A server that accepts connections and never answers: the run goes offline after online_timeout_s."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["tracking"]["online_timeout_s"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    # Beside the run, a plain 1 s wait started at the same moment in the same process: how late this
    # machine wakes a waiting thread right then. The attempt may be late by that much, not more.
    script = (f"import sys, threading, time; sys.path.insert(0, {str(ROOT)!r})\n"
              "from ctml import tracking; from ctml.config import load_params; import neptune\n"
              "params = load_params('params.yaml')\n"
              "def plain_wait():\n"
              "    tick = time.perf_counter(); threading.Event().wait(1); print(time.perf_counter() - tick - 1)\n"
              "control = threading.Thread(target=plain_wait); control.start()\n"
              "with tracking.stage_run('probe', params, section='tracking') as run:\n"
              "    run.metrics('m', {'x': 1})\n"
              "control.join()\n")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)  # never accept(): the kernel completes connections, nobody answers
        token = bogus_token(f"http://127.0.0.1:{server.getsockname()[1]}")
        proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              check=False, env=env(NEPTUNE_API_TOKEN=token, NEPTUNE_PROJECT="ws/proj", **ON))
    assert proc.returncode == 0, proc.stderr
    assert "no answer within 1 s (tracking.online_timeout_s)" in proc.stderr
    rec = only_run(tmp_path)
    assert rec.metrics == {"m/x": 1} and rec.fields["run/requested_mode"] == "async"
    late_s = max(0.0, float(proc.stdout.split()[-1]))
    assert 1.0 <= rec.fields["run/online_attempt_s"] < 1.5 + late_s, late_s
    assert_no_secret(tmp_path, proc.stdout + proc.stderr, token)


def assert_no_secret(root: Path, output: str, token: str) -> None:
    """Neither the token nor the key inside it in the output or in any file under root."""
    secrets = [token, API_KEY, base64.b64decode(token).decode()]
    assert not [s for s in secrets if s in output]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "data-1.log" for p in files)
    leaks = [str(p) for p in files for s in secrets if s.encode() in p.read_bytes()]
    assert not leaks


# --- the real pipeline under dvc -------------------------------------------------------------------

def pipeline_outputs(repo: Path) -> dict[str, object]:
    """md5 of every output of the core stages (dvc.lock), and model.json without its git commit."""
    stages = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    outs: dict[str, object] = {o["path"]: o["md5"] for name in CORE_STAGES for o in stages[name].get("outs", [])}
    outs["models/model.json"] = {k: v for k, v in read_json(repo / "models" / "model.json").items() if k != "git_commit"}
    return outs


def lock_dep(repo: Path, stage: str, path: str) -> str:
    deps = yaml.safe_load((repo / "dvc.lock").read_text())["stages"][stage]["deps"]
    return next(d["md5"] for d in deps if d["path"] == path)


@pytest.fixture(scope="module")
def tracked(baseline: tuple[Path, dict]) -> tuple[Path, int, dict[str, OfflineRun]]:
    """The pipeline run once by `dvc repro` in offline mode (the session's baseline, committed after
    the run): (repo, dvc pid, newest run per stage)."""
    repo, run = baseline
    assert "warning: tracking" not in run["output"]
    runs: dict[str, OfflineRun] = {}
    for record in offline_runs(repo):
        runs.setdefault(record.stage, record)
    return repo, run["dvc_pid"], runs


@pytest.mark.slow
def test_pipeline_every_stage_tracked_once_with_shared_pipeline_id(tracked) -> None:
    repo, dvc_pid, runs = tracked
    assert set(CORE_STAGES) <= set(runs)
    assert len(offline_runs(repo)) == len(runs)  # one run per stage
    ids = {run.pipeline for run in runs.values()}
    assert len(ids) == 1 and ids.pop().endswith(f"-{dvc_pid}")
    head = git("rev-parse", "HEAD^", cwd=repo).stdout.strip()  # the commit dvc repro ran on (the baseline's is after it)
    config = tracking.flatten(load_params(repo / "params.yaml").as_dict(), "config")
    sections = {"ingest": "data", "validate": "validate", "preprocess": "preprocess", "train": "train", "evaluate": "evaluate"}
    for stage, run in runs.items():
        assert run.status == "ok" and run.fields["sys/failed"] is False, stage
        assert run.fields["run/mode"] == "offline" and run.fields["run/git_commit"] == head
        assert run.fields["run/duration_s"] > 0 and run.fields["run/libraries/scikit-learn"]
        assert {k: v for k, v in run.fields.items() if k.startswith("config/")} == config
        assert {stage, f"pipeline:{run.pipeline}"} <= run.tags
        assert not any(k.startswith(("monitoring", "source_code/git")) for k in run.fields)
    for stage, section in sections.items():
        own = tracking.flatten(load_params(repo / "params.yaml").as_dict()[section], "parameters")
        assert {k: v for k, v in runs[stage].fields.items() if k.startswith("parameters/")} == own


@pytest.mark.slow
def test_pipeline_metrics_equal_metrics_files(tracked) -> None:
    repo, _, runs = tracked
    scores = read_json(repo / "metrics" / "metrics.json")
    reference = {k: v for k, v in read_json(repo / "metrics" / "reference_model.json").items() if k != "name"}
    assert runs["evaluate"].metrics == {**{f"metrics/{k}": v for k, v in scores.items()},
                                        **{f"metrics/reference_model/{k}": v for k, v in reference.items()}}
    assert {k: raw_assignments(runs["evaluate"].directory)[f"metrics/{k}"] for k in scores} == scores
    validation = read_json(repo / "metrics" / "validation.json")
    assert {k: runs["validate"].fields[f"validation/{k}"] for k in validation} == validation
    raw = pd.read_parquet(repo / "data" / "raw" / "train.parquet")
    assert runs["ingest"].metrics["ingest/rows"] == len(raw) == validation["rows"]


@pytest.mark.slow
def test_pipeline_data_inputs_match_files_and_dvc_lock(tracked) -> None:
    repo, _, runs = tracked
    expected = {("ingest", "raw"): "data/raw/train.parquet", ("validate", "raw"): "data/raw/train.parquet",
                ("preprocess", "raw"): "data/raw/train.parquet", ("train", "train_split"): "data/prepared/train.parquet",
                ("evaluate", "test_split"): "data/prepared/test.parquet"}
    for (stage, name), rel in expected.items():
        fields = runs[stage].fields
        assert fields[f"data/{name}/path"] == rel
        assert fields[f"data/{name}/sha256"] == sha256(repo / rel)
        assert fields[f"data/{name}/rows"] == len(pd.read_parquet(repo / rel))
        if stage != "ingest":  # ingest writes this file; the others read it as a dvc dependency
            assert fields[f"data/{name}/md5"] == lock_dep(repo, stage, rel)
    assert runs["ingest"].fields["data/batches/rows"] == 0


@pytest.mark.slow
def test_pipeline_artifacts_and_plots_uploaded_with_sha256(tracked) -> None:
    repo, _, runs = tracked
    meta = read_json(repo / "models" / "model.json")
    train = runs["train"]
    assert train.fields["artifacts/model_sha256"] == meta["model_sha256"] == sha256(train.files["artifacts/model"])
    assert train.fields["artifacts/model_meta_sha256"] == sha256(repo / "models" / "model.json")
    assert train.fields["model/sha256"] == meta["model_sha256"]
    for name in ("confusion", "roc", "importance"):
        copy = runs["evaluate"].files[f"plots/{name}"]
        assert copy.suffix == ".png" and copy.read_bytes()[:4] == b"\x89PNG"
        assert runs["evaluate"].fields[f"plots/{name}_sha256"] == sha256(copy) == sha256(repo / "metrics" / "plots" / f"{name}.png")


@pytest.mark.slow
def test_pipeline_runs_table(tracked, capsys: pytest.CaptureFixture) -> None:
    repo, _, runs = tracked
    print_runs(repo, 20)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["time", "(UTC)", "stage", "status", "model", "pipeline", "seconds", "metrics"]
    stages = [line.split()[2] for line in lines[1:len(runs) + 1]]
    assert [s for s in stages if s in CORE_STAGES] == list(CORE_STAGES)  # oldest first: execution order
    accuracy = read_json(repo / "metrics" / "metrics.json")["accuracy"]
    assert f"accuracy={accuracy:.4g}" in lines[1 + stages.index("evaluate")]


@pytest.mark.slow
def test_pipeline_id_per_invocation_and_from_env(tracked, tmp_path: Path) -> None:
    base, _, runs = tracked
    repo = copy_project(base, tmp_path)
    dvc("repro", "-f", "-s", "validate", cwd=repo, **ON)
    dvc("repro", "-f", "-s", "validate", cwd=repo, CT_PIPELINE_ID="ct-run-7", CT_MODEL_VERSION="v1.4.0", **ON)
    env_run, plain_run = offline_runs(repo, 2, stage="validate")
    assert plain_run.pipeline not in ("", runs["validate"].pipeline)  # a new invocation, a new id
    assert (env_run.pipeline, env_run.model_version) == ("ct-run-7", "v1.4.0")
    assert {"validate", "pipeline:ct-run-7", "model:v1.4.0"} <= env_run.tags


@pytest.mark.slow
def test_pipeline_with_bogus_token_falls_back_and_leaks_nothing(tmp_path: Path, tracked) -> None:
    repo = make_project(tmp_path / "project")
    token = bogus_token()
    proc = dvc("repro", cwd=repo, NEPTUNE_API_TOKEN=token, NEPTUNE_PROJECT="ws/proj", **ON)
    runs = offline_runs(repo)
    assert set(CORE_STAGES) <= {r.stage for r in runs}
    assert all(r.fields["run/fallback_reason"] == "CannotResolveHostname" and r.status == "ok" for r in runs)
    assert (proc.stdout + proc.stderr).count("cannot go online (CannotResolveHostname)") == 1  # once per pipeline
    assert sum("run/online_attempt_s" in r.fields for r in runs) == 1
    assert pipeline_outputs(repo) == pipeline_outputs(tracked[0])
    assert not (repo / ".neptune" / "async").exists()
    assert_no_secret(repo, proc.stdout + proc.stderr, token)  # every file: .neptune, .dvc, .git, outputs


@pytest.mark.slow
@pytest.mark.parametrize("how", ["params", "env"])
def test_pipeline_disabled_writes_nothing_and_outputs_unchanged(tmp_path: Path, tracked, how: str) -> None:
    repo = make_project(tmp_path / "project")
    extra = {"CT_TRACKING": "off"} if how == "env" else ON
    if how == "params":
        set_params(repo, tracking__enabled=False)
    proc = dvc("repro", cwd=repo, **extra)
    assert not (repo / ".neptune").exists()
    assert "warning: tracking" not in proc.stdout + proc.stderr
    base = tracked[0]
    assert pipeline_outputs(repo) == pipeline_outputs(base)  # data, splits, model, metrics and plots byte for byte
    for rel in ("metrics/metrics.json", "metrics/validation.json"):
        assert read_json(repo / rel) == read_json(base / rel)


def test_stopped_runs_do_not_pile_up_in_a_long_lived_process(workdir: Path, params) -> None:
    """ct.py runs the drift stage in its own process every step; Neptune keeps each run reachable
    (fork hooks that cannot be removed), so a stopped run must let go of its field tree."""
    import tracemalloc

    def one(i: int) -> None:
        with tracking.stage_run("drift", params, section="drift", pipeline=f"p-{i}") as run:
            run.metrics("drift", {f"feature_{k}": k / 7 for k in range(30)})

    for i in range(5):  # warm-up: first-use caches
        one(i)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20):
            one(100 + i)
        per_run_kb = (tracemalloc.get_traced_memory()[0] - before) / 20 / 1024
    finally:
        tracemalloc.stop()
    assert per_run_kb < 20, f"{per_run_kb:.1f} KB kept per stopped run"
    assert len(offline_runs(workdir, stage="drift")) == 25


def test_a_stage_run_records_its_process_peak_memory(workdir: Path, params) -> None:
    def rss_mb() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    before = rss_mb()
    with tracking.stage_run("preprocess", params, section="preprocess"):
        held = np.ones(200 * 2**20 // 8)  # 200 MB, every page touched
        during = rss_mb()
        del held
    recorded = only_run(workdir).fields["run/peak_rss_mb"]
    assert during >= before + 190 and recorded >= during - 1  # the peak, not the RSS at the end
