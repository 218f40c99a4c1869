"""Unit tests of ctml.model.gates: each gate passing and failing on tiny hand-built data and real sklearn models."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from ctml.model import gates
from ctml.config import Params
from ctml.data.tables import feature_kinds, normalize
from ctml.errors import UserError
from ctml.model.features import build_preprocessor, full_pipeline, split_xy
from ctml.io import write_json
from ctml.model.estimator import build_estimator, save_model

NOW = datetime(2024, 1, 3, 0, 0, 0)


def fit(params: Params, frame: pd.DataFrame, model: str = "logistic_regression", **train: float):
    """The project's preprocessing + estimator pipeline, fitted on `frame` (label column 'target')."""
    x, y = split_xy(frame, "target")
    pre = build_preprocessor(feature_kinds(frame, "target"), params.preprocess).fit(x)
    est = build_estimator(params.train.model_copy(update={"model": model, **train}), "classification", seed=0)
    est.fit(pre.transform(x), y)
    return full_pipeline(pre, est)


def numeric_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Label = x1 > 0, learnable almost perfectly; 'x2' is noise."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    return normalize(pd.DataFrame({"x1": x1, "x2": rng.normal(size=n), "target": (x1 > 0).astype(int)}), "target")


def grouped_frame(label_follows_group: bool, n: int = 100) -> pd.DataFrame:
    """Each feature row twice, once per group 'a'/'b'; the label follows the group or x1 only."""
    rng = np.random.default_rng(1)
    x1 = np.repeat(rng.normal(size=n), 2)
    group = np.array(["a", "b"] * n)
    target = (group == "a") if label_follows_group else (x1 > 0)
    return normalize(pd.DataFrame({"x1": x1, "group": group, "target": target.astype(int)}), "target")


def save_pair(model, directory: Path, features: list[str]) -> None:
    sha = save_model(model, directory / "model.joblib")
    write_json(directory / "model.json", {"model_sha256": sha, "features": features})


# --- schema ---------------------------------------------------------------------------------------

def test_schema_gate_records_rows_of_a_passed_validation():
    gate = gates.schema_gate({"rows": 569, "columns": 30, "violations": 0, "passed": True})
    assert (gate.passed, gate.blocking, gate.value) == (True, True, 569)
    assert gate.detail == "569 rows, 30 columns match the schema"


def test_schema_gate_blocks_a_failed_validation():
    gate = gates.schema_gate({"rows": 10, "columns": 3, "violations": 2, "passed": False})
    assert (gate.passed, gate.blocking) == (False, True)
    assert gate.detail == "2 schema violations"


# --- freshness ------------------------------------------------------------------------------------

def test_freshness_alerts_on_an_old_date_column_without_blocking():
    frame = pd.DataFrame({"when": pd.to_datetime(["2023-12-30", "2024-01-01", None]), "x": [1.0, 2.0, 3.0]})
    newest, origin = gates.newest_data_time(frame, [])
    assert newest == pd.Timestamp("2024-01-01") and origin == "latest value of column 'when'"
    gate = gates.freshness_gate(newest, origin, NOW, max_age_hours=24)
    assert (gate.passed, gate.blocking, gate.value, gate.limit) == (False, False, 48.0, 24)
    result = gates.report({"freshness": gate, "latency": gates.Gate(True, True, 1.0, 100, "")}, NOW)
    assert result["passed"] is True
    assert result["alerts"] == ["freshness"] and result["blocked_by"] == []


def test_freshness_of_years_old_data_says_hours_and_days():
    """A data set dated 1981 (a year-only date column): the alert reads as an age, not `393878 (limit 24)`."""
    gate = gates.freshness_gate(pd.Timestamp("1981-01-01"), "latest value of column 'Year'", NOW, max_age_hours=24)
    assert (gate.passed, gate.value) == (False, 376_968.0)
    assert gate.detail == ("newest data 1981-01-01T00:00:00 (latest value of column 'Year'), "
                           "376,968 h = 15,707 days old, older than 24 h")
    result = gates.report({"freshness": gate}, NOW)
    assert gates.summary_line(result) == "gates: PASSED (alerts: freshness) | freshness alert 376,968 h = 15,707 days (limit 24 h)"
    assert gates.readable_age(5.25) == "5.2 h" and gates.readable_age(47.0) == "47.0 h"


