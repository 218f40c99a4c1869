"""The shadow's labels on captured rows, in-process: set while the rows are buffered, never on rows
already written, and a file mixing both holds missing cells for the rows only production scored."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ctml.serve.capture import Capture
from ctml.serve.metrics import Metrics
from ctml.serve.protocol import Request
from ctml.serve.scoring import Scored


def _scored(request_id: str, values: list[float], labels: list[int]) -> Scored:
    return Scored(Request(request_id, {"x": values}, len(values)), "v1.0.0", np.array(labels), None)


def test_shadow_labels_go_onto_buffered_rows_only(tmp_path: Path):
    capture = Capture(tmp_path, "y", every_rows=10**6, every_s=3600, share=1.0, metrics=Metrics())
    try:
        capture.add([_scored("early", [1.0], [0])], ["x"])
        capture.flush()  # written before the shadow answered: stays production-only
        assert capture.add_shadow([("early", [1])], "v1.1.0") == 0
        capture.add([_scored("both", [2.0, 3.0], [0, 1]), _scored("prod-only", [4.0], [1])], ["x"])
        assert capture.add_shadow([("both", [1, 1])], "v1.1.0") == 2
        capture.flush()
    finally:
        capture.stop()
    first, second = (pd.read_parquet(p) for p in sorted((tmp_path / "data/incoming").glob("serve-*-rows.parquet")))
    assert "_ct_shadow_prediction" not in first.columns
    assert second["_ct_request_id"].tolist() == ["both/0", "both/1", "prod-only/0"]
    assert second["_ct_shadow_version"].tolist()[:2] == ["v1.1.0", "v1.1.0"] and second["_ct_shadow_version"].isna().tolist()[2]
    assert second["_ct_shadow_prediction"].tolist()[:2] == [1, 1] and pd.isna(second["_ct_shadow_prediction"].iloc[2])
    assert second["_ct_prediction"].tolist() == [0, 1, 1]
