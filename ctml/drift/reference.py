"""What the drift stage needs from the reference, reduced once and kept between steps.

Why: the reference changes only when the training data (or the newest folded batch) does, yet
every step used to read and sort all of it: at 1M rows that is ~1.3 s of reading and ~2 s of
sorting for a 200-row batch. A `Reference` holds what the statistics use (per-column ECDFs and
counts, see `summary`), a shuffled sample of rows for the domain classifier, and, per model, the
summary of the model's predictions on it. The cache (.ct/drift-cache, git-ignored, never a DVC
dependency) is keyed by the md5 dvc.lock records for the file (DVC hashed it when it ran the stage
that wrote it, or the drift stage, which depends on it), and an entry is served only while the file
keeps the inode, mtime and size it had when the entry was made (what DVC's own state trusts), so a
file changed behind dvc.lock's back is summarized again. Opening DVC's state database instead costs
~0.5 s of imports in a stage subprocess. Files are NumPy arrays without pickles, JSON and Parquet:
nothing in the cache can run code.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ctml.data.tables import feature_kinds
from ctml.drift.summary import Counts, Ecdf, Summary

FORMAT = 2  # bump when what an entry holds changes: old entries are then never read


@dataclass
class Reference:
    rows: int
    kinds: dict[str, str]
    summaries: dict[str, Summary]
    sample: pd.DataFrame  # up to drift.multivariate.max_rows rows, shuffled (seeded)
    predicted: dict[str, Summary] = field(default_factory=dict)  # model sha256 -> summary of its predictions
    key: str | None = None  # the cache entry it came from or went to


def summarize_frame(frame: pd.DataFrame, kinds: dict[str, str]) -> dict[str, Summary]:
    """Every feature column summarized (ECDF or counts), columns side by side on all cores."""
    from ctml.drift.tally import parallel, summarize

    return dict(zip(kinds, parallel(lambda name: summarize(frame[name], kinds[name]), [(n,) for n in kinds])))


def shuffled_sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most `rows` rows in a seeded random order: any head of it is a random sample too."""
    order = np.random.default_rng(seed).permutation(len(frame))[:rows]
    return frame.iloc[order].reset_index(drop=True)


def build(frame: pd.DataFrame, target: str, sample_rows: int, seed: int, kinds: dict[str, str] | None = None) -> Reference:
    """`kinds`: the features (the schema's); default every column but the label, by its values."""
    kinds = kinds or feature_kinds(frame, target)
    return Reference(len(frame), kinds, summarize_frame(frame, kinds), shuffled_sample(frame[list(kinds)], sample_rows, seed))


@dataclass(frozen=True)
class Segment:
    """One stretch of the training data the model learnt from: the rows before any CT batch (the first
    `head` rows of the training file), or one CT batch folded into it (its own file)."""

    name: str
    path: Path
    head: int | None = None


def training_segments(training: Path, batches: list[Path], rows_of: Callable[[Path], int | None]) -> list[Segment]:
    """The training data as the stretches it was assembled from (`assemble_training_data`: the source
    rows, then each folded batch in order; the window policy drops the oldest rows). A batch counts
    when all its rows are still in the training data; what precedes the newest such batches is the
    head (source rows, and batches the window cut into)."""
    total = rows_of(training) or 0
    kept: list[Segment] = []
    used = 0
    for path in reversed(batches):
        rows = rows_of(path) or 0
        if used + rows > total:
            break
        kept.append(Segment(path.name, path))
        used += rows
    if not kept:
        return [Segment("training data", training)]
    head = [Segment("training data before CT batches", training, total - used)] if total - used > 0 else []
    return head + kept[::-1]


# --- the cache ------------------------------------------------------------------------------------