def test_freshness_passes_recent_data_and_uses_the_newest_of_several_date_columns():
    frame = pd.DataFrame({"a": pd.to_datetime(["2023-01-01"]), "b": pd.to_datetime(["2024-01-02T12:00:00"])})
    newest, origin = gates.newest_data_time(frame, [])
    gate = gates.freshness_gate(newest, origin, NOW, max_age_hours=24)
    assert origin == "latest value of column 'b'"
    assert (gate.passed, gate.value) == (True, 12.0)


def test_freshness_accepts_a_timezone_aware_now():
    gate = gates.freshness_gate(pd.Timestamp("2024-01-02"), "x", pd.Timestamp("2024-01-03T01:00:00+01:00"), 24)
    assert gate.value == 24.0 and gate.passed


def test_freshness_falls_back_to_the_newest_file_time(tmp_path: Path):
    old, new = tmp_path / "b1.parquet", tmp_path / "b2.parquet"
    for path, stamp in ((old, "2023-06-01"), (new, "2024-01-01")):
        path.write_bytes(b"x")
        seconds = pd.Timestamp(stamp).timestamp()
        os.utime(path, (seconds, seconds))
    newest, origin = gates.newest_data_time(pd.DataFrame({"x": [1.0]}), [old, new, tmp_path / "absent.csv"])
    assert newest == pd.Timestamp("2024-01-01") and origin == f"modification time of {new}"
    assert gates.freshness_gate(newest, origin, NOW, 24).value == 48.0


def test_freshness_of_unknown_age_passes_with_a_detail():
    newest, origin = gates.newest_data_time(None, [])
    gate = gates.freshness_gate(newest, origin, NOW, 24)
    assert (gate.passed, gate.value) == (True, None)
    assert gate.detail.startswith("data age unknown")


def test_read_datetime_columns_reads_only_dates(tmp_path: Path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"x": [1.0, 2.0], "when": pd.to_datetime(["2024-01-01", "2024-01-02"])}).to_parquet(path)
    assert list(gates.read_datetime_columns(path).columns) == ["when"]
    pd.DataFrame({"x": [1.0]}).to_parquet(path)
    assert gates.read_datetime_columns(path).columns.empty


# --- the metric gate ------------------------------------------------------------------------------

def test_quality_gate_is_the_gate_named_after_the_metric():
    """gates.json names the metric gate after its metric (`rmse`); one written before that called it `accuracy`."""
    rmse = {"passed": False, "blocking": True, "value": 60.1, "limit": 55.0, "detail": "candidate rmse 60.1000 vs ..."}
    now = {"gates": {"schema": {"passed": True}, "freshness": {"passed": True}, "rmse": rmse, "latency": {"passed": True}}}
    assert gates.quality_gate(now) == ("rmse", rmse)
    assert gates.quality_gate({"gates": {"schema": {}, "accuracy": rmse}}) == ("accuracy", rmse)
    assert gates.quality_gate({"gates": {"schema": {}}}) is None and gates.quality_gate({}) is None


def test_accuracy_blocks_a_candidate_worse_than_production(params):
    train, test = numeric_frame(seed=0), numeric_frame(seed=1)
    x, y = split_xy(test, "target")
    good = fit(params, train)
    bad = fit(params, train, model="logistic_regression", C=1e-6)  # shrunk to one class
    gate = gates.metric_gate(bad, (good, {"model_sha256": "f" * 64, "features": ["x1", "x2"]}), x, y, "accuracy", 0.02)
    bad_acc, good_acc = accuracy_score(y, bad.predict(x)), accuracy_score(y, good.predict(x))
    assert good_acc > 0.95 and bad_acc < 0.6
    assert (gate.passed, gate.blocking) == (False, True)
    assert gate.value == pytest.approx(bad_acc, abs=1e-6)
    assert gate.limit == pytest.approx(good_acc - 0.02, abs=1e-6)


