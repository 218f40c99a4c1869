"""`ct.py serve`: the production model over HTTP, hot-reloaded, feeding CT (the logic: ctml.serve)."""
from __future__ import annotations

import argparse

from ctml import layout
from ctml.errors import UserError


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[common], help="serve the production model (Open Inference Protocol V2) and capture its traffic",
                       description=f"Serve the production model over the Open Inference Protocol V2 REST API; follow releases "
                                   f"and rollbacks; capture served rows into {layout.INCOMING}/ and fed-back labels into "
                                   f"{layout.LABELS}/. Never takes the CT lock. SIGTERM drains and exits 0. See docs/serving.md.")
    p.add_argument("--host", help="interface to bind (default: serve.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: serve.port; 0 picks a free one and prints it)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ctml.config import load_params
    from ctml.ct.repo.vcs import project_root
    from ctml.serve.server import serve

    root = project_root()
    params = load_params(root / layout.PARAMS)
    port = params.serve.port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port}: must be 0-65535")
    return serve(root, params, args.host or params.serve.host, port)
