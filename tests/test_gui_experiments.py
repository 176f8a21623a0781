"""Experiments pane: real widgets offscreen, real training through core in workers."""

from __future__ import annotations

import json
import os
import re
import sys
import threading

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QInputDialog, QSpinBox

from lablift.core import audit, catalogue, datasets, training
from lablift.core.store import utcnow
from lablift.gui.experiment_charts import plot_compare, plot_run
from lablift.gui.hyperform import HyperparameterForm
from lablift.gui.main_window import MainWindow
from lablift.gui.panes import experiments as xpane
from lablift.gui.tablemodels import RAW_ROLE

from gui_helpers import notices  # noqa: F401  (a fixture: what the pane tells its user)

TIMEOUT_MS = 60000


@pytest.fixture
def loans(store, sample_csv):
    return datasets.import_dataset(store, sample_csv, name="sample_loans")


def _make_pane(qtbot, store):
    p = xpane.Pane(store)
    qtbot.addWidget(p)
    p.resize(1120, 740)
    p.show()
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=TIMEOUT_MS)
    return p


@pytest.fixture
def pane(qtbot, store, loans):
    p = _make_pane(qtbot, store)
    yield p
    for job in p.jobs:  # leave no worker behind for the next test
        if job.task is not None and job.task.is_running():
            job.task.cancel()
            qtbot.waitUntil(lambda t=job.task: not t.is_running(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=TIMEOUT_MS)


def _quick_form(pane, algorithm="logistic_regression", cv=2):
    pane.set_target("approved")
    pane.set_algorithm(algorithm)
    pane.cv_folds.setValue(cv)


def _wait_loaded(qtbot, pane):
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pass


def _train_core(store, loans, algorithm, cv=0, params=None, target="approved"):
    return training.train(store, {"dataset_id": loans["id"], "target": target,
                                  "algorithm": algorithm, "cv": cv, "params": params or {}})


# -- training from the pane -----------------------------------------------------------------

def test_form_defaults_follow_the_dataset_profile(pane, loans):
    assert pane.pages.currentWidget() is pane.splitter
    assert pane.dataset_combo.currentText() == "sample_loans:1"
    pane.set_target("approved")
    assert pane.task_combo.currentText() == "auto (classification)"
    features = pane.checked_features()
    assert "approved" not in features  # the target is never offered as a feature
    assert "applicant_id" not in features  # id-like: off by default
    assert {"age", "income", "purpose", "has_cosigner"} <= set(features)
    # Algorithms are filtered by the task; regression-only ones are not offered.
    offered = [pane.algorithm_combo.itemData(i) for i in range(pane.algorithm_combo.count())]
    assert "linear_regression" not in offered and "logistic_regression" in offered
    pane.set_target("income")
    assert pane.task_combo.currentText() == "auto (regression)"
    offered = [pane.algorithm_combo.itemData(i) for i in range(pane.algorithm_combo.count())]
    assert "linear_regression" in offered and "logistic_regression" not in offered
    # Overriding the task changes the catalogue offered.
    pane.task_combo.setCurrentIndex(pane.task_combo.findData("classification"))
    assert pane.algorithm_combo.findData("logistic_regression") >= 0


def test_train_from_the_pane_off_the_gui_thread(qtbot, pane, store, monkeypatch):
    threads, niceness = [], []
    real_train = training.train

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        if sys.platform.startswith("linux"):  # the training thread yields to the GUI thread
            niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real_train(*args, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    _quick_form(pane)
    qtbot.mouseClick(pane.train_button, Qt.MouseButton.LeftButton)
    job = pane.running_job()
    assert job is not None and job.kind == "train"
    progress = []
    job.task.progress.connect(lambda f, m: progress.append((f, m)))
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        with qtbot.waitSignal(job.task.finished, timeout=TIMEOUT_MS):
            pass

    assert threads and threads[0] is not threading.main_thread()  # trained in a worker
    assert all(n >= 10 for n in niceness)
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("fold 2 of 2" in m for _, m in progress)
    runs = training.list_runs(store)
    assert [(r["status"], r["algorithm"]) for r in runs] == [("finished", "logistic_regression")]
    run = training.get_run(store, runs[0]["id"])
    assert run["spec"]["cv"] == 2 and run["spec"]["features"] == pane.checked_features()
    # The run appears in the table, selected, with its detail and plots.
    rec = pane.runs_model.record(0)
    assert rec["id"] == run["id"] and rec["status"] == "finished"
    assert rec["m.roc_auc"] == pytest.approx(run["metrics"]["holdout"]["roc_auc"])
    assert pane.selected_run_ids() == [run["id"]] and pane.current_run_id() == run["id"]
    assert f"Run {run['id']}" in pane.detail_header.text()
    assert pane.metrics_model.rowCount() == 7
    titles = [ax.get_title(loc="left") for ax in pane.detail_canvas.figure.axes]
    assert titles[:3] == ["Confusion matrix (holdout)", "ROC (holdout)",
                          "Precision-recall (holdout)"]
    assert titles[3].startswith("Feature importance")
    log = pane.log.toPlainText().splitlines()
    assert any(re.match(r"\d\d:\d\d:\d\d  .*Cross-validation fold 1 of 2", line) for line in log)
    assert job.state == "finished" and "[finished]" in job.item.text()
    assert pane.runs_stack.currentWidget() is pane.runs_view


def test_cancel_right_after_start_records_a_cancelled_run(qtbot, pane, store):
    _quick_form(pane, "random_forest", cv=5)
    job = pane.train()
    assert job is not None and job.state == "running"
    assert pane.cancel_button.isEnabled()
    qtbot.mouseClick(pane.cancel_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(job.task.cancelled, timeout=TIMEOUT_MS):
        pass
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    statuses = [r["status"] for r in training.list_runs(store)]
    assert statuses == ["cancelled"]  # recorded as cancelled, no finished run
    assert job.state == "cancelled" and not pane.cancel_button.isEnabled()
    assert "Cancelled" in pane.log.toPlainText()


def test_closing_the_window_cancels_training_and_drops_the_queue(qtbot, store, loans):
    w = MainWindow(store, restore_state=False)
    qtbot.addWidget(w)
    w.show()
    pane = w.select_pane("experiments")
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    _quick_form(pane, "random_forest", cv=5)
    first, second = pane.train(), pane.train()
    assert (first.state, second.state) == ("running", "queued")
    w.close()
    # The running run recorded itself as cancelled before close returned; the queued one
    # never started.
    assert [r["status"] for r in training.list_runs(store)] == ["cancelled"]
    assert second.state == "cancelled" and pane.train_pool.activeThreadCount() == 0
    qtbot.waitUntil(lambda: first.state == "cancelled", timeout=TIMEOUT_MS)
    assert second.task is None  # not started afterwards either
    assert len(training.list_runs(store)) == 1


def test_queued_runs_train_one_after_another(qtbot, pane, store):
    _quick_form(pane, "logistic_regression", cv=0)
    first = pane.train()
    pane.set_algorithm("decision_tree")
    second = pane.train()
    assert first.state == "running" and second.state == "queued"
    assert pane.activity_tabs.tabText(1) == "Queue (1 waiting)"
    with qtbot.waitSignal(first.task.finished, timeout=TIMEOUT_MS):
        pass
    assert second.state == "running"  # started when the first ended
    with qtbot.waitSignal(second.task.finished, timeout=TIMEOUT_MS):
        pass
    qtbot.waitUntil(lambda: pane.runs_model.rowCount() == 2 and not pane.is_busy(),
                    timeout=TIMEOUT_MS)
    assert sorted(r["algorithm"] for r in training.list_runs(store, status="finished")) == [
        "decision_tree", "logistic_regression"]
    assert pane.queue_list.count() == 2


def test_bad_input_opens_a_dialog_and_trains_nothing(qtbot, pane, store, notices):
    _quick_form(pane)
    pane.set_features([])
    qtbot.mouseClick(pane.train_button, Qt.MouseButton.LeftButton)
    assert notices and notices[-1].level == "warning"
    assert "Check at least one feature column" in notices[-1].text
    assert pane.jobs == [] and training.list_runs(store) == []

    # Regression on a categorical target is refused before any work, too.
    pane.set_target("purpose")
    pane.task_combo.setCurrentIndex(pane.task_combo.findData("regression"))
    assert pane.train() is None
    assert "Regression needs a numeric target; purpose is categorical" in notices[-1].text
    assert training.list_runs(store) == []


def test_core_refusal_is_shown_and_nothing_recorded(qtbot, pane, store, notices, monkeypatch):
    # A data-dependent refusal (here: too few rows for the folds) comes from core in the worker.
    _quick_form(pane)
    real_prepare = training.prepare
    monkeypatch.setattr(training, "prepare", lambda store, spec, **kw: real_prepare(
        store, {**spec, "cv": 5000}, **kw))
    job = pane.train()
    with qtbot.waitSignal(job.task.failed, timeout=TIMEOUT_MS):
        pass
    assert notices[-1].level == "error" and "too few rows for 5000-fold" in notices[-1].text
    assert training.list_runs(store) == [] and job.state == "failed"


# -- hyperparameter form --------------------------------------------------------------------

def _other_value(p: catalogue.Hyperparameter):
    if p.type == "bool":
        return not p.default
    if p.type == "choice":
        return next(c for c in reversed(p.choices) if c != p.default)
    if p.nullable and p.default is not None:
        return None
    if p.type == "int":
        return int(p.low) + 3 if p.default != int(p.low) + 3 else int(p.low) + 4
    return 0.25 if p.default != 0.25 and p.low <= 0.25 <= p.high else p.low


@pytest.mark.parametrize("algorithm", list(catalogue.ALGORITHMS))
def test_hyperparameter_form_builds_and_round_trips(qtbot, algorithm):
    form = HyperparameterForm()
    qtbot.addWidget(form)
    for task in catalogue.get(algorithm).tasks:
        form.set_algorithm(algorithm, task)
        params = catalogue.get(algorithm).hyperparameters(task)
        assert list(form.editors) == [p.name for p in params]
        assert form.values() == form.defaults() == catalogue.get(algorithm).defaults(task)
        for p in params:
            editor = form.editors[p.name]
            expected = {"bool": QCheckBox, "choice": QComboBox, "int": QSpinBox,
                        "float": QDoubleSpinBox}[p.type]
            assert isinstance(editor, expected)
            assert p.help in editor.toolTip()
            if p.type in ("int", "float"):
                assert editor.maximum() == pytest.approx(p.high)
        changed = {p.name: _other_value(p) for p in params}
        form.set_values(changed)
        assert form.values() == changed
        assert catalogue.validate_params(algorithm, task, form.values()) == changed
        assert form.changed_values() == {k: v for k, v in changed.items()
                                         if v != form.defaults()[k]}
        form.reset()
        assert form.values() == form.defaults()


def test_hyperparameter_form_nullable_number_shows_none(qtbot):
    form = HyperparameterForm()
    qtbot.addWidget(form)
    form.set_algorithm("random_forest", "classification")
    depth = form.editors["max_depth"]
    assert depth.text() == "none" and form.values()["max_depth"] is None
    depth.setValue(7)
    assert form.values()["max_depth"] == 7
    with pytest.raises(Exception, match="max_depth"):
        form.set_values({"max_depth": 0})  # out of range: the catalogue says why


# -- runs table: 10,000 runs, filters, sorting ----------------------------------------------

def _insert_runs(store, dataset_id: int, n: int) -> list[dict]:
    rng = np.random.default_rng(1)
    algorithms = ["random_forest", "logistic_regression", "knn", "decision_tree"]
    rows, now = [], utcnow()
    for i in range(n):
        algo = algorithms[i % 4]
        auc = round(float(rng.uniform(0.5, 1.0)), 4)
        cv_auc = round(float(rng.uniform(0.5, 1.0)), 4)
        depth = None if i % 3 == 0 else int(i % 7 + 1)
        rows.append({"algorithm": algo, "auc": auc, "cv_auc": cv_auc, "depth": depth,
                     "status": "failed" if i % 50 == 0 else "finished"})
    with store.transaction():
        mark = "?" if store.engine == "sqlite" else "%s"
        store.conn.executemany(
            "INSERT INTO runs (dataset_id, status, task, algorithm, target, spec, params, metrics,"
            f" seed, created_by, created_at, duration_s) VALUES ({', '.join([mark] * 12)})",
            [(dataset_id, r["status"], "classification", r["algorithm"], "approved", "{}",
              json.dumps({"max_depth": r["depth"], "n_estimators": 100}),
              json.dumps({"holdout": {"roc_auc": r["auc"], "accuracy": 0.7},
                          "cv": {"roc_auc": {"mean": r["cv_auc"], "std": 0.01}}}),
              0, "admin", now, 1.5) for r in rows])
        audit.append(store, "test.setup", "runs", {"inserted": n})  # witnessed as if recorded
    return rows


def test_ten_thousand_runs_load_filter_and_sort(qtbot, pane, store, loans):
    rows = _insert_runs(store, loans["id"], 10_000)
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pane.reload_runs()
    assert pane.runs_model.rowCount() == 10_000
    assert pane.current_run_id() == 10_000  # the latest run is selected
    titles = [c.title for c in pane.runs_model.columns]
    assert {"roc_auc", "accuracy", "CV roc_auc"} <= set(titles)

    def shown(text):
        with qtbot.waitSignal(pane.runs_arranged, timeout=TIMEOUT_MS):  # filtered in a worker
            pane.filter_edit.setText(text)
            pane.apply_filter()
        return pane.runs_model.rowCount()

    assert shown("roc_auc>0.8") == sum(r["auc"] > 0.8 for r in rows)
    assert shown("roc_auc > 0.8 algorithm=knn") == sum(
        r["auc"] > 0.8 and r["algorithm"] == "knn" for r in rows)
    assert shown("cv.roc_auc<=0.6") == sum(r["cv_auc"] <= 0.6 for r in rows)
    assert shown("max_depth=none") == sum(r["depth"] is None for r in rows)
    assert shown("max_depth>=5") == sum(r["depth"] is not None and r["depth"] >= 5 for r in rows)
    assert shown("status!=finished") == sum(r["status"] != "finished" for r in rows)
    assert shown("forest") == sum(r["algorithm"] == "random_forest" for r in rows)
    assert "of 10,000 runs" in pane.count_label.text()
    assert shown("nosuchfield>1") == 0 and "unknown field nosuchfield" in pane.count_label.text()
    assert shown("") == 10_000

    # Sorting by a metric column (through the view, as a header click does).
    col = titles.index("roc_auc")
    with qtbot.waitSignal(pane.runs_arranged, timeout=TIMEOUT_MS):  # sorted in a worker
        pane.runs_view.sortByColumn(col, Qt.SortOrder.DescendingOrder)
    top = pane.runs_model.record(0)
    assert top["m.roc_auc"] == max(r["auc"] for r in rows)
    with qtbot.waitSignal(pane.runs_arranged, timeout=TIMEOUT_MS):
        pane.runs_view.sortByColumn(col, Qt.SortOrder.AscendingOrder)
    first = pane.runs_model.index(0, col).data(RAW_ROLE)
    assert first == min(r["auc"] for r in rows)


def test_filter_language_parsing():
    terms = xpane.parse_filter("roc_auc >= 0.8  Forest  algorithm = knn")
    assert [(t.field, t.op, t.value) for t in terms] == [
        ("roc_auc", ">=", "0.8"), (None, "", "forest"), ("algorithm", "=", "knn")]


# -- compare, detail, reproduce, register -----------------------------------------------------

def test_compare_two_runs_side_by_side(qtbot, pane, store, loans):
    a = _train_core(store, loans, "logistic_regression", cv=2)
    b = _train_core(store, loans, "decision_tree", cv=2, params={"max_depth": 3})
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pane.reload_runs()
    assert not pane.compare_button.isEnabled()
    selection = pane.runs_view.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in range(2):
        selection.select(pane.runs_model.index(row, 0), flags)
    assert sorted(pane.selected_run_ids()) == [a["id"], b["id"]]
    assert pane.compare_button.isEnabled()
    qtbot.mouseClick(pane.compare_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(pane.task("compare").done, timeout=TIMEOUT_MS):
        pass  # the runs and their plots are read in a worker

    assert pane.tabs.currentIndex() == 1 and pane.compare_stack.currentIndex() == 1
    table = pane.compare_metrics_model
    headers = [table.headerData(c, Qt.Orientation.Horizontal)
               for c in range(table.columnCount())]
    assert headers == ["metric", "A", "B", "B − A", "B vs A"]  # as `lablift run compare`
    assert table.headerData(1, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) == \
        f"A: run {a['id']} logistic_regression"
    names = [table.index(r, 0).data() for r in range(table.rowCount())]

    def background(row, col):
        return table.index(row, col).data(Qt.ItemDataRole.BackgroundRole)

    auc_row = names.index("roc_auc")
    values = [a["metrics"]["holdout"]["roc_auc"], b["metrics"]["holdout"]["roc_auc"]]
    best = 1 + int(np.argmax(values))
    assert background(auc_row, best) == xpane.BEST_BRUSH
    assert background(auc_row, 3 - best) != xpane.BEST_BRUSH
    loss_row = names.index("log_loss ↓")  # lower is better
    losses = [a["metrics"]["holdout"]["log_loss"], b["metrics"]["holdout"]["log_loss"]]
    assert background(loss_row, 1 + int(np.argmin(losses))) == xpane.BEST_BRUSH
    assert "cv.roc_auc" in names
    params = pane.compare_params_model
    diff = [params.index(r, 0).data() for r in range(params.rowCount())]
    assert "max_depth" in diff  # the algorithm differs too: a row of the Setup tab
    roc, pr = pane.compare_canvas.figure.axes[:2]
    labels = [t.get_text() for t in roc.get_legend().get_texts()]
    assert any(f"#{a['id']}" in t for t in labels) and any(f"#{b['id']}" in t for t in labels)
    assert len(pr.get_lines()) == 2


def test_regression_run_detail_and_compare_plots(qtbot, pane, store, loans):
    a = _train_core(store, loans, "ridge", target="income")
    b = _train_core(store, loans, "decision_tree", target="income", params={"max_depth": 4})
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pane.reload_runs()
    assert pane.current_run_id() == b["id"]
    titles = [ax.get_title(loc="left") for ax in pane.detail_canvas.figure.axes]
    assert "Residuals (holdout)" in titles and "Actual vs predicted (holdout)" in titles
    with qtbot.waitSignal(pane.compare([a["id"], b["id"]]).done, timeout=TIMEOUT_MS):
        pass
    ax = pane.compare_canvas.figure.axes[0]
    assert len(ax.collections) == 2  # one residual scatter per run
    assert ax.get_xlabel() == "predicted income"


def test_reproduce_from_the_pane_reports_identical(qtbot, pane, store, loans, notices):
    run = _train_core(store, loans, "logistic_regression")
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pane.reload_runs()
    assert pane.current_run_id() == run["id"] and pane.reproduce_button.isEnabled()
    qtbot.mouseClick(pane.reproduce_button, Qt.MouseButton.LeftButton)
    job = pane.running_job()
    assert job.kind == "reproduce"
    with qtbot.waitSignal(job.task.finished, timeout=TIMEOUT_MS):
        pass
    assert notices[-1].level == "info" and "reproduced exactly" in notices[-1].text
    assert job.result["identical"] is True
    assert len(training.list_runs(store)) == 2


def test_register_from_the_pane(qtbot, pane, store, loans, notices, monkeypatch):
    registry = pytest.importorskip("lablift.core.registry")
    run = _train_core(store, loans, "logistic_regression")
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        pane.reload_runs()
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("loans", True))
    qtbot.mouseClick(pane.register_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(pane.task("register").done, timeout=TIMEOUT_MS):
        pass
    versions = registry.list_versions(store, "loans")
    assert [(v["version"], v["run_id"]) for v in versions] == [(1, run["id"])]
    assert "Registered run" in notices[-1].text and "loans:1" in notices[-1].text
    # Registering the same run again is refused by core and shown as a dialog.
    pane.register(run["id"], "loans")
    with qtbot.waitSignal(pane.task("register").done, timeout=TIMEOUT_MS):
        pass
    assert notices[-1].level == "error" and "already version loans:1" in notices[-1].text


# -- empty states ---------------------------------------------------------------------------

def test_empty_states(qtbot, store, sample_csv, tmp_path):
    w = MainWindow(store, restore_state=False)
    qtbot.addWidget(w)
    pane = w.select_pane("experiments")
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    assert pane.pages.currentWidget() is pane.no_datasets
    qtbot.mouseClick(pane.no_datasets.go_button, Qt.MouseButton.LeftButton)
    assert w.current_pane_name() == "datasets"

    datasets.import_dataset(store, sample_csv, name="sample_loans")
    w.select_pane("experiments")  # refresh() on show
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    assert pane.pages.currentWidget() is pane.splitter
    assert pane.runs_stack.currentWidget() is pane.no_runs
    assert "Train a model to see it here" in pane.no_runs.text()
    assert pane.dataset_combo.currentText() == "sample_loans:1"

    # A version imported later is selected when the pane is shown again.
    changed = tmp_path / "loans.csv"
    changed.write_text("\n".join(sample_csv.read_text().splitlines()[:801]) + "\n")
    datasets.import_dataset(store, changed, name="sample_loans")
    w.select_pane("datasets")
    w.select_pane("experiments")
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    assert pane.dataset_combo.currentText() == "sample_loans:2"
    assert pane.dataset_combo.count() == 2


def test_plot_functions_draw_titles_and_legends():
    from matplotlib.figure import Figure
    fig = Figure()
    plots = {"confusion_matrix": {"labels": [0, 1], "matrix": [[5, 1], [2, 7]]},
             "roc": [{"class": 1, "fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1], "auc": 0.7}],
             "pr": [{"class": 1, "recall": [0, 0.5, 1], "precision": [1, 0.8, 0.6],
                     "average_precision": 0.8}],
             "importance": [{"feature": "a", "mean": 0.1, "std": 0.01},
                            {"feature": "b", "mean": 0.0, "std": 0.0}]}
    plot_run(fig, {"task": "classification", "target": "y"}, plots)
    cm, roc, pr, imp = fig.axes[:4]
    assert [t.get_text() for t in cm.texts] == ["5", "1", "2", "7"]
    assert roc.get_legend().get_texts()[0].get_text() == "AUC 0.700"
    assert len(imp.patches) == 2 and imp.get_yticklabels()[-1].get_text() == "a"
    plot_compare(fig, "classification", [("#1", plots), ("#2", {})])
    assert len(fig.axes[0].get_lines()) == 2  # one run's curve + chance
