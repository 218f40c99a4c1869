"""`ct.py lineage VERSION`: which data, params and code made a model version."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("lineage", parents=[common], help="which data, params and code made a model version")
    p.add_argument("version")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct.release import tags
    from ctml.ct.release.lineage import lineage_of
    from ctml.ct.repo.vcs import project_root
    from ctml.ct.reporting.console import print_json, table

    root = project_root()
    info = lineage_of(root, tags.resolve(root, args.version))
    if args.json:
        print_json(info)
        return 0
    data = info["data"]
    table(f"Lineage of model {info['version']}", ["item", "value"], [
        ["tag / commit", f"{info['tag']} / {info['commit'][:12]}"],
        ["model sha256", info["model"]["sha256"]],
        ["model type", info["model"]["type"]],
        ["data source (lineage)", f"{data['source']} (target {data['target']}, task {data['task']}; "
                                  f"batches in data/batches/{data['lineage']}/)"],
        ["training data md5 (dvc.lock)", data["training_data_md5"]],
        ["train rows", data["train_rows"]],
        ["CT batches folded in", ", ".join(Path(b["file"]).name for b in data["batches"]) or "none"],
        ["ranges of its training data", "; ".join(f"{n} [{lo}, {hi}]" for n, (lo, hi) in list(data["ranges"].items())[:6])
         + (f" (+{len(data['ranges']) - 6} more: --json)" if len(data["ranges"]) > 6 else "")],
        ["columns that are no features", ", ".join(data["excluded"]) or "none"],
        *[[f"metric {k}", v] for k, v in info["metrics"].items() if not isinstance(v, dict)],
        ["gates", "passed" if info["gates"].get("passed") else f"blocked by {info['gates'].get('blocked_by')}"],
        ["neptune runs", ", ".join(info["neptune_runs"]) or "none recorded offline here"],
        ["tag message", info["message"].splitlines()[0] if info["message"] else ""],
    ])
    return 0