def test_a_lineage_first_model_is_held_to_a_naive_model_not_another_lineage(params):
    train, test = numeric_frame(seed=0), numeric_frame(seed=1)
    x, y = split_xy(test, "target")
    good = gates.naive_gate(fit(params, train), x, y, train["target"], "accuracy")
    majority = max(y.mean(), 1 - y.mean())  # the majority class of the training labels is the test's too here
    assert (good.passed, good.limit) == (True, pytest.approx(majority, abs=0.02)) and good.value > 0.95
    assert "first model of its lineage, not compared with another lineage's production" in good.detail
    shrunk = gates.naive_gate(fit(params, train, C=1e-6), x, y, train["target"], "accuracy")  # one class: no better than naive
    assert (shrunk.passed, shrunk.blocking) == (False, True)


def test_what_a_metric_gate_held_the_candidate_against_is_read_back_from_gates_json(params):
    """`ct.py compare --json` gives the other model's score on the same rows as a number: read back from the
    detail each kind of metric gate writes (production, a naive model, nothing), as gates.json keeps it."""
    import json

    train, test = numeric_frame(seed=0), numeric_frame(seed=1)
    x, y = split_xy(test, "target")
    good, bad = fit(params, train), fit(params, train, C=1e-6)
    against = gates.metric_gate(bad, (good, {"model_sha256": "ab12" * 16, "features": ["x1", "x2"]}), x, y, "accuracy", 0.02)
    naive = gates.naive_gate(good, x, y, train["target"], "accuracy")
    alone = gates.metric_gate(good, None, x, y, "accuracy", 0.02)
    read = {name: gates.held_against(json.loads(json.dumps(gates.report({name: g}, NOW)))["gates"][name])
            for name, g in (("production", against), ("naive", naive), ("alone", alone))}
    assert read["production"] == ("production", round(accuracy_score(y, good.predict(x)), 4), "ab12ab12ab12")
    assert read["naive"] == ("naive model (majority class)", round(naive.limit, 4), None)
    assert read["alone"] == ("nothing", None, None)


def test_accuracy_passes_within_tolerance_and_without_production(params):
    train, test = numeric_frame(seed=0), numeric_frame(seed=1)
    x, y = split_xy(test, "target")
    model = fit(params, train)
    same = gates.metric_gate(model, (model, {"features": ["x1", "x2"]}), x, y, "accuracy", 0.0)
    assert same.passed and same.limit == pytest.approx(same.value)
    alone = gates.metric_gate(model, None, x, y, "f1", 0.02)
    assert alone.passed and alone.limit is None and alone.detail.endswith("no production model")


def test_accuracy_passes_when_production_needs_other_columns(params):
    x, y = split_xy(numeric_frame(seed=1), "target")
    gate = gates.metric_gate(fit(params, numeric_frame()), (None, {"features": ["x1", "other"]}), x, y, "accuracy", 0.02)
    assert gate.passed and "not comparable" in gate.detail and "other" in gate.detail


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_score_names_a_metric_that_cannot_be_computed(params):
    x, y = split_xy(numeric_frame(seed=1), "target")
    only_ones = y == 1
    with pytest.raises(UserError, match="gates.metric 'roc_auc'"):
        gates.score(fit(params, numeric_frame()), x[only_ones], y[only_ones], "roc_auc")


