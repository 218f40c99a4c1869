"""The shadow's trial on live traffic: served rows scored by both models, their fed-back labels, and
the decision (`ct.py check`): promote the shadow, retire it, or wait.

The ledger, `.ct/shadow-evidence.parquet`, holds one line per served row that production and the
shadow both scored (the captured columns `_ct_prediction`, `_ct_model_version`,
`_ct_shadow_prediction`, `_ct_shadow_version`), keyed by `_ct_request_id`, and the label fed back
for it when it comes (data/labels/, joined on the same id). It is filled from the deliveries before
their CT steps run, so its rows are exactly what the server answered. A row only production scored
(no shadow loaded yet, or the shadow skipped it) never counts, and nor does a row production scored
under another version than the one in production now.

The rule (docs/shadow.md), with `gates.metric` (accuracy-type scores and errors as the gates
compare them; roc_auc needs probabilities, which are not captured: accuracy stands in) and
`gates.tolerance`: once `release.min_labelled_rows` rows are labelled, the paired bootstrap interval
(`release.confidence`, 1,000 resamples seeded with `seed`) of the shadow's margin over production
(shadow − production for a score; (production − shadow) / production for an error) is computed; the
shadow is promoted when its lower end is at least −tolerance (not worse by more than the tolerance,
with that confidence), else retired. A shadow older than `release.max_shadow_hours` with fewer
labelled rows is retired: production never changes without the evidence.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ctml import layout
from ctml.config import gate_metric
from ctml.ct import history
from ctml.ct.context import Context, now
from ctml.ct.records import MODEL_VERSION, PREDICTION, REQUEST_ID, SHADOW_PREDICTION, SHADOW_VERSION, StepRecord
from ctml.ct.release import shadow as shadows
from ctml.ct.release import tags
from ctml.ct.step.labels import read_labels
from ctml.errors import UserError
from ctml.io import read_json, read_table, write_parquet
from ctml.model.evaluate import METRIC_SPECS, classification_metrics, regression_metrics

Verdict = Literal["promote", "retire", "wait"]
COLUMNS = ("id", "shadow_version", "production_version", "prediction", "shadow_prediction", "label")
RESAMPLES = 1000


@dataclass(frozen=True)
class Evidence:
    """What the decision rests on, as the tag message, the history, the alert and `ct.py status` show it."""

    shadow: str
    production: str
    metric: str
    rows: int  # labelled rows scored by both
    scored: int  # rows scored by both, labelled or not
    needed: int  # release.min_labelled_rows
    production_value: float | None
    shadow_value: float | None
    margin_low: float | None  # the interval of the shadow's margin over production (positive: better)
    margin_high: float | None
    confidence: float
    tolerance: float
    verdict: Verdict
    reason: str

    def text(self) -> str:
        """The lines of the tag message and the report."""
        lines = [f"shadow {self.shadow} vs production {self.production}: {self.verdict} ({self.reason})",
                 f"rows: {self.rows} labelled of {self.scored} scored by both (release.min_labelled_rows {self.needed})"]
        if self.production_value is not None:
            lines += [f"{self.metric}: production {self.production_value:.4f}, shadow {self.shadow_value:.4f}",
                      f"margin of the shadow: {self.confidence:.0%} interval [{self.margin_low:+.4f}, {self.margin_high:+.4f}]"
                      f" (promoted when its lower end >= -{self.tolerance:g}, gates.tolerance)"]
        return "\n".join(lines)

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def in_force(ctx: Context) -> shadows.Shadow | None:
    """The shadow, when one is assigned; refused (one line) when its local copy is missing or changed."""
    found = shadows.current(ctx.root)
    if found is not None and (why := shadows.problem(ctx.root, found)) is not None:
        raise UserError(why)
    return found


def read_ledger(root: Path, version: str) -> pd.DataFrame:
    path = root / layout.SHADOW_EVIDENCE
    frame = pd.read_parquet(path) if path.exists() else pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return frame[frame["shadow_version"] == version].reset_index(drop=True)


def collect(ctx: Context, found: shadows.Shadow, deliveries: list[tuple[str, Path]]) -> int:
    """Add the rows scored by both of the delivered (kind, file)s, and labels for ledger rows, to the
    ledger; returns the rows labelled now. Files CT will refuse are skipped here too (their step
    quarantines them)."""
    ledger = read_ledger(ctx.root, found.version)
    labelled = 0
    for kind, path in deliveries:
        if kind == "batch":
            ledger = pd.concat([ledger, _scored_rows(path, found.version)], ignore_index=True)
            ledger = ledger.drop_duplicates("id", keep="first").reset_index(drop=True)
        else:
            labels, key, problems = read_labels(ctx, path)
            if labels is None or problems or key != REQUEST_ID:
                continue
            values = dict(zip(labels[key].astype(str), labels[ctx.params.data.target].map(_cell)))
            fresh = ledger["label"].isna() & ledger["id"].isin(values.keys())
            ledger.loc[fresh, "label"] = ledger.loc[fresh, "id"].map(values)
            labelled += int(fresh.sum())
    write_parquet(ctx.path(layout.SHADOW_EVIDENCE), ledger.astype(object))
    return labelled


def _cell(value: object) -> str:
    """Predictions and labels as text: one type in the ledger. A whole float is written as an integer:
    a captured column of class labels with missing cells (rows the shadow did not score) reads back as floats."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _scored_rows(path: Path, version: str) -> pd.DataFrame:
    try:
        frame = read_table(path)
    except UserError:
        return pd.DataFrame(columns=list(COLUMNS))
    needed = (REQUEST_ID, PREDICTION, MODEL_VERSION, SHADOW_PREDICTION, SHADOW_VERSION)
    if not set(needed) <= set(frame.columns):
        return pd.DataFrame(columns=list(COLUMNS))
    both = frame[(frame[SHADOW_VERSION] == version) & frame[SHADOW_PREDICTION].notna() & frame[PREDICTION].notna()]
    return pd.DataFrame({"id": both[REQUEST_ID].astype(str), "shadow_version": version,
                         "production_version": both[MODEL_VERSION].astype(str),
                         "prediction": both[PREDICTION].map(_cell), "shadow_prediction": both[SHADOW_PREDICTION].map(_cell),
                         "label": None})


