"""params.yaml, parsed and checked in one place so a typo fails before any work is done."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ctml.errors import UserError

PARAMS_FILE = "params.yaml"

# What each task may use: `train.model` and `gates.metric` are checked against the task in force
# (up front when `data.task` names it, by the train and gates stages when `auto` decided it).
Task = Literal["classification", "regression"]
MODELS = {"classification": ("random_forest", "logistic_regression", "gradient_boosting", "hist_gradient_boosting", "xgboost"),
          "regression": ("random_forest", "ridge", "gradient_boosting", "hist_gradient_boosting", "xgboost")}
METRICS = {"classification": ("accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc"),
           "regression": ("rmse", "mae", "r2", "mape")}
DEFAULT_METRIC = {"classification": "accuracy", "regression": "rmse"}  # what `gates.metric: auto` compares


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AutoTaskParams(_Section):
    max_classes: int = Field(ge=2)
    min_distinct: int = Field(ge=3)

    @model_validator(mode="after")
    def _ordered(self) -> AutoTaskParams:
        if self.min_distinct <= self.max_classes:
            raise ValueError(f"min_distinct ({self.min_distinct}) must be above max_classes ({self.max_classes})")
        return self


DATE_ORDERS = ("auto", "YMD", "DMY", "MDY")  # how `data.date_columns` may say a date column is written (or a strptime format)


class CsvParams(_Section):
    sep: str = Field(default=",", min_length=1)
    decimal: Literal[".", ","] = "."
    encoding: str = Field(default="utf-8", min_length=1)

    @field_validator("encoding")
    @classmethod
    def _known(cls, value: str) -> str:
        """Refused with params.yaml's key at load, not on the first file read (perhaps a night's delivery later)."""
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"{value!r} is not a known text encoding (e.g. utf-8, latin-1, cp1252)") from None
        return value

    @model_validator(mode="after")
    def _distinct(self) -> CsvParams:
        if self.sep == self.decimal:
            raise ValueError(f"sep and decimal are both {self.sep!r}: a field could not be told from a decimal part")
        return self


class DataParams(_Section):
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    task: Literal["auto", "classification", "regression"]
    auto_task: AutoTaskParams
    date_columns: list[str] | dict[str, str] = []
    id_column: str = ""  # the row identifier column: never a feature; joins delayed labels
    features: list[str] = []  # the feature columns (empty: every column but the label and those excluded)
    exclude: list[str] = []  # columns that are no features, whatever they look like
    csv: CsvParams = CsvParams()  # how CSV sources, deliveries and label files are written

    @field_validator("date_columns", mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if not isinstance(value, (list, dict)):
            raise ValueError("expected a list of columns ([when]) or a mapping of column to order ({when: DMY})")
        return value

    @field_validator("date_columns")
    @classmethod
    def _orders(cls, value: list[str] | dict[str, str]) -> list[str] | dict[str, str]:
        for name, order in (value.items() if isinstance(value, dict) else ()):
            if order not in DATE_ORDERS and "%" not in order:
                raise ValueError(f"column '{name}': {order!r} is not a date order ({', '.join(DATE_ORDERS)}) "
                                 "or a strptime format such as '%d.%m.%Y'")
        return value

    @property
    def date_formats(self) -> dict[str, str]:
        """Column -> how its dates are written: a listed column's is `auto` (year first, or ISO)."""
        columns = self.date_columns
        return dict(columns) if isinstance(columns, dict) else {name: "auto" for name in columns}


class BoundsParams(_Section):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "BoundsParams":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class ValidateParams(_Section):
    bad_rows: Literal["quarantine_batch", "drop_rows"] = "quarantine_batch"
    max_bad_row_share: float = Field(default=0.1, ge=0, le=1)
    max_missing_share: float = Field(ge=0, le=1)
    missing_tolerance: float = Field(ge=0, le=1)
    absurd_factor: float = Field(default=10.0, gt=0)
    bounds: dict[str, BoundsParams] = {}
    max_unknown_category_share: float = Field(ge=0, le=1)
    max_distinct_share: float = Field(default=0.9, gt=0, le=1)
    detect_min_rows: int = Field(default=50, ge=1)


