"""CLI: lablift algorithms / train / sweep / run list, show, reproduce (exit codes, JSON, errors)."""

import json
from lablift.core import audit

import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from lablift.cli import main


@pytest.fixture
def cli(store_arg, capsys):
    def run(*argv, user="admin"):
        code = main(["--store", store_arg(user), "--user", user, *map(str, argv)])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture
def data(store, cli, tmp_path):
    """breast cancer and diabetes as CSV files imported into the store."""
    frames = {"cancer": load_breast_cancer(as_frame=True).frame,
              "diabetes": load_diabetes(as_frame=True).frame}
    for name, frame in frames.items():
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        assert cli("dataset", "import", path, "--name", name)[0] == 0
    return frames


def runs_in(store):
    return store.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def _plain(features, model):
    return Pipeline([("preprocess", ColumnTransformer([("numeric", Pipeline([
        ("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), features)])),
        ("model", model)])


def test_train_json_matches_plain_sklearn_and_show_has_everything(cli, data, store):
    code, out, err = cli("train", "--dataset", "cancer", "--target", "target", "--algorithm",
                         "logistic_regression", "--set", "C=0.3", "--cv", "3", "--seed", "5",
                         "--json")
    assert code == 0, err
    run = json.loads(out)
    frame = data["cancer"]
    features = [c for c in frame.columns if c != "target"]
    X_tr, X_te, y_tr, y_te = train_test_split(frame[features], frame["target"], test_size=0.2,
                                              random_state=5, stratify=frame["target"])
    plain = _plain(features, LogisticRegression(C=0.3, max_iter=1000, random_state=5))
    plain.fit(X_tr, y_tr)
    assert run["metrics"]["holdout"]["accuracy"] == pytest.approx(
        accuracy_score(y_te, plain.predict(X_te)), abs=1e-12)
    assert run["params"]["C"] == 0.3 and run["status"] == "finished"

    code, out, _ = cli("run", "show", run["id"], "--json")
    shown = json.loads(out)
    for key in ("id", "dataset_id", "status", "params", "metrics", "spec", "artifacts",
                "environment", "created_by", "created_at", "finished_at", "duration_s",
                "predictions_sha256", "seed", "task", "algorithm", "target"):
        assert shown[key] not in (None, {}, ""), key
    assert set(shown["metrics"]["cv"]["roc_auc"]) == {"mean", "std"}
    assert set(shown["artifacts"]) == {"pipeline", "holdout", "plots"}
    assert shown["spec"]["seed"] == 5 and shown["spec"]["cv"] == 3
    assert shown["environment"]["packages"]["numpy"]
    assert shown["created_by"] == "admin"

    code, out, _ = cli("run", "show", run["id"])
    assert code == 0 and "roc_auc" in out and "environment: Python" in out

    code, out, err = cli("run", "reproduce", run["id"])
    assert code == 0 and "reproduced identically" in out, err
    code, out, _ = cli("run", "reproduce", run["id"], "--json")
    rep = json.loads(out)
    assert rep["identical"] is True and rep["run_id"] == run["id"]


def test_regression_train_text_and_run_list(cli, data):
    code, out, err = cli("train", "--dataset", "diabetes", "--target", "target", "--algorithm",
                         "random_forest", "--set", "n_estimators=30", "--set", "max_depth=4",
                         "--cv", "0", "--seed", "2")
    assert code == 0, err
    assert "regression" in out and "r2" in out and "rmse" in out
    frame = data["diabetes"]
    features = [c for c in frame.columns if c != "target"]
    X_tr, X_te, y_tr, y_te = train_test_split(frame[features], frame["target"], test_size=0.2,
                                              random_state=2)
    plain = _plain(features, RandomForestRegressor(n_estimators=30, max_depth=4, random_state=2,
                                                   max_features=None)).fit(X_tr, y_tr)
    code, out, _ = cli("run", "list", "--json")
    (run,) = json.loads(out)
    assert run["metrics"]["holdout"]["r2"] == pytest.approx(r2_score(y_te, plain.predict(X_te)),
                                                            abs=1e-9)
    assert {"id", "dataset_id", "status", "params", "metrics"} <= set(run)
    assert json.loads(cli("run", "list", "--json", "--status", "failed")[1]) == []
    assert len(json.loads(cli("run", "list", "--json", "--dataset", "diabetes")[1])) == 1
    assert json.loads(cli("run", "list", "--json", "--dataset", "cancer")[1]) == []
    code, out, _ = cli("run", "list")
    assert "random_forest" in out and "r2" in out


BAD = [
    (["--dataset", "nosuch", "--target", "target"], "dataset 'nosuch' not found"),
    (["--dataset", "cancer", "--target", "tagret"], "tagret"),
    (["--dataset", "cancer", "--target", "target", "--features", "mean radius,radius"],
     "feature 'radius'"),
    (["--dataset", "cancer", "--target", "target", "--sensitive", "gender"], "gender"),
    (["--dataset", "cancer", "--target", "target", "--test-size", "0"], "test size"),
    (["--dataset", "cancer", "--target", "target", "--cv", "500"], "500-fold"),
    (["--dataset", "cancer", "--target", "target", "--set", "n_estimators=abc"],
     "parameter n_estimators of random_forest must be an integer from 1 to 5000, got 'abc'"),
    (["--dataset", "cancer", "--target", "target", "--set", "n_estimators=0"], "from 1 to 5000"),
    (["--dataset", "cancer", "--target", "target", "--set", "n_estimators"], "PARAM=VALUE"),
    (["--dataset", "cancer", "--target", "target", "--algorithm", "xgboost"], "xgboost"),
    (["--dataset", "diabetes", "--target", "target", "--algorithm", "logistic_regression"],
     "does not do regression"),
]


@pytest.mark.parametrize("argv,words", BAD, ids=[w for _, w in BAD])
def test_bad_train_input_one_error_line_no_run(cli, data, store, argv, words):
    code, out, err = cli("train", *argv)
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert "Traceback" not in err
    assert runs_in(store) == 0


def test_bad_targets_one_class_all_missing_too_few(cli, store, tmp_path):
    path = tmp_path / "odd.csv"
    rows = ["x,const,empty,rare"] + [f"{i},k,,{'b' if i < 2 else 'a'}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    assert cli("dataset", "import", path, "--name", "odd")[0] == 0
    for target, words in [("const", "one class"), ("empty", "missing in every row"),
                          ("rare", "class 'b'")]:
        code, _, err = cli("train", "--dataset", "odd", "--target", target, "--cv", "3")
        assert code == 1 and words in err and len(err.strip().splitlines()) == 1
    assert runs_in(store) == 0


def test_failed_run_exit_1_and_recorded(cli, data, store):
    code, _, err = cli("train", "--dataset", "cancer", "--target", "target", "--algorithm",
                       "knn", "--set", "n_neighbors=9000", "--cv", "3")
    assert code == 1 and err.startswith("error: run 1 failed:") and "n_neighbors" in err
    run = json.loads(cli("run", "show", "1", "--json")[1])
    assert run["status"] == "failed" and "n_neighbors" in run["error"]


def test_role_needed_to_train(cli, data, store):
    store.add_user("rev", "reviewer")
    code, _, err = cli("train", "--dataset", "cancer", "--target", "target", user="rev")
    assert code == 1 and "analyst" in err and runs_in(store) == 0


def test_sweep_grid_and_random_cli(cli, data, store):
    code, out, err = cli("sweep", "--dataset", "cancer", "--target", "target", "--algorithm",
                         "decision_tree", "--grid", "max_depth=1,3", "min_samples_leaf=1,10",
                         "--cv", "3", "--jobs", "1", "--json")
    assert code == 0, err
    sw = json.loads(out)
    assert len(sw["runs"]) == 4 and sw["best_run_id"] in {r["id"] for r in sw["runs"]}
    best = max(sw["runs"], key=lambda r: r["metrics"]["cv"]["roc_auc"]["mean"])
    assert sw["best_run_id"] == best["id"]
    code, out, err = cli("sweep", "--dataset", "diabetes", "--target", "target", "--algorithm",
                         "ridge", "--random", "2", "--cv", "0", "--jobs", "1")
    assert code == 0 and "best run" in out and "r2" in out, err
    assert runs_in(store) == 6
    code, _, err = cli("sweep", "--dataset", "cancer", "--target", "target", "--algorithm",
                       "decision_tree", "--grid", "max_depth=1,deep")
    assert code == 1 and "parameter max_depth of decision_tree" in err and runs_in(store) == 6


def test_algorithms_listing(cli, store):
    code, out, _ = cli("algorithms", "--json")
    algos = {a["name"]: a for a in json.loads(out)}
    assert algos["random_forest"]["tasks"] == ["classification", "regression"]
    names = [p["name"] for p in algos["random_forest"]["hyperparameters"]["classification"]]
    assert "n_estimators" in names
    code, out, _ = cli("algorithms")
    assert "n_estimators: an integer from 1 to 5000" in out


def test_reproduce_reports_change_exit_1(cli, data, store):
    assert cli("train", "--dataset", "cancer", "--target", "target", "--algorithm",
               "decision_tree", "--cv", "0")[0] == 0
    run = json.loads(cli("run", "show", "1", "--json")[1])
    env = run["environment"]
    env["packages"]["numpy"] = "1.0.0"
    with store.transaction():
        store.update("runs", {"id": 1}, {"environment": env, "predictions_sha256": "f" * 64})
        audit.append(store, "test.setup", "run:1", {})  # as if recorded so
    code, _, err = cli("run", "reproduce", "1")
    assert code == 1 and err.startswith("error: run 1 did not reproduce") and "numpy 1.0.0" in err
    code, _, err = cli("run", "show", "99")
    assert code == 1 and "run 99 not found" in err
