"""Method choice: the auto table, overrides, thresholds and which side of a threshold is drift."""
from __future__ import annotations

import pytest

from ctml.config import load_params
from ctml.drift import methods
from ctml.drift.stats import Stat
from ctml.errors import UserError
from tests.helpers import ROOT


@pytest.fixture
def drift_params():
    return load_params(ROOT / "params.yaml").drift


def with_(params, **changes):
    return params.model_copy(update=changes)


@pytest.mark.parametrize("kind, rows, distinct, expected", [
    ("numeric", 1000, 50, "ks"), ("numeric", 1001, 50, "wasserstein"),
    ("datetime", 500, 50, "ks"), ("datetime", 5000, 50, "wasserstein"),
    ("numeric", 500, 5, "chi2"), ("numeric", 5000, 3, "jensenshannon"),  # low-cardinality numbers are categories
    ("categorical", 1000, 4, "chi2"), ("categorical", 1001, 4, "jensenshannon"),
    ("boolean", 10, 2, "chi2"), ("boolean", 10_000, 2, "jensenshannon"),
])
def test_auto_mirrors_evidently_defaults(drift_params, kind, rows, distinct, expected):
    method, threshold = methods.choose("x", kind, rows, distinct, drift_params)
    assert method.name == expected and threshold == drift_params.thresholds[expected]


def test_auto_is_the_params_table(drift_params):
    auto = drift_params.auto.model_copy(update={"small_sample_rows": 10, "numeric_large": "psi"})
    assert methods.choose("x", "numeric", 11, 100, with_(drift_params, auto=auto))[0].name == "psi"


def test_per_feature_override_of_method_and_threshold(drift_params):
    from ctml.config import FeatureDriftParams

    params = with_(drift_params, per_feature={"x": FeatureDriftParams(method="psi", threshold=0.3)})
    method, threshold = methods.choose("x", "numeric", 50, 50, params)
    assert (method.name, threshold) == ("psi", 0.3)
    assert methods.choose("y", "numeric", 50, 50, params)[0].name == "ks"


def test_per_feature_method_that_does_not_fit_the_kind_is_a_user_error(drift_params):
    from ctml.config import FeatureDriftParams

    params = with_(drift_params, per_feature={"city": FeatureDriftParams(method="ks")})
    with pytest.raises(UserError, match=r"drift.per_feature.city.method 'ks' does not apply to categorical column "
                                        r"'city' \(allowed: psi, chi2, jensenshannon\)"):
        methods.choose("city", "categorical", 50, 3, params)


def test_global_method_applies_where_it_fits_and_auto_elsewhere(drift_params):
    params = with_(drift_params, method="ks")
    assert methods.choose("x", "numeric", 5000, 50, params)[0].name == "ks"
    assert methods.choose("c", "categorical", 5000, 3, params)[0].name == "jensenshannon"


def test_unknown_method_lists_the_valid_names():
    with pytest.raises(UserError, match="unknown drift method 'kss' \\(allowed: ks, wasserstein, psi, chi2, jensenshannon\\)"):
        methods.get("kss")


def test_threshold_directions():
    ks, wass = methods.get("ks"), methods.get("wasserstein")
    assert methods.is_drifted(ks, Stat(0.5, 0.049), 0.05) and not methods.is_drifted(ks, Stat(0.5, 0.05), 0.05)
    assert methods.is_drifted(wass, Stat(0.1), 0.1) and not methods.is_drifted(wass, Stat(0.0999), 0.1)
    assert methods.severity(wass, Stat(0.2), 0.1) == pytest.approx(2.0)
    assert methods.severity(ks, Stat(0.5, 0.0025), 0.05) == pytest.approx(2.0)
