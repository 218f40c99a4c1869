"""ct.py's commands, one module each with its `add_parser` and `run` side by side (as dvc/commands/ does).

Each `run(args) -> int` is thin: it parses nothing itself and calls the ctml.ct modules that do the work.
"""
from __future__ import annotations

from ctml.ct.commands import (check, compare, export_runs, history, lineage, predict, promote, report, rollback, runs,
                              serve, simulate, status, watch)

COMMANDS = (simulate, check, watch, status, history, runs, export_runs, rollback, promote, lineage, compare, predict, serve, report)
