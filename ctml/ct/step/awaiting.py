"""Checked rows waiting for their delayed labels: `data/awaiting/<lineage>/` (git-ignored, local state).

In production labels come after the rows. A checked batch without labels whose rows carry an id
(`data.id_column`, else the server's request id) leaves its rows here, one Parquet file per step
(typed features, the key column, and the label column `_ct_label` filled as labels arrive), and
`index.json` says per step how many rows, which key, and the retrain trigger that waits for them
(a drift on rows that had no labels), if any. A label file joins these rows by id; the rows it
labels are measured (realized accuracy) and, when a retrain is due, folded with their labels.

Labels can come first (a feed that labels faster than the rows are captured and checked): the ids
of a label file that match no stored row wait in `early.parquet` (key column, id, label as JSON,
arrival time) for at most `ct.label_wait_hours`, and label the rows when a batch brings them
(`apply_early`). An expired early label is dropped from the store only: its file is archived.

Rows leave the store when they are folded, or once they were labelled and measured with no retrain
waiting for them; unlabelled rows stay until their labels come. One folder per lineage: rows of
another source never meet this source's labels.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ctml import layout
from ctml.ct.records import REQUEST_ID, RESERVED_PREFIX, is_reserved
from ctml.io import read_json, write_json, write_parquet

LABEL = f"{RESERVED_PREFIX}label"  # the delayed label of a stored row (missing until it comes)
_INDEX = "index.json"
_EARLY = "early.parquet"
EARLY_COLUMNS = ("key", "id", "label", "arrived")


@dataclass
class Join:
    """What one label file did: ids it matched, rows it labelled now (features + label), ids matching nothing."""

    matched: int
    fresh: pd.DataFrame
    unknown: int
    unmatched: list[str] = field(default_factory=list)  # the ids of `unknown`


@dataclass
class Store:
    folder: Path
    index: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> {rows, key, trigger}
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)  # step -> rows, loaded when needed
    changed: set[str] = field(default_factory=set)
    early_now: pd.DataFrame | None = None  # the early labels as they are to be saved, once changed

    @classmethod
    def open(cls, root: Path, lineage: str) -> Store:
        folder = root / layout.AWAITING / lineage
        index = read_json(folder / _INDEX) if (folder / _INDEX).exists() else {}
        return cls(folder, index)

    def frame(self, step: str) -> pd.DataFrame:
        if step not in self.frames:
            self.frames[step] = pd.read_parquet(self.folder / f"step-{int(step):04d}.parquet")
        return self.frames[step]

    def add(self, step: int, rows: pd.DataFrame, key: str, trigger: str | None, sha: str = "") -> None:
        """Keep a checked batch's rows (features and key column) until their labels come. Rows of the
        same delivered file kept by an earlier, interrupted step are replaced, never doubled."""
        for earlier in [s for s, e in self.index.items() if sha and e.get("sha256") == sha]:
            self.index[earlier]["rows"] = 0
            self.changed.add(earlier)
        name = str(step)
        self.frames[name] = rows.assign(**{LABEL: pd.Series([None] * len(rows), dtype=object)})
        self.index[name] = {"rows": len(rows), "key": key, "trigger": trigger, "sha256": sha}
        self.changed.add(name)

    def triggers(self) -> dict[str, str]:
        """step -> the retrain trigger waiting for its rows' labels."""
        return {step: entry["trigger"] for step, entry in self.index.items() if entry.get("trigger")}

    def join(self, labels: pd.DataFrame, key: str, target: str) -> Join:
        """Put the labels of `labels` (key column, target column) on the stored rows with those ids."""
        wanted = dict(zip(labels[key].astype(str), labels[target]))
        matched: set[str] = set()
        fresh = []
        for step, entry in self.index.items():
            if entry["key"] != key:
                continue
            rows = self.frame(step)
            ids = rows[key].astype(str)
            hit = ids.isin(wanted.keys()).to_numpy()
            if not hit.any():
                continue
            matched.update(ids[hit])
            new = hit & rows[LABEL].isna().to_numpy()
            if new.any():
                rows[LABEL] = rows[LABEL].astype(object)
                rows.loc[new, LABEL] = ids[new].map(wanted).to_numpy()
                fresh.append(rows[new])
                self.changed.add(step)
        frame = pd.concat(fresh, ignore_index=True) if fresh else pd.DataFrame()
        return Join(len(matched), frame, len(wanted) - len(matched), [i for i in wanted if i not in matched])

    def early(self) -> pd.DataFrame:
        if self.early_now is not None:
            return self.early_now
        path = self.folder / _EARLY
        return pd.read_parquet(path) if path.exists() else pd.DataFrame({c: pd.Series(dtype=object) for c in EARLY_COLUMNS})

    def keep_early(self, labels: pd.DataFrame, key: str, target: str, ids: list[str]) -> int:
        """The labels of `ids` (matching no stored row) kept until their rows come; the same id again
        replaces its earlier label. Returns how many wait."""
        if not ids:
            return 0
        rows = labels[labels[key].astype(str).isin(set(ids))]
        new = pd.DataFrame({"key": key, "id": rows[key].astype(str).to_numpy(),
                            "label": [json.dumps(v.item() if hasattr(v, "item") else v) for v in rows[target]],
                            "arrived": time.time()})
        early = self.early()
        early = early[~((early["key"] == key) & early["id"].isin(set(new["id"])))]
        self.early_now = pd.concat([early, new], ignore_index=True)
        return len(new)

    def apply_early(self, wait_hours: float) -> int:
        """Put the early labels on the stored rows they name (the rows a batch just brought); drop the
        ones older than `wait_hours`. Returns how many rows were labelled."""
        early = self.early()
        if early.empty:
            return 0
        early = early[early["arrived"].astype(float) >= time.time() - wait_hours * 3600]
        applied = 0
        used = pd.Series(False, index=early.index)
        for key, group in early.groupby("key"):
            labels = pd.DataFrame({key: group["id"].to_numpy(), LABEL: [json.loads(v) for v in group["label"]]})
            join = self.join(labels, str(key), LABEL)
            applied += len(join.fresh)
            used.loc[group.index] = ~group["id"].isin(set(join.unmatched))
        self.early_now = early[~used].reset_index(drop=True)
        return applied

    def labelled(self, steps: set[str] | None = None) -> pd.DataFrame:
        """Every labelled stored row (of `steps`, default all), with its label in `_ct_label`."""
        parts = [rows[rows[LABEL].notna()] for step in self.index if steps is None or step in steps
                 for rows in [self.frame(step)]]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def drop_labelled(self, steps: set[str] | None = None) -> None:
        """Rows that were folded, or measured with no retrain waiting for them, leave the store; a
        step left with no rows leaves the index, and its trigger with it."""
        for step in [s for s in self.index if steps is None or s in steps]:
            rows = self.frame(step)
            keep = rows[rows[LABEL].isna()].reset_index(drop=True)
            if len(keep) != len(rows):
                self.frames[step] = keep
                self.index[step]["rows"] = len(keep)
                self.changed.add(step)

    def clear_triggers(self) -> None:
        for step, entry in self.index.items():
            if entry.get("trigger"):
                entry["trigger"] = None
                self.changed.add(step)

    def save(self) -> None:
        """Write what changed: each changed step's rows, then the index (what a reader trusts), then the
        early labels (a kill before them leaves labels that label nothing twice)."""
        self._save_rows()
        if self.early_now is not None:
            path = self.folder / _EARLY
            if self.early_now.empty:
                path.unlink(missing_ok=True)
            else:
                self.folder.mkdir(parents=True, exist_ok=True)
                write_parquet(path, self.early_now)
            self.early_now = None

    def _save_rows(self) -> None:
        if not self.changed:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for step in sorted(self.changed):
            path = self.folder / f"step-{int(step):04d}.parquet"
            if self.index[step]["rows"] == 0:
                path.unlink(missing_ok=True)
            else:
                write_parquet(path, self.frames[step])
        self.index = {s: e for s, e in self.index.items() if e["rows"] > 0}
        write_json(self.folder / _INDEX, self.index)
        self.changed.clear()


def key_columns(columns: list[str], schema: dict[str, Any], id_column: str) -> tuple[list[str], list[str]]:
    """(columns set aside as keys, of those the ones that are not data): the id column and reserved ones.

    An id column the schema recorded as a feature (a source that had it before `data.id_column`
    named it) stays in the data too, so the batch still matches the schema it was recorded with.
    """
    keys = [c for c in columns if is_reserved(c) or (id_column and c == id_column)]
    return keys, [c for c in keys if c not in schema["columns"]]


def join_key(keys: pd.DataFrame | None, id_column: str) -> str | None:
    """The column delayed labels join on: data.id_column, else the server's request id; None when
    the batch has neither (its rows can only be labelled in their own batch)."""
    if keys is None:
        return None
    for name in (id_column, REQUEST_ID):
        if name and name in keys.columns and keys[name].notna().all():
            return name
    return None
