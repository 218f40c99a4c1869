"""The decision rule on a shadow's evidence: the paired bootstrap interval of its margin, and the config."""
from __future__ import annotations

import numpy as np
import pytest

from ctml.config import parse_params
from ctml.ct.step.trial import _interval, _margin
from ctml.errors import UserError
from tests.helpers import ROOT


def test_a_shadow_right_where_production_is_wrong_has_a_margin_near_one():
    truth = np.array(["1", "0"] * 100)
    wrong = np.where(truth == "1", "0", "1")
    low, high = _interval("accuracy", "classification", truth, wrong, truth, 0.95, seed=42)
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0)
    low, high = _interval("accuracy", "classification", truth, truth, wrong, 0.95, seed=42)
    assert high == pytest.approx(-1.0)


def test_the_interval_of_equal_models_straddles_zero_and_is_seeded():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 300).astype(str)
    a, b = rng.integers(0, 2, 300).astype(str), rng.integers(0, 2, 300).astype(str)
    first = _interval("accuracy", "classification", truth, a, b, 0.95, seed=1)
    assert first == _interval("accuracy", "classification", truth, a, b, 0.95, seed=1)
    assert first[0] < 0 < first[1] or abs(first[0]) < 0.1


def test_an_error_margin_is_relative_to_productions_error():
    assert _margin("rmse", 2.0, 1.5) == pytest.approx(0.25)
    assert _margin("accuracy", 0.8, 0.75) == pytest.approx(-0.05)
    truth = np.arange(100, dtype=float).astype(str)
    close = (np.arange(100) + 1.0).astype(str)
    far = (np.arange(100) + 2.0).astype(str)
    low, high = _interval("mae", "regression", truth, far, close, 0.95, seed=3)
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)


def test_an_unknown_release_mode_is_one_line_naming_the_key():
    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["release"]["mode"] = "canary"
    with pytest.raises(UserError, match=r"key 'release.mode' = 'canary'.*'promote' or 'shadow'"):
        parse_params(raw)
    del raw["release"]
    assert parse_params(raw).release.mode == "promote"  # a params.yaml from before the section: today's behaviour


def test_a_label_column_read_back_as_floats_compares_equal_to_integer_labels():
    from ctml.ct.step.trial import _cell

    assert _cell(np.float64(1.0)) == _cell(1) == _cell(np.int64(1)) == "1"
    assert _cell(2.5) == "2.5" and _cell("yes") == "yes"
