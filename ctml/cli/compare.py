"""`ct.py compare V1 V2`: the params and metrics that differ between two versions, side by side, and what
the newer one's release gate measured: candidate vs production on the same test rows (each version's
metrics.json is of its own test set, which grows as batches are folded in, so they do not compare)."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("compare", parents=[common], help="params and metrics that differ between two versions")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--json", action="store_true", help="JSON: {changes: [{kind, file, key, old, new, diff}], same_rows: "
                   "{version, metric, candidate, against, against_score, production_sha256, passed, detail} or null}")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct.release import tags
    from ctml.ct.release.compare import changes, same_rows
    from ctml.ct.repo.vcs import project_root
    from ctml.ct.reporting.console import print_json, table

    root = project_root()
    old, new = tags.resolve(root, args.old), tags.resolve(root, args.new)
    found, gate = changes(root, old, new), same_rows(root, new)
    if args.json:
        print_json({"changes": [c.as_json() for c in found], "same_rows": gate.as_json() if gate else None})
        return 0
    if found:
        table(f"{old} -> {new}: {len(found)} changed", ["kind", "file", "key", old, new, "change"],
              [[c.kind, c.file, c.key, c.old, c.new, c.diff] for c in found])
    else:
        print(f"{old} and {new}: same params and metrics")
    if gate is not None:
        print(f"{new} at its release, on the same test rows: {gate.detail}")
    return 0

