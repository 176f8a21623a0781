"""The Experiments pane fits in a child process (core/train_process.py), in a real MainWindow:
results as in-thread training, cancel mid-fit, a child killed mid-fit, the window closing."""

from __future__ import annotations

import os
import pickle
import signal
import time

import pytest
from PySide6.QtCore import Qt

from lablift.core import datasets, train_process, training
from lablift.gui.main_window import MainWindow
from lablift.gui.panes.experiments import job_queue

from gui_helpers import notices  # noqa: F401  (a fixture: what the pane tells its user)

pytestmark = pytest.mark.skipif(not train_process.available(), reason="POSIX only")
TIMEOUT_MS = 120000


@pytest.fixture
def loans(store, sample_csv):
    return datasets.import_dataset(store, sample_csv, name="sample_loans")


@pytest.fixture
def window(qtbot, store, loans):
    w = MainWindow(store, restore_state=False)
    qtbot.addWidget(w)
    w.show()
    pane = w.select_pane("experiments")
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    if pane.warm_task is not None and pane.warm_task.is_running():
        with qtbot.waitSignal(pane.warm_task.done, timeout=TIMEOUT_MS):
            pass  # the child started and imported scikit-learn while the pane opened
    yield w, pane
    w.close()  # stop_all: the child ends with the window
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as fh:  # an exited, unreaped child is gone too
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def _form(pane, algorithm, cv, **params):
    pane.set_target("approved")
    pane.set_algorithm(algorithm)
    pane.cv_folds.setValue(cv)
    if params:
        pane.hyperform.set_values(params)


def test_runs_fit_in_one_reused_child_and_record_as_in_thread(qtbot, window, store):
    w, pane = window
    runner = job_queue._runner
    assert runner is not None and runner.warmed  # warmed at pane show
    child, started = runner.pid, runner.started
    assert child is not None and child != os.getpid()
    _form(pane, "random_forest", 2, n_estimators=40)
    progress = []
    qtbot.mouseClick(pane.train_button, Qt.MouseButton.LeftButton)
    job = pane.running_job()
    job.task.progress.connect(lambda f, m: progress.append((f, m)))
    with qtbot.waitSignal(pane.runs_loaded, timeout=TIMEOUT_MS):
        with qtbot.waitSignal(job.task.finished, timeout=TIMEOUT_MS):
            pass
    run = training.get_run(store, job.result["id"])
    assert run["status"] == "finished" and pane.selected_run_ids() == [run["id"]]
    # progress came from the child as before: fraction + text, in order, to the log
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(m == "Cross-validation fold 2 of 2" for _, m in progress)
    assert "random_forest: Permutation importance" in pane.log.toPlainText()
    # the child read the dataset's file (the frame was not pickled across) and wrote the
    # fitted forest to a file this process read back and removed
    frame = datasets.load_frame(store, run["dataset_id"])
    assert runner.last_request_bytes < len(pickle.dumps(frame)) / 4
    assert runner.last_spilled == ("pipeline_bytes",) and os.listdir(runner._spill) == []
    # the same run as training in this thread (what the CLI does): metrics, artifact bytes
    same = training.train(store, run["spec"])
    assert run["metrics"] == same["metrics"] and run["params"] == same["params"]
    assert run["predictions_sha256"] == same["predictions_sha256"]
    assert run["artifacts"] == same["artifacts"]  # the pickled pipeline's sha256 among them
    # a second job reuses the child: no new start-up
    _form(pane, "decision_tree", 0)
    second = pane.train()
    with qtbot.waitSignal(second.task.finished, timeout=TIMEOUT_MS):
        pass
    assert runner.pid == child and runner.started == started
    w.close()  # stop_all kills the child (without waiting on the GUI thread)
    qtbot.waitUntil(lambda: not _alive(child), timeout=10000)


def test_cancel_mid_fit_stops_the_child_promptly(qtbot, window, store):
    w, pane = window
    runner = job_queue._runner
    child = runner.pid
    _form(pane, "random_forest", 0, n_estimators=5000)  # one long fit, no step inside it
    job = pane.train()
    asked = []

    def on_progress(fraction, message):
        if message == "Fitting on the training rows" and not asked:
            asked.append(time.monotonic())
            qtbot.mouseClick(pane.cancel_button, Qt.MouseButton.LeftButton)

    job.task.progress.connect(on_progress)
    with qtbot.waitSignal(job.task.cancelled, timeout=TIMEOUT_MS):
        pass
    assert asked and time.monotonic() - asked[0] < 5.0  # 5,000 trees take far longer
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    (run,) = training.list_runs(store)
    assert (run["status"], run["error"]) == ("cancelled", "cancelled by the user")
    assert job.state == "cancelled" and "Cancelled" in pane.log.toPlainText()
    assert not _alive(child)  # the fit did not reach a step in the grace time: ended
    # the next job starts a new child and trains
    _form(pane, "decision_tree", 0)
    again = pane.train()
    with qtbot.waitSignal(again.task.finished, timeout=TIMEOUT_MS):
        pass
    assert runner.pid not in (None, child)


def test_a_child_killed_mid_fit_fails_the_run_and_the_queue_goes_on(qtbot, window, store,
                                                                   notices):  # noqa: F811
    w, pane = window
    runner = job_queue._runner
    _form(pane, "random_forest", 3)
    first = pane.train()
    _form(pane, "decision_tree", 0)
    second = pane.train()
    killed = []

    def on_progress(fraction, message):
        if message.startswith("Cross-validation fold 1") and not killed:
            killed.append(runner.pid)
            os.kill(runner.pid, signal.SIGKILL)

    first.task.progress.connect(on_progress)
    with qtbot.waitSignal(first.task.failed, timeout=TIMEOUT_MS):
        pass
    assert killed and "the training process ended while training: it was killed by " \
                      "SIGKILL" in first.error
    with qtbot.waitSignal(second.task.finished, timeout=TIMEOUT_MS):
        pass  # not hung: the queue went on, in a new child
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    runs = {r["algorithm"]: r for r in training.list_runs(store)}
    assert runs["random_forest"]["status"] == "failed"
    assert "killed by SIGKILL" in runs["random_forest"]["error"]
    assert runs["decision_tree"]["status"] == "finished"
    assert runner.pid not in (None, killed[0]) and not _alive(killed[0])
    assert any("killed by SIGKILL" in n.text and n.level == "error" for n in notices)
