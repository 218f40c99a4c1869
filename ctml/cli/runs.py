"""`ct.py runs`: recent tracked runs, read from the offline Neptune files; `--show ID` one run in full;
`--prune --keep N` bounds them."""
from __future__ import annotations

import argparse

from ctml.cli import non_negative
from ctml.errors import UserError


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("runs", parents=[common], help="recent tracked runs, read from the offline Neptune files")
    p.add_argument("--limit", type=non_negative, default=20, help="newest runs shown (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="a JSON list of runs, newest first (with --prune: what was removed)")
    p.add_argument("--show", metavar="RUN_ID", help="every field, tag, series and file of one run (an id or its first characters)")
    p.add_argument("--prune", action="store_true",
                   help="remove old offline runs: all but the --keep newest, never a run a tagged version's lineage names")
    p.add_argument("--keep", type=non_negative, help="with --prune: newest runs kept")
    p.add_argument("--dry-run", action="store_true", help="with --prune: say what would be removed, remove nothing")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct.repo.vcs import project_root
    from ctml.ct.reporting.console import print_json

    from ctml.runs import offline

    root = project_root()
    if args.prune or args.keep is not None or args.dry_run:
        return _prune(root, args)
    if args.show is not None:
        return _show(root, args)
    if args.json:
        print_json([offline.summary(r) for r in offline.offline_runs(root, args.limit)])
        return 0
    offline.print_runs(root, args.limit)
    return 0


def _show(root, args: argparse.Namespace) -> int:
    from ctml.ct.reporting.console import print_json, table
    from ctml.runs import offline

    run = offline.find_run(root, args.show)
    if args.json:
        print_json(offline.details(run))
    else:
        table(f"Offline run {run.run_id}", ["item", "value"], offline.detail_rows(run))
    return 0


def _prune(root, args: argparse.Namespace) -> int:
    from ctml.ct.reporting.console import print_json, table

    from ctml.ct.repo import lock
    from ctml.ct.release import tags
    from ctml.runs.prune import prune

    if not args.prune or args.keep is None:
        raise UserError("--keep N and --dry-run go with --prune: `ct.py runs --prune --keep N`")
    with lock.exclusive(root):  # a ct.py command writing runs meanwhile would race the listing
        result = prune(root, args.keep, set(tags.versions(root)), dry_run=args.dry_run)
    if args.json:
        print_json({"removed": [p.name for p in result.removed], "dry_run": args.dry_run, "kept_newest": result.kept_newest,
                    "kept_for_versions": result.kept_for_versions, "kept_writing": result.kept_writing,
                    "bytes_freed": result.bytes_freed})
        return 0
    table("Offline runs pruned" + (" (dry run: nothing removed)" if args.dry_run else ""), ["item", "value"], [
        ["would remove" if args.dry_run else "removed", len(result.removed)],
        ["kept: newest", result.kept_newest],
        ["kept: named by a tagged version's lineage", result.kept_for_versions],
        ["kept: still being written", result.kept_writing],
        ["space freed" if not args.dry_run else "space it would free", f"{result.bytes_freed / 2**20:.1f} MiB"],
    ])
    return 0
