"""What changed between two model versions: params and metrics that differ, as sorted rows, and what the
newer version's release gate measured on the same test rows.

From `dvc params diff` and `dvc metrics diff` between the version tags (both read git only, so they
work in a clone without data). Only changed values are kept: the full tables were hundreds of lines.
Each version's metrics.json is of its own test set, which grows as batches are folded in, so the two
columns do not compare; the release gate scored the candidate and production on one test set (`SameRows`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ctml import layout
from ctml.ct.release import tags
from ctml.ct.release.lineage import show
from ctml.ct.repo.vcs import dvc
from ctml.model.gates import held_against, quality_gate


@dataclass(frozen=True)
class Change:
    kind: Literal["param", "metric"]
    file: str
    key: str
    old: Any
    new: Any
    diff: float | None = None  # new - old, for numeric metrics

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _rows(kind: Literal["param", "metric"], diff: dict[str, Any]) -> list[Change]:
    rows = []
    for file, keys in diff.items():
        for key, values in keys.items():
            if values.get("old") != values.get("new"):
                rows.append(Change(kind, file, key, values.get("old"), values.get("new"),
                                   values.get("diff") if isinstance(values.get("diff"), (int, float)) else None))
    return rows


def changes(root: Path, old: str, new: str) -> list[Change]:
    """Params, then metrics, that differ between versions `old` and `new`, sorted by file and key."""
    a, b = tags.tag_of(old), tags.tag_of(new)
    params = json.loads(dvc(root, "params", "diff", a, b, "--json").stdout or "{}")
    metrics = json.loads(dvc(root, "metrics", "diff", a, b, "--json").stdout or "{}")
    return sorted(_rows("param", params) + _rows("metric", metrics), key=lambda c: (c.kind != "param", c.file, c.key))


@dataclass(frozen=True)
class SameRows:
    """What `version`'s release gate measured on its test rows: the candidate's `metric` and the score of
    what it was held against there (`against`: production, whose sha256 prefix is given, or a naive model
    for the first model of a lineage, or nothing). The candidate's is the gate's own value; the other
    score is at the precision the gate's detail (the line `ct.py compare` prints) gives it."""

    version: str
    metric: str
    candidate: float
    against: str
    against_score: float | None
    production_sha256: str | None
    passed: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def same_rows(root: Path, version: str) -> SameRows | None:
    """The metric gate of `version`'s gates.json (None for a version released without one)."""
    text = show(root, tags.tag_of(version), layout.GATES)
    found = quality_gate(json.loads(text)) if text else None
    if found is None:
        return None
    metric, gate = found
    against, score, sha256 = held_against(gate)
    return SameRows(version, metric, gate["value"], against, score, sha256, bool(gate["passed"]), gate["detail"])
