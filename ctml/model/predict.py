"""Batch prediction with a recorded model: verified before unpickling, input held to the schema.

`ct.py predict` is a thin command over `predict_file`; the pieces are separate so a service or a
benchmark can reuse them (`prepare_input` for the data contract, `predict_frame` for the model).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ctml.config import Params, ValidateParams
from ctml.data.tables import cast_to_kinds
from ctml.errors import UserError
from ctml.io import read_json, read_table, write_csv, write_parquet
from ctml.model.estimator import load_verified
from ctml.data.schema import check_frame, recorded_date_formats, recorded_kinds
from ctml.data.task import task_of_model

OUTPUT_SUFFIXES = {".csv": write_csv, ".parquet": write_parquet, ".pq": write_parquet}


def request_rules(vp: ValidateParams) -> ValidateParams:
    """The schema rules that apply to rows sent for prediction.

    Columns, kinds, finite values and ranges are checked as in training. Missing values and unseen
    categories are allowed: they are batch statistics that mean nothing for a few rows, and the
    model pipeline imputes the former and encodes the latter as infrequent.
    """
    return vp.model_copy(update={"max_missing_share": 1.0, "missing_tolerance": 1.0, "max_unknown_category_share": 1.0})


def prepare_input(raw: pd.DataFrame, schema: dict[str, Any], params: Params, source: str = "input") -> pd.DataFrame:
    """Canonical dtypes, then the schema check; returns the feature columns in schema order.

    The label column is optional and ignored. Rows are typed as `ct.py check` and the drift stage
    type batches (`cast_to_kinds`): kinds come from the schema, not from these rows, so a
    categorical column whose few values all look numeric stays categorical.
    """
    target, columns = schema["target"], schema["columns"]
    raw = raw.rename(columns=str).drop(columns=[target], errors="ignore")
    frame, _ = cast_to_kinds(raw, recorded_kinds(schema), date_formats=recorded_date_formats(schema))  # a bad value: check_frame names it
    problems = check_frame(frame, schema, request_rules(params.validate_), require_target=False)
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UserError(f"{source}: " + "; ".join(problems[:3]) + more)
    return frame[list(columns)]


def predict_frame(model: Any, x: pd.DataFrame) -> pd.DataFrame:
    """`prediction` and, for a classifier, one `proba_<class>` column per model class, row-aligned with `x`.
    A regressor's prediction is the number itself: there are no classes to give probabilities of."""
    if task_of_model(model) == "regression":
        return pd.DataFrame({"prediction": model.predict(x)})
    proba = model.predict_proba(x)
    out = pd.DataFrame({"prediction": model.predict(x)})
    for i, label in enumerate(model.classes_):
        out[f"proba_{label.item() if hasattr(label, 'item') else label}"] = proba[:, i]
    return out


def predict_file(input_path: str | Path, model_path: str | Path, meta_path: str | Path, schema_path: str | Path,
                 output_path: str | Path | None, params: Params) -> pd.DataFrame:
    """Predict every row of a CSV/Parquet file; write CSV/Parquet by the output's suffix (atomically) or CSV to stdout.

    The model file's sha256 is checked against its metadata before it is unpickled; every problem
    (tampered model, unreadable or empty input, missing/extra columns, bad values) is a one-line
    UserError naming the file and column. Returns the predictions.
    """
    writer = None
    if output_path is not None:
        suffix = Path(output_path).suffix.lower()
        if suffix not in OUTPUT_SUFFIXES:
            raise UserError(f"{output_path}: unsupported output type '{suffix}' (allowed: {', '.join(OUTPUT_SUFFIXES)})")
        writer = OUTPUT_SUFFIXES[suffix]
    model, meta = load_verified(model_path, meta_path)
    schema = read_json(schema_path)
    x = prepare_input(read_table(input_path, params.data.csv.model_dump()), schema, params, source=str(input_path))
    missing = [c for c in meta.get("features", []) if c not in x.columns]
    if missing:
        raise UserError(f"{model_path}: model needs column(s) {', '.join(missing[:5])} that {schema_path} does not record")
    predictions = predict_frame(model, x[meta["features"]] if meta.get("features") else x)
    if writer is None:
        predictions.to_csv(sys.stdout, index=False)
    else:
        writer(output_path, predictions)
    return predictions
