"""Everything `ct.py report` shows, gathered as records from git, the CT history, the quarantine and
the offline Neptune runs; no DVC data is needed, so it works in a clone that has not pulled.

Why from git: each version's tag holds its reason (the tag message), and its commit the metrics and
gates it was released with, so the page tells "what happened" from the same facts as `ct.py lineage`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ctml import layout
from ctml.ct import history
from ctml.ct.release import tags
from ctml.ct.release.lineage import show, trained_for
from ctml.ct.records import StepRecord
from ctml.ct.repo.vcs import git
from ctml.io import read_json

_SEP = "\x1f"  # between for-each-ref fields: tag messages hold newlines and any printable text


@dataclass
class Version:
    """A released model version as its tag and commit record it."""

    version: str
    released: str  # tag date, ISO
    reason: str  # why it was released (first line of the tag message)
    drift_score: float | None  # the drift that triggered it, when a drift did
    metrics: dict[str, Any]
    gates: dict[str, Any]  # metrics/gates.json at the release commit
    message: str
    lineage: str = ""  # the lineage key it was trained for (models/production/lineage.json, else params.yaml at its tag)
    source: str = ""  # its data.source

    @property
    def task(self) -> str:
        """regression when its test metrics are errors, else classification."""
        return "regression" if "rmse" in self.metrics else "classification"


@dataclass
class Lineage:
    """The versions and CT steps of one lineage (the training data of one data.source), oldest first."""

    key: str
    source: str
    versions: list[Version] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def task(self) -> str:
        if self.versions:
            return self.versions[-1].task
        return "regression" if any(r.batch_rmse is not None for r in self.steps) else "classification"


@dataclass
class Promotion:
    """One `model#prod#N` assignment: which version went to production, when and why."""

    number: int
    version: str
    when: str
    message: str


@dataclass
class Quarantined:
    batch: str  # the quarantined file (or the reason file when the batch is gone)
    reasons: list[str]


@dataclass
class Overview:
    generated: str
    project: Path
    production: str | None
    versions: list[Version] = field(default_factory=list)  # oldest first
    promotions: list[Promotion] = field(default_factory=list)  # oldest first
    steps: list[StepRecord] = field(default_factory=list)  # oldest first
    timeline: bytes | None = None  # the timeline PNG, drawn from the history once it has a step
    quarantined: list[Quarantined] = field(default_factory=list)  # newest first
    validation: dict[str, Any] | None = None  # metrics/validation.json of the working tree
    runs: list[Any] = field(default_factory=list)  # ctml.runs.offline.OfflineRun, newest first

    @property
    def lineages(self) -> list[Lineage]:
        """The versions and steps grouped by lineage, the current one (production's, else the newest
        step's) first, the others newest first. A step whose row names no lineage (an older history)
        belongs to its model version's, else to its predecessor's."""
        by_version = {v.version: v.lineage for v in self.versions}
        groups: dict[str, Lineage] = {}
        for v in self.versions:
            groups.setdefault(v.lineage, Lineage(v.lineage, v.source)).versions.append(v)
        last = ""
        for r in self.steps:
            last = r.lineage or by_version.get(r.model_version, "") or last
            groups.setdefault(last, Lineage(last, "")).steps.append(r)
        current = by_version.get(self.production or "", last)
        newest = {key: max([0] + [r.step for r in g.steps]) for key, g in groups.items()}
        return sorted(groups.values(), key=lambda g: (g.key != current, -newest[g.key], -len(g.versions)))

    @property
    def empty(self) -> bool:
        """No CT history yet: nothing released, no step recorded."""
        return not self.versions and not self.steps


def _tags(root: Path) -> dict[str, tuple[str, str, str]]:
    """Tag name -> (date, commit, message) for every model tag, in one git call."""
    fields = _SEP.join(("%(refname:short)", "%(creatordate:iso-strict)", "%(*objectname)", "%(objectname)", "%(contents)"))
    out = git(root, "for-each-ref", f"--format={fields}{_SEP}{_SEP}", f"refs/tags/{tags.ARTIFACT}*")
    found = {}
    for record in out.split(_SEP * 2):
        parts = record.strip("\n").split(_SEP)
        if len(parts) == 5 and parts[0]:
            name, date, target, obj, message = parts
            found[name] = (date, target or obj, message.strip())
    return found


def _drift_score(message: str) -> float | None:
    for line in message.splitlines():
        if line.startswith("drift_score:"):
            try:
                return float(line.split(":", 1)[1])
            except ValueError:
                return None
    return None


def _json_at(root: Path, rev: str, path: Path) -> dict[str, Any]:
    try:
        return json.loads(show(root, rev, path) or "{}")
    except json.JSONDecodeError:
        return {}


def versions(root: Path, refs: dict[str, tuple[str, str, str]]) -> list[Version]:
    found = []
    for version in tags.versions(root):
        tag = tags.tag_of(version)
        date, _, message = refs.get(tag, ("", "", ""))
        first = message.splitlines()[0] if message else ""
        lineage = _json_at(root, tag, layout.PRODUCTION_LINEAGE)
        if not lineage:  # a release made before lineage.json existed
            import yaml

            source, _, _, key = trained_for(yaml.safe_load(show(root, tag, layout.PARAMS) or "{}") or {})
            lineage = {"lineage": key, "source": source}
        found.append(Version(version, date, first.split(": ", 1)[1] if ": " in first else first, _drift_score(message),
                             _json_at(root, tag, layout.METRICS), _json_at(root, tag, layout.GATES), message,
                             str(lineage.get("lineage", "")), str(lineage.get("source", ""))))
    return found


def promotions(refs: dict[str, tuple[str, str, str]], by_commit: dict[str, str]) -> list[Promotion]:
    found = []
    for name, (date, commit, message) in refs.items():
        number = name.rsplit("#", 1)[-1]
        if name.startswith(f"{tags.ARTIFACT}#prod#") and number.isdigit():
            found.append(Promotion(int(number), by_commit.get(commit, "?"), date, message))
    return sorted(found, key=lambda p: p.number)


def quarantined(root: Path) -> list[Quarantined]:
    folder = root / layout.QUARANTINE
    found = []
    for reason in sorted(folder.glob("*.reason.txt"), reverse=True) if folder.is_dir() else []:
        stem = reason.name.removesuffix(".reason.txt")
        batch = next((p for p in folder.glob(f"{stem}.*") if p != reason), reason)
        found.append(Quarantined(str(batch.relative_to(root)), [ln for ln in reason.read_text().splitlines() if ln.strip()]))
    return found


def gather(root: Path, runs: int) -> Overview:
    """The whole overview of the project at `root`; `runs`: how many of the newest offline runs to list."""
    from ctml.runs import offline

    refs = _tags(root)
    known = versions(root, refs)
    by_commit = {refs[tags.tag_of(v.version)][1]: v.version for v in known if tags.tag_of(v.version) in refs}
    steps = history.read(root / layout.HISTORY)
    validation = root / layout.VALIDATION
    return Overview(
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        project=root,
        production=tags.production_version(root),
        versions=known,
        promotions=promotions(refs, by_commit),
        steps=steps,
        timeline=history.draw_timeline(steps) if steps else None,
        quarantined=quarantined(root),
        validation=read_json(validation) if validation.exists() else None,
        runs=offline.offline_runs(root, runs),
    )
