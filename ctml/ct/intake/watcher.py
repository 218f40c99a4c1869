"""`ct.py watch`: look at the inboxes every `ct.watch_interval_s` and process what arrived, until stopped.

Each round is one `ct.py check` (the same intake, commit and alerts), with the lock held only for
that round, so `ct.py rollback` or a cron `check` can run between rounds (a round that finds the
lock taken waits for the next). params.yaml is read again each round: an edit takes effect at the
next one, and a bad edit is reported and waited out, not fatal.

SIGTERM or SIGINT stops the loop cleanly: the step under way is finished (a step takes seconds, a
retrain under a minute), the round commits what it did, and the process exits 0. A second signal
abandons the step at once (SIGINT: KeyboardInterrupt; SIGTERM: the default, termination), and the
next `ct.py` run recovers it as after any crash.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from ctml.errors import UserError


class Stop:
    """The stop request: set by the first SIGTERM/SIGINT, which then gets its default behaviour back."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal = ""  # the name of the signal that asked to stop
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Stop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        """No output here: the signal may arrive while the loop is printing (a reentrant write fails)."""
        self.signal = signal.Signals(signum).name
        self.event.set()
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)


def watch(args: argparse.Namespace, rounds: int | None = None) -> int:
    """Rounds until stopped (or `rounds` rounds, for tests and benchmarks); returns the exit code."""
    from ctml.ct.repo import lock
    from ctml.ct.intake.deliveries import run_check
    from ctml.ct.intake.session import has_work, open_context, report_refused

    interval = open_context(args, commit=False).params.ct.watch_interval_s  # a bad params.yaml stops here, exit 1
    done, first_look = 0, True  # the first look also commits what a killed ct.py left uncommitted
    with Stop() as stop:
        print("watch: looking at data/incoming and data/labels; SIGTERM or Ctrl-C stops", flush=True)
        while not stop.event.is_set() and (rounds is None or done < rounds):
            try:
                ctx = open_context(args, commit=not args.no_commit)
                interval = ctx.params.ct.watch_interval_s
                with lock.exclusive(ctx.root):
                    report_refused(ctx)
                    work, first_look = has_work(ctx, first_look), False
                    if work:
                        run_check(ctx, stop.event)
            except lock.Busy:
                pass  # another ct.py holds the project: next round
            except UserError as exc:  # a bad params.yaml edit, a failing step: said once, tried again next round
                print(f"error: {exc}", file=sys.stderr, flush=True)
            done += 1
            if rounds is None or done < rounds:
                stop.event.wait(interval)
    print(f"watch: stopped{f' ({stop.signal})' if stop.signal else ''}", flush=True)
    return 0
