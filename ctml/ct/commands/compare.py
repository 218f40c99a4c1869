"""`ct.py compare V1 V2`: params and metrics of two versions side by side."""
from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("compare", parents=[common], help="params and metrics of two versions side by side")
    p.add_argument("old")
    p.add_argument("new")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct import registry
    from ctml.ct.repo import dvc, project_root
    from ctml.ct.report import table

    root = project_root()
    old, new = registry.resolve(root, args.old), registry.resolve(root, args.new)
    a, b = registry.tag_of(old), registry.tag_of(new)
    params = json.loads(dvc(root, "params", "diff", a, b, "--all", "--json").stdout or "{}")
    metrics = json.loads(dvc(root, "metrics", "diff", a, b, "--all", "--json").stdout or "{}")
    table(f"Params {old} vs {new}", ["file", "key", old, new], [
        [f, k, d.get("old"), d.get("new")] for f, keys in params.items() for k, d in keys.items() if d.get("old") != d.get("new")
    ] or [["-", "no differences", "", ""]])
    table(f"Metrics {old} vs {new}", ["file", "metric", old, new, "change"], [
        [f, k, d.get("old"), d.get("new"), d.get("diff")] for f, keys in metrics.items() for k, d in keys.items()
    ])
    return 0
