"""How a ct.py command that changes the project begins: its context, the lock, a clean tree, recovery."""
from __future__ import annotations

import argparse

from ctml import layout
from ctml.config import load_params
from ctml.ct.repo import lock
from ctml.ct.context import Context
from ctml.ct.context import Printer
from ctml.ct.repo.vcs import project_root, uncommitted, unrelated_changes
from ctml.errors import UserError
from ctml.tracking.pipeline import new_pipeline_id


def open_context(args: argparse.Namespace, commit: bool) -> Context:
    """The project around the working directory, its checked params, and a pipeline id for this command."""
    root = project_root()
    return Context(root=root, params=load_params(root / layout.PARAMS), commit=commit, out=Printer(args.verbosity),
                   pipeline_id=f"ct-{new_pipeline_id()}")  # names this process: see ctml.tracking.fallback


def start(ctx: Context) -> None:
    """Refuse to commit over a user's unrelated change, finish or undo what a killed run left, then
    migrate batches an older version left (once: one DVC folder per lineage)."""
    if ctx.commit and (changed := unrelated_changes(ctx.root)):
        raise UserError(f"{changed[0]}: uncommitted change outside the pipeline state ({len(changed)} file(s)); "
                        "commit or stash it, or pass --no-commit")
    check_lockfile(ctx)
    marker = lock.inflight(ctx.root)
    if marker is None:
        if ctx.commit and uncommitted(ctx.root, layout.HISTORY):
            ctx.say(f"recovery: {layout.HISTORY} has rows no commit holds (a ct.py killed before its commit, or run "
                    "with --no-commit): committed with this command")
    else:
        recovered(ctx, marker)
    from ctml.data.folds import needs_migration

    if needs_migration(ctx.root / layout.BATCHES):  # an older version tracked each batch with a .dvc file
        from ctml.ct.step.fold import migrate

        migrate(ctx)


def recovered(ctx: Context, marker: dict[str, object]) -> None:
    """Finish or undo the step, release or rollback a killed ct.py left in flight, and say which."""
    from ctml.ct.step.recovery import recover  # the step machinery: only when there is a step to finish or undo

    recovery = recover(ctx, marker)
    note = recovery.note
    if recovery.stands and isinstance(marker.get("delivery"), dict):
        note += archive_recorded(ctx, marker)
    lock.finish_delivery(ctx.root)  # last: a kill before it recovers the same step again
    failure = ctx.alert("recovered", f"recovery: {note}", details={"note": note})
    ctx.say(f"recovery: {note}{f'; {failure}' if failure else ''}")


def archive_recorded(ctx: Context, marker: dict[str, object]) -> str:
    """The delivered file of a step that stands, still in the inbox after a kill between the step's
    history row and its archive: archived under that step, as the loop would have (so one delivery has
    one row, not a second one as a duplicate). Returns what to add to the recovery note."""
    from ctml.ct.intake import inbox

    delivery = inbox.recorded(ctx.root, marker["delivery"])
    if delivery is None:  # archived or quarantined before the kill, or changed since: taken at its next look
        return ""
    try:
        inbox.archive(ctx.root, delivery, int(marker["step"]), str(marker["file_sha256"]))
    except OSError as exc:
        return f"; {delivery.rel}: not archived ({exc.strerror or exc}): left in the inbox"
    return f"; {delivery.rel} archived under step {marker['step']}"


def check_lockfile(ctx: Context) -> None:
    """A dvc.lock that is not valid YAML (or not DVC's mapping) in one line before DVC reads it: DVC
    itself answers with two tracebacks, from its status and its repro."""
    import yaml

    path = ctx.path(layout.DVC_LOCK)
    if not path.exists():
        return
    try:
        content = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}: {getattr(exc, 'problem', '')})" if mark is not None else ""
        raise UserError(f"{layout.DVC_LOCK}: not valid YAML{where}; nothing was changed. Restore the committed one: "
                        f"`git checkout HEAD -- {layout.DVC_LOCK}`") from None
    if content is not None and not (isinstance(content, dict) and isinstance(content.get("stages", {}), dict)):
        raise UserError(f"{layout.DVC_LOCK}: not a DVC lock file (no `stages` mapping); nothing was changed. Restore the "
                        f"committed one: `git checkout HEAD -- {layout.DVC_LOCK}`")


def has_work(ctx: Context, first_look: bool = True) -> bool:
    """Whether `ct.py check` has anything to do: a delivery in an inbox, a step to recover, batches in an
    older version's layout (to migrate), a model in shadow, a pipeline that has run with nothing released
    yet (its baseline to release), or a source (lineage) that production was not trained for; at a
    process's first look, also history rows a ct.py killed before its commit left uncommitted (later
    rounds of `watch` follow its own commits). Costs directory listings, at the first look one `git
    status` of the history and, when a model is in production, one small JSON read: what cron pays when
    nothing arrived (with the lock held: `watch` rounds keep it short)."""
    from ctml.ct.intake import inbox
    from ctml.data.folds import needs_migration

    if inbox.pending(ctx.root) or lock.inflight(ctx.root) is not None:
        return True
    if needs_migration(ctx.root / layout.BATCHES):
        return True  # this command migrates the batches an older version tracked one .dvc file each
    if first_look and ctx.commit and uncommitted(ctx.root, layout.HISTORY):
        return True  # this command commits them
    if ctx.params.release.mode == "shadow" or (ctx.root / layout.SHADOW).exists():
        from ctml.ct.release.shadow import current

        if current(ctx.root) is not None:
            return True  # a shadow is decided (or refused) on every check, release.max_shadow_hours included
    if not (ctx.root / layout.PRODUCTION_META).exists():
        return (ctx.root / layout.DVC_LOCK).exists()  # nothing released yet: the baseline `dvc repro` trained, once it has run
    from ctml.ct.release.promotion import production_lineage

    return production_lineage(ctx) != layout.data_lineage(ctx.params.data)


def report_refused(ctx: Context) -> None:
    """One line per symlink, FIFO or other non-regular file in an inbox, at each look: refused, left as it is."""
    import sys

    from ctml.ct.intake import inbox

    for line in inbox.refused(ctx.root):
        print(f"error: {line}", file=sys.stderr, flush=True)


def ensure_data(ctx: Context) -> None:
    """Bring back HEAD's DVC data a fresh clone has not pulled, or refuse with nothing changed when it
    is in neither the DVC cache nor the remote (for commands that run the pipeline on the workspace)."""
    from ctml.ct.release.production import current_version
    from ctml.ct.repo import dvcdata

    production = current_version(ctx)
    label = f"HEAD (production {production})" if production else "HEAD"
    if restored := dvcdata.ensure_workspace(ctx.root, label):
        ctx.say(f"data: {len(restored)} DVC-tracked file(s) restored from the DVC cache or remote (what `dvc pull` does)")
