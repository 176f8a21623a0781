"""Training core: metrics match plain scikit-learn, runs are recorded whole, bad specs refused."""

import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from lablift.core import audit, datasets, inputs, training
from lablift.core.errors import Cancelled, LabliftError, NotFound
from lablift.core.store import Store


@pytest.fixture
def cancer(store, tmp_path):
    data = load_breast_cancer(as_frame=True).frame
    path = tmp_path / "cancer.csv"
    data.to_csv(path, index=False)
    datasets.import_dataset(store, path, name="cancer")
    return data


@pytest.fixture
def diabetes(store, tmp_path):
    data = load_diabetes(as_frame=True).frame
    path = tmp_path / "diabetes.csv"
    data.to_csv(path, index=False)
    datasets.import_dataset(store, path, name="diabetes")
    return data


def _plain_pipeline(features, model):
    prep = ColumnTransformer([("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                                                    ("scale", StandardScaler())]), features)])
    return Pipeline([("preprocess", prep), ("model", model)])


def run_count(store):
    return store.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def test_classification_matches_plain_sklearn(store, cancer):
    run = training.train(store, {"dataset": "cancer", "target": "target",
                                 "algorithm": "logistic_regression", "params": {"C": 0.5},
                                 "cv": 3, "seed": 7})
    assert run["status"] == "finished" and run["task"] == "classification"
    features = [c for c in cancer.columns if c != "target"]
    X, y = cancer[features], cancer["target"]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=7, stratify=y)
    plain = _plain_pipeline(features, LogisticRegression(C=0.5, max_iter=1000, random_state=7))
    plain.fit(X_tr, y_tr)
    hold = run["metrics"]["holdout"]
    assert hold["accuracy"] == pytest.approx(accuracy_score(y_te, plain.predict(X_te)), abs=1e-12)
    assert hold["roc_auc"] == pytest.approx(
        roc_auc_score(y_te, plain.predict_proba(X_te)[:, 1]), abs=1e-9)
    cv = cross_val_score(plain, X_tr, y_tr, cv=StratifiedKFold(3, shuffle=True, random_state=7))
    assert run["metrics"]["cv"]["accuracy"]["mean"] == pytest.approx(cv.mean(), abs=1e-12)
    assert set(hold) == {"accuracy", "balanced_accuracy", "precision", "recall", "f1",
                         "roc_auc", "log_loss"}
    # the holdout artifact holds exactly the plain split's rows, and the pipeline replays it
    holdout = training.load_holdout(store, run)
    assert sorted(holdout["row"]) == sorted(X_te.index)
    assert {"row", "y_true", "y_pred", "proba_0", "proba_1"} <= set(holdout.columns)
    pipe = training.load_pipeline(store, run)
    Xh, yh = training.holdout_frame(store, run)
    assert (pipe.predict(Xh) == holdout["y_pred"].to_numpy()).all()
    Xt, yt = training.training_frame(store, run)
    assert len(Xt) + len(Xh) == len(cancer) and not set(Xt.index) & set(Xh.index)


def test_regression_matches_plain_sklearn(store, diabetes):
    run = training.train(store, {"dataset": "diabetes", "target": "target", "algorithm": "ridge",
                                 "params": {"alpha": 2.0}, "cv": 0, "seed": 3})
    assert run["task"] == "regression" and run["metrics"]["cv"] == {}
    features = [c for c in diabetes.columns if c != "target"]
    X_tr, X_te, y_tr, y_te = train_test_split(diabetes[features], diabetes["target"],
                                              test_size=0.2, random_state=3)
    plain = _plain_pipeline(features, Ridge(alpha=2.0)).fit(X_tr, y_tr)
    assert run["metrics"]["holdout"]["r2"] == pytest.approx(r2_score(y_te, plain.predict(X_te)),
                                                            abs=1e-9)
    assert set(run["metrics"]["holdout"]) == {"r2", "mae", "rmse", "mape"}
    plots = training.load_plots(store, run)
    assert len(plots["residuals"]["actual"]) == len(X_te)
    assert {i["feature"] for i in plots["importance"]} == set(features)


def test_run_records_everything(store, cancer):
    seen = []
    run = training.train(store, {"dataset": "cancer:1", "target": "target",
                                 "algorithm": "decision_tree", "cv": 3,
                                 "features": ["mean radius", "mean texture", "worst area"]},
                         progress=lambda f, m: seen.append((f, m)))
    assert [m for _, m in seen if "fold" in m] == [f"Cross-validation fold {k} of 3"
                                                   for k in (1, 2, 3)]
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    assert run["spec"]["classes"] == [0, 1] and run["spec"]["features"][2] == "worst area"
    assert run["params"]["random_state"] == 0 and "max_depth" in run["params"]
    assert set(run["artifacts"]) == {"pipeline", "holdout", "plots"}
    env = run["environment"]
    assert env["packages"]["scikit-learn"] and env["python"] and env["lablift"]
    assert len(run["predictions_sha256"]) == 64 and run["duration_s"] > 0
    assert run["host"] and run["pid"] == os.getpid() and run["created_by"] == "admin"
    plots = training.load_plots(store, run)
    cm = np.array(plots["confusion_matrix"]["matrix"])
    assert cm.sum() == len(training.load_holdout(store, run))
    assert plots["roc"][0]["fpr"][0] == 0.0 and plots["roc"][0]["tpr"][-1] == 1.0
    assert plots["pr"] and len(plots["importance"]) == 3
    entry = store.query_one("SELECT * FROM audit_log WHERE action = 'run.finish'")
    assert entry["entity"] == f"run:{run['id']}"
    # pipeline artifact is plain pickle of scikit-learn objects (no lablift import needed)
    raw = store.artifacts.read_bytes(run["artifacts"]["pipeline"])
    assert b"lablift" not in raw
    assert pickle.loads(raw).predict(training.holdout_frame(store, run)[0]).shape


def test_multiclass_and_string_target(store, tmp_path):
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame({"x": rng.normal(size=n), "colour": rng.choice(["red", "blue"], n)})
    frame["kind"] = np.where(frame.x > 0.5, "high", np.where(frame.x < -0.5, "low", "mid"))
    path = tmp_path / "multi.csv"
    frame.to_csv(path, index=False)
    datasets.import_dataset(store, path, name="multi")
    run = training.train(store, {"dataset": "multi", "target": "kind", "algorithm": "knn",
                                 "cv": 3})
    assert run["spec"]["classes"] == ["high", "low", "mid"]
    assert run["metrics"]["holdout"]["accuracy"] > 0.8
    assert run["metrics"]["holdout"]["roc_auc"] is not None
    assert {"proba_high", "proba_low", "proba_mid"} <= set(training.load_holdout(store, run))
    schema = inputs.input_schema(store, run)
    by = {i["name"]: i for i in schema["inputs"]}
    assert by["colour"]["categories"] == ["blue", "red"]
    X_train, _ = training.training_frame(store, run)
    assert by["x"]["min"] == pytest.approx(X_train["x"].min())
    assert schema["classes"] == ["high", "low", "mid"] and schema["target"] == "kind"


def _bad(store, spec, *words):
    before = run_count(store)
    with pytest.raises(LabliftError) as info:
        training.train(store, spec)
    for w in words:
        assert w in str(info.value)
    assert run_count(store) == before
    return str(info.value)


def test_bad_specs_refused_before_any_write(store, cancer, tmp_path):
    base = {"dataset": "cancer", "target": "target", "algorithm": "logistic_regression", "cv": 3}
    with pytest.raises(NotFound):
        training.train(store, {**base, "dataset": "nope"})
    _bad(store, {**base, "target": "targt"}, "targt", "did you mean target")
    _bad(store, {**base, "features": ["mean radius", "mean radios"]}, "mean radios",
         "mean radius")
    _bad(store, {**base, "sensitive": "gender"}, "sensitive column 'gender'")
    _bad(store, {**base, "test_size": 0}, "test size", "between 0 and 1")
    _bad(store, {**base, "test_size": 1.0}, "test size")
    _bad(store, {**base, "cv": 400}, "too few rows for 400-fold")
    _bad(store, {**base, "params": {"C": -1}}, "parameter C of logistic_regression")
    _bad(store, {**base, "params": {"max_iter": "abc"}}, "must be an integer")
    _bad(store, {**base, "algorithm": "random_forrest"}, "did you mean random_forest")
    _bad(store, {**base, "algorithm": "linear_regression"}, "does not do classification")
    _bad(store, {**base, "features": ["target"]}, "is the target")

    frame = pd.DataFrame({"x": range(30), "one": ["a"] * 30, "none": [None] * 30,
                          "few": ["p"] * 27 + ["q"] * 3, "label": ["u", "v"] * 15})
    path = tmp_path / "odd.csv"
    frame.to_csv(path, index=False)
    datasets.import_dataset(store, path, name="odd")
    odd = {"dataset": "odd", "cv": 3, "algorithm": "decision_tree"}
    _bad(store, {**odd, "target": "one"}, "one class", "'a'")
    _bad(store, {**odd, "target": "none"}, "missing in every row")
    _bad(store, {**odd, "target": "few", "cv": 5}, "class 'q'", "needs at least 5")
    _bad(store, {**odd, "target": "label", "task": "regression"}, "needs a numeric target")


def test_cancel_records_cancelled(store, cancer):
    calls = []

    def cancelled():
        return len(calls) > 0

    with pytest.raises(Cancelled):
        training.train(store, {"dataset": "cancer", "target": "target", "cv": 3,
                               "algorithm": "decision_tree"},
                       progress=lambda f, m: calls.append(m), cancelled=cancelled)
    (run,) = training.list_runs(store)
    assert run["status"] == "cancelled"
    assert training.get_run(store, run["id"])["artifacts"] == {}
    with pytest.raises(LabliftError):
        training.load_pipeline(store, run["id"])


def test_failing_estimator_recorded_failed(store, cancer):
    # more neighbours than training rows: scikit-learn raises inside the first fold
    with pytest.raises(LabliftError) as info:
        training.train(store, {"dataset": "cancer", "target": "target", "algorithm": "knn",
                               "params": {"n_neighbors": 5000}, "cv": 3})
    (run,) = training.list_runs(store, full=True)
    assert run["status"] == "failed" and "n_neighbors" in run["error"]
    assert f"run {run['id']} failed" in str(info.value)
    assert store.query_one("SELECT details FROM audit_log WHERE action='run.finish'")


def test_dead_process_run_marked_interrupted(store, store_arg, cancer):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket
    with store.transaction():
        store.insert("runs", {"dataset_id": 1, "status": "running", "spec": {}, "params": {},
                              "created_by": "admin", "created_at": "2026-01-01T00:00:00",
                              "host": socket.gethostname(), "pid": dead.pid})
        audit.append(store, "run.start", "run:2", {})
    again = Store(store_arg("admin"), user="admin")
    (run,) = training.list_runs(again, full=True)
    assert run["status"] == "interrupted" and "ended" in run["error"]
    again.close()


@pytest.mark.slow
def test_killed_training_process_leaves_interrupted_run(store, store_arg, cancer):
    code = ("from lablift.core.store import Store; from lablift.core import training; "
            f"s = Store({store_arg('admin')!r}, user='admin'); "
            "training.train(s, {'dataset': 'cancer', 'target': 'target', 'cv': 5, "
            "'algorithm': 'random_forest', 'params': {'n_estimators': 3000}})")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 30
    while time.time() < deadline and not training.list_runs(store, status="running"):
        time.sleep(0.05)
    assert training.list_runs(store, status="running"), "the child never started its run"
    proc.kill()
    proc.wait()
    again = Store(store_arg("admin"), user="admin")
    (run,) = training.list_runs(again)
    assert run["status"] == "interrupted"
    again.close()


@pytest.mark.embedded_only("corrupts the dataset's artifact file (a team store's blobs: test_team_store.py)")
def test_reproduce_identical_and_data_change(store, cancer):
    run = training.train(store, {"dataset": "cancer", "target": "target", "cv": 0,
                                 "algorithm": "random_forest", "params": {"n_estimators": 20}})
    res = training.reproduce(store, run["id"])
    assert res["identical"] and res["changes"] == []
    new = training.get_run(store, res["new_run_id"])
    assert new["reproduces"] == run["id"]
    assert new["predictions_sha256"] == run["predictions_sha256"]
    # corrupt the dataset artifact: reproduce names the data, trains nothing
    ds = datasets.get(store, run["dataset_id"])
    path = store.artifacts.path(ds["artifact"])
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    before = run_count(store)
    res = training.reproduce(store, run["id"])
    assert not res["identical"] and res["changes"][0].startswith("data:")
    assert run_count(store) == before


def test_reproduce_names_package_change(store, cancer):
    run = training.train(store, {"dataset": "cancer", "target": "target", "cv": 0,
                                 "algorithm": "logistic_regression"})
    env = dict(run["environment"])
    env["packages"] = {**env["packages"], "scikit-learn": "0.24.2"}
    with store.transaction():
        store.update("runs", {"id": run["id"]}, {"environment": env,
                                                 "predictions_sha256": "0" * 64})
        audit.append(store, "test.setup", f"run:{run['id']}", {})  # as if recorded so
    res = training.reproduce(store, run["id"])
    assert not res["identical"]
    assert any(c.startswith("scikit-learn 0.24.2 ->") for c in res["changes"])


def test_role_required(make_store, cancer):
    make_store("admin").add_user("rita", "reviewer")
    with pytest.raises(LabliftError, match="analyst"):
        training.train(make_store("rita"), {"dataset": "cancer", "target": "target"})


@pytest.mark.parametrize("k", [2, 3])
def test_metrics_equal_sklearn(k):
    from sklearn import metrics as m

    from lablift.core import evaluation
    rng = np.random.default_rng(k)
    classes = ["a", "b", "c"][:k]
    y = rng.choice(classes, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.choice(classes, 300))
    proba = rng.random((300, k))
    proba[np.arange(300), np.searchsorted(classes, y)] += 0.5  # informative, with ties
    proba = np.round(proba / proba.sum(axis=1, keepdims=True), 2)
    proba /= proba.sum(axis=1, keepdims=True)
    ours = evaluation.classification_metrics(y, pred, proba, classes)
    avg = dict(average="binary", pos_label="b") if k == 2 else dict(average="macro")
    ref = {"accuracy": m.accuracy_score(y, pred),
           "balanced_accuracy": m.balanced_accuracy_score(y, pred),
           "precision": m.precision_score(y, pred, **avg), "recall": m.recall_score(y, pred, **avg),
           "f1": m.f1_score(y, pred, **avg),
           "roc_auc": m.roc_auc_score(y == "b", proba[:, 1]) if k == 2 else
           m.roc_auc_score(y, proba, multi_class="ovr", labels=classes),
           "log_loss": m.log_loss(y, proba, labels=classes)}
    for name, value in ref.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name
    # a class never predicted: zero_division=0 as sklearn
    never = evaluation.classification_metrics(y, np.full(300, "a"), None, classes)
    assert never["precision"] == pytest.approx(
        m.precision_score(y, np.full(300, "a"), zero_division=0, **avg), abs=1e-12)
    # a label the model never saw (monitoring batch) does not break the metrics
    assert evaluation.classification_metrics(np.append(y, "zz"), np.append(pred, "a"),
                                             None, classes)["accuracy"] < 1


def test_permutation_importance_finds_the_signal():
    from sklearn.inspection import permutation_importance as sk_pi

    from lablift.core import catalogue, evaluation
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=600), "noise": rng.normal(size=600)})
    y = pd.Series(X["signal"] * 3 + rng.normal(scale=0.1, size=600))
    profile = {"rows": 600, "columns": [{"name": c, "dtype": "double", "kind": "numeric"}
                                        for c in X.columns]}
    pipe = catalogue.build_pipeline(profile, list(X.columns), "regression", "ridge", {}, 0)
    pipe.fit(X, y)
    ours = {r["feature"]: r["mean"] for r in
            evaluation.permutation_importance(pipe, X, y, "regression", 0)}
    ref = sk_pi(pipe, X, y, n_repeats=3, random_state=0, scoring="r2")
    assert ours["signal"] == pytest.approx(ref.importances_mean[0], rel=0.1)
    assert abs(ours["noise"]) < 0.01 and abs(ref.importances_mean[1]) < 0.01