class PreprocessParams(_Section):
    test_size: float = Field(gt=0, lt=1)
    numeric_imputer: Literal["median", "mean", "most_frequent"]
    scaler: Literal["standard", "minmax", "none"]
    max_categories: int = Field(ge=2)
    date_parts: list[Literal["year", "month", "day", "dayofweek", "dayofyear", "hour"]]


class TrainParams(_Section):
    model: Literal[tuple(dict.fromkeys(MODELS["classification"] + MODELS["regression"]))]  # type: ignore[valid-type]
    n_estimators: int = Field(ge=1)
    max_depth: int | None = Field(ge=1)  # None (null in YAML): unbounded, scikit-learn's default
    learning_rate: float = Field(gt=0)
    C: float = Field(gt=0)
    max_iter: int = Field(ge=1)
    alpha: float = Field(ge=0)


class CalibrationParams(_Section):
    method: Literal["auto", "isotonic", "none"]
    bins: int = Field(ge=2)
    splits: int = Field(ge=2)


class EvaluateParams(_Section):
    top_features: int = Field(ge=1)
    residual_bins: int = Field(ge=2)
    calibration: CalibrationParams
    reference_tolerance: float = Field(default=0.05, ge=0)  # the model may trail the reference model by this


DriftMethod = Literal["ks", "psi", "wasserstein", "chi2", "jensenshannon"]


class DriftAutoParams(_Section):
    small_sample_rows: int = Field(ge=1)
    numeric_small: DriftMethod
    numeric_large: DriftMethod
    categorical_small: DriftMethod
    categorical_large: DriftMethod
    categorical_max_unique: int = Field(default=5, ge=0)
    size_of: Literal["reference", "smaller"] = "reference"


class FeatureDriftParams(_Section):
    method: DriftMethod | None = None
    threshold: float | None = Field(default=None, ge=0)


class MultivariateParams(_Section):
    enabled: bool
    threshold: float = Field(ge=0.5, le=1)
    p_value: float = Field(gt=0, lt=1)
    folds: int = Field(ge=2)
    n_estimators: int = Field(ge=1)
    min_rows: int = Field(ge=2)
    max_rows: int = Field(ge=10)

    @model_validator(mode="after")
    def _enough_for_folds(self) -> MultivariateParams:
        if self.min_rows < self.folds:
            raise ValueError(f"min_rows ({self.min_rows}) must be at least folds ({self.folds}): each fold needs a row of each side")
        return self


class EstimationParams(_Section):
    band_sigmas: float = Field(gt=0)


class DriftParams(_Section):
    reference: Literal["seen", "latest", "training"]
    dates: Literal["monitor", "count"] = "monitor"
    method: Literal["auto", "ks", "psi", "wasserstein", "chi2", "jensenshannon"]
    auto: DriftAutoParams
    thresholds: dict[DriftMethod, float]
    psi_bins: int = Field(ge=2)
    per_feature: dict[str, FeatureDriftParams] = {}
    correction: Literal["none", "bonferroni", "fdr"]
    min_effect: dict[Literal["ks", "chi2"], Annotated[float, Field(ge=0)]]
    multivariate: MultivariateParams
    estimation: EstimationParams
    cache: int = Field(ge=0)
    top_plots: int = Field(ge=0)
    images: Literal["drifted", "always", "never"] = "drifted"


class ComputeParams(_Section):
    engine: Literal["local", "dask"]
    scheduler: str = ""
    partition_rows: int = Field(ge=1000)


class CTParams(_Section):
    threshold: float = Field(ge=0, le=1)
    max_out_of_range_share: float = Field(default=0.05, ge=0, le=1)
    max_unknown_category_share: float = Field(default=0.05, ge=0, le=1)
    max_accuracy_drop: float = Field(ge=0, le=1)
    max_error_increase: float = Field(ge=0)
    max_estimated_drop: float = Field(ge=0, le=1)
    multivariate_trigger: bool
    policy: Literal["append", "window", "cap"]
    window_rows: int = Field(ge=0)  # 0: as many rows as the source has
    max_growth: float = Field(default=0.2, ge=0)
    cap_min_rows: int = Field(default=1_000_000, ge=10)

    @field_validator("window_rows")
    @classmethod
    def _window(cls, value: int) -> int:
        if 0 < value < 10:
            raise ValueError("a window of fewer than 10 rows cannot train a model; 0 means the source's row count")
        return value
    reference_rows: int = Field(ge=10)
    shift_share: float = Field(gt=0, le=1)
    shift_magnitude: float = Field(ge=0)
    start_step: int = Field(ge=1)
    min_labelled_rows: int = Field(ge=1)
    unlabelled_trigger: Literal["wait", "labelled"]
    max_batch_mb: float = Field(gt=0)
    watch_interval_s: float = Field(gt=0)
    settle_s: float = Field(ge=0, le=60)
    label_wait_hours: float = Field(gt=0)


