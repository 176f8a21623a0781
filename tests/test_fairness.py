"""Fairness numbers equal Fairlearn's (MetricFrame and the disparity functions)."""

import math
from functools import partial

import numpy as np
import pytest
from fairlearn.metrics import (MetricFrame, demographic_parity_difference,
                               demographic_parity_ratio, equalized_odds_difference,
                               false_positive_rate, selection_rate, true_positive_rate)
from sklearn.metrics import mean_absolute_error, precision_score, root_mean_squared_error

from lablift.core import fairness


def _close(a, b):
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None
    return a == pytest.approx(float(b), abs=1e-12)


def _check_binary_against_fairlearn(y_true, y_pred, sens):
    rep = fairness.classification_report(y_true, y_pred, sens, classes=[0, 1])
    mf = MetricFrame(metrics={"selection_rate": selection_rate, "tpr": true_positive_rate,
                              "fpr": false_positive_rate,
                              "precision": partial(precision_score, zero_division=0),
                              "count": lambda yt, yp: len(yt)},
                     y_true=y_true, y_pred=y_pred, sensitive_features=sens)
    by_group = mf.by_group
    assert [g["group"] for g in rep["groups"]] == [str(i) for i in by_group.index]
    for g in rep["groups"]:
        row = by_group.loc[g["group"]]
        for m in ("selection_rate", "tpr", "fpr", "precision"):
            assert g[m] == pytest.approx(float(row[m]), abs=1e-12), (g["group"], m)
        assert g["count"] == int(row["count"])
    for m in ("selection_rate", "tpr", "fpr", "precision"):
        assert rep["overall"][m] == pytest.approx(float(mf.overall[m]), abs=1e-12), m
    assert _close(rep["demographic_parity_difference"],
                  demographic_parity_difference(y_true, y_pred, sensitive_features=sens))
    assert _close(rep["demographic_parity_ratio"],
                  demographic_parity_ratio(y_true, y_pred, sensitive_features=sens))
    assert _close(rep["equalized_odds_difference"],
                  equalized_odds_difference(y_true, y_pred, sensitive_features=sens))
    return rep


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_binary_three_groups_equal_fairlearn(seed):
    rng = np.random.default_rng(seed)
    n = 400
    sens = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    y_true = rng.integers(0, 2, size=n)
    # A biased predictor so the groups really differ.
    bias = np.where(sens == "a", 0.7, np.where(sens == "b", 0.45, 0.25))
    y_pred = (rng.random(n) < bias).astype(int)
    rep = _check_binary_against_fairlearn(y_true, y_pred, sens)
    assert rep["demographic_parity_difference"] > 0.1
    assert rep["four_fifths"]["flagged"] == (rep["demographic_parity_ratio"] < 0.8)
    assert "screening heuristic" in rep["four_fifths"]["note"]
    assert "not proof" in rep["four_fifths"]["note"]


def test_group_without_positives_matches_fairlearn():
    # Group "c" has no positive labels and no predicted positives: TPR and precision are 0
    # in Fairlearn (sklearn's normalised confusion matrix, zero_division=0).
    rng = np.random.default_rng(7)
    sens = np.array(["a"] * 50 + ["b"] * 50 + ["c"] * 20)
    y_true = np.concatenate([rng.integers(0, 2, 100), np.zeros(20, dtype=int)])
    y_pred = np.concatenate([rng.integers(0, 2, 100), np.zeros(20, dtype=int)])
    rep = _check_binary_against_fairlearn(y_true, y_pred, sens)
    c = next(g for g in rep["groups"] if g["group"] == "c")
    assert c["positives"] == 0 and c["tpr"] == 0.0 and c["precision"] == 0.0
    assert c["selection_rate"] == 0.0
    assert rep["demographic_parity_ratio"] == 0.0  # min rate 0 over a positive max
    assert rep["four_fifths"]["flagged"] is True
    assert any("no rows labelled 1" in n for n in rep["notes"])
    assert any("small groups" in n for n in rep["notes"])


