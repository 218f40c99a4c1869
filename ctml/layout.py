"""Where everything lives in the project, defined once, relative to the project root.

Stages take their paths from their `dvc.yaml` command lines; ct.py and the commands ask this
module. A test holds the two together (tests/test_layout.py), so moving a file means editing
`dvc.yaml` and this module only.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

PARAMS = Path("params.yaml")
DVC_YAML = Path("dvc.yaml")
DVC_LOCK = Path("dvc.lock")

# data
SOURCE_DIR = Path("data/source")  # a user's own source files (dvc add-ed)
BATCHES = Path("data/batches")  # CT batches folded into training, one folder per lineage (each folder DVC-tracked)
INCOMING = Path("data/incoming")  # the inbox a feed delivers batches to (any number of CSV/Parquet files)
LABELS = Path("data/labels")  # the inbox of delayed labels (id column + label column), same rules
INBOXES = {"batch": INCOMING, "labels": LABELS}  # what a file of each kind is, by the inbox it arrived in
ARCHIVE = Path("data/archive")  # processed deliveries, by inbox, as `step-NNNN.<sha256 prefix>.<name>` (git-ignored)
AWAITING = Path("data/awaiting")  # checked rows waiting for their delayed labels, one folder per lineage (git-ignored)
CHECKED = Path("data/checked")  # the batch under check, typed, once it passed the check: what the drift stage reads
STAGED_BATCH = CHECKED / "batch.parquet"
STAGED_META = CHECKED / "batch.json"  # whose batch it is (lineage, step, delivered file): the drift stage reads it
QUARANTINE = Path("data/quarantine")  # batches refused by the check, with a reason file each; rows dropped from batches
RAW = Path("data/raw/train.parquet")  # typed training data (ingest)
SCHEMA = Path("data/schema.json")  # the data contract, with the ranges of the training data (validate)
TRAIN_SPLIT = Path("data/prepared/train.parquet")
TEST_SPLIT = Path("data/prepared/test.parquet")

# models
PREPROCESSOR = Path("models/preprocessor.joblib")
MODEL = Path("models/model.joblib")  # the pipeline's model: the candidate until it is released
MODEL_META = Path("models/model.json")
CALIBRATION = Path("models/calibration.json")  # the model's CBPE calibration, fitted on the test split (evaluate)
PRODUCTION = Path("models/production")  # the released model in production (model.joblib + .json + metrics)
PRODUCTION_LINEAGE = PRODUCTION / "lineage.json"  # the source, target and task production was trained for
PRODUCTION_MODEL = PRODUCTION / "model.joblib"  # DVC-tracked (the bytes); its .json beside it is in git
PRODUCTION_META = PRODUCTION / "model.json"  # the production model's sha256, features, training data sha256

# metrics
METRICS_DIR = Path("metrics")
VALIDATION = METRICS_DIR / "validation.json"
VALIDATION_PROBLEMS = METRICS_DIR / "validation_problems.txt"  # every problem and warning of the last validate run, in full
METRICS = METRICS_DIR / "metrics.json"
REFERENCE_MODEL = METRICS_DIR / "reference_model.json"  # a default model's test metrics on the same split (an output: a metric would double `dvc metrics show`)
PLOTS = METRICS_DIR / "plots"
DRIFT = METRICS_DIR / "drift.json"  # the drift report of the last batch (an output: 30+ values are no metric)
DRIFT_SUMMARY = METRICS_DIR / "drift_summary.json"  # what a person compares of it (a DVC metric)
DRIFT_FEATURES = METRICS_DIR / "drift_features.json"  # per-feature tests (an output: 30+ columns are no metric)
DRIFT_PLOTS = METRICS_DIR / "drift_plots"
DRIFT_SCORES = DRIFT_PLOTS / "scores.csv"  # per-feature scores, most drifted first (a DVC plot)
# The drift stage's outputs: a release commit holds them as measured on the batch that triggered it.
DRIFT_OUTPUTS = (DRIFT, DRIFT_SUMMARY, DRIFT_FEATURES, DRIFT_PLOTS)
DRIFT_STAGE = "drift"
# What a retrain reproduces for its candidate: every stage but drift (nothing depends on drift). The
# candidate's own drift run was thrown away: a release keeps the triggering measurement, a discard
# measures against production again (tests/test_dvc_yaml.py checks these targets reach every other stage).
CANDIDATE_TARGETS = ("evaluate", "gates")
GATES = METRICS_DIR / "gates.json"  # every gate's value, limit and detail (an output)
GATES_SUMMARY = METRICS_DIR / "gates_summary.json"  # passed, blocked, alerts (a DVC metric)
BLOCKED_GATES = METRICS_DIR / "gates_blocked.json"  # the gates of the last blocked candidate (CT's record of why)
HISTORY = METRICS_DIR / "ct_history.csv"  # one row per CT step
TIMELINE = METRICS_DIR / "ct_timeline.csv"  # per lineage, as DVC plot data (the report draws its PNG from the history)
CT_RECORDS = (HISTORY, TIMELINE)  # CT's own append-only records: kept when a candidate is thrown away

REPORT = Path("ct-report.html")  # `ct.py report` (git-ignored)

# CT's own state
LOCK = Path(".ct.lock")  # flock: one ct.py at a time
CT_STATE = Path(".ct")
TRIGGER = CT_STATE / "trigger"  # the drift outputs of a retrain's triggering measurement, until its release commit
INFLIGHT = CT_STATE / "inflight.json"  # a step in progress; what recovery finishes or undoes
ALERTS_SENT = CT_STATE / "alerts.json"  # when each alert event was last sent (alerts.min_interval_s)
DRIFT_CACHE = CT_STATE / "drift-cache"  # reference summaries keyed by DVC's hash (never a dependency, never in git)
SHADOW = CT_STATE / "shadow"  # the model in shadow (model.joblib, model.json, schema.json): what the server scores beside production
SHADOW_EVIDENCE = CT_STATE / "shadow-evidence.parquet"  # served rows scored by production and the shadow, their labels as they come
SERVED_REQUESTS = CT_STATE / "served.sqlite"  # `ct.py serve`: requests answered, for POST /feedback

BATCH_NAMES = ("batch.parquet", "batch.csv")  # the staged batch in CHECKED, Parquet first
# What a release copies into PRODUCTION: file name there -> where the pipeline wrote it. gates.json is
# the decision that promoted the model (the gates stage re-runs after promotion, comparing it with itself);
# schema.json the contract and ranges of its training data, what batches are held to and measured against;
# calibration.json is what the drift stage estimates the production model's accuracy with.
PRODUCTION_FILES = {"model.joblib": MODEL, "model.json": MODEL_META, "metrics.json": METRICS, "gates.json": GATES,
                    "schema.json": SCHEMA, "calibration.json": CALIBRATION}
# Directories where stages and CT write files atomically (a kill can leave `.<name>.*.tmp` there).
OUTPUT_DIRS = (Path("data"), Path("models"), METRICS_DIR, CT_STATE)


def find_batch(checked: str | Path) -> Path | None:
    """The staged batch in a folder (`batch.parquet`, else `batch.csv`); None when there is none."""
    return next((Path(checked) / n for n in BATCH_NAMES if (Path(checked) / n).exists()), None)


def lineage_key(source: str, target: str, task: str) -> str:
    """The folder name of a lineage: what a model is trained for (source, target, task).

    Why folders: CT batches folded under one source must never enter another source's training
    data, but they stay in git and DVC for the lineage of the versions made from them. The name
    starts with the source (its file name), readable, and ends with a hash of all three, so two
    lineages never share it.
    """
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", source.rsplit("/", 1)[-1]).strip("-.")[:60] or "source"
    digest = hashlib.sha256("\0".join((source, target, task)).encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def data_lineage(data: Any) -> str:
    """The lineage key of a `DataParams` (params.yaml's `data` section)."""
    return lineage_key(data.source, data.target, data.task)


def lineage_batches(batches: str | Path, data: Any) -> Path:
    """The folder of CT batches the current `data` section trains on, under the batches folder."""
    return Path(batches) / data_lineage(data)


def batch_pointer(folder: str | Path) -> Path:
    """The `.dvc` file that tracks a lineage's folder of CT batches as one directory, beside it.

    Why one per folder, not one per batch: `dvc dag` draws a node per `.dvc` file and `dvc repro`
    prints a line per `.dvc` file, so a pointer per batch grew both with every batch ever folded.
    """
    folder = Path(folder)
    return folder.parent / f"{folder.name}.dvc"


def batch_manifest(folder: str | Path) -> Path:
    """The git-tracked record of a lineage folder's batches (step, delivered file, hashes, rows), beside
    it: a directory's `.dvc` file has no per-file `meta`, and `ct.py lineage` reads this at any tag."""
    folder = Path(folder)
    return folder.parent / f"{folder.name}.batches.json"


def replay_source(data: str | Path) -> Path:
    """Where `simulate --scenario replay --data FILE` puts the leading rows of FILE: named after it,
    so replaying another file is another source (a new lineage), and replaying it again is the same."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(data).stem).strip("-.") or "data"
    return SOURCE_DIR / f"replay-{stem}.parquet"


def serving_schema(production: str | Path, schema: str | Path) -> Path:
    """The schema of the production model when one is deployed with it (releases before ranges
    followed production had none), else the pipeline's."""
    prod = Path(production) / "schema.json"
    return prod if prod.exists() else Path(schema)


def serving_model(production: str | Path, model: str | Path, meta: str | Path) -> tuple[Path, Path]:
    """(model, metadata) of the production model when one is deployed, else of the pipeline's model."""
    prod = Path(production)
    if (prod / "model.joblib").exists() and (prod / "model.json").exists():
        return prod / "model.joblib", prod / "model.json"
    return Path(model), Path(meta)
