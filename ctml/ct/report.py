"""Terminal output for ct.py: progress lines that respect -q/-v, and summary tables."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from ctml.ct.records import StepRecord


@dataclass
class Printer:
    """verbosity: 0 quiet (errors and final summary only), 1 normal, 2 verbose."""

    verbosity: int = 1

    def progress(self, message: str) -> None:
        if self.verbosity >= 1:
            print(message, flush=True)

    def detail(self, message: str) -> None:
        if self.verbosity >= 2:
            print(f"  {message}", flush=True)


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


_OUTCOMES = {"retrained": "RETRAINED -> {version}", "blocked": "BLOCKED", "failed": "FAILED", "quarantined": "QUARANTINED"}


def progress_line(i: int, steps: int, record: StepRecord, seconds: float) -> str:
    """`step i/N (#step): drift .. acc ..  OUTCOME  note  [s]` for one finished step."""
    shown = "drift -" if record.drift_score is None else f"drift {record.drift_score:.3f}"
    acc = "" if record.batch_accuracy is None else f"  acc {record.batch_accuracy:.3f}"
    acc += "" if record.batch_rmse is None else f"  rmse {record.batch_rmse:.4g}"
    outcome = _OUTCOMES.get(record.status, "ok").format(version=record.model_version)
    return f"step {i}/{steps} (#{record.step}): {shown}{acc}  {outcome}  {record.note}  [{seconds:.1f}s]"
