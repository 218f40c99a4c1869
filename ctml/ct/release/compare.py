"""What changed between two model versions: params and metrics that differ, as sorted rows.

From `dvc params diff` and `dvc metrics diff` between the version tags (both read git only, so they
work in a clone without data). Only changed values are kept: the full tables were hundreds of lines.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ctml.ct.release import tags
from ctml.ct.repo.vcs import dvc


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