class FairnessParams(_Section):
    sensitive_column: str = ""
    max_dp_diff: float = Field(ge=0, le=1)
    max_mean_gap: float = Field(ge=0)


class GatesParams(_Section):
    metric: Literal[("auto",) + METRICS["classification"] + METRICS["regression"]]  # type: ignore[valid-type]
    tolerance: float = Field(ge=0, le=1)
    freshness_hours: float = Field(gt=0)
    p95_latency_ms: float = Field(gt=0)
    latency_samples: int = Field(ge=10)
    latency_confidence: float = Field(gt=0, lt=1)
    fairness: FairnessParams


AlertEvent = Literal["drift", "retrained", "blocked", "quarantined", "freshness", "accuracy_drop", "awaiting_labels",
                     "recovered", "shadow_promoted", "shadow_retired"]
ALERT_EVENTS: tuple[str, ...] = get_args(AlertEvent)


class ReleaseParams(_Section):
    """How a candidate that passed the gates reaches production (docs/shadow.md)."""

    mode: Literal["promote", "shadow"] = "promote"
    min_labelled_rows: int = Field(default=200, ge=10)
    max_shadow_hours: float = Field(default=168, gt=0)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)


class AlertsParams(_Section):
    events: list[AlertEvent]
    min_interval_s: float = Field(ge=0)
    timeout_s: float = Field(gt=0, le=60)


class ServeParams(_Section):
    host: str = Field(min_length=1)
    port: int = Field(ge=0, le=65535)
    reload_interval_s: float = Field(gt=0)
    max_body_mb: float = Field(gt=0)
    batch_wait_ms: float = Field(ge=0, le=1000)
    max_batch_rows: int = Field(ge=1)
    capture_rows: int = Field(ge=1)
    capture_seconds: float = Field(gt=0)
    capture_sample: float = Field(ge=0, le=1)
    feedback_retention_hours: float = Field(gt=0)
    shutdown_timeout_s: float = Field(gt=0, le=60)
    request_timeout_s: float = Field(gt=0, le=600)


class TrackingParams(_Section):
    enabled: bool
    online_timeout_s: float = Field(gt=0, le=60)


class Params(_Section):
    seed: int = Field(ge=0)
    data: DataParams
    validate_: ValidateParams = Field(alias="validate")
    preprocess: PreprocessParams
    train: TrainParams
    evaluate: EvaluateParams
    drift: DriftParams
    compute: ComputeParams
    ct: CTParams
    gates: GatesParams
    release: ReleaseParams = Field(default_factory=ReleaseParams)  # absent: promote, as before the section existed
    alerts: AlertsParams
    serve: ServeParams
    tracking: TrackingParams

    def as_dict(self) -> dict[str, Any]:
        """The resolved config with the user's key names, for logging and metadata."""
        return self.model_dump(by_alias=True, mode="json")


# Keys an older params.yaml may still carry -> what took their place (a plain "unknown key" would mislead).
RETIRED = {"validate.range_tolerance": "a value beyond the recorded range is now drift (counted, ct.max_out_of_range_share); "
                                      "only one absurdly far out is refused (validate.absurd_factor); see docs/validation.md"}


