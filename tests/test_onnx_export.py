"""The ONNX fast path at export: exact conversion of the catalogue's classifiers, the check
recorded in lablift.json, and pipelines that do not convert exporting as before with why."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bundle_helpers import build_world

from lablift.bundle_runtime import scoring, serve
from lablift.cli import main
from lablift.core import bundles, onnx_export, registry, training
from lablift.core.store import Store

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

ALGORITHMS = ["logistic_regression", "decision_tree", "random_forest", "hist_gradient_boosting"]
ONNX_FILES = {"model.onnx", "onnx_scorer.py", "requirements-onnx.txt"}


@pytest.fixture(scope="module", params=ALGORITHMS)
def world(request, tmp_path_factory):
    return build_world(tmp_path_factory.mktemp(request.param), request.param)


def test_catalogue_classifiers_convert_exactly_and_the_check_is_recorded(world):
    b, store, run = world["bundle"], world["store"], world["run"]
    manifest = json.loads((b / "lablift.json").read_text())
    check = manifest["onnx"]
    assert check["verdict"] == "passed", check["reason"]
    assert check["file"] == "model.onnx" and check["reason"] is None
    X_holdout, _ = training.holdout_frame(store, run)
    assert check["holdout_rows"] == len(X_holdout) == 400
    assert check["probe_rows"] > 0
    assert check["rows_checked"] == check["holdout_rows"] + check["probe_rows"]
    assert check["labels_identical"] and check["label_mismatches"] == 0
    assert check["max_abs_proba_diff"] <= 1e-6
    assert all(check["versions"][p] for p in ("skl2onnx", "onnx", "onnxruntime"))
    assert check["opset"]["ai.onnx"] == 17
    # trees in double precision need ai.onnx.ml opset 5 (TreeEnsemble)
    assert check["opset"]["ai.onnx.ml"] == (2 if world["run"]["algorithm"] ==
                                            "logistic_regression" else 5)
    assert {c["name"] for c in check["inputs"]} == set(run["spec"]["features"])
    # what serve.py needs to score without unpickling: the classes and their dtype
    classes = world["pipeline"][-1].classes_
    assert check["classes"] == {"dtype": str(classes.dtype), "values": classes.tolist()}
    # shipped and covered by SHA256SUMS, so serve.py's integrity check covers them
    assert ONNX_FILES <= set(serve.read_sums(b))
    assert serve.check_sums(b) == []
    assert (b / "requirements-onnx.txt").read_text().splitlines() == [
        "-r requirements.txt", f"onnxruntime=={check['versions']['onnxruntime']}"]
    assert world["exported"]["onnx"]["verdict"] == "passed"
    # the store recorded these files as shipped: bundle verify checks them too
    assert bundles.verify(b, store=store)["ok"]


def test_onnx_answers_as_the_pickle_on_every_row_of_the_dataset(world):
    """Beyond the export's own rows: all 2,000 rows (training rows too), through the bundle's
    runtime file, against the pipeline's predict and predict_proba."""
    from lablift.bundle_runtime import onnx_scorer
    b, pipeline = world["bundle"], world["pipeline"]
    check = json.loads((b / "lablift.json").read_text())["onnx"]
    X = world["frame"][world["run"]["spec"]["features"]]
    model = onnx_scorer.OnnxModel((b / "model.onnx").read_bytes(), check["inputs"],
                                  pipeline[-1].classes_)
    pred, proba = model.score(X, want_proba=True)
    assert pred.tolist() == pipeline.predict(X).tolist()
    assert pred.dtype == pipeline.predict(X).dtype
    assert np.abs(proba - pipeline.predict_proba(X)).max() <= 1e-6


def _export_one(root, algorithm, task_target="approved"):
    admin = Store(root / "store", user="admin")
    admin.add_user("rita", "reviewer")
    from lablift.core import datasets
    from lablift.resources import SAMPLE_LOANS
    datasets.import_dataset(admin, SAMPLE_LOANS, name="loans")
    run = training.train(admin, {"dataset": "loans", "target": task_target,
                                 "algorithm": algorithm, "cv": 2})
    registry.register(admin, run["id"], "m")
    registry.approve(Store(root / "store", user="rita"), "m:1", comment="ok")
    return admin


