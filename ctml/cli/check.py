"""`ct.py check`: every ready file in data/incoming and data/labels, one CT step each (for cron)."""
from __future__ import annotations

import argparse

from ctml import layout


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("check", parents=[common], help=f"one CT step per file delivered to {layout.INCOMING}/ or {layout.LABELS}/",
                       description="Process every ready file of the inboxes, oldest first, one CT step each. Exit codes: "
                                   "0 done (or nothing new), 1 error, 2 usage, 3 needs attention (a file quarantined, a "
                                   "candidate blocked, a retrain waiting for labels), 75 another ct.py is running.")
    p.add_argument("--no-commit", action="store_true", help="no commit, tag or push")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct.repo import lock
    from ctml.ct.intake.session import has_work, open_context, report_refused

    ctx = open_context(args, commit=not args.no_commit)
    with lock.exclusive(ctx.root):
        report_refused(ctx)
        if not has_work(ctx):  # cron's usual case: no work, no heavy imports, no run, no commit
            never_run = not ctx.path(layout.DVC_LOCK).exists()
            ctx.say(f"check: nothing new in {layout.INCOMING} or {layout.LABELS}" +
                    ("; the pipeline has never run here: run `dvc repro` to train the baseline, then `ct.py check` "
                     "releases it" if never_run else ""))
            return 0
        from ctml.ct.intake.deliveries import run_check  # the step machinery (pandas, scikit-learn, DVC): only with work

        return run_check(ctx)
