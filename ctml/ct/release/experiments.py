"""DVC experiments into production: `ct.py promote NAME` releases what an experiment's params give.

How: the params the experiment set (`dvc exp run -S ...`) are written into params.yaml in place
(comments and layout kept), `dvc repro` trains the candidate on HEAD's data, and the gates decide,
as for any retrain; a candidate that passes is released, tagged and pushed by `ctml.ct.release.promotion`.
Why not `dvc exp apply`: it replaces the working tree with the experiment's, so an experiment begun
before later CT steps would take the history and the folded batches back to its baseline, and
DVC's `-S` rewrites params.yaml's layout. On the experiment's own baseline the same seed and data
give the experiment's model byte for byte (checked and reported).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ctml import layout
from ctml.config import parse_params
from ctml.ct.release import tags
from ctml.ct.context import Context
from ctml.ct.release.lineage import show
from ctml.ct.release.promotion import gates_result, release, verify_production
from ctml.ct.repo.vcs import git, is_state, restore_state
from ctml.errors import UserError
from ctml.io import atomic_path, read_json

_REF = re.compile(r"^refs/exps/([0-9a-f]{2})/([0-9a-f]{38})/(.+)$")  # DVC 3: refs/exps/<baseline sha>/<name>
SHOWN_NAMES = 10


@dataclass(frozen=True)
class Experiment:
    name: str
    commit: str
    baseline: str


def find(root: Path, name: str) -> Experiment:
    """The experiment called `name` (as `dvc exp show` lists it); unknown names list the known ones."""
    known = []
    for line in git(root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/").splitlines():
        ref, commit = line.rsplit(" ", 1)
        if m := _REF.match(ref):
            known.append(Experiment(m.group(3), commit, m.group(1) + m.group(2)))
    found = [e for e in known if e.name == name]
    if not found:
        names = sorted({e.name for e in known})
        listed = ", ".join(names[:SHOWN_NAMES]) + (" ..." if len(names) > SHOWN_NAMES else "")
        raise UserError(f"unknown experiment '{name}' (known: {listed or 'none; run `dvc exp run` first'})")
    if len(found) > 1:
        raise UserError(f"experiment name '{name}' is used on {len(found)} baselines; remove the old ones (`dvc exp remove`)")
    return found[0]


def _flat(node: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(node, dict):
        return {k: v for key, item in node.items() for k, v in _flat(item, (*prefix, str(key))).items()}
    return {prefix: node}


def param_changes(root: Path, exp: Experiment) -> dict[tuple[str, ...], Any]:
    """The params `exp` set: values in its params.yaml that differ from its baseline's. Refused when
    it also changed other files a user owns (code, config): those need `dvc exp apply` and a commit."""
    other = [p for p in git(root, "diff", "--name-only", exp.baseline, exp.commit).splitlines()
             if p != layout.PARAMS.as_posix() and not is_state(p)]
    if other:
        raise UserError(f"experiment '{exp.name}' also changes {other[0]} ({len(other)} file(s) besides params.yaml); "
                        f"`dvc exp apply {exp.name}`, commit, then `python ct.py check`")
    before, after = (_flat(yaml.safe_load(show(root, rev, layout.PARAMS) or "{}")) for rev in (exp.baseline, exp.commit))
    changes = {key: value for key, value in after.items() if before.get(key, object()) != value}
    if not changes or set(before) - set(after):
        raise UserError(f"experiment '{exp.name}' sets no params (or removes some); nothing to promote")
    return changes


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 20).removesuffix("\n...\n").strip()


def set_in_text(text: str, changes: dict[tuple[str, ...], Any]) -> str:
    """params.yaml text with the values at `changes`' keys replaced on their own lines, keeping every
    comment and the layout; refused (UserError) when the result would not read back as intended."""
    lines, todo = text.splitlines(keepends=True), dict(changes)
    stack: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([^\s#:][^:#]*):([ \t]*)([^#\n]*?)([ \t]*#.*)?(\n?)$", line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = (*(k for _, k in stack), m.group(2).strip())
        stack.append((indent, key[-1]))
        if key in todo:
            value, comment = _scalar(todo.pop(key)), (m.group(5) or "").lstrip()
            width = len(m.group(3)) + len(m.group(4)) + len(m.group(5) or "") - len(comment)  # ':' to '#'
            gap = " " * max(1, width - 1 - len(value)) if comment else ""
            lines[i] = f"{m.group(1)}{m.group(2)}: {value}{gap}{comment}{m.group(6)}"
    edited = "".join(lines)
    expected = _flat(yaml.safe_load(text)) | changes
    if todo or _flat(yaml.safe_load(edited)) != expected:
        missing = ".".join(next(iter(todo))) if todo else "a changed key"
        raise UserError(f"{layout.PARAMS}: cannot set {missing} in place (not a plain `key: value` line); set it by hand")
    return edited


def promote(ctx: Context, exp: Experiment) -> str:
    """Release the candidate `exp`'s params give on HEAD; the version, or UserError with nothing changed."""
    changes = param_changes(ctx.root, exp)
    params_path = ctx.path(layout.PARAMS)
    original = params_path.read_text()
    edited = set_in_text(original, changes)
    parse_params(yaml.safe_load(edited), str(layout.PARAMS))  # an experiment of an older schema fails here, untouched
    verify_production(ctx)
    described = ", ".join(f"{'.'.join(k)}={_scalar(v)}" for k, v in changes.items())
    version = tags.next_version(tags.of(ctx))
    try:
        with atomic_path(params_path) as tmp:
            tmp.write_text(edited)
        ctx.say(f"promote: {exp.name} ({described}): dvc repro")
        ctx.reproduce(step="promote", version=version)
        gates = gates_result(ctx)
        if not gates.passed:
            raise UserError(f"experiment '{exp.name}': candidate blocked by gates {', '.join(gates.blocked_by)} "
                            f"({layout.GATES}); production unchanged")
    except BaseException:
        with atomic_path(params_path) as tmp:
            tmp.write_text(original)
        restore_state(ctx.root, keep=layout.CT_RECORDS)
        raise
    trained = read_json(ctx.path(layout.MODEL_META)).get("model_sha256")
    recorded = json.loads(show(ctx.root, exp.commit, layout.MODEL_META) or "{}").get("model_sha256")
    ctx.say(f"promote: model sha256 {str(trained)[:12]}… " + ("is the experiment's" if trained == recorded else
            f"differs from the experiment's ({str(recorded)[:12]}…): HEAD is not its baseline {exp.baseline[:8]}"))
    return release(ctx, f"experiment {exp.name}: {described}", None, "promote", (layout.PARAMS.as_posix(),))