@pytest.mark.parametrize("algorithm,target,reason", [
    ("dummy", "approved", "DummyClassifier"),  # skl2onnx has no converter for it
    ("ridge", "income", "only classifiers are converted"),
])
def test_a_pipeline_that_does_not_convert_exports_as_today_with_the_reason(
        tmp_path, capsys, algorithm, target, reason):
    _export_one(tmp_path, algorithm, target)
    out = tmp_path / "bundle"
    code = main(["--store", str(tmp_path / "store"), "--user", "admin", "bundle", "export",
                 "m:1", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "ONNX fast path: not shipped (not converted)" in text and reason in text
    manifest = json.loads((out / "lablift.json").read_text())
    assert manifest["onnx"]["verdict"] == "not converted"
    assert reason in manifest["onnx"]["reason"]
    names = {p.name for p in out.iterdir()}
    assert not names & ONNX_FILES  # the bundle of today: nothing ONNX
    assert serve.check_sums(out) == []
    # serve.py scores with the pickle and says why
    scorer = scoring.Scorer(out)
    assert scorer.kind == "pickle" and reason in scorer.scorer_note
    assert scorer.info()["scorer"] == "pickle"


@pytest.mark.parametrize("world", ["random_forest"], indirect=True)  # one is enough
def test_the_check_catches_skl2onnx_forest_weighting(world):
    """skl2onnx's own forest sums leaf weights already divided by the number of trees; that
    breaks sklearn's ties (a 50/50 vote) differently. The same graph with that weighting
    fails the check the exact graph passes: exactness is what ships, not closeness."""
    import onnx
    from onnx import numpy_helper
    pipeline = world["pipeline"]
    schema = json.loads((world["bundle"] / "schema.json").read_text())
    exact, feeds, _ = onnx_export.convert(pipeline, schema)
    X, _ = training.holdout_frame(world["store"], world["run"])
    assert onnx_export.verify(exact, feeds, pipeline, X)["max_abs_proba_diff"] == 0.0
    model = onnx.load_from_string(exact)
    tree = next(n for n in model.graph.node if n.op_type == "TreeEnsemble")
    n_trees = len(pipeline[-1].estimators_)
    weights = next(a for a in tree.attribute if a.name == "leaf_weights")
    weights.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights.t) / n_trees))
    div = next(i for i in model.graph.initializer if i.name == "n_trees")
    div.CopyFrom(numpy_helper.from_array(np.asarray(1.0), "n_trees"))
    # ... and scores class 1 only, class 0 being 1 - p1 (skl2onnx's binary forest)
    from onnx import helper
    last = model.graph.node[-1]
    last.output[0] = "summed"
    model.graph.initializer.extend([
        numpy_helper.from_array(np.asarray([1], np.int64), "i1"),
        numpy_helper.from_array(np.asarray([2], np.int64), "i2"),
        numpy_helper.from_array(np.asarray(1.0), "one")])
    model.graph.node.extend([
        helper.make_node("Slice", ["summed", "i1", "i2", "i1"], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1)])
    check = onnx_export.verify(model.SerializeToString(), feeds, pipeline, X)
    assert check["max_abs_proba_diff"] < 1e-6  # close...
    assert not check["labels_identical"] and check["label_mismatches"] > 0  # ...not exact
    assert check["rows_checked"] == len(X) + check["probe_rows"]


@pytest.mark.parametrize("world", ["random_forest"], indirect=True)  # one is enough
def test_impure_leaves_take_one_tree_per_class_and_stay_exact(world):
    """Shallow trees have mixed leaves: every class is then summed by its own trees (the
    pure-vote shortcut does not apply) and the result is still exact."""
    import onnx
    from lablift.core import inputs
    run = training.train(world["ana"], {"dataset": "loans", "target": "approved",
                                        "algorithm": "random_forest", "cv": 0,
                                        "params": {"max_depth": 4, "n_estimators": 30}})
    pipeline = training.load_pipeline(world["store"], run)
    X, _ = training.holdout_frame(world["store"], run)
    data, check = onnx_export.build(pipeline, inputs.input_schema(world["store"], run), X)
    assert check["verdict"] == "passed", check["reason"]
    assert check["max_abs_proba_diff"] <= 1e-6 and check["labels_identical"]
    tree = next(n for n in onnx.load_from_string(data).graph.node
                if n.op_type == "TreeEnsemble")
    assert onnx.helper.get_attribute_value(
        next(a for a in tree.attribute if a.name == "n_targets")) == 2


@pytest.mark.parametrize("classes", [np.array([0, 1]), np.array([False, True]),
                                     np.array([0.5, 2.0]), np.array(["no", "yes"], dtype=object),
                                     np.array([1, 2, 3], dtype=np.int32)])
def test_classes_are_recorded_with_their_dtype_and_read_back_exactly(classes):
    from lablift.bundle_runtime import scoring
    doc = onnx_export.classes_doc(classes)
    back = scoring.classes_from_doc(json.loads(json.dumps(doc)))  # through lablift.json
    assert back.dtype == classes.dtype and back.tolist() == classes.tolist()
    assert [type(v) for v in back.tolist()] == [type(v) for v in classes.tolist()]


@pytest.mark.parametrize("classes", [np.array(["no", "yes"]),  # numpy text, not Python str
                                     np.array(["a", 1], dtype=object)])
def test_classes_json_cannot_give_back_are_not_recorded(classes):
    # serve.py then takes them from model.pkl, as for bundles exported before the field
    assert onnx_export.classes_doc(classes) is None
