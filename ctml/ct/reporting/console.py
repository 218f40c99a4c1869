"""Terminal output for ct.py: progress lines that respect -q/-v, and summary tables."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from ctml.ct.records import StepRecord


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A rich table on a terminal, plain aligned text when piped (so output stays greppable)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    grid = Table(title=title, title_justify="left")
    for header in headers:
        grid.add_column(str(header))
    for row in rows:
        grid.add_row(*("" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v)) for v in row))
    console.print(grid)


def print_json(data: Any) -> None:
    """`--json` output: only JSON on stdout, so cron jobs and scripts can parse it."""
    import json

    print(json.dumps(data, indent=2, default=str))


_OUTCOMES = {"retrained": "RETRAINED -> {version}", "blocked": "BLOCKED", "failed": "FAILED", "quarantined": "QUARANTINED",
             "duplicate": "DUPLICATE", "awaiting_labels": "AWAITING LABELS",
             "shadow_promoted": "SHADOW PROMOTED -> {version}", "shadow_retired": "SHADOW RETIRED"}


def progress_line(i: int, steps: int, record: StepRecord, seconds: float) -> str:
    """`step i/N (#step) [file]: drift .. acc ..  OUTCOME  note  [s]` for one finished step."""
    shown = "drift -" if record.drift_score is None else f"drift {record.drift_score:.3f}"
    note = record.note
    if note.startswith(shown):  # the decision already says the drift against the threshold: once is enough
        shown, _, note = note.partition("; ")
    acc = "" if record.batch_accuracy is None else f"  acc {record.batch_accuracy:.3f}"
    acc += "" if record.batch_rmse is None else f"  rmse {record.batch_rmse:.4g}"
    outcome = _OUTCOMES.get(record.status, "ok").format(version=record.model_version)
    where = f" {record.file}" if record.file else ""
    return f"step {i}/{steps} (#{record.step}){where}: {shown}{acc}  {outcome}  {note}  [{seconds:.1f}s]"


def run_summary(ctx: Any, records: list[StepRecord], seconds: float, title: str = "CT summary") -> None:
    """The table at the end of a CT command: steps and their outcomes, versions made, production,
    metrics, where to look."""
    from ctml import layout
    from ctml.ct.release.production import current_version
    from ctml.io import read_json

    count = {s: sum(r.status == s for r in records)
             for s in ("retrained", "blocked", "failed", "quarantined", "duplicate", "awaiting_labels")}
    table(title, ["item", "value"], [
        ["steps", len(records)],
        ["retrains", count["retrained"]],
        ["blocked / failed / quarantined", f"{count['blocked']} / {count['failed']} / {count['quarantined']}"],
        *([["duplicates / awaiting labels", f"{count['duplicate']} / {count['awaiting_labels']}"]]
          if count["duplicate"] or count["awaiting_labels"] else []),
        ["versions created", ", ".join(ctx.created) or "none"],
        ["production", current_version(ctx) or "none"],
        *[[f"metric {k}", v] for k, v in read_json(ctx.path(layout.METRICS)).items() if not isinstance(v, dict)],
        ["timeline", "`dvc plots show` or `python ct.py report`"],
        ["history", str(layout.HISTORY)],
        ["time", f"{seconds:.1f}s"],
    ])
