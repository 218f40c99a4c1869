"""What a person sees for each task after several CT steps and two lineages, rendered in headless Chromium:
`ct.py report` (each version's own task metrics, lineages, the per-step metric of the task), `dvc plots
show` (Vega specs that draw what their titles claim, nothing of the other task, no picture twice),
`dvc metrics show` (fits a terminal) and the release commits' drift (the batch that triggered them)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ctml import layout
from ctml.data.folds import read_manifest
from tests.ct.reporting.conftest import FIRST_SOURCE
from tests.helpers import (ROOT, copy_project, ct, dvc, git, history, read_json, rendered_dom, screenshot_ink, set_params,
                           sh)

pytestmark = pytest.mark.slow

TASK_HEADERS = {"binary": ["accuracy", "F1", "ROC AUC"], "multiclass": ["accuracy", "F1", "ROC AUC"],
                "regression": ["RMSE", "MAE", "R²"]}
TASK_METRICS = {"binary": ["accuracy", "f1", "roc_auc"], "multiclass": ["accuracy", "f1", "roc_auc"],
                "regression": ["rmse", "mae", "r2"]}
STEP_HEADER = {"binary": ("batch accuracy", "batch_accuracy"), "multiclass": ("batch accuracy", "batch_accuracy"),
               "regression": ("batch RMSE", "batch_rmse")}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&lt;", "<").replace("&gt;", ">")


def specs(page: str) -> dict[str, dict]:
    """Plot div id -> the Vega-Lite spec DVC wrote into it."""
    found = re.findall(r'<div id = "([^"]+)">\s*<script type = "text/javascript">\s*var spec = (.*?);\s*vegaEmbed', page, re.S)
    return {div: json.loads(spec) for div, spec in found}


def headers(table_html: str) -> list[str]:
    return [text_of(h).strip() for h in re.findall(r"<th>(.*?)</th>", table_html)]


def check_report(repo: Path, task: str, shots: Path) -> None:
    ct(repo, "report")
    page = repo / "ct-report.html"
    dom = rendered_dom(page)
    sections = re.findall(r'<details class="lineage" data-lineage="([^"]+)"( open="")?>(.*?)</details>', dom, re.S)
    production = read_json(repo / "models/production/lineage.json")["lineage"]
    assert len(sections) == 2 and sections[0][0] == production and sections[0][1] and not sections[1][1]
    prod_version = json.loads(ct(repo, "status", "--json").stdout)["production_version"]
    for key, _, body in sections:
        versions_table, steps_table = re.findall(r"<table>.*?</table>", body, re.S)[:2]
        assert headers(versions_table)[4:7] == TASK_HEADERS[task]
        header, field = STEP_HEADER[task]
        assert header in headers(steps_table)
        steps = history(repo)
        mine = steps[steps["lineage"] == key] if key == production else steps[steps["lineage"] != production]
        assert len(mine) == 3 and f"{mine[field].iloc[-1]:.4f}" in text_of(steps_table)
    # the production row shows its own test metrics, as its tag's commit holds them
    metrics = json.loads(git("show", f"model@{prod_version}:metrics/metrics.json", cwd=repo).stdout)
    row = text_of(re.search(r'<tr class="prod">(.*?)</tr>', sections[0][2], re.S).group(1))
    assert all(f"{metrics[m]:.4f}" in row for m in TASK_METRICS[task]) and prod_version in row
    assert screenshot_ink(page, shots / f"report-{task}.png") > 0.02


def check_plots(repo: Path, task: str, shots: Path) -> None:
    dvc("plots", "show", cwd=repo)
    page = repo / "dvc_plots/index.html"
    source = page.read_text()
    found = specs(source)
    drawn = {div: spec for div, spec in found.items() if spec}
    assert "<img" not in source.split("<body>", 1)[1]  # each picture once: Vega, no PNG twin
    dom = rendered_dom(page)
    for div in found:  # the other task's plots are left out of the page; every other plot drew its canvas
        assert (f'id="{div}"' in dom) == (div in drawn), div
        if div in drawn:
            assert "<canvas" in dom.split(f'id="{div}"', 1)[1].split('<div id="', 1)[0], f"plot {div} is blank"
    classification = {"metrics_plots_confusion_csv", "metrics_plots_roc_csv"}
    regression = {"metrics_plots_predicted_vs_actual_csv", "metrics_plots_residuals_csv", "metrics_plots_residual_hist_csv"}
    assert set(drawn) >= (regression if task == "regression" else classification)
    assert not set(drawn) & (classification if task == "regression" else regression)
    if task != "regression":
        roc = drawn["metrics_plots_roc_csv"]
        assert roc["layer"][0]["encoding"]["color"]["field"] == "class" and "one curve per class" in roc["title"]["text"]
        classes = {p["class"] for p in roc["data"]["values"]}
        assert len(classes) == (1 if task == "binary" else 3)
        assert drawn["metrics_plots_confusion_csv"]["spec"]["layer"][1]["encoding"]["text"]["field"] == "count"
    else:
        hist = drawn["metrics_plots_residual_hist_csv"]
        assert hist["encoding"]["x"] | {"title": ""} == {"field": "bin_start", "type": "quantitative", "bin": "binned",
                                                         "title": "", "scale": {"zero": False}}
        starts = [float(p["bin_start"]) for p in hist["data"]["values"]]
        width = float(hist["data"]["values"][0]["bin_end"]) - starts[0]
        assert starts == sorted(starts) and all(abs(s / width - round(s / width)) < 1e-9 for s in starts)  # round edges
        for div in ("metrics_plots_predicted_vs_actual_csv", "metrics_plots_residuals_csv"):
            encoding = drawn[div]["layer"][0]["encoding"]
            assert encoding["x"]["scale"] == encoding["y"]["scale"] == {"zero": False}
    importance = drawn["metrics_plots_importance_csv"]
    assert importance["encoding"]["y"]["sort"] == "-x"  # most important on top, as in the PNG and the CSV
    distributions = {d: s for d, s in drawn.items() if d.startswith("metrics_drift_plots_distributions_")}
    assert distributions
    for div, spec in distributions.items():  # each plot names its feature (the facet header)
        assert spec["facet"]["row"]["field"] == "feature"
        assert {p["feature"] for p in spec["data"]["values"]} and spec["spec"]["encoding"]["x"]["type"] == "ordinal"
    timeline = drawn["metrics_ct_timeline_csv"]
    assert timeline["facet"]["row"]["field"] == "lineage"
    lineages = {p["lineage"] for p in timeline["data"]["values"]}
    assert len(lineages) == 2
    series = {p["series"] for p in timeline["data"]["values"]}
    assert ("realized RMSE" in series) == (task == "regression") and ("realized accuracy" in series) != (task == "regression")
    assert screenshot_ink(page, shots / f"plots-{task}.png") > 0.02


def check_metrics_and_release_drift(repo: Path) -> None:
    shown = dvc("metrics", "show", cwd=repo).stdout
    assert max(len(line) for line in shown.splitlines()) <= 200, shown
    steps = history(repo)
    retrained = steps[steps["retrained"]]
    assert len(retrained) >= 2
    for _, step in retrained.iterrows():  # the release commit holds the drift of the batch that triggered it
        tag = f"model@{step['model_version']}"
        summary = json.loads(git("show", f"{tag}:metrics/drift_summary.json", cwd=repo).stdout)
        assert summary["drift_score"] == pytest.approx(step["drift_score"]) and summary["drift_score"] > 0
        assert step["top_drifted"].split("; ")[0] in git("show", f"{tag}:metrics/drift_plots/scores.csv", cwd=repo).stdout
    first, second = (f"model@{v}" for v in retrained["model_version"].iloc[:2])
    diff = json.loads(dvc("metrics", "diff", first, second, "--json", cwd=repo).stdout)
    assert "metrics/drift_summary.json" in diff
    assert dvc("status", "--json", cwd=repo).stdout.strip() in ("{}", "")


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_report_plots_and_metrics_tell_the_truth(task_project, task: str, tmp_path_factory: pytest.TempPathFactory):
    repo = task_project(task)
    shots = tmp_path_factory.mktemp(f"screenshots-{task}")
    check_report(repo, task, shots)
    check_plots(repo, task, shots)
    check_metrics_and_release_drift(repo)


STAGES = ["ingest", "validate", "preprocess", "train", "evaluate", "drift", "gates"]


def readme_command(start: str) -> str:
    """The first README line that starts with `start`, without its trailing comment."""
    line = next(ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith(start))
    return line.split("   #", 1)[0].strip()


def test_dvc_dag_and_repro_show_one_node_per_lineage_folder_not_every_batch(task_project, tmp_path):
    """After CT folded batches under two sources (the second one `dvc add`-ed): README's `dvc dag` draws the
    seven stages, one node per lineage's folder of batches, the source and production's model pointer, and
    nothing per batch; a user's `dvc repro` prints at most one "didn't change" line per folder; `dvc repro -q`
    (README's "Try" line) says what ran and still shows an error."""
    repo = copy_project(task_project("binary"), tmp_path)
    first, second = (layout.lineage_key(source, "target", "auto") for source in (FIRST_SOURCE["binary"], "data/source/second.csv"))
    folders = [f"data/batches/{key}.dvc" for key in (first, second)]
    assert sorted(p.relative_to(repo).as_posix() for p in (repo / "data/batches").glob("*.dvc")) == sorted(folders)
    assert all(len(read_manifest(repo / "data/batches" / key)) >= 1 for key in (first, second))  # both lineages folded
    command = readme_command("dvc dag")
    assert command == "dvc dag", command
    drawn = sh("bash", "-c", command, cwd=repo).stdout
    dot = dvc("dag", "--dot", cwd=repo).stdout  # the same graph, in a form to read back exactly
    nodes = re.findall(r'^"([^"]+)";$', dot, re.M)
    edges = set(re.findall(r'^"([^"]+)" -> "([^"]+)";$', dot, re.M))
    assert sorted(nodes) == sorted([*STAGES, *folders, "data/source/second.csv.dvc", "models/production/model.joblib.dvc"]), dot
    assert all(node in drawn for node in nodes) and ".parquet" not in drawn, drawn
    assert {("ingest", "validate"), ("preprocess", "train"), ("train", "evaluate"), ("evaluate", "drift"),
            ("train", "gates")} | {(folder, "ingest") for folder in folders} <= edges

    loud = dvc("repro", cwd=repo)  # a user's plain `dvc repro` after the CT steps
    unchanged = [ln for ln in (loud.stdout + loud.stderr).splitlines() if "didn't change" in ln]
    assert not any(".parquet" in ln for ln in unchanged), unchanged
    for folder in folders:
        assert sum(folder in ln for ln in unchanged) <= 1, unchanged
    assert len(unchanged) <= len(nodes), unchanged  # one line per node at most: per folder, not per batch

    try_line = next(ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith("Try: "))
    assert "dvc repro -q &&" in try_line
    set_params(repo, train__n_estimators=60)
    ran = dvc("repro", "-q", cwd=repo)
    said = ran.stdout + ran.stderr
    assert "didn't change" not in said and "train: random_forest (classification)" in said and "evaluate (classification): accuracy" in said
    set_params(repo, train__n_estimators=-5)
    bad = dvc("repro", "-q", cwd=repo, check=False)
    assert bad.returncode != 0 and "error: params.yaml: key 'train.n_estimators' = -5" in bad.stdout + bad.stderr