def _lock_hashes(root: Path) -> dict[str, str]:
    """path -> md5 of every dep and out dvc.lock records (directories as `<md5>.dir`)."""
    import yaml

    lock = root / "dvc.lock"
    if not lock.is_file():
        return {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    stages = (yaml.load(lock.read_text(), Loader=loader) or {}).get("stages", {})
    return {e["path"]: e["md5"] for stage in stages.values() for e in (*stage.get("deps", []), *stage.get("outs", []))
            if isinstance(e, dict) and "md5" in e}


def _dvc_file_md5(path: Path) -> str | None:
    """The md5 in the `.dvc` file beside `path` (`dvc add`-ed: a source file, or a folder of CT batches
    as `<md5>.dir`)."""
    import yaml

    dvcfile = path.with_name(path.name + ".dvc")
    if not dvcfile.is_file():
        return None
    outs = (yaml.safe_load(dvcfile.read_text()) or {}).get("outs") or [{}]
    return outs[0].get("md5")


def _listed_md5(root: Path, folder_md5: str, inside: str) -> str | None:
    """A file's md5 in the `.dir` listing DVC cached for a directory it tracks (None when not cached)."""
    manifest = root / ".dvc" / "cache" / "files" / "md5" / folder_md5[:2] / folder_md5[2:]
    try:
        entries = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    return next((e["md5"] for e in entries if e.get("relpath") == inside), None)


def recorded_md5(path: Path) -> str | None:
    """The md5 DVC recorded for `path`: its `.dvc` file, the `.dir` listing in the DVC cache of a
    directory a `.dvc` file tracks (a lineage's folder of CT batches) or dvc.lock records, or
    dvc.lock; None when DVC records none (then nothing is cached)."""
    path = path.resolve()
    root = next((p for p in path.parents if (p / ".dvc").is_dir()), None)
    if root is None:
        return None
    if (md5 := _dvc_file_md5(path)) is not None:
        return md5
    for folder in path.parents:
        if folder == root:
            break
        if (md5 := _dvc_file_md5(folder)) is not None and md5.endswith(".dir"):
            return _listed_md5(root, md5, path.relative_to(folder).as_posix())
    rel = path.relative_to(root).as_posix()
    hashes = _lock_hashes(root)
    if rel in hashes and not hashes[rel].endswith(".dir"):
        return hashes[rel]
    for folder, md5 in hashes.items():
        if md5.endswith(".dir") and rel.startswith(folder.rstrip("/") + "/"):
            return _listed_md5(root, md5, rel[len(folder.rstrip("/")) + 1:])
    return None


def file_stamp(path: Path) -> list[int]:
    """What DVC's own state trusts a hash by: inode, mtime and size. An entry is served only while the
    file still has them, so a file changed since dvc.lock was written is never answered from the cache."""
    st = path.stat()
    return [st.st_ino, st.st_mtime_ns, st.st_size]


def entry_key(md5: str, target: str, sample_rows: int, seed: int, kinds: dict[str, str] | None = None,
              head: int | None = None) -> str:
    """md5 of the file + what else shapes an entry (label column, sample size, seed, features, the
    leading rows taken, format)."""
    shape = [target, sample_rows, seed, sorted((kinds or {}).items()), FORMAT] + ([head] if head is not None else [])
    extra = hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:12]
    return f"{md5}-{extra}"


def _save_summaries(folder: Path, summaries: dict[str, Summary]) -> None:
    """One .npy per array, so loading maps the files instead of reading them (a 1M-row reference is
    160 MB: read from an .npz it cost a drift step more than its 10k-row batch)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(summaries.values()):
        if isinstance(s, Ecdf):
            np.save(folder / f"{i}.values.npy", s.values)
            if not s.unit:  # continuous data: every count is 1, rebuilt on load (half the bytes)
                np.save(folder / f"{i}.counts.npy", s.counts)
        else:
            np.save(folder / f"{i}.labels.npy", s.labels.astype(str))
            np.save(folder / f"{i}.counts.npy", s.counts)


def _load_summaries(folder: Path, names: list[str]) -> dict[str, Summary]:
    """Read-only memory maps: pages come from the OS cache as the statistics walk them."""
    def array(name: str) -> np.ndarray:
        return np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    out: dict[str, Summary] = {}
    for i, name in enumerate(names):
        if (folder / f"{i}.values.npy").exists():
            values = array(f"{i}.values")
            counts = array(f"{i}.counts") if (folder / f"{i}.counts.npy").exists() else np.ones(len(values), dtype="int64")
            out[name] = Ecdf(values, counts)
        elif (folder / f"{i}.labels.npy").exists():
            out[name] = Counts(array(f"{i}.labels").astype(object), np.asarray(array(f"{i}.counts")))
        else:
            raise KeyError(name)
    return out


def _replace_folder(final: Path, write: Callable[[Path], None]) -> None:
    """`write` fills a hidden sibling folder, which is then renamed to `final`: a reader sees the
    old folder, none or the whole new one, never a half-written one."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        write(tmp)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load(cache: Path, key: str, stamp: list[int]) -> Reference | None:
    """The entry `key` made from the file as it is now (`stamp`), or None: none, unreadable, or made
    from other bytes (then it is rebuilt)."""
    entry = cache / key
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta.get("stamp") != stamp or meta.get("format") != FORMAT:
            return None
        names = list(meta["kinds"])
        summaries = _load_summaries(entry / "summaries", names)
        sample = pd.read_parquet(entry / "sample.parquet")
    except (OSError, ValueError, KeyError):
        return None
    (entry / "meta.json").touch()  # most recently used: kept longest
    return Reference(int(meta["rows"]), dict(meta["kinds"]), summaries, sample, key=key)