def _describe(err: dict[str, Any], model: type[BaseModel]) -> str:
    """Turn one pydantic error into 'key: problem (allowed: ...)'."""
    loc = [str(p) for p in err["loc"]]
    if loc and loc[-1] == "[key]":  # a mapping's key outside its allowed names (drift.thresholds, drift.min_effect)
        return f"unknown key '{'.'.join(loc[:-1])}': {err['msg']}"
    key = ".".join(loc)
    kind = err["type"]
    if kind == "extra_forbidden" and key in RETIRED:
        return f"key '{key}' is retired: {RETIRED[key]}"
    if kind == "extra_forbidden":
        node: Any = model
        for part in loc[:-1]:
            if get_origin(node) is dict:  # a free-form key (e.g. a column in drift.per_feature)
                node = get_args(node)[1]
            elif isinstance(node, type) and issubclass(node, BaseModel):
                node = _field(node, part)
            else:
                break
        parent = node if isinstance(node, type) and issubclass(node, BaseModel) else None
        if parent is None:
            return f"unknown key '{key}'"
        close = difflib.get_close_matches(loc[-1], _keys(parent), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown key '{key}' ({hint}allowed: {', '.join(_keys(parent))})"
    if kind == "missing":
        return f"missing key '{key}'"
    value = err.get("input")
    return f"key '{key}' = {value!r}: {err['msg']}"


def _field(model: type[BaseModel], name: str) -> Any:
    for fname, info in model.model_fields.items():
        if name in (fname, info.alias):
            return info.annotation
    return None


def _keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def parse_params(raw: Any, source: str = PARAMS_FILE) -> Params:
    """Check a loaded params mapping; raise UserError naming the first bad key."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        # A misspelled key is both unknown and leaves the real key missing: name the typo first.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        raise UserError(f"{source}: {_describe(errors[0], Params)}") from None
    if params.data.task != "auto":
        check_for_task(params, params.data.task, source)
    return params


def check_for_task(params: Params, task: str, source: str = PARAMS_FILE) -> None:
    """`train.model` and `gates.metric` must be ones of `task`; else one line naming the key."""
    require_for_task("train.model", params.train.model, task, source)
    require_for_task("gates.metric", params.gates.metric, task, source)


def require_for_task(key: str, value: str, task: str, source: str = PARAMS_FILE) -> None:
    """One key (`train.model` or `gates.metric`) against the task in force."""
    what, allowed = ("model", MODELS[task]) if key == "train.model" else ("metric", ("auto", *METRICS[task]))
    if value not in allowed:
        raise UserError(f"{source}: key '{key}' = {value!r} is not a {task} {what} (the task is {task}; "
                        f"allowed: {', '.join(allowed)})")


def gate_metric(metric: str, task: str) -> str:
    """The metric the accuracy gate compares: `gates.metric`, or the task's default for `auto`."""
    require_for_task("gates.metric", metric, task)
    return DEFAULT_METRIC[task] if metric == "auto" else metric


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and check params.yaml; a missing or malformed file is a UserError naming it."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}: malformed YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_params(raw, str(path))


def set_scalars(text: str, values: dict[tuple[str, ...], str]) -> str:
    """params.yaml's text with only the given keys' (one-line scalar) values replaced in place.

    Why edit the text: a user's params.yaml is theirs (quotes, indentation, list wrapping, comments);
    dumping a parsed copy rewrote it, so the user's next edit of a line silently failed to match.
    A key that is absent, or whose value spans lines, is a ValueError (the caller writes nothing).
    """
    import json

    from ruamel.yaml import YAML

    doc = YAML().load(text)
    lines = text.splitlines(keepends=True)
    for path, value in values.items():
        node = doc
        for key in path[:-1]:
            node = node[key]
        if path[-1] not in node or not isinstance(node[path[-1]], (str, int, float, type(None))):
            raise ValueError(f"params.yaml: {'.'.join(path)} is not a one-line value")
        row, col = node.lc.value(path[-1])
        line = lines[row]
        newline = line[len(line.rstrip("\r\n")):]
        body = line.rstrip("\r\n")
        hash_at = body.find(" #", col) + 1  # 0: no comment
        old = (body[col:hash_at] if hash_at else body[col:]).rstrip()
        shown = value if value and all(c.isalnum() or c in "/._-:" for c in value) and not value[0].isdigit() \
            else json.dumps(value)
        if old[:1] in ("'", '"'):  # the user quoted it: keep quoting
            shown = json.dumps(value) if old[0] == '"' else "'" + value.replace("'", "''") + "'"
        head = body[:col] + shown
        if hash_at:  # the comment stays in its column (or one space after a longer value)
            head = head.ljust(hash_at) if len(head) < hash_at else head + " "
            head += body[hash_at:]
        lines[row] = head + newline
    return "".join(lines)
