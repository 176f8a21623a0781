"""Sweeps from the Experiments pane: the dialog over the train form's selection, the sweep as
one job in a worker, and its runs grouped under the sweep in the runs tree, the best marked."""

from __future__ import annotations

import os
import threading

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QModelIndex, QSettings, Qt

from lablift.core import datasets, sweeps, training
from lablift.core.errors import LabliftError
from lablift.core.store import Store
from lablift.gui.panes import experiments as xpane
from lablift.gui.panes.experiments import job_queue
from lablift.gui.panes.experiments.sweep_form import DASK_KEY

from gui_helpers import notices, settled  # noqa: F401  (notices is a fixture)

TIMEOUT_MS = 60000


@pytest.fixture
def small(tmp_path):
    """An embedded store with one small dataset (300 rows, a binary target)."""
    rng = np.random.default_rng(3)
    n = 300
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame({"x1": x1, "x2": x2,
                          "colour": np.array(["red", "green", "blue"])[np.arange(n) % 3],
                          "y": (x1 + 0.5 * x2 + rng.normal(scale=0.8, size=n) > 0).astype(int)})
    path = tmp_path / "small.csv"
    frame.to_csv(path, index=False)
    store = Store(tmp_path / "store", user="ana")
    datasets.import_dataset(store, path, name="small")
    return store


@pytest.fixture
def pane(qtbot, small, monkeypatch):
    QSettings().remove(DASK_KEY)
    # No warm-up of every estimator module beside the sweep (seconds of contention in a
    # short test): the sweep imports what it needs.
    monkeypatch.setattr(job_queue, "warm", lambda: True)
    p = xpane.Pane(small)
    qtbot.addWidget(p)
    p.resize(1120, 740)
    p.show()
    settled(qtbot, p)
    p.set_target("y")
    p.set_algorithm("logistic_regression")
    p.cv_folds.setValue(1)  # CV off: holdout metrics rank the runs, and it is quick
    yield p
    for job in p.jobs:  # leave no worker behind
        if job.task is not None and job.task.is_running():
            job.task.cancel()
            qtbot.waitUntil(lambda t=job.task: not t.is_running(), timeout=TIMEOUT_MS)
    settled(qtbot, p)


def _open_dialog(qtbot, pane):
    qtbot.mouseClick(pane.sweep_button, Qt.MouseButton.LeftButton)
    dialog = pane.sweep_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def _run_sweep(qtbot, pane, dialog):
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    job = pane.running_job()
    assert job is not None and job.kind == "sweep" and not dialog.isVisible()
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        with qtbot.waitSignal(job.task.finished, timeout=TIMEOUT_MS):
            pass
    settled(qtbot, pane)
    return job


def _children(pane, row):
    """The sweep row at `row` and the rows of its runs shown under it (while it is open)."""
    model = pane.runs_model
    return model.index(row, 0), [model.index(r, 0) for r in model.child_rows(row)]