def test_load_production_none_when_empty_and_verified_when_present(tmp_path: Path, params):
    assert gates.load_production(tmp_path) is None
    save_pair(fit(params, numeric_frame()), tmp_path, ["x1", "x2"])
    model, meta = gates.load_production(tmp_path)
    assert list(model.classes_) == [0, 1] and meta["features"] == ["x1", "x2"]
    data = bytearray((tmp_path / "model.joblib").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "model.joblib").write_bytes(bytes(data))
    with pytest.raises(UserError, match="model.joblib: sha256 .* refusing to load"):
        gates.load_production(tmp_path)


# --- latency --------------------------------------------------------------------------------------

def row_query(model, x):
    rows = [x.iloc[[i]] for i in range(len(x))]
    return lambda i: model.predict(rows[i % len(rows)])


def test_latency_times_single_rows_and_blocks_above_the_limit(params):
    model = fit(params, numeric_frame())
    x, _ = split_xy(numeric_frame(seed=1), "target")
    timings = gates.single_row_latencies_ms(row_query(model, x), max_samples=25)
    assert timings.shape == (25,) and (timings > 0).all()
    blocked = gates.latency_gate(timings, limit_ms=0.001)
    assert (blocked.passed, blocked.blocking, blocked.limit) == (False, True, 0.001)
    assert blocked.value == pytest.approx(np.percentile(timings, 95), abs=1e-4)
    assert gates.latency_gate(timings, limit_ms=10_000).passed


def test_latency_gate_p95_of_known_timings():
    gate = gates.latency_gate(np.arange(1, 101, dtype=float), limit_ms=95.0)
    assert gate.value == pytest.approx(95.05) and not gate.passed
    assert gates.latency_gate(np.arange(1, 101, dtype=float), limit_ms=95.06).passed
    assert "p95 95.050 ms (<= 99.000 ms with 95% confidence)" in gate.detail


def test_quantile_upper_bound_is_the_binomial_order_statistic():
    from scipy.stats import binom

    timings = np.arange(1, 201, dtype=float)[::-1]  # order must not matter
    for n, confidence in ((59, 0.95), (100, 0.95), (200, 0.95), (200, 0.99)):
        k = next(k for k in range(1, n + 1) if binom.cdf(k - 1, n, 0.95) >= confidence)
        assert gates.quantile_upper_bound(timings[:n], confidence) == np.sort(timings[:n])[k - 1]
    assert gates.quantile_upper_bound(np.arange(1, 59, dtype=float), 0.95) == np.inf  # 58 timings: no 95 % bound
    assert gates.samples_for_bound(0.95) == 59 and gates.samples_for_bound(0.99) == 90


def test_latency_sampling_stops_early_only_when_the_bound_settles_it(params):
    model = fit(params, numeric_frame())
    x, _ = split_xy(numeric_frame(seed=1), "target")
    far = gates.single_row_latencies_ms(row_query(model, x), max_samples=200, limit_ms=10_000, confidence=0.95)
    assert len(far) == 59 and gates.latency_gate(far, 10_000).passed
    near = gates.single_row_latencies_ms(row_query(model, x), max_samples=120, limit_ms=0.001, confidence=0.95)
    assert len(near) == 120 and not gates.latency_gate(near, 0.001).passed


# --- fairness -------------------------------------------------------------------------------------

def test_positive_rates_and_parity_difference_by_hand():
    groups = pd.Series(["a", "a", "a", "b", "b", None])
    rates = gates.positive_rates(np.array([1, 1, 0, 1, 0, 1]), groups, positive=1)
    assert rates == {"a": pytest.approx(2 / 3), "b": 0.5, "<missing>": 1.0}
    assert gates.demographic_parity_difference(rates) == pytest.approx(0.5)
    assert gates.demographic_parity_difference({}) == 0.0


