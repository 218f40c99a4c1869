"""`ct.py export-runs`: every offline tracked run into a local MLflow store, to browse with `mlflow ui`."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("export-runs", parents=[common],
                       help="export the offline Neptune runs to MLflow (needs requirements-mlflow.txt)")
    p.add_argument("--to", choices=("mlflow",), default="mlflow", help="where to (default: %(default)s)")
    p.add_argument("--uri", help="MLflow tracking URI (default: sqlite:///mlflow.db in the project root)")
    p.add_argument("--experiment", help="MLflow experiment (default: the project folder's name)")
    p.add_argument("--json", action="store_true", help="the summary as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.ct.repo.vcs import project_root
    from ctml.ct.reporting.console import print_json, table

    from ctml.runs.export_mlflow import ARTIFACTS_DIR, DEFAULT_DB, export

    result = export(project_root(), args.uri, args.experiment)
    if args.json:
        print_json({"uri": result.uri, "experiment": result.experiment, "exported": result.exported,
                    "already_exported": result.already, "redone": result.redone, "still_writing": result.writing,
                    "unreadable": result.unreadable, "seconds": round(result.seconds, 3)})
        return 0
    browse = (f"mlflow ui --backend-store-uri sqlite:///{DEFAULT_DB} (artifacts in {ARTIFACTS_DIR}/)" if args.uri is None
              else f"mlflow ui --backend-store-uri {result.uri}")
    table("Runs exported to MLflow", ["item", "value"], [
        ["store", result.uri],
        ["experiment", result.experiment],
        ["exported now", result.exported],
        ["already there", result.already],
        ["still being written (next time)", result.writing],
        ["unreadable, skipped", len(result.unreadable)],
        ["time", f"{result.seconds:.1f}s"],
        ["browse", browse],
    ])
    return 0
