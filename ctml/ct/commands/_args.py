"""Argument types shared by several commands."""
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