def test_fairness_blocks_predictions_that_follow_the_group(params):
    frame = grouped_frame(label_follows_group=True)
    model = fit(params, frame)
    x, _ = split_xy(frame, "target")
    gate = gates.fairness_gate(model, x, "group", max_dp_diff=0.1)
    assert gates.positive_rates(model.predict(x), x["group"], 1) == {"a": 1.0, "b": 0.0}
    assert (gate.passed, gate.blocking, gate.value, gate.limit) == (False, True, 1.0, 0.1)
    assert gate.detail == "rate of predicting 1 by 'group': a 1.000, b 0.000"


def test_fairness_passes_when_the_group_carries_no_signal(params):
    frame = grouped_frame(label_follows_group=False)
    x, _ = split_xy(frame, "target")
    gate = gates.fairness_gate(fit(params, frame), x, "group", max_dp_diff=0.1)
    assert gate.passed and gate.value == pytest.approx(0.0)


def test_fairness_multiclass_compares_the_rate_of_the_last_class(params):
    frame = normalize(pd.DataFrame({"x1": np.tile([0.0, 5.0, 10.0], 40), "group": np.repeat(["a", "b"], 60),
                                    "target": np.tile(["low", "mid", "top"], 40)}), "target")
    x, _ = split_xy(frame, "target")
    gate = gates.fairness_gate(fit(params, frame), x, "group", max_dp_diff=0.1)
    assert gate.passed and gate.value == 0.0 and "predicting 'top'" in gate.detail


def test_fairness_disabled_and_unknown_column(params):
    frame = grouped_frame(label_follows_group=True)
    x, _ = split_xy(frame, "target")
    model = fit(params, frame)
    off = gates.fairness_gate(model, x, "", max_dp_diff=0.1)
    assert (off.passed, off.value) == (True, None) and off.detail.startswith("disabled")
    with pytest.raises(UserError, match="gates.fairness.sensitive_column 'sex' is not a feature column"):
        gates.fairness_gate(model, x, "sex", max_dp_diff=0.1)


# --- report ---------------------------------------------------------------------------------------

def test_report_and_summary_line():
    results = {
        "schema": gates.Gate(True, True, 10, None, "10 rows"),
        "freshness": gates.Gate(False, False, 48.0, 24, "old"),
        "accuracy": gates.Gate(False, True, 0.5, 0.9, "worse"),
        "latency": gates.Gate(True, True, 2.5, 100, "fast"),
        "fairness": gates.Gate(True, True, None, 0.1, "disabled"),
    }
    result = gates.report(results, NOW)
    assert result["passed"] is False
    assert result["blocked_by"] == ["accuracy"] and result["alerts"] == ["freshness"]
    assert result["checked_at"] == "2024-01-03T00:00:00"
    assert result["gates"]["accuracy"] == {"passed": False, "blocking": True, "value": 0.5, "limit": 0.9, "detail": "worse"}
    assert gates.summary_line(result) == (
        "gates: BLOCKED by accuracy (alerts: freshness) | schema ok 10 | freshness alert 48 h = 2 days (limit 24 h) | "
        "accuracy blocked 0.5 (limit 0.9) | latency ok 2.5 ms (limit 100 ms) | fairness off")
    passing = gates.report({"latency": results["latency"]}, NOW)
    assert passing["passed"] is True and gates.summary_line(passing).startswith("gates: PASSED |")
    # The metric `dvc metrics show` compares: the verdict and counts, no text or time.
    assert gates.verdict(result) == {"passed": False, "blocked": 1, "alerts": 1}
    assert gates.verdict(passing) == {"passed": True, "blocked": 0, "alerts": 0}


# --- regression -----------------------------------------------------------------------------------

def fit_regressor(params: Params, frame: pd.DataFrame, model: str = "ridge", **train: float):
    x, y = split_xy(frame, "target")
    pre = build_preprocessor(feature_kinds(frame, "target"), params.preprocess).fit(x)
    est = build_estimator(params.train.model_copy(update={"model": model, **train}), "regression", seed=0)
    return full_pipeline(pre, est.fit(pre.transform(x), y))


