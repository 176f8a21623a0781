"""The Experiments pane over 100,000 runs recorded through the core API: it opens, filters
and sorts in workers, and a run that starts and finishes changes one row of the table (the
model signals that row, never a reset); a sweep of 5,000 runs groups under one row.
Correctness, not timing: benchmarks/bench_runs_table.py measures the stalls."""

from __future__ import annotations

import random
import time

import pytest
from PySide6.QtCore import Qt

from lablift.core import datasets, run_bulk, sweeps, training
from lablift.core.store import Store
from lablift.gui.panes import experiments as xpane
from lablift.gui.panes.experiments import job_queue
from lablift.gui.tablemodels import RAW_ROLE

from gui_helpers import settled

TIMEOUT_MS = 120_000
N = 100_000
IN_SWEEP = 5_000  # of the N, recorded as runs of one sweep
ALGORITHMS = ("knn", "random_forest", "decision_tree", "gradient_boosting")


@pytest.fixture(scope="module")
def big(tmp_path_factory, sample_csv_path):
    """A store of N bulk-recorded runs (and a real two-run grid sweep that IN_SWEEP of them
    join), with the generated runs (id -> run) to check against."""
    root = tmp_path_factory.mktemp("runs100k") / "store"
    store = Store(root, user="ana")
    ds = datasets.import_dataset(store, sample_csv_path, name="loans")
    swept = sweeps.sweep(store, {"dataset_id": ds["id"], "target": "approved",
                                 "algorithm": "logistic_regression", "cv": 0},
                         grid={"C": [0.1, 1.0]}, n_jobs=1)
    rng = random.Random(13)
    runs = []
    for i in range(N):
        sweep = i < IN_SWEEP
        failed = i % 97 == 0
        runs.append({"dataset_id": ds["id"], "target": "approved", "seed": i % 11,
                     "algorithm": "logistic_regression" if sweep else ALGORITHMS[i % 4],
                     "sweep_id": swept["id"] if sweep else None,
                     "status": "failed" if failed else "finished",
                     "params": {"C": rng.choice([0.1, 1.0, 10.0])} if sweep else
                     {"max_depth": None if i % 3 == 0 else i % 7 + 1},
                     "metrics": {} if failed else {
                         "holdout": {"roc_auc": round(rng.uniform(0.5, 1.0), 4),
                                     "accuracy": round(rng.uniform(0.5, 1.0), 4)},
                         "cv": {"roc_auc": {"mean": round(rng.uniform(0.5, 1.0), 4),
                                            "std": 0.01}}},
                     "duration_s": round(rng.uniform(0.1, 60.0), 2)})
    t0 = time.perf_counter()
    ids = run_bulk.record_runs(store, runs)
    print(f"\n{N:,} runs recorded in bulk in {time.perf_counter() - t0:.1f} s")
    store.close()
    return {"root": root, "dataset": ds, "sweep": swept, "runs": dict(zip(ids, runs))}


@pytest.fixture(scope="module")
def sample_csv_path():
    from lablift.resources import SAMPLE_LOANS
    return SAMPLE_LOANS


