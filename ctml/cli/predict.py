"""`ct.py predict`: predictions (class probabilities too, for a classifier) from the production (or a named) model version."""
from __future__ import annotations

import argparse

from ctml import layout


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("predict", parents=[common], help="predictions (with class probabilities for a classifier) from a model version")
    p.add_argument("--input", required=True, help="CSV or Parquet rows to score")
    p.add_argument("--version", help="model version (default: the one in production)")
    p.add_argument("--output", help="CSV or Parquet file (default: CSV on stdout)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.config import load_params
    from ctml.ct.release import tags
    from ctml.ct.release import versions
    from ctml.ct.repo.vcs import project_root

    from ctml.model.predict import predict_file

    root = project_root()
    params = load_params(root / layout.PARAMS)
    version = None if args.version is None else tags.resolve(root, args.version)
    with versions.served(root, version) as files:
        predict_file(args.input, files.model, files.meta, files.schema, args.output, params)
    return 0
