"""What every stage script shares: argument parsing conventions and params loading."""
from __future__ import annotations

import argparse
from typing import Sequence

from ctml.config import PARAMS_FILE, Params, load_params


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default=PARAMS_FILE, help="params file (default: %(default)s)")
    return p


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None) -> tuple[argparse.Namespace, Params]:
    args = p.parse_args(argv)
    return args, load_params(args.params)