def quantity_frame(n: int = 200, seed: int = 0, group_effect: float = 0.0) -> pd.DataFrame:
    """target = 3 x1 + noise (+ group_effect for group 'a'); x2 is noise."""
    rng = np.random.default_rng(seed)
    x1, group = rng.normal(size=n), np.array(["a", "b"] * (n // 2))
    target = 3 * x1 + 0.1 * rng.normal(size=n) + group_effect * (group == "a")
    return normalize(pd.DataFrame({"x1": x1, "x2": rng.normal(size=n), "group": group, "target": target}), "target")


def test_error_gate_blocks_a_candidate_more_than_tolerance_worse_relative_to_production(params):
    x, y = split_xy(quantity_frame(seed=1), "target")
    good = fit_regressor(params, quantity_frame())
    bad = fit_regressor(params, quantity_frame(), alpha=500.0)  # shrunk towards the mean
    meta = {"features": list(x.columns), "task": "regression"}
    gate = gates.metric_gate(bad, (good, meta), x, y, "rmse", 0.02)
    prod = gates.score(good, x, y, "rmse")
    assert (gate.passed, gate.limit) == (False, pytest.approx(prod * 1.02, abs=1e-6))
    assert gate.value > prod * 1.02 and "+ 2% tolerance (lower is better)" in gate.detail
    assert gates.metric_gate(good, (bad, meta), x, y, "rmse", 0.02).passed  # lower error passes
    assert gates.metric_gate(good, (good, meta), x, y, "mae", 0.0).passed


def test_r2_gate_is_a_score_with_an_absolute_tolerance(params):
    x, y = split_xy(quantity_frame(seed=1), "target")
    good, bad = fit_regressor(params, quantity_frame()), fit_regressor(params, quantity_frame(), alpha=500.0)
    meta = {"features": list(x.columns), "task": "regression"}
    gate = gates.metric_gate(bad, (good, meta), x, y, "r2", 0.02)
    assert not gate.passed and gate.limit == pytest.approx(gates.score(good, x, y, "r2") - 0.02, abs=1e-6)


def test_a_production_model_of_the_other_task_is_not_comparable(params):
    x, y = split_xy(quantity_frame(seed=1), "target")
    classifier = fit(params, numeric_frame())  # features x1, x2: present in the test set
    gate = gates.metric_gate(fit_regressor(params, quantity_frame()), (classifier, {"features": ["x1", "x2"]}),
                               x, y, "rmse", 0.02)
    assert gate.passed and gate.limit is None
    assert gate.detail.endswith("production model not comparable (production is a classification model, "
                                "the candidate a regression model)")


def test_mean_gap_blocks_predictions_that_follow_the_group(params):
    frame = quantity_frame(group_effect=4.0)
    x, y = split_xy(frame, "target")
    model = fit_regressor(params, frame)
    means = gates.group_means(model.predict(x), x["group"])
    gap = (means["a"] - means["b"]) / float(np.std(y))
    gate = gates.mean_gap_gate(model, x, y, "group", max_mean_gap=0.25)
    assert (gate.passed, gate.value, gate.limit) == (False, pytest.approx(gap, abs=1e-6), 0.25) and gap > 0.25
    assert gate.detail.startswith("mean prediction by 'group': a ")


def test_mean_gap_passes_without_a_group_signal_and_is_off_without_a_column(params):
    frame = quantity_frame()
    x, y = split_xy(frame, "target")
    model = fit_regressor(params, frame)
    assert gates.mean_gap_gate(model, x, y, "group", max_mean_gap=0.25).passed
    off = gates.mean_gap_gate(model, x, y, "", max_mean_gap=0.25)
    assert (off.passed, off.value) == (True, None) and off.detail.startswith("disabled")
    with pytest.raises(UserError, match="gates.fairness.sensitive_column 'nope' is not a feature column"):
        gates.mean_gap_gate(model, x, y, "nope", max_mean_gap=0.25)