def test_group_with_only_positives_matches_fairlearn():
    rng = np.random.default_rng(3)
    sens = np.array(["x"] * 60 + ["y"] * 40)
    y_true = np.concatenate([rng.integers(0, 2, 60), np.ones(40, dtype=int)])
    y_pred = rng.integers(0, 2, 100)
    rep = _check_binary_against_fairlearn(y_true, y_pred, sens)
    y = next(g for g in rep["groups"] if g["group"] == "y")
    assert y["fpr"] == 0.0


def test_nobody_selected_ratio_undefined():
    sens = ["a", "a", "b", "b"]
    rep = fairness.classification_report([1, 0, 1, 0], [0, 0, 0, 0], sens, classes=[0, 1])
    assert math.isnan(demographic_parity_ratio([1, 0, 1, 0], [0, 0, 0, 0],
                                               sensitive_features=sens))
    assert rep["demographic_parity_ratio"] is None
    assert rep["four_fifths"]["flagged"] is False
    assert any("undefined" in n for n in rep["notes"])


def test_string_labels_use_larger_class_as_positive():
    rng = np.random.default_rng(11)
    sens = rng.choice(["f", "m"], 200)
    yt = rng.choice(["no", "yes"], 200)
    yp = rng.choice(["no", "yes"], 200)
    rep = fairness.classification_report(yt, yp, sens, classes=["no", "yes"])
    assert rep["pos_label"] == "yes"
    ref = demographic_parity_difference((yt == "yes").astype(int), (yp == "yes").astype(int),
                                        sensitive_features=sens)
    assert rep["demographic_parity_difference"] == pytest.approx(ref, abs=1e-12)


def test_multiclass_is_worst_one_vs_rest():
    rng = np.random.default_rng(5)
    sens = rng.choice(["a", "b", "c"], 300)
    yt = rng.integers(0, 3, 300)
    yp = rng.integers(0, 3, 300)
    rep = fairness.classification_report(yt, yp, sens, classes=[0, 1, 2])
    dps = [demographic_parity_difference((yt == c).astype(int), (yp == c).astype(int),
                                         sensitive_features=sens) for c in range(3)]
    eos = [equalized_odds_difference((yt == c).astype(int), (yp == c).astype(int),
                                     sensitive_features=sens) for c in range(3)]
    assert rep["demographic_parity_difference"] == pytest.approx(max(dps), abs=1e-12)
    assert rep["equalized_odds_difference"] == pytest.approx(max(eos), abs=1e-12)
    assert set(rep["groups"][0]["selection_rate"]) == {"0", "1", "2"}


def test_missing_sensitive_values_form_their_own_group():
    rep = fairness.classification_report([1, 0, 1, 1], [1, 0, 0, 1], ["a", None, "a", np.nan],
                                         classes=[0, 1])
    assert [g["group"] for g in rep["groups"]] == [fairness.MISSING_GROUP, "a"]
    assert rep["groups"][0]["count"] == 2


def test_regression_error_by_group_equals_fairlearn():
    rng = np.random.default_rng(0)
    n = 300
    sens = rng.choice(["north", "south", "west"], n)
    yt = rng.normal(50, 10, n)
    noise = np.where(sens == "north", 2.0, np.where(sens == "south", 5.0, 9.0))
    yp = yt + rng.normal(0, noise)
    rep = fairness.regression_report(yt, yp, sens)
    mf = MetricFrame(metrics={"mae": mean_absolute_error, "rmse": root_mean_squared_error},
                     y_true=yt, y_pred=yp, sensitive_features=sens)
    for g in rep["groups"]:
        assert g["mae"] == pytest.approx(float(mf.by_group.loc[g["group"], "mae"]), rel=1e-12)
        assert g["rmse"] == pytest.approx(float(mf.by_group.loc[g["group"], "rmse"]), rel=1e-12)
    assert rep["overall"]["mae"] == pytest.approx(float(mf.overall["mae"]), rel=1e-12)
    assert rep["mae_difference"] == pytest.approx(float(mf.difference()["mae"]), rel=1e-12)
    assert rep["mae_ratio"] == pytest.approx(float(mf.ratio()["mae"]), rel=1e-12)
    assert rep["rmse_ratio"] == pytest.approx(float(mf.ratio()["rmse"]), rel=1e-12)
    # The noisiest group has the largest error.
    worst = max(rep["groups"], key=lambda g: g["mae"])
    assert worst["group"] == "west"
