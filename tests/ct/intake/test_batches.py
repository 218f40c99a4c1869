"""ctml.ct.intake.batches.prepare_batch, the typing and schema check of `ct.py check` and `simulate`: a batch
is typed exactly as the drift stage types it, and a value that does not fit is a quarantine reason."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ctml import layout
from ctml.ct.intake.batches import prepare_batch
from ctml.ct.context import Context
from ctml.data.tables import feature_kinds
from ctml.drift import detect
from ctml.errors import UserError
from ctml.io import write_json
from ctml.data.schema import infer_schema
from ctml.data.task import TaskDecision
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


def test_repeated_rows_are_data_and_a_new_category_is_not_broken(ctx: Context) -> None:
    """Served traffic repeats inputs: a batch of one row 40 times is measured, and so is a category the
    schema never recorded (drift, counted by the drift stage), unless validate.max_unknown_category_share says otherwise."""
    row = mixed(50, 1).dropna().iloc[[0]]
    typed, problems = check(pd.concat([row] * 40, ignore_index=True), ctx)
    assert problems == [] and len(typed) == 40
    assert check(mixed(50, 1).assign(city="atlantis"), ctx)[1] == []


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
    assert problems == [f"column 'flag': recorded boolean, found {found} (e.g. {bad!r}) (kinds recorded from data.source)"]
    with pytest.raises(UserError, match=rf"column 'flag': value {bad!r} is not boolean"):
        detect.align(batch, KINDS, "batch")


def test_kinds_come_from_the_schema_not_the_batch(ctx: Context) -> None:
    """A few rows prove nothing: categories that look like numbers or words stay categories."""
    batch = mixed(50, 1).assign(city="7")
    typed, problems = check(batch, ctx)
    assert problems == [] and typed["city"].tolist() == ["7"] * 50  # a new category (drift), not the number 7
    strict = Context(root=ctx.root, params=ctx.params.model_copy(update={"validate_": ctx.params.validate_.model_copy(
        update={"max_unknown_category_share": 0.0})}))
    assert check(batch, strict)[1] == ["column 'city': unknown category '7' (allowed: lima, oslo, paris, rome; "
                                       "rule: validate.max_unknown_category_share 0.0)"]
    assert detect.align(batch, KINDS, "batch")["city"].tolist() == ["7"] * 50


def test_a_regression_batch_holds_its_labels_to_numbers_in_the_recorded_range(tmp_path: Path, params) -> None:
    reference = mixed(400, 0).assign(target=lambda f: 10 * f["x"] + 50)
    write_json(tmp_path / "data/schema.json", infer_schema(reference, "test", "target", TaskDecision("regression", "test")))
    ctx = Context(root=tmp_path, params=params)
    batch = mixed(50, 1).assign(target=lambda f: 10 * f["x"] + 50)
    assert check(batch, ctx)[1] == [] and check(batch.drop(columns="target"), ctx)[1] == []
    text = batch.astype({"target": object})
    text.loc[3, "target"] = "n/a"
    assert check(text, ctx)[1] == [
        "label column 'target': recorded numeric, found non-numeric value 'n/a' (kinds recorded from data.source)"]
    huge = batch.assign(target=lambda f: f["target"].where(f.index != 5, 1e12))
    assert check(huge, ctx)[1][0].startswith("label column 'target': value 1e+12 absurdly far outside the recorded range")


def drop_rows(ctx: Context, **validate: object) -> Context:
    vp = ctx.params.validate_.model_copy(update={"bad_rows": "drop_rows", **validate})
    return Context(root=ctx.root, params=ctx.params.model_copy(update={"validate_": vp}))


def test_one_impossible_row_quarantines_the_batch_or_only_itself(ctx: Context) -> None:
    batch = mixed(50, 1).astype({"x": object})
    batch.loc[7, "x"] = 1e9
    typed, problems = check(batch, ctx)  # validate.bad_rows: quarantine_batch (the default)
    assert typed is None and problems[0].startswith("column 'x': value 1e+09 absurdly far outside the recorded range")
    kept = prepare_batch(batch, drop_rows(ctx))
    assert kept.ok and len(kept.typed) == 49 and 1e9 not in kept.typed["x"].tolist()
    assert kept.dropped[["_row", "x"]].values.tolist() == [[7, 1e9]]
    assert kept.dropped["_reason"].iloc[0].startswith("column 'x': value 1e+09 absurdly far outside the recorded range")
    pd.testing.assert_frame_equal(kept.typed, prepare_batch(batch.drop(index=7).reset_index(drop=True), ctx).typed)


def test_drop_rows_drops_a_wrong_kind_and_an_unknown_class_but_not_a_feed_fault(ctx: Context) -> None:
    batch = mixed(50, 1).astype({"x": object})
    batch.loc[3, "x"], batch.loc[4, "target"] = "n/a", 9
    kept = prepare_batch(batch, drop_rows(ctx))
    assert kept.ok and kept.dropped["_row"].tolist() == [3, 4]
    assert kept.dropped["_reason"].tolist() == [
        "column 'x': value 'n/a' is not numeric (kinds recorded from data.source)",
        "label column 'target': unknown class 9 (recorded classes: [0, 1], from data.source)"]
    broken = mixed(50, 1).assign(x="n/a")  # every row: the feed, not a few rows
    whole = prepare_batch(broken, drop_rows(ctx))
    assert whole.typed is None and whole.dropped is None
    assert whole.problems[0] == ("50 of 50 rows broken (100%), more than validate.max_bad_row_share 0.1; the first: "
                                 "column 'x': value 'n/a' is not numeric (kinds recorded from data.source)")
    missing = prepare_batch(mixed(50, 1).drop(columns="city"), drop_rows(ctx))  # a batch rule: no row to drop
    assert missing.problems == ["column 'city': missing (recorded in the schema from data.source)"]


def test_a_column_of_row_numbers_in_batches_is_never_checked(tmp_path: Path, params) -> None:
    """A source written with its index recorded `Unnamed: 0` as an identifier: batches go on counting."""
    reference = mixed(400, 0).assign(**{"Unnamed: 0": range(400)})
    schema = infer_schema(reference, "test", "target", CLASSES, excluded_columns={"Unnamed: 0": "row identifier"})
    write_json(tmp_path / layout.SCHEMA, schema)
    ctx = Context(root=tmp_path, params=params)
    batch = mixed(50, 1).assign(**{"Unnamed: 0": range(5000, 5050)})
    typed, problems = check(batch, ctx)
    assert problems == [] and typed["Unnamed: 0"].tolist() == list(range(5000, 5050))
    assert check(batch.drop(columns="Unnamed: 0"), ctx)[1] == []


def test_batches_are_held_to_the_schema_production_was_released_with(ctx: Context) -> None:
    """models/production/schema.json (the ranges of production's training data) wins over the pipeline's."""
    wide = infer_schema(pd.concat([REFERENCE, REFERENCE.assign(x=REFERENCE["x"] * 1000)]), "test", "target", CLASSES)
    write_json(ctx.path(layout.PRODUCTION / "schema.json"), wide)
    batch = mixed(50, 1).assign(x=lambda f: f["x"] * 900)
    assert check(batch, ctx)[1] == []
    (ctx.path(layout.PRODUCTION / "schema.json")).unlink()
    assert "absurdly far outside" in check(batch, ctx)[1][0]