def test_grid_sweep_groups_its_runs_under_the_sweep_and_marks_the_best(qtbot, pane, small):
    dialog = _open_dialog(qtbot, pane)
    assert dialog.workers.value() == min(2, os.cpu_count() or 1)
    dialog.vary("C").values_edit.setText("0.1, 1")
    dialog.vary("class_weight").values_edit.setText("none, balanced")
    assert dialog.summary.text().startswith("Starts 4 runs (2 C × 2 class_weight)")
    dialog.workers.setValue(1)
    job = _run_sweep(qtbot, pane, dialog)

    result = job.result
    runs = training.list_runs(small, sweep_id=result["id"])
    assert len(runs) == 4 and all(r["status"] == "finished" for r in runs)
    assert {(r["params"]["C"], r["params"]["class_weight"]) for r in runs} == \
        {(0.1, None), (0.1, "balanced"), (1.0, None), (1.0, "balanced")}
    assert all(r["params"]["max_iter"] == 1000 for r in runs)  # the form's value, fixed
    best_id, metric = sweeps.best_run("classification", runs)
    assert result["best_run_id"] == best_id and metric == "roc_auc"

    # One top-level row: the sweep, its four runs under it, open, spanning the table.
    model, view = pane.runs_model, pane.runs_view
    head, children = _children(pane, 0)
    assert model.rowCount() == 1 + len(children)
    assert head.data().startswith(f"sweep #{result['id']} · grid · 4 runs · best roc_auc ")
    assert view.isExpanded(head) and view.isFirstColumnSpanned(0, QModelIndex())
    assert head.data(Qt.ItemDataRole.FontRole).bold()
    shown = {pane.run_at(i)["id"]: i for i in children}
    assert set(shown) == {r["id"] for r in runs}
    best = shown[best_id]
    assert best.data() == f"★ {best_id}" and best.data(Qt.ItemDataRole.FontRole).bold()
    assert best.data(Qt.ItemDataRole.ToolTipRole).startswith("best by roc_auc")
    others = [i for rid, i in shown.items() if rid != best_id]
    assert all(i.data() == str(pane.run_at(i)["id"]) and
               i.data(Qt.ItemDataRole.FontRole) is None for i in others)
    assert pane.current_run_id() == best_id  # the sweep's best is selected and shown
    assert pane.selected_run_ids() == [best_id]
    assert pane.count_label.text() == "4 runs"

    # Sorting works within the sweep; filtering keeps the sweep row over what matches.
    col = [c.key for c in pane.runs_model.columns].index("m.roc_auc")
    with qtbot.waitSignal(pane.runs_arranged, timeout=TIMEOUT_MS):  # sorted in a worker
        view.sortByColumn(col, Qt.SortOrder.DescendingOrder)
    tops = [pane.run_at(i)["m.roc_auc"] for i in _children(pane, 0)[1]]
    assert tops == sorted(tops, reverse=True)
    assert tops[0] == pane.run_record(best_id)["m.roc_auc"]
    def filtered(text):
        with qtbot.waitSignal(pane.runs_arranged, timeout=TIMEOUT_MS):  # in a worker
            pane.filter_edit.setText(text)
            pane.apply_filter()

    filtered("C=1")
    assert pane.count_label.text() == "2 of 4 runs"
    head, children = _children(pane, 0)
    assert model.rowCount() == 3 and len(children) == 2
    assert {pane.run_at(i)["fields"]["c"] for i in children} == {1.0}
    filtered("best=true")
    assert [pane.run_at(i)["id"] for i in _children(pane, 0)[1]] == [best_id]
    filtered("")

    # Collapsed stays collapsed over a reload; an open sweep stays open.
    view.collapse(model.index(0, 0))
    assert model.rowCount() == 1
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pane.reload_runs()
    assert not view.isExpanded(model.index(0, 0)) and model.rowCount() == 1
    assert view.isFirstColumnSpanned(0, QModelIndex())


def test_random_sweep_samples_the_ranges_given(qtbot, pane, small):
    dialog = _open_dialog(qtbot, pane)
    dialog.set_mode("random")
    dialog.trials.setValue(3)
    row = dialog.vary("C")
    assert row.stack.currentWidget() is not row.values_edit  # a range, not a list
    row.low_edit.setText("0.01")
    row.high_edit.setText("10")
    row.log_box.setChecked(True)
    assert dialog.summary.text().startswith("Starts 3 runs (sampling C)")
    dialog.workers.setValue(1)
    job = _run_sweep(qtbot, pane, dialog)

    result = sweeps.get_sweep(small, job.result["id"])
    assert len(result["runs"]) == 3 and result["spec"]["random"] == 3
    assert result["spec"]["space"] == {"C": {"low": 0.01, "high": 10.0, "log": True}}
    cs = [r["params"]["C"] for r in result["runs"]]
    assert all(0.01 <= c <= 10 for c in cs) and len(set(cs)) == 3
    # What was not varied is the form's value in every run.
    assert {(r["params"]["max_iter"], r["params"]["class_weight"]) for r in result["runs"]} \
        == {(1000, None)}
    head, children = _children(pane, 0)
    assert "random · 3 runs" in head.data() and len(children) == 3


