"""Where everything lives in the project, defined once, relative to the project root.

Stages take their paths from their `dvc.yaml` command lines; ct.py and the commands ask this
module. A test holds the two together (tests/test_layout.py), so moving a file means editing
`dvc.yaml` and this module only.
"""
from __future__ import annotations

from pathlib import Path

PARAMS = Path("params.yaml")
DVC_YAML = Path("dvc.yaml")
DVC_LOCK = Path("dvc.lock")

# data
SOURCE_DIR = Path("data/source")  # a user's own source files (dvc add-ed)
REPLAY_SOURCE = SOURCE_DIR / "replay.parquet"  # `simulate --scenario replay`: the leading rows of --data
BATCHES = Path("data/batches")  # CT batches folded into training, one per retrain (DVC-tracked)
INCOMING = Path("data/incoming")  # where a feed delivers batches
CHECKED = Path("data/checked")  # the batch under check, typed, once it passed the check: what the drift stage reads
STAGED_BATCH = CHECKED / "batch.parquet"
QUARANTINE = Path("data/quarantine")  # batches refused by the check, with a reason file each
RAW = Path("data/raw/train.parquet")  # typed training data (ingest)
SCHEMA = Path("data/schema.json")  # the data contract (validate)
TRAIN_SPLIT = Path("data/prepared/train.parquet")
TEST_SPLIT = Path("data/prepared/test.parquet")

# models
PREPROCESSOR = Path("models/preprocessor.joblib")
MODEL = Path("models/model.joblib")  # the pipeline's model: the candidate until it is released
MODEL_META = Path("models/model.json")
CALIBRATION = Path("models/calibration.json")  # the model's CBPE calibration, fitted on the test split (evaluate)
PRODUCTION = Path("models/production")  # the released model in production (model.joblib + .json + metrics)

# metrics
METRICS_DIR = Path("metrics")
VALIDATION = METRICS_DIR / "validation.json"
METRICS = METRICS_DIR / "metrics.json"
PLOTS = METRICS_DIR / "plots"
DRIFT = METRICS_DIR / "drift.json"  # the summary a person compares (a DVC metric)
DRIFT_FEATURES = METRICS_DIR / "drift_features.json"  # per-feature tests (an output: 30+ columns are no metric)
DRIFT_PLOTS = METRICS_DIR / "drift_plots"
DRIFT_SCORES = DRIFT_PLOTS / "scores.csv"  # per-feature scores, most drifted first (a DVC plot)
GATES = METRICS_DIR / "gates.json"  # every gate's value, limit and detail (an output)
GATES_SUMMARY = METRICS_DIR / "gates_summary.json"  # passed, blocked, alerts (a DVC metric)
BLOCKED_GATES = METRICS_DIR / "gates_blocked.json"  # the gates of the last blocked candidate (CT's record of why)
HISTORY = METRICS_DIR / "ct_history.csv"  # one row per CT step
TIMELINE = METRICS_DIR / "ct_timeline.png"
CT_RECORDS = (HISTORY, TIMELINE)  # CT's own append-only records: kept when a candidate is thrown away

REPORT = Path("ct-report.html")  # `ct.py report` (git-ignored)

# CT's own state
LOCK = Path(".ct.lock")  # flock: one ct.py at a time
CT_STATE = Path(".ct")
INFLIGHT = CT_STATE / "inflight.json"  # a step in progress; what recovery finishes or undoes
DRIFT_CACHE = CT_STATE / "drift-cache"  # reference summaries keyed by DVC's hash (never a dependency, never in git)

BATCH_NAMES = ("batch.parquet", "batch.csv")  # what a feed may drop in INCOMING, Parquet first
# What a release copies into PRODUCTION: file name there -> where the pipeline wrote it. gates.json is
# the decision that promoted the model (the gates stage re-runs after promotion, comparing it with itself);
# calibration.json is what the drift stage estimates the production model's accuracy with.
PRODUCTION_FILES = {"model.joblib": MODEL, "model.json": MODEL_META, "metrics.json": METRICS, "gates.json": GATES,
                    "calibration.json": CALIBRATION}
# Directories where stages and CT write files atomically (a kill can leave `.<name>.*.tmp` there).
OUTPUT_DIRS = (Path("data"), Path("models"), METRICS_DIR, CT_STATE)


def find_batch(incoming: str | Path) -> Path | None:
    """The batch in an incoming folder (`batch.parquet`, else `batch.csv`); None when there is none."""
    return next((Path(incoming) / n for n in BATCH_NAMES if (Path(incoming) / n).exists()), None)


def serving_model(production: str | Path, model: str | Path, meta: str | Path) -> tuple[Path, Path]:
    """(model, metadata) of the production model when one is deployed, else of the pipeline's model."""
    prod = Path(production)
    if (prod / "model.joblib").exists() and (prod / "model.json").exists():
        return prod / "model.joblib", prod / "model.json"
    return Path(model), Path(meta)
