"""Catalogue: every algorithm fits for its tasks, hyperparameters validate with clear errors."""

import json

import numpy as np
import pandas as pd
import pytest

from lablift.core import catalogue
from lablift.core.errors import LabliftError

PROFILE = {"rows": 60, "columns": [
    {"name": "num", "dtype": "double", "kind": "numeric", "missing": 3},
    {"name": "cat", "dtype": "string", "kind": "categorical", "missing": 2},
    {"name": "flag", "dtype": "bool", "kind": "boolean", "missing": 0},
    {"name": "when", "dtype": "timestamp[s]", "kind": "datetime", "missing": 0},
    {"name": "row_id", "dtype": "int64", "kind": "id-like", "missing": 0},
    {"name": "code", "dtype": "string", "kind": "id-like", "missing": 0},
    {"name": "y", "dtype": "int64", "kind": "boolean", "missing": 0},
]}


def frame():
    rng = np.random.default_rng(1)
    n = 60
    num = rng.normal(size=n)
    num[:3] = np.nan
    cat = rng.choice(["a", "b", "c"], n).astype(object)
    cat[5:7] = None
    return pd.DataFrame({"num": num, "cat": cat, "flag": rng.random(n) > 0.5,
                         "when": pd.date_range("2024-01-01", periods=n),
                         "row_id": np.arange(n), "code": [f"c{i}" for i in range(n)],
                         "y": (np.nan_to_num(num) > 0).astype(int)})


@pytest.mark.parametrize("algo", catalogue.algorithms(), ids=lambda a: a.name)
def test_every_algorithm_fits_with_defaults(algo):
    df = frame()
    for task in algo.tasks:
        pipe = catalogue.build_pipeline(PROFILE, ["num", "cat", "flag"], task, algo.name, {}, 0)
        y = df["y"] if task == "classification" else df["num"].fillna(0) * 2
        pipe.fit(df[["num", "cat", "flag"]], y)
        assert len(pipe.predict(df)) == len(df)
        if task == "classification":
            assert pipe.predict_proba(df).shape == (len(df), 2)
        model = pipe.named_steps["model"]
        if type(model).__name__ == "CalibratedClassifierCV":  # SVC with probabilities
            model = model.estimator
        assert type(model).__name__ == algo.estimator_class(task).__name__
        if "random_state" in model.get_params():
            assert model.get_params()["random_state"] == 0


def test_unknown_categories_ignored_and_missing_imputed():
    df = frame()
    pipe = catalogue.build_pipeline(PROFILE, ["num", "cat"], "classification",
                                    "logistic_regression", {}, 0).fit(df, df["y"])
    new = pd.DataFrame({"num": [np.nan, 1.0], "cat": ["zzz", None]})
    assert len(pipe.predict(new)) == 2


def test_column_groups_and_default_features():
    assert catalogue.usable_features(PROFILE, "y") == ["num", "cat", "flag"]
    assert catalogue.usable_features(PROFILE, "y", exclude=["flag"]) == ["num", "cat"]
    numeric, categorical, notes = catalogue.column_groups(
        PROFILE, ["num", "cat", "flag", "when", "row_id", "code"])
    assert numeric == ["num", "row_id"] and categorical == ["cat", "flag", "code"]
    assert len(notes) == 1 and notes[0].startswith("when: datetime")


def test_infer_task():
    assert catalogue.infer_task({"kind": "categorical", "dtype": "string"}) == "classification"
    assert catalogue.infer_task({"kind": "boolean", "dtype": "bool"}) == "classification"
    assert catalogue.infer_task({"kind": "numeric", "dtype": "int64", "unique": 4}) \
        == "classification"
    assert catalogue.infer_task({"kind": "numeric", "dtype": "int64", "unique": 400}) \
        == "regression"
    assert catalogue.infer_task({"kind": "numeric", "dtype": "double", "unique": 3}) \
        == "regression"


def test_parse_values_and_errors():
    assert catalogue.parse_value("random_forest", "classification", "n_estimators", "200") == 200
    assert catalogue.parse_value("random_forest", "regression", "max_depth", "none") is None
    assert catalogue.parse_value("svm", "classification", "C", "0.5") == 0.5
    assert catalogue.parse_value("ridge", "regression", "fit_intercept", "false") is False
    assert catalogue.parse_value("knn", "classification", "p", "1") == 1
    with pytest.raises(LabliftError) as info:
        catalogue.parse_value("random_forest", "classification", "n_estimators", "abc")
    assert str(info.value) == ("parameter n_estimators of random_forest must be an integer "
                               "from 1 to 5000, got 'abc'")
    for name, value, words in [("n_estimators", "0", "from 1 to 5000"),
                               ("n_estimators", "2.5", "integer"),
                               ("max_features", "half", "one of sqrt, log2, none"),
                               ("n_estimators", "none", "integer")]:
        with pytest.raises(LabliftError, match=words):
            catalogue.parse_value("random_forest", "classification", name, value)
    with pytest.raises(LabliftError, match="did you mean n_estimators"):
        catalogue.parse_value("random_forest", "classification", "n_estimator", "3")
    with pytest.raises(LabliftError, match="epsilon"):  # a regression-only parameter
        catalogue.validate_params("svm", "classification", {"epsilon": 0.1})
    with pytest.raises(LabliftError, match="not PARAM=VALUE"):
        catalogue.parse_assignments(["n_estimators"])


def test_describe_is_a_form_description():
    desc = catalogue.describe()
    json.dumps(desc)
    names = {a["name"] for a in desc}
    assert {"logistic_regression", "linear_regression", "ridge", "random_forest",
            "hist_gradient_boosting", "knn", "svm", "decision_tree", "dummy"} <= names
    for a in desc:
        for params in a["hyperparameters"].values():
            for p in params:
                assert p["type"] in ("int", "float", "choice", "bool") and p["help"]
                if p["type"] in ("int", "float"):
                    assert p["low"] <= p["search"][0] <= p["search"][1] <= p["high"]
                    if p["default"] is not None:
                        assert p["low"] <= p["default"] <= p["high"]
                if p["type"] == "choice":
                    assert p["default"] in p["choices"]
    assert [a["name"] for a in catalogue.describe("regression")].count("logistic_regression") == 0
