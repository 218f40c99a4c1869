"""Views a person reads, rendered in headless Chromium with no network: `ct.py report` and the
offline `dvc plots show` / `dvc plots diff` page."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from ctml.ct.history import draw_timeline
from ctml.ct.history import read as history_records
from tests.helpers import built_once, copy_project, ct, dvc, git, history, rendered_dom, retrain_on_drift, screenshot_ink

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(baseline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1.0.0, a drift retrain v1.1.0, a step without drift, and a quarantined batch (`ct.py check`)."""
    def build(parent: Path) -> None:
        repo = copy_project(baseline_repo, parent)
        retrain_on_drift(repo, 2)
        (repo / "data/incoming/batch.csv").write_text("mean radius,target\nabc,1\n")
        assert ct(repo, "check", check=False).returncode == 3  # quarantined: needs attention

    return built_once(tmp_path_factory, "report", build)[0]


def text_of(dom: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_the_report_tells_what_happened_in_one_offline_page(project: Path, tmp_path: Path):
    out = ct(project, "report").stdout
    page = project / "ct-report.html"
    assert f"report: {page}" in out and git("status", "--porcelain", cwd=project).stdout == ""  # git-ignored
    source = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", source), "the page must load nothing from a network"
    text = text_of(rendered_dom(page))
    versions = ["v1.0.0", "v1.1.0"]
    assert all(v in text for v in versions) and "In production: v1.1.0" in text
    assert "baseline" in text and "drift 0." in text  # the reason of each release, from its tag message
    past = history(project)
    assert len(past) == 3 and f"{len(past)} CT step(s)" in text
    drifted = past["top_drifted"].dropna()
    assert len(drifted) and drifted.iloc[0].split("; ")[0] in text  # drift per step names its top features
    fired = past["triggers"].dropna()
    assert len(fired) and "triggers fired" in text  # the retrain triggers each step fired (decide's record)
    assert re.search(rf"<td>{re.escape(fired.iloc[0])}</td>", source)
    gate = json.loads(git("show", "model@v1.1.0:metrics/gates.json", cwd=project).stdout)["gates"]["accuracy"]
    assert gate["detail"].startswith(f"candidate accuracy {gate['value']:.4f} vs production 0.")
    row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", source) if ">v1.1.0</span>" in r)
    assert f"<td>{gate['detail']}</td>" in row  # what the gate saw: both models on v1.1.0's test rows
    reason = (project / "data/quarantine/step-0003.reason.txt").read_text().splitlines()[0]
    assert "step-0003.csv" in text and " ".join(reason.split()) in text  # the quarantined batch and why
    png = re.search(r'src="data:image/png;base64,([^"]+)"', source)
    assert png and base64.b64decode(png.group(1)) == draw_timeline(history_records(project / "metrics/ct_history.csv"))
    runs = re.findall(r'<code title="([^"]+)">python ct.py runs --show ([0-9a-f-]{8})</code>', source)
    assert runs and all((page.parent / folder).is_dir() for folder, _ in runs)  # the offline Neptune runs, named
    assert "href=" not in source  # no link to a folder of log files: the command that shows the run readably
    folder, prefix = runs[0]
    shown = json.loads(ct(project, "runs", "--show", prefix, "--json").stdout)
    assert Path(shown["directory"]).name == Path(folder).name and shown["fields"]
    assert screenshot_ink(page, tmp_path / "report.png") > 0.02, "the report renders blank"

    nested = tmp_path / "not" / "yet" / "there.html"
    ct(project, "report", "--output", str(nested))
    assert nested.read_text().count("v1.1.0") == source.count("v1.1.0")


def test_the_report_holds_production_to_a_default_model_on_the_same_rows(project: Path):
    """The production version's test metrics beside metrics/reference_model.json at its tag (a default
    HistGradientBoosting on the same split), marked when it trails beyond evaluate.reference_tolerance."""
    from dataclasses import replace

    from ctml.ct.reporting.html import render
    from ctml.ct.reporting.overview import gather

    data = gather(project, 0)
    current = next(v for v in data.versions if v.version == data.production)
    reference = json.loads(git("show", "model@v1.1.0:metrics/reference_model.json", cwd=project).stdout)
    metrics = json.loads(git("show", "model@v1.1.0:metrics/metrics.json", cwd=project).stdout)
    assert (current.version, current.reference, current.metrics, current.model) == ("v1.1.0", reference, metrics, "random_forest")
    assert reference["name"] == "HistGradientBoostingClassifier()"

    def section(version) -> str:
        data.versions = [version if v.version == version.version else v for v in data.versions]
        page = render(data, project)
        return text_of(page.split("<h2>Model vs a default model</h2>", 1)[1].split("<h2>", 1)[0])

    shown = section(current)
    assert f"v1.1.0: random_forest {metrics['accuracy']:.4f} {metrics['f1']:.4f} {metrics['roc_auc']:.4f}" in shown
    assert f"default: HistGradientBoostingClassifier() {reference['accuracy']:.4f} {reference['f1']:.4f}" in shown
    assert ("trails" in shown) == (metrics["accuracy"] < reference["accuracy"] - 0.05)
    near = replace(current, metrics={**metrics, "accuracy": reference["accuracy"] - 0.049})
    assert "accuracy within evaluate.reference_tolerance 0.05 of the default model" in section(near)
    behind = replace(current, metrics={**metrics, "accuracy": reference["accuracy"] - 0.051})
    assert (f"\u26a0 v1.1.0 trails a default HistGradientBoostingClassifier() on accuracy ({reference['accuracy'] - 0.051:.4f} "
            f"vs {reference['accuracy']:.4f}, beyond evaluate.reference_tolerance 0.05)") in section(behind)
    assert "No reference model recorded" in section(replace(current, reference={}))


def test_a_report_without_ct_history_says_so(fresh_repo: Path):
    ct(fresh_repo, "report")
    text = text_of(rendered_dom(fresh_repo / "ct-report.html"))
    assert "No CT history yet" in text and "python ct.py simulate" in text


def test_a_report_that_cannot_be_written_is_one_line(project: Path, tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for target in (blocker / "report.html", tmp_path):
        proc = ct(project, "report", "--output", str(target), check=False)
        assert proc.returncode == 1 and proc.stdout == "", proc.stderr
        assert proc.stderr.startswith(f"error: {target}: cannot write the report (") and proc.stderr.count("\n") == 1
    assert blocker.read_text() == ""


def test_dvc_plots_render_offline_and_diff_between_tags_warns_about_nothing(project: Path):
    proc = dvc("plots", "diff", "model@v1.0.0", "model@v1.1.0", cwd=project)
    assert "failed to load" not in proc.stdout + proc.stderr
    dvc("plots", "show", cwd=project)
    page = project / "dvc_plots/index.html"
    source = page.read_text()
    assert "cdn.jsdelivr" not in source and not re.search(r"""<script[^>]+src=["']?https?:""", source)
    vega = re.findall(r"vegaEmbed\('#([^']+)'", source)
    dom = rendered_dom(page)
    shown = [div for div in vega if f'id="{div}"' in dom]  # the regression plots of a classifier are left out
    assert len(shown) >= 6 and not [div for div in shown if "resid" in div or "predicted_vs" in div]
    for div in shown:  # every Vega plot drew its canvas
        block = dom.split(f'id="{div}"', 1)[1].split('<div id="', 1)[0]
        assert "<canvas" in block, f"plot {div} is blank"
