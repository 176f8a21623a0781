"""Sweeps: grid and random search record one run per configuration and mark the best."""

import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from lablift.core import audit, datasets, sweeps, training
from lablift.core.store import Store
from lablift.core.errors import LabliftError


@pytest.fixture
def cancer(store, tmp_path):
    # a slice keeps each configuration fast
    data = load_breast_cancer(as_frame=True).frame.iloc[:, list(range(8)) + [30]]
    path = tmp_path / "cancer.csv"
    data.to_csv(path, index=False)
    datasets.import_dataset(store, path, name="cancer")


@pytest.fixture
def diabetes(store, tmp_path):
    path = tmp_path / "diabetes.csv"
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    datasets.import_dataset(store, path, name="diabetes")


SPEC = {"dataset": "cancer", "target": "target", "algorithm": "decision_tree", "cv": 3}


def test_grid_records_each_configuration_and_best(store, cancer):
    seen = []
    result = sweeps.sweep(store, SPEC, grid={"max_depth": ["1", "4"],
                                             "min_samples_leaf": [1, 20]},
                          n_jobs=2, progress=lambda f, m: seen.append(f))
    runs = result["runs"]
    assert result["status"] == "finished" and len(runs) == 4
    assert {(r["params"]["max_depth"], r["params"]["min_samples_leaf"]) for r in runs} == \
        {(1, 1), (1, 20), (4, 1), (4, 20)}
    assert all(r["status"] == "finished" and r["sweep_id"] == result["id"] for r in runs)
    best = max(runs, key=lambda r: r["metrics"]["cv"]["roc_auc"]["mean"])
    assert result["best_run_id"] == best["id"] and result["metric"] == "roc_auc"
    assert seen[-1] == 1.0 and len(seen) == 4
    # each run is a whole run: its pipeline loads and it has its own duration
    full = training.get_run(store, best["id"])
    assert training.load_pipeline(store, full).predict(training.holdout_frame(store, full)[0]).size
    assert all(r["duration_s"] < 30 for r in runs)
    assert store.query_one("SELECT status FROM sweeps WHERE id = ?",
                           (result["id"],))["status"] == "finished"


def test_random_search_is_seeded_and_regression_best_by_r2(store, diabetes):
    a = sweeps.random_configs("hist_gradient_boosting", "regression", 5, seed=4)
    assert a == sweeps.random_configs("hist_gradient_boosting", "regression", 5, seed=4)
    assert a != sweeps.random_configs("hist_gradient_boosting", "regression", 5, seed=5)
    for cfg in a:
        assert 0.01 <= cfg["learning_rate"] <= 0.5 and 20 <= cfg["max_iter"] <= 300
    result = sweeps.sweep(store, {"dataset": "diabetes", "target": "target",
                                  "algorithm": "ridge", "cv": 0, "seed": 1},
                          random=3, n_jobs=1)
    assert len(result["runs"]) == 3 and result["metric"] == "r2"
    best = max(result["runs"], key=lambda r: r["metrics"]["holdout"]["r2"])
    assert result["best_run_id"] == best["id"]
    alphas = [r["params"]["alpha"] for r in result["runs"]]
    assert len(set(alphas)) == 3


def test_bad_sweeps_write_nothing(store, cancer):
    def nothing_written():
        return (store.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0 and
                store.execute("SELECT COUNT(*) FROM sweeps").fetchone()[0] == 0)

    for kwargs, words in [
        ({"grid": {"max_depth": ["2", "zero"]}}, "parameter max_depth of decision_tree"),
        ({"grid": {"depth": ["2"]}}, "did you mean max_depth"),
        ({"grid": {"max_depth": ["2"]}, "random": 3}, "either a grid"),
        ({}, "either a grid"),
        ({"random": 3, "backend": "dask"}, "--scheduler"),
    ]:
        with pytest.raises(LabliftError, match=words):
            sweeps.sweep(store, SPEC, **kwargs)
    with pytest.raises(LabliftError, match="targt"):
        sweeps.sweep(store, {**SPEC, "target": "targt"}, random=2)
    with pytest.raises(LabliftError, match="PARAM=V1,V2"):
        sweeps.parse_grid(["max_depth"])
    assert sweeps.parse_grid(["max_depth=2,none", "min_samples_leaf=1"]) == \
        {"max_depth": ["2", "none"], "min_samples_leaf": ["1"]}
    assert nothing_written()


def test_failing_configuration_does_not_sink_the_sweep(store, cancer):
    result = sweeps.sweep(store, {**SPEC, "algorithm": "knn"},
                          grid={"n_neighbors": ["3", "5000"]}, n_jobs=1)
    by_k = {r["params"].get("n_neighbors"): r for r in result["runs"]}
    statuses = sorted(r["status"] for r in result["runs"])
    assert statuses == ["failed", "finished"]
    failed = next(r for r in result["runs"] if r["status"] == "failed")
    assert "n_neighbors" in failed["error"]
    assert result["best_run_id"] == by_k[3]["id"]


def test_cancel_stops_the_sweep(store, cancer):
    from lablift.core.errors import Cancelled
    with pytest.raises(Cancelled):
        sweeps.sweep(store, SPEC, grid={"max_depth": ["1", "2", "3", "4"]}, n_jobs=1,
                     cancelled=lambda: True)
    statuses = [r["status"] for r in training.list_runs(store)]
    assert statuses.count("finished") == 1 and statuses.count("cancelled") == 3
    assert store.query_one("SELECT status FROM sweeps")["status"] == "cancelled"


@pytest.mark.slow
def test_dask_backend_with_local_cluster(store, cancer):
    distributed = pytest.importorskip("distributed")
    # processes=False needs protocol="tcp": its default in-process transport has no address
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        result = sweeps.sweep(store, SPEC, grid={"max_depth": ["2", "3"]}, backend="dask",
                              scheduler=cluster.scheduler_address)
    assert result["backend"] == "dask" and result["status"] == "finished"
    assert [r["status"] for r in result["runs"]] == ["finished", "finished"]
    assert result["best_run_id"] in {r["id"] for r in result["runs"]}


def test_sweep_left_by_a_dead_process_reads_interrupted(store, store_arg, cancer):
    import subprocess
    import sys
    result = sweeps.sweep(store, SPEC, grid={"max_depth": ["1", "2"]}, n_jobs=1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with store.transaction():  # what a killed sweep leaves: itself and a run still running
        store.execute("UPDATE sweeps SET status = 'running', pid = ? WHERE id = ?",
                      (dead.pid, result["id"]))
        store.execute("UPDATE runs SET status = 'running', pid = ? WHERE id = ?",
                      (dead.pid, result["runs"][0]["id"]))
        audit.append(store, "test.setup", f"sweep:{result['id']}", {})
    again = Store(store_arg("admin"), user="admin")
    assert sweeps.get_sweep(again, result["id"])["status"] == "interrupted"
    assert sweeps.list_sweeps(again)[0]["status"] == "interrupted"
    assert training.get_run(again, result["runs"][0]["id"])["status"] == "interrupted"
    actions = [e["action"] for e in audit.entries(again, limit=3)]
    assert "sweep.interrupted" in actions or "run.interrupted" in actions
    assert audit.verify(again).ok
