"""The scale benchmarks' table: 20 numeric, 3 categorical, a date and a binary label, as in issue 30.

The label depends on a few numeric columns and one category, with noise, so accuracy says
something (about 0.85) and every engine must learn the same signal.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

NUMERIC, CATEGORIES = 20, ("colour", "region", "plan")


def table(rows: int, seed: int = 0, start: int = 0) -> pd.DataFrame:
    """`rows` rows; `start` offsets the dates, so appended batches come later."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i:02d}": rng.normal(size=rows).round(6) for i in range(NUMERIC)})
    for name, levels in zip(CATEGORIES, (5, 12, 3)):
        frame[name] = np.array([f"{name[0]}{k}" for k in range(levels)])[rng.integers(0, levels, rows)]
    frame["when"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta((np.arange(rows) + start) // 500, unit="h")).strftime("%Y-%m-%d %H:%M")
    signal = frame["x00"] - 0.8 * frame["x01"] + 0.5 * frame["x02"] * frame["x03"] + (frame["plan"] == "p1") * 0.7
    frame["target"] = (signal + rng.normal(scale=0.6, size=rows) > 0.3).astype(int)
    return frame


def write_csv(path: Path, rows: int, seed: int = 0, chunk: int = 500_000) -> Path:
    """Written a chunk at a time, so a 4M-row file never is one frame in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for i, begin in enumerate(range(0, rows, chunk)):
        table(min(chunk, rows - begin), seed + i, begin).to_csv(path, mode="w" if i == 0 else "a", header=i == 0, index=False)
    return path
