"""The train/test split of the preprocess stage: deterministic; stratified when it can be, by row hash for regression."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ctml.data import split as preprocess
from ctml.errors import UserError


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


def quantities(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], size=n), "y": rng.normal(100, 10, size=n)})


def test_regression_split_keeps_each_rows_side_as_data_grows() -> None:
    frame = quantities(1000)
    train, test = preprocess.split(frame, "y", 0.25, seed=42, task="regression")
    assert 200 < len(test) < 300 and len(train) + len(test) == 1000  # test_size on average, not exactly
    assert set(train["x"]).isdisjoint(test["x"])
    grown_train, grown_test = preprocess.split(pd.concat([frame, quantities(300, seed=1)], ignore_index=True), "y", 0.25,
                                               seed=42, task="regression")
    assert set(test["x"]) <= set(grown_test["x"]) and set(train["x"]) <= set(grown_train["x"])  # no row changed sides
    again, _ = preprocess.split(frame, "y", 0.25, seed=42, task="regression")
    pd.testing.assert_frame_equal(train, again)
    other, _ = preprocess.split(frame, "y", 0.25, seed=7, task="regression")
    assert set(other["x"]) != set(train["x"])


def test_regression_split_puts_duplicates_on_one_side_and_names_an_empty_part() -> None:
    frame = pd.concat([quantities(200)] * 2, ignore_index=True)
    train, test = preprocess.split(frame, "y", 0.25, seed=0, task="regression")
    assert set(train["x"]).isdisjoint(test["x"])
    with pytest.raises(UserError, match=r"^preprocess.test_size 0.01: cannot split 2 rows \(every row fell in the train part\)$"):
        preprocess.split(quantities(2), "y", 0.01, seed=0, task="regression")
