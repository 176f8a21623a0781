"""Optional ONNX fast path for bundles: convert a fitted catalogue pipeline with skl2onnx so
that onnxruntime scores exactly as the pickle does, and prove it on the run's holdout before
the bundle ships it (DESIGN "Release and automation": model.onnx is used only when the
export-time equality check passed).

Exactness, not a looser tolerance. skl2onnx alone is not exact here: it stores tree
thresholds and leaf weights as float attributes, its forests sum weights already divided by
the number of trees (sklearn's 50/50 ties then break the other way), and it imputes doubles
with ai.onnx.ml Imputer, which onnxruntime implements for float only. So the graph is
double end to end:
- inputs are one [N, 1] tensor per column: double for numeric, string for categorical
  (bool columns as "True"/"False", a missing category as "", which serve.py never passes
  through as a value: it reads blank text as missing);
- skl2onnx converts the ColumnTransformer in double, numeric imputation being IsNaN + Where
  with the imputer's float64 statistics (registered below), scaling its Sub/Div;
- a tree classifier's trees are written here as one ai.onnx.ml opset 5 TreeEnsemble in
  double (splits, leaf values), one tree per class so every class is summed as sklearn sums
  it, then sklearn's own finish: the mean (forests), or baseline + logistic/softmax (HGB).
  DecisionTree/RandomForest splits follow sklearn's float32 cast of X exactly (the double w
  with float32(x) <= t <=> x <= w); HistGradientBoosting compares float64 as sklearn does;
- other classifiers (logistic regression, ...) are skl2onnx's conversion with double input.
Labels are the first class of highest probability (onnx_scorer.py). They must be identical
to the pickle's and probabilities within TOLERANCE on the holdout plus probe rows (each input
blanked, an unknown category), or the ONNX file is dropped and the manifest says why.
Regression is not converted: its predictions are the JSON itself, and they would have to
equal sklearn's float64 digit for digit.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from typing import Any

from ..bundle_runtime import onnx_scorer, scoring

ONNX_FILE = onnx_scorer.ONNX_FILE
RUNTIME_FILE = "onnx_scorer.py"
TOLERANCE = 1e-6
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}  # skl2onnx's part; the trees need ai.onnx.ml 5
TREE_CLASSIFIERS = ("DecisionTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier",
                    "HistGradientBoostingClassifier")
PACKAGES = ("skl2onnx", "onnx", "onnxruntime")
PROBE_ROWS = 20  # holdout rows reused per probe (one column blanked, or an unknown category)


class NotConvertible(Exception):
    """The pipeline has no exact ONNX form here; the message says why."""


def versions() -> dict[str, str | None]:
    import importlib.metadata as md
    out = {}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def build(pipeline, schema: dict, X_check) -> tuple[bytes | None, dict[str, Any]]:
    """(model.onnx bytes or None, the check as recorded in lablift.json under "onnx")."""
    report: dict[str, Any] = {"file": None, "verdict": "not converted", "reason": None,
                              "tolerance": TOLERANCE, "versions": versions()}
    missing = [n for n, v in report["versions"].items() if v is None]
    if missing:
        report["reason"] = (f"{', '.join(missing)} not installed where the bundle was exported "
                            f"(pip install 'lablift[onnx]')")
        return None, report
    try:
        onnx_bytes, feeds, opset = convert(pipeline, schema)
        report.update(opset=opset, inputs=feeds)
        check = verify(onnx_bytes, feeds, pipeline, X_check)
    except (NotConvertible, onnx_scorer.Unavailable) as exc:
        report["reason"] = str(exc)
        return None, report
    except Exception as exc:  # skl2onnx and onnxruntime refuse in many ways: each is a reason
        text = str(exc).splitlines()[0][:300] if str(exc) else ""
        report["reason"] = f"skl2onnx cannot convert this pipeline: {type(exc).__name__}: {text}"
        return None, report
    report.update(check)
    if check["labels_identical"] and check["max_abs_proba_diff"] <= TOLERANCE:
        # what serve.py needs besides model.onnx, so that it never unpickles on this path
        report.update(verdict="passed", file=ONNX_FILE,
                      classes=classes_doc(pipeline[-1].classes_))
        return onnx_bytes, report
    report["verdict"] = "failed"
    report["reason"] = (f"on {check['rows_checked']} rows {check['label_mismatches']} label(s) "
                        f"differ and probabilities differ by up to "
                        f"{check['max_abs_proba_diff']:.3g} (allowed {TOLERANCE:g})")
    return None, report


def classes_doc(classes):
    """classes_ as lablift.json records them ({"dtype", "values"}), or None when the JSON
    would not give back the same labels (serve.py then takes them from model.pkl)."""
    import numpy as np
    arr = np.asarray(classes)
    values = [v.item() if hasattr(v, "item") else v for v in arr.tolist()]
    doc = {"dtype": str(arr.dtype), "values": values}
    back = scoring.classes_from_doc(json.loads(json.dumps(doc)))
    same = (back is not None and back.dtype == arr.dtype and len(back) == len(arr)
            and all(type(a) is type(b) and a == b for a, b in zip(back.tolist(), arr.tolist())))
    return doc if same else None


# -- conversion -------------------------------------------------------------------------------
def convert(pipeline, schema: dict) -> tuple[bytes, list[dict], dict]:
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    _register_imputer()
    steps = getattr(pipeline, "steps", None)
    final = pipeline[-1] if steps else pipeline
    if not hasattr(final, "predict_proba") or not hasattr(final, "classes_"):
        raise NotConvertible(f"{type(final).__name__}: only classifiers are converted (a "
                             f"regressor's predictions are the answer itself and would have "
                             f"to equal sklearn's float64 digit for digit)")
    prep = pipeline[0] if steps and len(steps) > 1 else None
    if not isinstance(prep, ColumnTransformer):
        raise NotConvertible("the pipeline does not start with a ColumnTransformer (the "
                             "catalogue's preprocessing)")
    model = copy.deepcopy(pipeline)  # strings in place of the categorical imputer's NaN
    kinds = {c["name"]: c for c in schema.get("inputs") or []}
    feeds = []
    for name, trans, cols in model[0].transformers_:
        if trans == "drop" or not len(cols):
            continue
        if trans == "passthrough" or not hasattr(trans, "steps"):
            raise NotConvertible(f"transformer {name!r} is not an imputer pipeline")
        enc = dict(trans.steps).get("onehot")
        if enc is None:
            feeds += [{"name": c, "type": "double"} for c in cols]
            continue
        imp = dict(trans.steps).get("impute")
        for col, cats in zip(cols, enc.categories_):
            if all(isinstance(v, (bool, np.bool_)) for v in cats):
                feeds.append({"name": col, "type": "bool"})
            elif all(isinstance(v, str) for v in cats):
                feeds.append({"name": col, "type": "string"})
            else:
                raise NotConvertible(f"categorical column {col!r} has non-text categories "
                                     f"({type(cats[0]).__name__}); only text and bool are fed "
                                     f"to ONNX as strings")
            if "" in [str(v) for v in cats]:
                raise NotConvertible(f"categorical column {col!r} has an empty category")
        enc.categories_ = [np.array([str(v) for v in c], dtype=object) for c in enc.categories_]
        if imp is not None:
            imp.missing_values = ""
            imp.statistics_ = np.array([str(v) for v in imp.statistics_], dtype=object)
    for f in feeds:
        if f["name"] not in kinds:
            raise NotConvertible(f"column {f['name']!r} is not in schema.json")
    types = [(f["name"], DoubleTensorType([None, 1]) if f["type"] == "double"
              else StringTensorType([None, 1])) for f in feeds]
    if type(final).__name__ in TREE_CLASSIFIERS:
        onx = _tree_model(convert_sklearn(model[0], initial_types=types,
                                          target_opset=dict(TARGET_OPSET)), final)
    else:
        onx = convert_sklearn(model, initial_types=types, target_opset=dict(TARGET_OPSET),
                              options={id(model[-1]): {"zipmap": False}})
    opset = {(o.domain or "ai.onnx"): o.version for o in onx.opset_import}
    return onx.SerializeToString(), feeds, opset


_REGISTERED = False


def _register_imputer() -> None:
    """SimpleImputer on doubles as IsNaN + Where with float64 fill values (skl2onnx emits
    ai.onnx.ml Imputer with float fill values; onnxruntime has no double kernel for it)."""
    global _REGISTERED
    if _REGISTERED:
        return
    import numpy as np
    from sklearn.impute import SimpleImputer
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.proto import onnx_proto
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes

    def convert(scope, operator, container):
        op = operator.raw_operator
        if not isinstance(operator.inputs[0].type, DoubleTensorType):
            return convert_sklearn_imputer(scope, operator, container)
        if not (isinstance(op.missing_values, float) and np.isnan(op.missing_values)):
            raise NotConvertible(f"SimpleImputer(missing_values={op.missing_values!r}): only "
                                 f"NaN is converted")
        x = concatenate_variables(scope, operator.inputs, container)
        fill = scope.get_unique_variable_name("fill")
        stats = np.asarray(op.statistics_, dtype=np.float64)
        container.add_initializer(fill, onnx_proto.TensorProto.DOUBLE, [1, stats.size],
                                  stats.tolist())
        isnan = scope.get_unique_variable_name("isnan")
        container.add_node("IsNaN", [x], [isnan], op_version=13)
        container.add_node("Where", [isnan, fill, x], [operator.outputs[0].full_name],
                           op_version=16)

    update_registered_converter(SimpleImputer, "SklearnSimpleImputer",
                                calculate_sklearn_imputer_output_shapes, convert,
                                overwrite=True)
    _REGISTERED = True


def _leq_splits(thresholds):
    """sklearn's trees compare float32(x) <= t (t a double). The doubles w with
    float32(x) <= t <=> x <= w, so the tree can take the double input: a = the largest
    float32 <= t, w = the largest double that still rounds to a (skl2onnx's
    sklearn_threshold rule, vectorised; the export's equality check proves the result)."""
    import numpy as np
    t = np.asarray(thresholds, np.float64)
    a = t.astype(np.float32)
    a = np.where(a.astype(np.float64) > t, np.nextafter(a, np.float32(-np.inf)), a)
    b = np.nextafter(a, np.float32(np.inf))
    m = (a.astype(np.float64) + b.astype(np.float64)) / 2  # exact in double
    return np.where(m.astype(np.float32) == a, m, np.nextafter(m, -np.inf))


def _tree_nodes(trees) -> dict[str, list]:
    """TreeEnsemble (ai.onnx.ml opset 5) arrays for [(target, nodes)], where nodes is a list
    of (feature, split, left, right, leaf_value) by node index (leaf: feature None)."""
    out: dict[str, list] = defaultdict(list)
    for target, nodes in trees:
        inner = [i for i, nd in enumerate(nodes) if nd[0] is not None]
        base = len(out["nodes_featureids"])
        node_at = {i: base + k for k, i in enumerate(inner)}
        leaf_at = {}
        for i, nd in enumerate(nodes):
            if nd[0] is None:
                leaf_at[i] = len(out["leaf_weights"])
                out["leaf_targetids"].append(target)
                out["leaf_weights"].append(nd[4])
        out["tree_roots"].append(base)  # node 0 is the root (sklearn and HGB alike)
        if not inner:  # a lone leaf: a split whose both sides are that leaf
            inner, nodes = [0], [(0, 0.0, 0, 0, None)]
        for i in inner:
            feature, split, left, right, _ = nodes[i]
            out["nodes_featureids"].append(feature)
            out["nodes_splits"].append(split)
            for side, child in (("true", left), ("false", right)):
                leaf = child in leaf_at
                out[f"nodes_{side}leafs"].append(int(leaf))
                out[f"nodes_{side}nodeids"].append(leaf_at[child] if leaf else node_at[child])
    return out


def _sklearn_trees(est) -> tuple[list, int, str]:
    """(trees [(target, nodes)], targets, how): the final classifier's trees, exactly."""
    import numpy as np
    kind = type(est).__name__
    n_classes = len(est.classes_)
    if kind in ("DecisionTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier"):
        forest = [est] if kind == "DecisionTreeClassifier" else est.estimators_
        if any(t.tree_.n_outputs != 1 for t in forest):
            raise NotConvertible(f"{kind} with several outputs is not converted")
        shapes = []
        for t in forest:  # splits once per tree (the threshold rule is slow in Python)
            tr = t.tree_
            value = tr.value[:, 0, :]
            total = value.sum(axis=1)
            total[total == 0.0] = 1.0
            proba = value / total[:, None]  # DecisionTreeClassifier.predict_proba's rule
            w = _leq_splits(tr.threshold).tolist()
            left, right, feat = (tr.children_left.tolist(), tr.children_right.tolist(),
                                 tr.feature.tolist())
            splits = [None if left[i] == -1 else (feat[i], w[i], left[i], right[i])
                      for i in range(tr.node_count)]
            shapes.append((splits, proba, left))
        # Two classes and pure leaves only (fully grown trees): class 1's votes are integers
        # and class 0's are n minus them, exactly; so one set of trees, half the work.
        pure = n_classes == 2 and all(
            np.isin(proba[np.asarray(left) == -1], (0.0, 1.0)).all() for _, proba, left in shapes)
        trees = []
        for c in ([1] if pure else range(n_classes)):  # else one tree per class, each
            for splits, proba, _ in shapes:         # class summed as sklearn sums it
                trees.append((0 if pure else c,
                              [(None, 0.0, 0, 0, float(proba[i, c])) if sp is None
                               else (*sp, None) for i, sp in enumerate(splits)]))
        return trees, 1 if pure else n_classes, \
            f"{'votes' if pure else 'mean'}:{len(forest)}"
    if kind == "HistGradientBoostingClassifier":
        if getattr(est, "is_categorical_", None) is not None and np.any(est.is_categorical_):
            raise NotConvertible("HistGradientBoostingClassifier with categorical features is "
                                 "not converted")
        trees = []
        for per_class in est._predictors:
            for c, pred in enumerate(per_class):
                nodes = []
                for nd in pred.nodes:
                    if nd["is_leaf"]:
                        nodes.append((None, 0.0, 0, 0, float(nd["value"])))
                    else:  # float64 X against float64 thresholds, no float32 cast here
                        nodes.append((int(nd["feature_idx"]), float(nd["num_threshold"]),
                                      int(nd["left"]), int(nd["right"]), None))
                trees.append((c, nodes))
        return trees, len(est._predictors[0]), "boosting"
    raise NotConvertible(f"{kind}: no exact double-precision tree form is known for it")


def _tree_model(prep_onx, est):
    """The preprocessing graph followed by the classifier's trees in double: TreeEnsemble
    (ai.onnx.ml opset 5) sums per class, then sklearn's own finish (mean, or baseline plus
    logistic/softmax). The one output, "probabilities", is float64."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    trees, targets, how = _sklearn_trees(est)
    arrays = _tree_nodes(trees)
    graph = prep_onx.graph
    x = graph.output[0].name  # what the ColumnTransformer wrote

    def const(name, value):
        graph.initializer.append(numpy_helper.from_array(np.asarray(value, np.float64), name))
        return name

    n = len(arrays["nodes_featureids"])
    nodes = [helper.make_node(
        "TreeEnsemble", [x], ["tree_sum"], domain="ai.onnx.ml", name="trees",
        n_targets=targets, aggregate_function=1, post_transform=0,
        tree_roots=arrays["tree_roots"], nodes_featureids=arrays["nodes_featureids"],
        nodes_modes=numpy_helper.from_array(np.zeros(n, np.uint8)),
        nodes_splits=numpy_helper.from_array(np.asarray(arrays["nodes_splits"], np.float64)),
        nodes_truenodeids=arrays["nodes_truenodeids"], nodes_trueleafs=arrays["nodes_trueleafs"],
        nodes_falsenodeids=arrays["nodes_falsenodeids"],
        nodes_falseleafs=arrays["nodes_falseleafs"], leaf_targetids=arrays["leaf_targetids"],
        leaf_weights=numpy_helper.from_array(np.asarray(arrays["leaf_weights"], np.float64)))]
    if how.startswith("mean:"):
        nodes.append(helper.make_node("Div", ["tree_sum", const("n_trees", float(how[5:]))],
                                      ["probabilities"]))
    elif how.startswith("votes:"):  # p1 = votes / n, p0 = (n - votes) / n
        n_trees = const("n_trees", float(how[6:]))
        nodes += [helper.make_node("Sub", [n_trees, "tree_sum"], ["votes0"]),
                  helper.make_node("Concat", ["votes0", "tree_sum"], ["votes"], axis=1),
                  helper.make_node("Div", ["votes", n_trees], ["probabilities"])]
    else:
        base = np.ravel(est._baseline_prediction).astype(np.float64)
        nodes.append(helper.make_node("Add", ["tree_sum", const("baseline", base)], ["raw"]))
        if targets == 1:
            nodes += [helper.make_node("Sigmoid", ["raw"], ["p1"]),
                      helper.make_node("Sub", [const("one", [1.0]), "p1"], ["p0"]),
                      helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1)]
        else:
            nodes.append(helper.make_node("Softmax", ["raw"], ["probabilities"], axis=1))
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(
        "probabilities", TensorProto.DOUBLE, [None, len(est.classes_)]))
    ml = [o for o in prep_onx.opset_import if o.domain == "ai.onnx.ml"]
    if ml:
        ml[0].version = 5
    else:
        prep_onx.opset_import.append(helper.make_opsetid("ai.onnx.ml", 5))
    return prep_onx


# -- the equality check -----------------------------------------------------------------------
def probe_frame(X, feeds: list[dict]):
    """Holdout rows with one column blanked at a time, and with an unknown category."""
    import numpy as np
    import pandas as pd
    base = X.head(PROBE_ROWS)
    parts = []
    for f in feeds:
        blank = base.copy()
        blank[f["name"]] = np.nan
        parts.append(blank)
        if f["type"] == "string":
            unknown = base.copy()
            unknown[f["name"]] = "never-seen-in-training"
            parts.append(unknown)
    return pd.concat(parts, ignore_index=True) if parts else base.iloc[:0]


def verify(onnx_bytes: bytes, feeds: list[dict], pipeline, X) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    probes = probe_frame(X, feeds)
    rows = pd.concat([X.reset_index(drop=True), probes], ignore_index=True)
    # the bundle's own runtime file scores it: the check covers the code that will serve
    model = onnx_scorer.OnnxModel(onnx_bytes, feeds, pipeline[-1].classes_)
    got, proba = model.score(rows, want_proba=True)
    want_proba = pipeline.predict_proba(rows)
    want = pipeline.predict(rows)
    mismatches = int((got != want).sum())
    diff = float(np.max(np.abs(proba - want_proba))) if len(rows) else 0.0
    return {"rows_checked": len(rows), "holdout_rows": len(X), "probe_rows": len(probes),
            "labels_identical": mismatches == 0, "label_mismatches": mismatches,
            "max_abs_proba_diff": diff}
