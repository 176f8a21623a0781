"""MLflow loads an exported bundle with its own loaders and predicts what Lablift predicts.

Needs `mlflow` (or the lighter `mlflow-skinny`) in the test environment; skipped otherwise.
MLflow 3 refuses to unpickle unless MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true (its own safety
switch; ops who load a bundle with MLflow set it too).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from bundle_helpers import build_world

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("mlflow.pyfunc")
pytest.importorskip("mlflow.sklearn")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(autouse=True)
def _allow_pickle(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")


def _rows(world, n=200):
    return world["frame"][world["run"]["spec"]["features"]].iloc[:n]


def test_pyfunc_and_sklearn_loaders_predict_like_lablift(world):
    import mlflow.pyfunc
    import mlflow.sklearn
    X = _rows(world)
    expected = world["pipeline"].predict(X)
    pyfunc = mlflow.pyfunc.load_model(str(world["bundle"]))
    np.testing.assert_array_equal(np.asarray(pyfunc.predict(X)), expected)
    sk = mlflow.sklearn.load_model(str(world["bundle"]))
    np.testing.assert_array_equal(sk.predict(X), expected)
    np.testing.assert_allclose(sk.predict_proba(X), world["pipeline"].predict_proba(X))


def test_mlflow_reads_signature_and_input_example(world):
    from mlflow.models import Model
    model = Model.load(str(world["bundle"] / "MLmodel"))
    schema = json.loads((world["bundle"] / "schema.json").read_text())
    assert model.signature.inputs.input_names() == [c["name"] for c in schema["inputs"]]
    types = {c.name: c.type.name for c in model.signature.inputs.inputs}
    assert types["age"] == "long" and types["income"] == "double"
    assert types["gender"] == "string" and types["has_cosigner"] == "boolean"
    assert model.flavors["sklearn"]["serialization_format"] == "pickle"
    example = model.load_input_example(str(world["bundle"]))
    assert list(example.columns) == [c["name"] for c in schema["inputs"]]
    # MLflow's schema enforcement accepts the example and the pyfunc scores it
    import mlflow.pyfunc
    pred = mlflow.pyfunc.load_model(str(world["bundle"])).predict(example)
    np.testing.assert_array_equal(np.asarray(pred), world["pipeline"].predict(example))


def test_mlflow_enforces_the_signature(world):
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    pyfunc = mlflow.pyfunc.load_model(str(world["bundle"]))
    with pytest.raises(MlflowException, match="income"):
        pyfunc.predict(_rows(world, 3).drop(columns=["income"]))