def evidence(ctx: Context, found: shadows.Shadow, at: datetime | None = None) -> Evidence:
    """The evidence so far and its verdict (see the module docstring)."""
    rp, production = ctx.params.release, tags.production_version(ctx.root) or "none"
    ledger = read_ledger(ctx.root, found.version)
    ledger = ledger[ledger["production_version"] == production]
    done = ledger[ledger["label"].notna()]
    task = read_json(ctx.path(layout.SCHEMA)).get("task", "classification")
    metric = gate_metric(ctx.params.gates.metric, task)
    metric = "accuracy" if metric == "roc_auc" else metric
    base = dict(shadow=found.version, production=production, metric=metric, rows=len(done), scored=len(ledger),
                needed=rp.min_labelled_rows, confidence=rp.confidence, tolerance=ctx.params.gates.tolerance)
    age = ((at or datetime.now(timezone.utc)) - datetime.fromisoformat(found.since)).total_seconds() / 3600
    if len(done) < rp.min_labelled_rows:
        late = age > rp.max_shadow_hours
        reason = (f"{len(done)} of {rp.min_labelled_rows} rows labelled after {age:.1f} h, beyond release.max_shadow_hours "
                  f"({rp.max_shadow_hours:g}): retired without the evidence" if late else
                  f"{len(done)} of {rp.min_labelled_rows} rows labelled so far")
        return Evidence(**base, production_value=None, shadow_value=None, margin_low=None, margin_high=None,
                        verdict="retire" if late else "wait", reason=reason)
    truth, ours, theirs = (done[c].to_numpy() for c in ("label", "prediction", "shadow_prediction"))
    prod_value, shadow_value = (_metric(metric, task, truth, p) for p in (ours, theirs))
    low, high = _interval(metric, task, truth, ours, theirs, rp.confidence, ctx.params.seed)
    promote = low >= -ctx.params.gates.tolerance - 1e-12
    reason = (f"not worse than production by more than gates.tolerance ({ctx.params.gates.tolerance:g}) "
              f"with {rp.confidence:.0%} confidence" if promote else
              f"may be worse than production by more than gates.tolerance ({ctx.params.gates.tolerance:g})")
    return Evidence(**base, production_value=prod_value, shadow_value=shadow_value, margin_low=low, margin_high=high,
                    verdict="promote" if promote else "retire", reason=reason)