def store(cache: Path, key: str, reference: Reference, keep: int, stamp: list[int]) -> None:
    """Write the entry atomically (`_replace_folder`) and keep only the `keep` most recent."""
    def write(tmp: Path) -> None:
        _save_summaries(tmp / "summaries", reference.summaries)
        reference.sample.to_parquet(tmp / "sample.parquet", index=False)
        (tmp / "meta.json").write_text(json.dumps({"rows": reference.rows, "kinds": reference.kinds, "format": FORMAT,
                                                     "stamp": stamp}))

    cache.mkdir(parents=True, exist_ok=True)
    _replace_folder(cache / key, write)
    reference.key = key
    entries = sorted((p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: (p / "meta.json").stat().st_mtime_ns if (p / "meta.json").exists() else 0, reverse=True)
    for old in entries[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _predicted_folder(cache: Path, reference: Reference, model_sha: str) -> Path:
    return cache / str(reference.key) / f"predicted-{model_sha[:24]}"


def load_predicted(cache: Path, reference: Reference, model_sha: str) -> Summary | None:
    if reference.key is None:
        return None
    try:
        return _load_summaries(_predicted_folder(cache, reference, model_sha), ["predicted"])["predicted"]
    except (OSError, ValueError, KeyError):
        return None


def store_predicted(cache: Path, reference: Reference, model_sha: str, predicted: Summary) -> None:
    if reference.key is None or not (cache / reference.key).is_dir():
        return
    _replace_folder(_predicted_folder(cache, reference, model_sha), lambda tmp: _save_summaries(tmp, {"predicted": predicted}))


def open_reference(path: Path, target: str, sample_rows: int, seed: int, cache: Path | None, keep: int,
                   read: Callable[[Path], pd.DataFrame], model: Any = None, model_sha: str = "",
                   kinds: dict[str, str] | None = None, head: int | None = None) -> tuple[Reference, str]:
    """The reference's `Reference` (with `model`'s predictions on it) over `kinds` (default: every
    column), from the cache when DVC's hash of the file has an entry, else read (`read(path)`), built
    and stored. `head`: only the file's first rows (the training data before any CT batch). Returns
    it and how it was had."""
    from ctml.drift.tally import predicted_summary

    if head is not None:
        whole = read
        read = lambda p: whole(p).iloc[:head].reset_index(drop=True)  # noqa: E731
    md5 = recorded_md5(path) if cache is not None and keep > 0 else None
    key = entry_key(md5, target, sample_rows, seed, kinds, head) if md5 else None
    stamp = file_stamp(path) if key else []
    frame = None
    reference = load(cache, key, stamp) if key else None
    how = "cached"
    if reference is None:
        frame = read(path)
        reference = build(frame, target, sample_rows, seed, kinds)
        if key:
            store(cache, key, reference, keep, stamp)
        how = "summarized and cached" if key else ("not cached (DVC records no hash for it)" if keep and cache else "not cached")
    if model is not None:
        predicted = load_predicted(cache, reference, model_sha) if key else None
        if predicted is None:
            frame = read(path) if frame is None else frame
            predicted = predicted_summary(model, frame, list(reference.kinds))
            if key:
                store_predicted(cache, reference, model_sha, predicted)
                how = "cached; predictions of this model computed" if how == "cached" else how
        reference.predicted[model_sha] = predicted
    return reference, how
