"""`ct.py report` as one self-contained HTML page: no script, no font, no link it must load, the
timeline PNG inlined as a data URI, so it opens offline and can be mailed or archived as one file.

Rendering only: what the page shows is gathered by `ctml.ct.reporting.overview`.
"""
from __future__ import annotations

import base64
import html
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from ctml.ct.reporting.overview import Lineage, Overview, Version
from ctml.runs.offline import metrics_text
from ctml.errors import UserError
from ctml.io import atomic_path

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; } th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; } tr.prod td { background: #eaf6ea; font-weight: 600; }
.ok { color: #1a7f37; } .bad { color: #c62828; } .muted { color: #777; }
.banner { padding: 0.8em 1em; background: #eef4fb; border-left: 4px solid #4a7ebb; }
img { max-width: 100%; border: 1px solid #ddd; }
details { margin: 1em 0; } summary { cursor: pointer; font-size: 1.1em; font-weight: 600; }
"""
# Columns of the versions table by task (every metric is in the version's tooltip), and of the
# steps table: (header, StepRecord field) of the realized or estimated metric of the task.
SHOWN_METRICS = {"classification": (("accuracy", "accuracy"), ("F1", "f1"), ("ROC AUC", "roc_auc")),
                 "regression": (("RMSE", "rmse"), ("MAE", "mae"), ("R²", "r2"))}
STEP_METRICS = {"classification": (("batch accuracy", "batch_accuracy"), ("estimated accuracy", "estimated_accuracy")),
                "regression": (("batch RMSE", "batch_rmse"), ("RMSE rise", "error_increase"))}


def _e(value: Any) -> str:
    if value is None or value == "":
        return '<span class="muted">-</span>'
    if isinstance(value, bool):
        return '<span class="ok">yes</span>' if value else '<span class="bad">no</span>'
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def _when(iso: str) -> str:
    """An ISO time as `YYYY-MM-DD HH:MM:SS` UTC (what the page's headers say)."""
    try:
        return _e(datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"))
    except (TypeError, ValueError):
        return _e(iso)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], classes: Iterable[str] = ()) -> str:
    """Cells are HTML already (escaped by the caller); `classes` gives each row a class."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    marks = iter(classes)
    body = "".join(f'<tr class="{next(marks, "")}">' + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _gates(version: Version) -> str:
    gates = version.gates
    if not gates:
        return _e(None)
    if gates.get("passed"):
        return '<span class="ok">passed</span>'
    return f'<span class="bad">blocked by {html.escape(", ".join(gates.get("blocked_by", [])))}</span>'


def _versions(data: Overview, group: Lineage) -> str:
    if not group.versions:
        return '<p class="muted">No version released from this lineage.</p>'
    shown = SHOWN_METRICS[group.task]
    rows, classes = [], []
    for v in reversed(group.versions):
        title = html.escape("; ".join(f"{k} {m}" for k, m in sorted(v.metrics.items())), quote=True)
        rows.append([f'<span title="{title}">{_e(v.version)}</span>', _when(v.released), _e(v.reason), _e(v.drift_score),
                     *(_e(v.metrics.get(m)) for _, m in shown), _gates(v),
                     "production" if v.version == data.production else ""])
        classes.append("prod" if v.version == data.production else "")
    return _table(["version", "released (UTC)", "reason", "drift score", *(h for h, _ in shown), "gates", ""], rows, classes)


def _promotions(data: Overview) -> str:
    rows = [[_e(f"#{p.number}"), _e(p.version), _when(p.when), _e(p.message)] for p in reversed(data.promotions)]
    return _table(["assignment", "version", "when (UTC)", "message"], rows)


def _steps(group: Lineage) -> str:
    if not group.steps:
        return '<p class="muted">No CT step checked a batch of this lineage.</p>'
    shown = STEP_METRICS[group.task]
    rows = []
    for r in reversed(group.steps):
        status = f'<span class="{"bad" if r.status in ("blocked", "failed", "quarantined") else "ok"}">{_e(r.status)}</span>'
        rows.append([_e(r.step), _when(r.time), _e(r.scenario), status, _e(r.triggers), _e(r.drift_score), _e(r.threshold),
                     _e(r.batch_rows), *(_e(getattr(r, f)) for _, f in shown), _e(r.top_drifted), _e(r.model_version),
                     _e(r.note)])
    return _table(["step", "time (UTC)", "scenario", "status", "triggers fired", "drift score", "threshold", "rows",
                   *(h for h, _ in shown), "top drifted features", "model", "note"], rows)


def _lineages(data: Overview) -> str:
    """One section per lineage: the current one open, older ones folded away."""
    parts = []
    for i, group in enumerate(data.lineages):
        label = f"{group.source or group.key} ({group.task})"
        summary = (f"{'Current lineage' if i == 0 else 'Older lineage'}: {html.escape(label)} · "
                   f"{len(group.versions)} version(s), {len(group.steps)} CT step(s)")
        parts.append(f'<details class="lineage" data-lineage="{html.escape(group.key, quote=True)}"{" open" if i == 0 else ""}>'
                     f"<summary>{summary}</summary><h3>Versions</h3>{_versions(data, group)}"
                     f"<h3>Drift and {'error' if group.task == 'regression' else 'accuracy'} per step</h3>{_steps(group)}</details>")
    return "".join(parts)


def _timeline(data: Overview) -> str:
    if data.timeline is None:
        return '<p class="muted">No timeline yet: there is one after the first CT step.</p>'
    encoded = base64.b64encode(data.timeline).decode()
    return f'<img alt="CT timeline per lineage: drift score per step, threshold, retrains, the task metric" src="data:image/png;base64,{encoded}">'


def _quarantine(data: Overview) -> str:
    if not data.quarantined:
        return '<p class="muted">No batch was quarantined.</p>'
    rows = [[_e(q.batch), "<br>".join(_e(line) for line in q.reasons)] for q in data.quarantined]
    return _table(["batch", "problems"], rows)


def _validation(data: Overview) -> str:
    v = data.validation
    training = ('<p class="muted">No validation report yet (`dvc repro` writes metrics/validation.json).</p>' if v is None else
                f"<p>Training data: {_e(v.get('rows'))} rows, {_e(v.get('columns'))} columns, {_e(v.get('violations'))} "
                f"violation(s); passed: {_e(v.get('passed'))}.</p>")
    latest = (f"<p>Newest problem batch <code>{_e(data.quarantined[0].batch)}</code>:</p><ul>"
              + "".join(f"<li>{_e(line)}</li>" for line in data.quarantined[0].reasons) + "</ul>") if data.quarantined else ""
    return training + latest


def _runs(data: Overview, out_dir: Path) -> str:
    if not data.runs:
        return '<p class="muted">No offline Neptune runs in this project.</p>'
    rows = []
    for run in data.runs:  # no link: the folder holds the client's binary log files, not a page to open
        folder = Path(os.path.relpath(run.directory, out_dir)).as_posix()
        rows.append([_e(run.created_at.strftime("%Y-%m-%d %H:%M:%S")), _e(run.stage), _e(run.status), _e(run.model_version),
                     _e(run.fields.get("pipeline/experiment")), _e(metrics_text(run)),
                     f'<code title="{html.escape(folder, quote=True)}">python ct.py runs --show {_e(run.run_id[:8])}</code>'])
    return (_table(["created (UTC)", "stage", "status", "model", "experiment", "metrics", "every field"], rows)
            + '<p class="muted">A run in full (fields, tags, series, files): the command beside it; all runs: '
              '<code>python ct.py runs</code>; into MLflow: <code>python ct.py export-runs</code>.</p>')


def render(data: Overview, out_dir: Path) -> str:
    """The page; links to offline runs are relative to `out_dir`, where the page will be written."""
    title = f"CT report: {data.project.name}"
    if data.empty:
        body = (f'<p class="banner">No CT history yet: no model version released and no CT step recorded. '
                f'Run <code>python ct.py simulate</code> or <code>python ct.py check</code>, then this report again.</p>'
                f"<h2>Validation</h2>{_validation(data)}<h2>Neptune runs</h2>{_runs(data, out_dir)}")
    else:
        current = next((v for v in data.versions if v.version == data.production), None)
        head = (f"<p class=\"banner\">In production: <b>{_e(data.production)}</b>"
                + (f" ({_e(current.reason)}; released {_when(current.released)} UTC)" if current else "")
                + f". {len(data.versions)} version(s), {len(data.steps)} CT step(s).</p>")
        body = (head + f"<h2>Lineages</h2>{_lineages(data)}<h2>Production assignments</h2>{_promotions(data)}"
                f"<h2>CT timeline</h2>{_timeline(data)}"
                f"<h2>Quarantined batches</h2>{_quarantine(data)}<h2>Validation</h2>{_validation(data)}"
                f"<h2>Neptune runs</h2>{_runs(data, out_dir)}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<p class="muted">{html.escape(str(data.project))} · generated {_when(data.generated)} UTC</p>{body}</body></html>\n')


def write(path: Path, page: str) -> None:
    """Write the page atomically, creating a missing folder; any failure is one line naming the path."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(page, encoding="utf-8")
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename and Path(exc.filename) != Path(path) else ""
        raise UserError(f"{path}: cannot write the report ({exc.strerror or type(exc).__name__}{where})") from None
