"""ct.py's commands, one module each with its `add_parser` and `run` side by side (as dvc/commands/ does).

Each `run(args) -> int` is thin: it parses nothing itself and calls the ctml.ct packages that do the work.
ct.py lists them in the order `--help` shows: simulate, check, watch, status, history, runs, export_runs,
rollback, promote, lineage, compare, predict, serve, report. This module holds the argument types they share.
"""
from __future__ import annotations

import argparse


def non_negative(text: str) -> int:
    """An integer >= 0 (a count such as --limit); argparse turns the error into a usage error (exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value
