"""A loaded model and what one call of it answers: a micro-batch of V2 requests, validated once.

Why one call per micro-batch: a forest's `predict` on one row is almost all per-call overhead (its
trees walked one by one), so 8 single-row requests cost about what one 8-row call costs. The label
is the argmax of the one `predict_proba` call (a random forest's `predict` is exactly that), so a
request costs one model call, not two.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ctml.config import ValidateParams
from ctml.data.tables import cast_column
from ctml.io import read_json
from ctml.model.estimator import load_verified
from ctml.model.predict import request_rules
from ctml.data.schema import check_frame, recorded_kinds
from ctml.serve import compiled
from ctml.serve.protocol import DATATYPES, Request, RequestError, parse_infer, response, row_bodies, tensor
from ctml.data.task import task_of_model


@dataclass(frozen=True)
class Served:
    """A model as the server holds it: swapped whole on reload, so a micro-batch never mixes versions."""

    model: Any
    version: str
    sha256: str
    features: list[str]  # the model's input columns, in its order
    kinds: dict[str, str]  # feature column -> schema kind
    schema: dict[str, Any]
    rules: ValidateParams  # the schema rules a request is held to
    classes: np.ndarray | None  # None for a regressor
    fast: Callable[[pd.DataFrame], np.ndarray] | None = None  # the compiled model (ctml.serve.compiled), when verified

    @property
    def outputs(self) -> tuple[str, ...]:
        return ("predict",) if self.classes is None else ("predict", "predict_proba")

    def metadata(self) -> dict[str, Any]:
        """`GET /v2/models/model`: the inputs a request must send, the outputs it gets back."""
        inputs = [{"name": c, "datatype": DATATYPES[k][0], "shape": [-1]} for c, k in self.kinds.items()]
        label_type = "FP64" if self.classes is None else tensor("predict", self.classes)["datatype"]
        outputs = [{"name": "predict", "datatype": label_type, "shape": [-1]}]
        parameters: dict[str, Any] = {"task": "regression" if self.classes is None else "classification",
                                      "model_sha256": self.sha256}
        if self.classes is not None:
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(self.classes)]})
            parameters["classes"] = self.classes.tolist()  # the column order of predict_proba
        return {"name": "model", "versions": [self.version], "platform": "sklearn", "inputs": inputs,
                "outputs": outputs, "parameters": parameters}


def load(model_path: str | Path, meta_path: str | Path, schema_path: str | Path, version: str, vp: ValidateParams,
         check: pd.DataFrame | None = None) -> Served:
    """Verify the model file's sha256 against its metadata before unpickling it (a UserError if not);
    compile it when scikit-learn agrees with the compiled model on the rows of `check` (the test split)."""
    model, meta = load_verified(model_path, meta_path)
    schema = read_json(schema_path)
    kinds = recorded_kinds(schema)
    features = list(meta.get("features") or kinds)
    classes = None if task_of_model(model) == "regression" else np.asarray(model.classes_)
    usable = check if check is not None and set(features) <= set(check.columns) else None
    fast = compiled.verified(model, usable[features] if usable is not None else None)
    return Served(model, version, str(meta["model_sha256"]), features, {c: kinds[c] for c in features if c in kinds},
                  schema, request_rules(vp), classes, fast)


@dataclass
class Scored:
    """One request's answer, by the version that computed it."""

    request: Request
    version: str
    labels: np.ndarray
    proba: np.ndarray | None

    def outputs(self) -> list[dict[str, Any]]:
        out = [tensor("predict", self.labels)]
        if self.proba is not None:
            out.append(tensor("predict_proba", self.proba))
        return out


def typed_column(name: str, kind: str, values: list[Any]) -> Any:
    """One column of V2 values in the dtype training gave its kind (missing: None)."""
    if kind == "numeric":
        return np.array(values, dtype=np.float64)
    if kind == "boolean":
        return pd.array(values, dtype="boolean")
    if kind == "datetime":
        parsed = cast_column(pd.Series(values, dtype=object), "datetime")
        bad = parsed.isna() & pd.Series(values, dtype=object).notna()
        if bad.any():
            raise RequestError(f"input '{name}': {values[int(np.argmax(bad.to_numpy()))]!r} is not an ISO date")
        return parsed
    return pd.Series(values, dtype=object)


def frame_of(served: Served, requests: list[Request]) -> pd.DataFrame:
    """The rows of `requests`, one after the other, typed; columns in the model's order."""
    if len(requests) == 1:
        columns = requests[0].columns
        return pd.DataFrame({c: typed_column(c, served.kinds[c], columns[c]) for c in served.features})
    return pd.DataFrame({c: typed_column(c, served.kinds[c], [v for r in requests for v in r.columns[c]])
                         for c in served.features})


def _problem(served: Served, frame: pd.DataFrame) -> str | None:
    problems = check_frame(frame, served.schema, served.rules, require_target=False)
    return "; ".join(problems[:3]) if problems else None


def score(served: Served, requests: list[Request]) -> list[Scored | RequestError]:
    """Answer every request of a micro-batch with one model call; a request whose rows break the
    schema gets its RequestError and the others are still answered."""
    results: list[Scored | RequestError | None] = [None] * len(requests)
    try:
        frame = frame_of(served, requests)
        problem = _problem(served, frame)
    except RequestError:
        problem = "a request failed typing"
    if problem is not None:  # rare: find the requests at fault, one at a time
        for i, request in enumerate(requests):
            try:
                if (own := _problem(served, frame_of(served, [request]))) is not None:
                    results[i] = RequestError(f"inputs: {own}")
            except RequestError as exc:
                results[i] = exc
        good = [r for r, res in zip(requests, results) if res is None]
        if not good:
            return results  # type: ignore[return-value]
        frame = frame_of(served, good)
    else:
        good = requests
    labels, proba = predict(served, frame)
    start = 0
    answers = iter(good)
    for i, res in enumerate(results):
        if res is None:
            request = next(answers)
            end = start + request.rows
            results[i] = Scored(request, served.version, labels[start:end], None if proba is None else proba[start:end])
            start = end
    return results  # type: ignore[return-value]


def predict(served: Served, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels, probabilities) from one model call: the label is the most probable class."""
    if served.classes is None:
        return np.asarray(served.fast(x) if served.fast else served.model.predict(x)), None
    proba = served.fast(x) if served.fast else served.model.predict_proba(x)
    return served.classes[proba.argmax(axis=1)], proba


def answer(served: Served, body: bytes) -> bytes:
    """One request through the server's path in this thread: parse, validate, score, encode."""
    request = parse_infer(body, served.kinds, served.outputs)
    result = score(served, [request])[0]
    if isinstance(result, RequestError):
        raise result
    return response(request, result.version, result.outputs())


def load_and_query(model_path: str | Path, meta_path: str | Path, schema_path: str | Path, x: pd.DataFrame,
                   vp: ValidateParams, max_rows: int) -> Callable[[int], bytes]:
    """The latency gate's probe: the candidate loaded as the server loads it, and `query(i)` that
    answers a single-row V2 request for row i of `x` (bodies encoded before timing, as a client would)."""
    served = load(model_path, meta_path, schema_path, "candidate", vp, check=x)
    bodies = row_bodies(x.iloc[:max_rows], served.kinds)
    return lambda i: answer(served, bodies[i % len(bodies)])
