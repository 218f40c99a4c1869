"""`ct.py watch`: look at the inboxes every `ct.watch_interval_s` and process what arrived, until stopped.

Each round is one `ct.py check` (the same intake, commit and alerts), with the lock held only for
a round that has work, so `ct.py rollback` or a cron `check` can run between rounds (a round that
finds the lock taken waits for the next). An idle round looks without the lock: the look only reads
(listings, a JSON file) and is repeated under the lock before anything is done, so a `check` from
cron never meets a watcher that is merely looking (CI saw exit 75 when idle rounds took the lock
every 0.2 s). params.yaml is read again each round: an edit takes effect at the
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
from typing import TYPE_CHECKING, Any

from ctml.errors import UserError

if TYPE_CHECKING:
    from ctml.ct.context import Context


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


def may_have_work(ctx: Context) -> bool:
    """The lock-free look of a round after the first: whether there may be work. A look that fails (a
    file replaced while read by a command running now) counts as work: the locked look decides."""
    from ctml.ct.intake.session import has_work

    try:
        return has_work(ctx, False)
    except Exception:  # noqa: BLE001 - any failure here only means "look again with the lock"
        return True


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
                if first_look or may_have_work(ctx):
                    with lock.exclusive(ctx.root):
                        report_refused(ctx)
                        work, first_look = has_work(ctx, first_look), False
                        if work:
                            run_check(ctx, stop.event)
                else:
                    report_refused(ctx)
            except lock.Busy:
                pass  # another ct.py holds the project: next round
            except UserError as exc:  # a bad params.yaml edit, a failing step: said once, tried again next round
                print(f"error: {exc}", file=sys.stderr, flush=True)
            done += 1
            if rounds is None or done < rounds:
                stop.event.wait(interval)
    print(f"watch: stopped{f' ({stop.signal})' if stop.signal else ''}", flush=True)
    return 0
