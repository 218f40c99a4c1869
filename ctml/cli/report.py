"""`ct.py report`: what happened, as one self-contained HTML page (versions, drift, quarantine, runs)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ctml import layout
from ctml.cli import non_negative


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report", parents=[common], help="one self-contained HTML page: versions, drift, quarantine, runs")
    p.add_argument("--output", help=f"HTML file (default: {layout.REPORT} in the project root; a missing folder is created)")
    p.add_argument("--runs", type=non_negative, default=20, help="newest offline Neptune runs listed (default: %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct.reporting import overview
    from ctml.ct.reporting import html# the overview reads model metadata (pandas via ctml.data.task): only here
    from ctml.ct.repo.vcs import project_root

    root = project_root()
    out = Path(args.output) if args.output else root / layout.REPORT
    data = overview.gather(root, args.runs)
    page = html.render(data, out.absolute().parent)
    html.write(out, page)
    what = "no CT history yet" if data.empty else f"{len(data.versions)} version(s), {len(data.steps)} step(s)"
    print(f"report: {out} ({len(page.encode()) / 1024:.0f} KiB; {what}; production {data.production or 'none'})")
    return 0
