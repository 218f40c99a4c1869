"""One error type for everything a user can fix, and one place that turns it into a message."""
from __future__ import annotations

import gc
import sys
from typing import Callable, Sequence


class UserError(Exception):
    """Bad input, config or state; the message is one line naming the file, key, column or value."""

    exit_code = 1


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a stage or command `main`, mapping a UserError to one stderr line and exit code 1.

    Why one place: every entry point then has the same contract (message + non-zero exit, no
    traceback for problems the user caused), and unexpected bugs still show their traceback.
    """
    try:
        return int(main(argv) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        # Stages are short processes that import pandas, scipy, sklearn and neptune: freezing the heap
        # skips the interpreter's final garbage-collection sweep over it (measured ~0.3 s per stage).
        gc.freeze()
