"""`ct.py compare V1 V2`: the params and metrics that differ between two versions, side by side, and what
the newer one's release gate measured: candidate vs production on the same test rows (each version's
metrics.json is of its own test set, which grows as batches are folded in, so they do not compare)."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("compare", parents=[common], help="params and metrics that differ between two versions")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--json", action="store_true", help="a JSON list of changes (kind, file, key, old, new, diff)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct.release import tags
    from ctml.ct.release.compare import changes
    from ctml.ct.repo.vcs import project_root
    from ctml.ct.reporting.console import print_json, table

    root = project_root()
    old, new = tags.resolve(root, args.old), tags.resolve(root, args.new)
    found = changes(root, old, new)
    if args.json:
        print_json([c.as_json() for c in found])
        return 0
    if not found:
        print(f"{old} and {new}: same params and metrics")
        return 0
    table(f"{old} -> {new}: {len(found)} changed", ["kind", "file", "key", old, new, "change"],
          [[c.kind, c.file, c.key, c.old, c.new, c.diff] for c in found])
    if same_rows := gate_detail(root, new):
        print(f"{new} at its release, on the same test rows: {same_rows}")
    return 0


def gate_detail(root, version: str) -> str | None:
    """The metric gate's detail in `version`'s gates.json (candidate vs production on one test set)."""
    import json

    from ctml import layout
    from ctml.ct.release import tags
    from ctml.ct.release.lineage import show
    from ctml.model.gates import quality_gate

    text = show(root, tags.tag_of(version), layout.GATES)
    found = quality_gate(json.loads(text)) if text else None
    return found[1].get("detail") if found else None