def test_listing_decodes_what_json_wrote_nan_and_huge_numbers_included():
    import json
    from lablift.core.training import _loads_json
    for value in ({"roc_auc": float("nan"), "n": 2 ** 70}, {"cv": {"mean": 0.1 + 0.2}},
                  {"x": float("inf"), "s": "é\u2028"}):
        text = json.dumps(value)
        got, want = _loads_json(text), json.loads(text)
        assert json.dumps(got) == json.dumps(want) == text


def test_a_run_marked_interrupted_is_not_finished_later(store, cancer):
    """Another process judged the run's process dead (same host name, another machine):
    the verdict stands, the late result is refused in one line, and the chain verifies."""
    from lablift.core.errors import LabliftError
    from lablift.core.store.sql import repository
    p = training.prepare(store, {"dataset": "cancer", "target": "target", "cv": 0,
                                 "algorithm": "decision_tree"})
    run_id = training.record_start(store, p)
    with store.transaction() as conn:
        repository("recovery").INTERRUPT_RUN.execute(conn, store.engine, {
            "id": run_id, "finished_at": "t", "error": "ended"})
        audit.append(store, "run.interrupted", f"run:{run_id}", {})
    result = training.compute(p)
    with pytest.raises(LabliftError, match="no longer running"):
        training.record_finish(store, run_id, result, 0.0)
    assert training.get_run(store, run_id)["status"] == "interrupted"
    assert audit.verify(store).ok
