"""ctml.runs.offline: offline runs written by real (offline) Neptune runs, read back and listed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctml import tracking
from ctml.errors import UserError
from ctml.runs.offline import (HEADERS, STRUCTURE_VERSIONS, UnreadableRun, detail_rows, details, find_run, offline_runs,
                               print_runs, read_run, run_ids, runs_table)



def make_pipeline(params, pipeline: str, version: str = "", accuracy: float = 0.9) -> None:
    """Three runs as a pipeline would leave them; the train step fails when accuracy is negative."""
    with tracking.stage_run("validate", params, section="validate", pipeline=pipeline, model_version=version) as run:
        run.metrics("validation", {"rows": 569, "passed": True})
    with tracking.stage_run("evaluate", params, section="evaluate", pipeline=pipeline, model_version=version) as run:
        run.metrics("metrics", {"accuracy": accuracy, "f1": 0.95})
    with tracking.stage_run("ct", params, section="ct", pipeline=pipeline, model_version=version) as run:
        run.series("ct/drift_score", [0.1, 0.42], steps=[1, 2])


def test_offline_runs_newest_first_with_filters(workdir: Path, params) -> None:
    make_pipeline(params, "p1", "v1.0.0")
    make_pipeline(params, "p2", "v1.1.0", accuracy=0.8)
    runs = offline_runs(workdir)
    assert [(r.stage, r.pipeline) for r in runs] == [("ct", "p2"), ("evaluate", "p2"), ("validate", "p2"),
                                                   ("ct", "p1"), ("evaluate", "p1"), ("validate", "p1")]
    assert [r.pipeline for r in offline_runs(workdir, 2)] == ["p2", "p2"]
    evaluate = offline_runs(workdir, stage="evaluate", model_version="v1.0.0")
    assert len(evaluate) == 1 and evaluate[0].metrics == {"metrics/accuracy": 0.9, "metrics/f1": 0.95}
    assert [r.stage for r in offline_runs(workdir, pipeline="p1")] == ["ct", "evaluate", "validate"]
    assert offline_runs(workdir, stage="train") == []


def test_read_run_fields_tags_series(workdir: Path, params) -> None:
    make_pipeline(params, "p1", "v1.0.0")
    ct = offline_runs(workdir, 1)[0]
    assert (ct.stage, ct.pipeline, ct.model_version, ct.status) == ("ct", "p1", "v1.0.0", "ok")
    assert ct.tags == {"ct", "pipeline:p1", "model:v1.0.0"}
    assert ct.series == {"ct/drift_score": [(1.0, 0.1), (2.0, 0.42)]}
    assert ct.metrics == {}
    assert ct.run_id == json.loads((ct.directory / "metadata.json").read_text())["containerId"]


def test_read_run_skips_a_truncated_last_line(workdir: Path, params) -> None:
    """A stage killed mid-write leaves half a line; the rest of the run still reads."""
    make_pipeline(params, "p1")
    run = offline_runs(workdir, stage="evaluate")[0]
    with open(run.directory / "data-1.log", "a") as log:
        log.write('{"obj": {"type": "AssignFloat", "path": ["metrics", "acc')
    again = read_run(run.directory)
    assert again.metrics == run.metrics and again.status == "ok"


def test_run_without_end_is_running(workdir: Path, params) -> None:
    make_pipeline(params, "p1")
    run = offline_runs(workdir, stage="validate")[0]
    log = run.directory / "data-1.log"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines() if '"status"' not in line))
    assert read_run(run.directory).status == "running"


def test_run_ids_of_a_model_version(workdir: Path, params) -> None:
    make_pipeline(params, "p1", "v1.0.0")
    make_pipeline(params, "p2", "v1.1.0")
    ids = run_ids(workdir, model_version="v1.0.0")
    runs = offline_runs(workdir, model_version="v1.0.0")
    assert ids == [f"{r.stage}:{r.run_id[:8]}" for r in reversed(runs)]
    assert [i.split(":")[0] for i in ids] == ["validate", "evaluate", "ct"]
    assert run_ids(workdir, model_version="v9.9.9") == []


def test_runs_table_oldest_first_with_key_metrics(workdir: Path, params) -> None:
    make_pipeline(params, "p1", "v1.0.0")
    rows = runs_table(workdir, limit=3)
    assert [r[1:5] for r in rows] == [["validate", "ok", "v1.0.0", "p1"], ["evaluate", "ok", "v1.0.0", "p1"],
                                      ["ct", "ok", "v1.0.0", "p1"]]
    assert [r[6] for r in rows] == ["rows=569 passed=True", "accuracy=0.9 f1=0.95", "drift_score=0.42"]
    assert all(len(r) == len(HEADERS) for r in rows)
    assert [r[1] for r in runs_table(workdir, limit=10, stage="evaluate")] == ["evaluate"]


def test_print_runs_aligned_table(workdir: Path, params, capsys: pytest.CaptureFixture) -> None:
    make_pipeline(params, "p1", "v1.0.0")
    print_runs(workdir, 2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["time", "(UTC)", *HEADERS[1:]]
    assert [line.split()[2] for line in lines[1:3]] == ["evaluate", "ct"]
    assert lines[1].index("accuracy=0.9") == lines[0].index("metrics")
    assert "2 newest runs in" in lines[4] and "neptune sync" in lines[4]
    docs = (Path(__file__).resolve().parents[2] / "docs" / "tracking.md").read_text()
    for hint in ("python ct.py export-runs", "mlflow ui --backend-store-uri sqlite:///mlflow.db",
                 "neptune sync --path", "--project WORKSPACE/PROJECT"):
        assert hint in lines[4] and hint in docs, hint  # the printed hint is what the docs say
    assert f"neptune sync --path {workdir} --project" in lines[4]  # the folder that holds .neptune, as docs say


def test_one_run_in_full_by_the_id_prefix_the_report_prints(workdir: Path, params, capsys: pytest.CaptureFixture) -> None:
    """The report names each run by `python ct.py runs --show <8 characters>`: that command shows it readably."""
    make_pipeline(params, "p1", "v1.0.0")
    evaluate = offline_runs(workdir, stage="evaluate")[0]
    assert find_run(workdir, evaluate.run_id[:8].upper()) is not None and find_run(workdir, evaluate.run_id[:8]).stage == "evaluate"
    doc = details(evaluate)
    assert (doc["stage"], doc["model_version"], doc["metrics"]) == ("evaluate", "v1.0.0", {"metrics/accuracy": 0.9, "metrics/f1": 0.95})
    assert doc["fields"]["metrics/accuracy"] == 0.9 and doc["fields"]["pipeline/id"] == "p1"
    ct_run = offline_runs(workdir, stage="ct")[0]
    assert details(ct_run)["series"] == {"ct/drift_score": {"points": 2, "last": 0.42}}
    rows = dict(detail_rows(ct_run))
    assert rows["ct/drift_score (series)"] == "2 points, last 0.42" and rows["stage"] == "ct"
    with pytest.raises(UserError, match="run id 'zzzz': no offline run"):
        find_run(workdir, "zzzz")
    with pytest.raises(UserError, match="--show needs a run id"):
        find_run(workdir, " ")

    import ct
    for name in ("dvc.yaml", "params.yaml"):  # a project root, as ct.py looks for one
        (workdir / name).write_text("")
    (workdir / ".git").mkdir()
    assert ct.main(["runs", "--show", evaluate.run_id[:8], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run_id"] == evaluate.run_id and shown["fields"]["metrics/f1"] == 0.95
    assert ct.main(["runs", "--show", evaluate.run_id[:8]]) == 0
    table = capsys.readouterr().out
    assert f"Offline run {evaluate.run_id}" in table and "metrics/accuracy" in table and "0.9" in table


def test_print_runs_without_runs(workdir: Path, capsys: pytest.CaptureFixture) -> None:
    print_runs(workdir, 20)
    assert capsys.readouterr().out.startswith(f"no offline runs in {workdir / '.neptune' / 'offline'}")


def test_neptune_data_directory_is_honoured(workdir: Path, params, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEPTUNE_DATA_DIRECTORY", "tracking-data")
    make_pipeline(params, "p1")
    assert not (workdir / ".neptune").exists()
    assert len(offline_runs(workdir)) == 3
    assert all(r.directory.parent == workdir / "tracking-data" / "offline" for r in offline_runs(workdir))


# --- the layout is checked, damaged folders are skipped with one line -----------------------------------

def test_runs_written_by_the_pinned_client_are_a_known_layout(workdir: Path, params) -> None:
    make_pipeline(params, "p1")
    meta = json.loads((offline_runs(workdir, 1)[0].directory / "metadata.json").read_text())
    assert meta["structureVersion"] in STRUCTURE_VERSIONS and meta["neptuneClientVersion"].startswith("1.14")
    assert {r.client_version for r in offline_runs(workdir)} == {meta["neptuneClientVersion"]}


@pytest.mark.parametrize("change,why", [
    ({"structureVersion": 4}, "unknown offline layout (structureVersion 4, neptune client 1.14"),
    ({"neptuneClientVersion": "2.0.0"}, "unknown offline layout (structureVersion 3, neptune client 2.0.0)"),
])
def test_an_unknown_layout_is_refused_with_one_line(workdir: Path, params, change: dict, why: str) -> None:
    make_pipeline(params, "p1")
    folder = offline_runs(workdir, stage="evaluate")[0].directory
    meta = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**meta, **change}))
    with pytest.raises(UnreadableRun) as info:
        read_run(folder)
    assert str(info.value).startswith(f"{folder}: {why}") and "\n" not in str(info.value)


def damage(folder: Path, how: str) -> None:
    if how == "no metadata":
        (folder / "metadata.json").unlink()
    elif how == "truncated metadata":
        (folder / "metadata.json").write_text((folder / "metadata.json").read_text()[:40])
    elif how == "corrupted log line":
        lines = (folder / "data-1.log").read_text().splitlines()
        lines[3] = lines[3][:25] + "\x00garbage"
        (folder / "data-1.log").write_text("\n".join(lines) + "\n")
    elif how == "no log":
        (folder / "data-1.log").unlink()


@pytest.mark.parametrize("how,why", [("no metadata", "no metadata.json"), ("truncated metadata", "metadata.json is not readable"),
                                     ("corrupted log line", "data-1.log line 4 is not a Neptune operation"),
                                     ("no log", "no data-*.log")])
def test_a_damaged_folder_is_skipped_with_one_line_and_the_rest_listed(workdir: Path, params, capsys, how: str,
                                                                       why: str) -> None:
    make_pipeline(params, "p1")
    folder = offline_runs(workdir, stage="evaluate")[0].directory
    damage(folder, how)
    assert [r.stage for r in offline_runs(workdir)] == ["ct", "validate"]
    err = capsys.readouterr().err.splitlines()
    assert err == [f"warning: tracking: {folder}: {why}" + err[0].split(why, 1)[1]] and err[0].endswith("; skipped")


def test_a_queued_experiment_logs_into_the_project_with_its_name(workdir: Path, params, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dvc exp run --queue` runs stages in a temporary copy it deletes afterwards; DVC_ROOT names the project."""
    project, copy = workdir / "project", workdir / "exp-copy"
    project.mkdir()
    copy.mkdir()
    monkeypatch.setenv("NEPTUNE_DATA_DIRECTORY", ".neptune")  # so the variable the run sets is undone after the test
    monkeypatch.chdir(copy)
    monkeypatch.setenv("DVC_ROOT", str(project))
    monkeypatch.setenv("DVC_EXP_NAME", "tonal-book")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "39104dd11a9fbcf2c8085581837875232e2c66b5")
    with tracking.stage_run("train", params, section="train") as run:
        run.metrics("train", {"rows": 426})
    assert not (copy / ".neptune").exists()
    (logged,) = offline_runs(project)
    assert logged.fields["pipeline/experiment"] == "tonal-book" and "exp:tonal-book" in logged.tags
    assert logged.fields["pipeline/baseline_rev"] == "39104dd11a9fbcf2c8085581837875232e2c66b5"


def test_data_directory_follows_dvc_root_unless_a_root_is_named() -> None:
    assert tracking.data_directory(environ={"DVC_ROOT": "/p"}) == Path("/p/.neptune")
    assert tracking.data_directory("/q", {"DVC_ROOT": "/p"}) == Path("/q/.neptune")
    assert tracking.data_directory(environ={"DVC_ROOT": "/p", "NEPTUNE_DATA_DIRECTORY": "runs"}) == Path("/p/runs")
    assert tracking.data_directory(environ={}) == Path(".neptune")
