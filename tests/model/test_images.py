"""PNG plots a person can open: valid images, written atomically, the same bytes every time."""
from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest

from ctml.io import sha256_file
from ctml.model.images import confusion_png, importance_png, predicted_vs_actual_png, residual_hist_png, residuals_png, roc_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize(
    "draw, frame",
    [
        (confusion_png, pd.DataFrame({"actual": ["a", "a", "b"], "predicted": ["a", "b", "b"]})),
        (roc_png, pd.DataFrame({"fpr": [0, 0.5, 1], "tpr": [0, 0.9, 1], "class": ["1", "1", "1"]})),
        (importance_png, pd.DataFrame({"feature": ["x", "y"], "importance": [0.7, 0.3]})),
        (predicted_vs_actual_png, pd.DataFrame({"actual": [1.0, 2.0, 4.0], "predicted": [1.5, 2.0, 3.0]})),
        (residuals_png, pd.DataFrame({"predicted": [1.5, 2.0, 3.0], "residual": [-0.5, 0.0, 1.0]})),
        (residual_hist_png, pd.DataFrame({"bin_start": [-0.5, 0.0, 0.5], "bin_end": [0.0, 0.5, 1.0], "count": [1, 1, 1]})),
    ],
)
def test_plots_are_valid_pngs_with_stable_bytes(tmp_path: Path, draw, frame: pd.DataFrame) -> None:
    draw(frame, tmp_path / "one.png")
    draw(frame, tmp_path / "two.png")
    width, height = png_size(tmp_path / "one.png")
    assert width > 100 and height > 100
    assert sha256_file(tmp_path / "one.png") == sha256_file(tmp_path / "two.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.png", "two.png"]