def test_the_runs_show_while_the_sweep_runs_and_cancel_stops_it(qtbot, pane, small,
                                                               monkeypatch):
    gate, real = threading.Event(), training.compute_safely

    def held(prepared):  # each configuration waits until the test has looked
        gate.wait(30)
        return real(prepared)
    monkeypatch.setattr(training, "compute_safely", held)
    dialog = _open_dialog(qtbot, pane)
    dialog.vary("C").values_edit.setText("0.1, 1, 10")
    dialog.workers.setValue(1)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    job = pane.running_job()

    def shown_running():
        if not pane.runs_model.rowCount() or pane.runs_model.sweep_at(0) is None:
            return False
        head, children = _children(pane, 0)
        return len(children) == 3 and "running, 0 of 3 done" in head.data() and all(
            pane.run_at(i)["status"] == "running" for i in children)
    qtbot.waitUntil(shown_running, timeout=TIMEOUT_MS)  # recorded before the first fit
    assert pane.cancel_button.isEnabled()
    qtbot.mouseClick(pane.cancel_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        with qtbot.waitSignal(job.task.cancelled, timeout=TIMEOUT_MS):
            gate.set()
    assert job.state == "cancelled"
    (row,) = sweeps.list_sweeps(small)
    assert row["status"] == "cancelled"
    statuses = sorted(r["status"] for r in training.list_runs(small, sweep_id=row["id"]))
    assert statuses == ["cancelled", "cancelled", "finished"]
    qtbot.waitUntil(lambda: "cancelled" in pane.runs_model.index(0, 0).data())
    settled(qtbot, pane)


def test_dask_needs_a_scheduler_in_the_settings(qtbot, pane):
    QSettings().setValue(DASK_KEY, "")
    dialog = _open_dialog(qtbot, pane)
    assert not dialog.dask_radio.isEnabled() and dialog.local_radio.isChecked()
    assert "File → Settings… → Compute" in dialog.dask_radio.toolTip()
    dialog.reject()
    QSettings().setValue(DASK_KEY, "tcp://127.0.0.1:8786")
    try:
        dialog = _open_dialog(qtbot, pane)
        assert dialog.dask_radio.isEnabled() and dialog.dask_label.text() == "tcp://127.0.0.1:8786"
        dialog.dask_radio.setChecked(True)
        dialog.vary("C").values_edit.setText("0.1, 1")
        plan, errors = dialog.plan()
        assert not errors and (plan.backend, plan.scheduler) == ("dask", "tcp://127.0.0.1:8786")
        assert "on Dask at tcp://127.0.0.1:8786" in dialog.summary.text()
        assert not dialog.workers.isEnabled()
        dialog.reject()
    finally:
        QSettings().remove(DASK_KEY)


def test_invalid_values_name_the_hyperparameter_and_start_nothing(qtbot, pane, small,
                                                                  notices):
    dialog = _open_dialog(qtbot, pane)
    dialog.vary("C").values_edit.setText("0.1, lots")
    assert "parameter C of logistic_regression" in dialog.summary.text()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and pane.jobs == []
    warning = [n for n in notices if n.level == "warning"][-1]
    assert warning.title == "Cannot start the sweep" and "parameter C" in warning.text
    assert "'lots'" in warning.text

    dialog.set_mode("random")
    row = dialog.rows["C"]
    row.low_edit.setText("5")
    row.high_edit.setText("1")
    assert dialog.summary.text() == "parameter C: low 5 is above high 1"
    row.high_edit.setText("many")
    assert dialog.summary.text().startswith("C high must be a number from")
    dialog.vary("C", False)
    assert "Check Vary" in dialog.summary.text()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert pane.jobs == [] and sweeps.list_sweeps(small) == []
    assert training.list_runs(small) == []
    dialog.reject()


def test_sweeping_needs_the_analyst_role(qtbot, tmp_path, small, notices):
    small.add_user("oscar", "ops")
    pane = xpane.Pane(Store(tmp_path / "store", user="oscar"))
    qtbot.addWidget(pane)
    pane.show()
    settled(qtbot, pane)
    assert not pane.sweep_button.isEnabled()
    assert "needs the role analyst" in pane.sweep_button.toolTip()
    assert pane.open_sweep_dialog() is None and pane.sweep_dialog is None
    assert notices[-1].level == "warning" and "analyst" in notices[-1].text
    # Train and Register… are barred the same way, before the first click, with the reason
    assert not pane.train_button.isEnabled()
    assert pane.train_button.toolTip().startswith("training needs the role analyst")
    assert pane.train() is None and pane.jobs == []
    assert not pane.register_button.isEnabled()
    assert pane.register_button.toolTip().startswith("registering a model needs the role analyst")


def test_a_random_space_is_checked_and_sampled_within_it():
    space = {"C": {"low": "0.5", "high": "2", "log": True},
             "max_iter": {"low": 100, "high": 120},
             "class_weight": {"choices": ["balanced"]}}
    configs = sweeps.random_configs("logistic_regression", "classification", 20, seed=1,
                                    space=space)
    assert configs == sweeps.random_configs("logistic_regression", "classification", 20,
                                            seed=1, space=space)
    assert all(set(c) == {"C", "max_iter", "class_weight"} for c in configs)
    assert all(0.5 <= c["C"] <= 2 and isinstance(c["max_iter"], int)
               and 100 <= c["max_iter"] <= 120 and c["class_weight"] == "balanced"
               for c in configs)
    with pytest.raises(LabliftError, match="a log range needs low above 0, got 0"):
        sweeps.random_configs("ridge", "regression", 2, seed=0,
                              space={"alpha": {"low": 0, "high": 1, "log": True}})
    for bad, words in [({"C": {"low": 2, "high": 1}}, "low 2 is above high 1"),
                       ({"C": {"low": 1, "high": 1e9}}, "parameter C of logistic_regression"),
                       ({"class_weight": {"low": 1, "high": 2}}, "give choices"),
                       ({"class_weight": {"choices": ["heavy"]}}, "got 'heavy'"),
                       ({"penalty": {"choices": ["l1"]}}, "no classification parameter")]:
        with pytest.raises(LabliftError, match=words):
            sweeps.random_configs("logistic_regression", "classification", 2, seed=0,
                                  space=bad)
