"""How a ct.py command that changes the project begins: its context, the lock, a clean tree, recovery."""
from __future__ import annotations

import argparse
import time
import uuid

from ctml import layout
from ctml.config import load_params
from ctml.ct import dvcdata, registry
from ctml.ct.context import Context
from ctml.ct.recovery import recover
from ctml.ct.report import Printer
from ctml.ct.repo import project_root, unrelated_changes
from ctml.errors import UserError


def open_context(args: argparse.Namespace, commit: bool) -> Context:
    """The project around the working directory, its checked params, and a pipeline id for this command."""
    root = project_root()
    return Context(root=root, params=load_params(root / layout.PARAMS), commit=commit, out=Printer(args.verbosity),
                   pipeline_id=f"ct-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}")


def start(ctx: Context, workspace_data: bool = True) -> None:
    """Refuse to commit over a user's unrelated change, finish or undo what a killed run left, and
    (`workspace_data`) bring back HEAD's DVC data a fresh clone has not pulled, or refuse with
    nothing changed when it is in neither the DVC cache nor the remote."""
    if ctx.commit and (changed := unrelated_changes(ctx.root)):
        raise UserError(f"{changed[0]}: uncommitted change outside the pipeline state ({len(changed)} file(s)); "
                        "commit or stash it, or pass --no-commit")
    if note := recover(ctx):
        ctx.say(f"recovery: {note}")
    if workspace_data:
        production = registry.production_version(ctx.root)
        label = f"HEAD (production {production})" if production else "HEAD"
        if restored := dvcdata.ensure_workspace(ctx.root, label):
            ctx.say(f"data: {len(restored)} DVC-tracked file(s) restored from the DVC cache or remote (what `dvc pull` does)")
