"""The train/test split of the preprocess stage: deterministic, stratified when it can be."""
from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from ctml.errors import UserError
from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("stage_preprocess", ROOT / "stages" / "preprocess.py")
preprocess = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(preprocess)


def labelled(counts: dict[str, int]) -> pd.DataFrame:
    labels = [label for label, n in counts.items() for _ in range(n)]
    return pd.DataFrame({"x": range(len(labels)), "y": labels})


def test_split_is_stratified_and_repeatable() -> None:
    frame = labelled({"a": 80, "b": 20})
    train, test = preprocess.split(frame, "y", 0.25, seed=42, task="classification")
    assert (len(train), len(test)) == (75, 25)
    assert test["y"].value_counts().to_dict() == {"a": 20, "b": 5}
    again, _ = preprocess.split(frame, "y", 0.25, seed=42, task="classification")
    pd.testing.assert_frame_equal(train, again)
    other, _ = preprocess.split(frame, "y", 0.25, seed=7, task="classification")
    assert sorted(other["x"]) != sorted(train["x"]) and train.index.tolist() == list(range(75))
    assert set(train["x"]).isdisjoint(test["x"])


def test_split_falls_back_to_random_when_a_class_is_too_small() -> None:
    train, test = preprocess.split(labelled({"a": 9, "b": 1}), "y", 0.2, seed=0, task="classification")
    assert (len(train), len(test)) == (8, 2)
    train, test = preprocess.split(labelled({"a": 4, "b": 3, "c": 3}), "y", 0.1, seed=0, task="classification")  # 1 test row < 3 classes
    assert (len(train), len(test)) == (9, 1)


def test_split_that_leaves_a_part_empty_names_the_key() -> None:
    with pytest.raises(UserError, match=r"^preprocess.test_size 0.99: cannot split 3 rows"):
        preprocess.split(labelled({"a": 2, "b": 1}), "y", 0.99, seed=0, task="classification")
