"""ctml.ct.batches.prepare_batch, the typing and schema check of `ct.py check` and `simulate`: a batch
is typed exactly as the drift stage types it, and a value that does not fit is a quarantine reason."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ctml.ct.batches import prepare_batch
from ctml.ct.context import Context
from ctml.data import feature_kinds
from ctml.drift import detect
from ctml.errors import UserError
from ctml.io import write_json
from ctml.schema import infer_schema
from ctml.task import TaskDecision
from tests.drift.frames import ONE_ZERO, mixed, spell_flag

CLASSES = TaskDecision("classification", "test")
REFERENCE = mixed(400, 0)
KINDS = feature_kinds(REFERENCE, "target")


@pytest.fixture
def ctx(tmp_path: Path, params) -> Context:
    """A project whose schema was recorded from REFERENCE; nothing else is needed to check a batch."""
    write_json(tmp_path / "data/schema.json", infer_schema(REFERENCE, "test", "target", CLASSES))
    return Context(root=tmp_path, params=params)


def check(frame: pd.DataFrame, ctx: Context) -> tuple[pd.DataFrame | None, list[str]]:
    """(typed batch or None, problems), as a step sees them."""
    batch = prepare_batch(frame, ctx)
    return batch.typed, batch.problems


def test_a_batch_of_the_reference_kinds_passes_with_and_without_labels(ctx: Context) -> None:
    batch = mixed(50, 1)
    typed, problems = check(batch, ctx)
    assert problems == [] and list(typed.columns) == list(batch.columns)
    pd.testing.assert_frame_equal(typed[list(KINDS)], detect.align(batch, KINDS, "batch"))
    assert typed["target"].tolist() == batch["target"].tolist()
    unlabelled, problems = check(batch.drop(columns="target"), ctx)
    assert problems == [] and "target" not in unlabelled.columns


@pytest.mark.parametrize("spelling", ONE_ZERO)
def test_one_and_zero_in_a_boolean_column_pass_as_in_the_drift_stage(ctx: Context, spelling: str) -> None:
    batch = mixed(50, 1)
    spelled = spell_flag(batch, spelling)
    typed, problems = check(spelled, ctx)
    assert problems == []
    pd.testing.assert_frame_equal(typed[list(KINDS)], detect.align(spelled, KINDS, "batch"))
    pd.testing.assert_series_equal(typed["flag"], batch["flag"])


@pytest.mark.parametrize("spelling, bad, found", [
    ("ints", 2, "numeric"), ("int text", "2", "categorical"), ("float text", "maybe", "categorical"),
])
def test_a_flag_other_than_one_or_zero_is_refused_as_in_the_drift_stage(ctx: Context, spelling: str, bad, found: str) -> None:
    batch = spell_flag(mixed(50, 1), spelling, bad)
    typed, problems = check(batch, ctx)
    assert typed is None
    assert problems == [f"column 'flag': recorded boolean, found {found} (e.g. {bad!r})"]
    with pytest.raises(UserError, match=rf"column 'flag': value {bad!r} is not boolean"):
        detect.align(batch, KINDS, "batch")


def test_kinds_come_from_the_schema_not_the_batch(ctx: Context) -> None:
    """A few rows prove nothing: categories that look like numbers or words stay categories."""
    batch = mixed(50, 1).assign(city="7")
    typed, problems = check(batch, ctx)
    assert typed is None and problems == ["column 'city': unknown category '7' (allowed: lima, oslo, paris, rome; "
                                          "rule: max_unknown_category_share 0.0)"]
    assert detect.align(batch, KINDS, "batch")["city"].tolist() == ["7"] * 50


def test_a_regression_batch_holds_its_labels_to_numbers_in_the_recorded_range(tmp_path: Path, params) -> None:
    reference = mixed(400, 0).assign(target=lambda f: 10 * f["x"] + 50)
    write_json(tmp_path / "data/schema.json", infer_schema(reference, "test", "target", TaskDecision("regression", "test")))
    ctx = Context(root=tmp_path, params=params)
    batch = mixed(50, 1).assign(target=lambda f: 10 * f["x"] + 50)
    assert check(batch, ctx)[1] == [] and check(batch.drop(columns="target"), ctx)[1] == []
    text = batch.astype({"target": object})
    text.loc[3, "target"] = "n/a"
    assert check(text, ctx)[1] == ["label column 'target': recorded numeric, found non-numeric value 'n/a'"]
    huge = batch.assign(target=lambda f: f["target"].where(f.index != 5, 1e12))
    assert check(huge, ctx)[1][0].startswith("label column 'target': value 1e+12 outside the allowed range")
