"""Values as Neptune fields: nested mappings become slash-separated paths of typed scalars.

Pure and Neptune-free, so what a run will store is tested without one; the metrics and config a
stage logs arrive in exactly the types of its JSON files.
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping


def _scalar(value: Any) -> bool | int | float | str:
    """A value Neptune stores as a typed atom; lists and None become JSON text, anything else str()."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalars: an np.int64 would otherwise become a float
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # Neptune drops nan/inf with a warning
    if value is None or isinstance(value, (list, tuple, set, frozenset)):
        return json.dumps(None if value is None else list(value), default=str)
    if hasattr(value, "tolist"):  # numpy arrays, pandas Series
        return json.dumps(value.tolist(), default=str)
    return str(value)  # Path, datetime, ...


def flatten(value: Any, prefix: str = "") -> dict[str, bool | int | float | str]:
    """Nested mappings -> {"a/b/c": scalar}; lists and None become JSON text, an empty mapping "{}"."""
    if isinstance(value, Mapping):
        if not value:
            return {prefix: "{}"} if prefix else {}
        out: dict[str, bool | int | float | str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}/{key}" if prefix else str(key)))
        return out
    return {prefix: _scalar(value)}