def _metric(metric: str, task: str, truth: np.ndarray, pred: np.ndarray) -> float:
    if metric == "accuracy":
        return round(float(np.mean(truth == pred)), 6)
    if task == "regression":
        return regression_metrics(pd.Series(truth.astype(float)), pred.astype(float))[metric]
    classes = np.unique(np.concatenate([truth, pred]))
    return classification_metrics(pd.Series(truth), pred, None, classes)[metric]


def _margin(metric: str, prod: np.ndarray | float, shadow: np.ndarray | float) -> np.ndarray | float:
    """The shadow's advantage: a score's difference, an error's drop as a share of production's error."""
    if METRIC_SPECS[metric].higher_is_better:
        return shadow - prod
    return (prod - shadow) / np.maximum(prod, 1e-12)


def _interval(metric: str, task: str, truth: np.ndarray, ours: np.ndarray, theirs: np.ndarray, confidence: float,
              seed: int) -> tuple[float, float]:
    """Paired bootstrap: the same resampled rows score both models."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(truth), size=(RESAMPLES, len(truth)))
    if metric == "accuracy":
        right_p, right_s = (ours == truth).astype(float), (theirs == truth).astype(float)
        margins = right_s[picks].mean(axis=1) - right_p[picks].mean(axis=1)
    elif metric in ("rmse", "mae"):
        y, p, s = truth.astype(float), ours.astype(float), theirs.astype(float)
        loss = (lambda e: np.sqrt((e ** 2).mean(axis=1))) if metric == "rmse" else (lambda e: np.abs(e).mean(axis=1))
        margins = _margin(metric, loss(p[picks] - y[picks]), loss(s[picks] - y[picks]))
    else:  # a metric with no vectorized form here: fewer resamples, each scored by ctml.model.evaluate
        margins = np.array([_margin(metric, _metric(metric, task, truth[i], ours[i]), _metric(metric, task, truth[i], theirs[i]))
                            for i in picks[:200]])
    tail = (1 - confidence) / 2
    low, high = np.quantile(margins, [tail, 1 - tail])
    return round(float(low), 6), round(float(high), 6)


def decide(ctx: Context, found: shadows.Shadow) -> tuple[Evidence, StepRecord | None]:
    """Promote or retire the shadow when the evidence says so (a history row, an alert); the record is
    None while it waits."""
    proof = evidence(ctx, found)
    if proof.verdict == "wait":
        return proof, None
    step = history.next_step(ctx.path(layout.HISTORY))
    message = f"{'promote' if proof.verdict == 'promote' else 'retire'} {found.version} from shadow\n{proof.text()}"
    if proof.verdict == "promote":
        before = shadows.promote(ctx, found, message, step)
        record = StepRecord(step=step, time=now(), scenario="shadow", status="shadow_promoted", model_version=found.version,
                            note=f"production {before} -> {found.version}: {_summary(proof)}", labelled_rows=proof.rows)
    else:
        tag = shadows.retire(ctx, found, message)
        record = StepRecord(step=step, time=now(), scenario="shadow", status="shadow_retired",
                            model_version=proof.production, note=f"{found.version} retired ({tag}): {_summary(proof)}",
                            labelled_rows=proof.rows)
    record.batch_accuracy = proof.production_value if proof.metric == "accuracy" else None
    failure = ctx.alert(record.status, f"step {step}: {record.note}", step, found.version, proof.as_json())
    if failure:
        record.note = f"{record.note}; {failure}"
    history.append(ctx.path(layout.HISTORY), record)
    if ctx.log is not None:
        ctx.log.log(f"ct/shadow/{step}", {k: v for k, v in proof.as_json().items() if v is not None})
    ctx.path(layout.SHADOW_EVIDENCE).unlink(missing_ok=True)
    return proof, record


def _summary(proof: Evidence) -> str:
    if proof.production_value is None:
        return proof.reason
    return (f"{proof.rows} labelled rows, {proof.metric} production {proof.production_value:.4f} vs shadow "
            f"{proof.shadow_value:.4f}, margin {proof.confidence:.0%} interval [{proof.margin_low:+.4f}, "
            f"{proof.margin_high:+.4f}]; {proof.reason}")