class Signals:
    """What the runs model told its view, in order."""

    def __init__(self, model):
        self.seen: list[tuple] = []
        model.modelReset.connect(lambda: self.seen.append(("reset",)))
        model.layoutChanged.connect(lambda *_a: self.seen.append(("layout",)))
        model.rowsInserted.connect(lambda _p, a, b: self.seen.append(("inserted", a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.seen.append(("removed", a, b)))
        model.dataChanged.connect(
            lambda top, bottom, *_r: self.seen.append(("changed", top.row(), bottom.row())))

    def take(self) -> list[tuple]:
        seen, self.seen = self.seen, []
        return seen


def _column(pane, key: str) -> int:
    return [c.key for c in pane.runs_model.columns].index(key)


def _arranged(qtbot, pane, action):
    with qtbot.waitSignal(pane.runs_arranged, timeout=TIMEOUT_MS):
        action()


def test_a_hundred_thousand_runs_filter_sort_and_one_finishing_run(qtbot, big, monkeypatch):
    monkeypatch.setattr(job_queue, "warm", lambda: True)  # no estimator imports beside the test
    store = Store(big["root"], user="ana")
    pane = xpane.Pane(store)
    qtbot.addWidget(pane)
    pane.resize(1120, 740)
    pane.show()
    model = pane.runs_model
    signals = Signals(model)
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pass
    total = N + 2  # the sweep's own two runs
    sid = big["sweep"]["id"]
    # Every run outside the sweep is a row; the sweep is one row, closed (it had ended).
    assert model.rowCount() == N - IN_SWEEP + 1 and pane.count_label.text() == f"{total:,} runs"
    assert model.sweep_ids() == [sid] and not pane.runs_view.isExpanded(model.sweep_index(sid))
    head = model.sweep_index(sid).data()
    assert head.startswith(f"sweep #{sid} · grid · {IN_SWEEP + 2} runs · best roc_auc ")
    assert signals.take() == [("reset",)]
    assert pane.current_run_id() == max(big["runs"])  # the latest run, finished
    assert {"roc_auc", "accuracy", "CV roc_auc"} <= {c.title for c in model.columns}

    # Opening the sweep inserts its runs under its row; the best one is marked.
    head_row = model.sweep_index(sid).row()
    pane.runs_view.expand(model.sweep_index(sid))
    assert signals.take() == [("inserted", head_row + 1, head_row + IN_SWEEP + 2)]
    best = model.sweep(sid)["best_run_id"]
    assert model.index_of(best).data() == f"★ {best}"
    pane.runs_view.collapse(model.sweep_index(sid))
    assert signals.take() == [("removed", head_row + 1, head_row + IN_SWEEP + 2)]

    # A filter, then a sort: each computed in a worker, swapped in as one layout change.
    _arranged(qtbot, pane, lambda: (pane.filter_edit.setText("roc_auc>0.9 algorithm=knn"),
                                    pane.apply_filter()))
    expected = {rid for rid, r in big["runs"].items() if r["algorithm"] == "knn"
                and r["metrics"] and r["metrics"]["holdout"]["roc_auc"] > 0.9}
    assert model.rowCount() == len(expected) > 1000
    assert pane.count_label.text() == f"{len(expected):,} of {total:,} runs"
    col = _column(pane, "m.roc_auc")
    _arranged(qtbot, pane, lambda: pane.runs_view.sortByColumn(col, Qt.SortOrder.DescendingOrder))
    assert signals.take() == [("layout",), ("layout",)]
    shown = [model.run_id_at(r) for r in range(model.rowCount())]
    assert set(shown) == expected
    values = [model.index(r, col).data(RAW_ROLE) for r in range(model.rowCount())]
    assert values == sorted(values, reverse=True) and values[0] == max(
        big["runs"][rid]["metrics"]["holdout"]["roc_auc"] for rid in expected)
    _arranged(qtbot, pane, lambda: (pane.filter_edit.setText("C=10"), pane.apply_filter()))
    # Only the sweep's runs have C: its row alone shows, over those that match.
    assert model.rowCount() == 1 and model.sweep_at(0) == sid
    with_c = sum(r["params"].get("C") == 10.0 for r in big["runs"].values())
    assert pane.count_label.text() == f"{with_c:,} of {total:,} runs"
    _arranged(qtbot, pane, lambda: (pane.filter_edit.setText(""), pane.apply_filter()))
    _arranged(qtbot, pane, lambda: pane.runs_view.sortByColumn(0, Qt.SortOrder.DescendingOrder))
    signals.take()

    # A run starts: the reload reads it alone, and it is inserted as the first row...
    prepared = training.prepare(store, {"dataset_id": big["dataset"]["id"], "cv": 0,
                                        "target": "approved",
                                        "algorithm": "logistic_regression"})
    run_id = training.record_start(store, prepared)
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pane.reload_runs()
    assert signals.take() == [("inserted", 0, 0)]
    assert model.run_id_at(0) == run_id and model.index(0, 1).data() == "running"
    # ... and when it finishes, that row changes, in place.
    result = training.compute_safely(prepared)
    training.record_finish(store, run_id, result, 0.0)
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pane.reload_runs(select=run_id)
    assert signals.take() == [("changed", 0, 0)]
    assert model.index(0, 1).data() == "finished" and pane.current_run_id() == run_id
    assert model.record(0)["m.roc_auc"] == pytest.approx(result["metrics"]["holdout"]["roc_auc"])
    assert model.rowCount() == N - IN_SWEEP + 2

    # Sorted by a metric, a run recorded meanwhile is inserted where it sorts.
    _arranged(qtbot, pane, lambda: pane.runs_view.sortByColumn(col, Qt.SortOrder.AscendingOrder))
    signals.take()
    (late,) = run_bulk.record_runs(store, [{"dataset_id": big["dataset"]["id"],
                                            "algorithm": "knn", "target": "approved",
                                            "metrics": {"holdout": {"roc_auc": 0.0001}}}])
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pane.reload_runs()
    assert signals.take() == [("inserted", 0, 0)] and model.run_id_at(0) == late
    settled(qtbot, pane)
    pane.close()
    store.close()
