"""The whole lifecycle in the GUI, as a new team would do it, with no terminal and no restart:
an empty store; the first user (its admin) adds a reviewer and an ops colleague in Users and
roles; opens the sample data; trains two runs; registers the better; signs in as the reviewer
and approves; signs in as ops, exports the bundle and ingests a shifted production batch;
the drift and performance charts show it.

Every step is a click or a key on a real widget of one MainWindow. Modal dialogs (the
register name, the file choosers, the ingest options, the export report) are answered by
`Answer`, which finds the dialog Qt opened and fills in and presses what a user would; no
dialog function is patched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (QApplication, QFileDialog, QInputDialog, QLineEdit,
                               QMessageBox, QPushButton)

from lablift.core import audit, bundles, monitoring, registry, training
from lablift.core.store import Store
from lablift.gui.app import _application
from lablift.gui.main_window import MainWindow
from lablift.resources import SAMPLE_LOANS

TIMEOUT_MS = 120000
# A thread timeout ends it should a dialog ever be left open (see Answer._poll).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240, method="thread")]


class Answer:
    """Answers the next modal dialogs in order: each handler gets the dialog and does what
    the user would (fill a field, press a button). A dialog nobody expected fails the test."""

    def __init__(self, qtbot):
        self.qtbot = qtbot
        self.handlers: list = []
        self.seen: list[str] = []
        self.unexpected: list[str] = []
        self.timer = QTimer()
        self.timer.setInterval(30)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    def expect(self, handler) -> None:
        self.handlers.append(handler)

    def _poll(self) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or not dialog.isVisible() or getattr(dialog, "_answered", False):
            return
        if not self.handlers:
            # the test's own window-modal dialogs (Users and roles, Sign in) are driven by the
            # test; a message box nobody expected is an error shown to the user: fail on it
            if isinstance(dialog, QMessageBox):
                dialog._answered = True
                self.unexpected.append(f"{dialog.windowTitle()}: {dialog.text()}")
                dialog.reject()
            return
        dialog._answered = True
        text = dialog.text() if isinstance(dialog, QMessageBox) else ""
        self.seen.append(f"{type(dialog).__name__}: {dialog.windowTitle()} {text}".strip())
        try:
            self.handlers.pop(0)(dialog)
        except BaseException:
            dialog.reject()  # a modal dialog left open would hang the test, not fail it
            raise

    def done(self) -> None:
        self.qtbot.waitUntil(lambda: not self.handlers, timeout=TIMEOUT_MS)
        assert self.unexpected == []

    def stop(self) -> None:
        self.timer.stop()


def name_it(text: str):
    def handler(dialog):
        assert isinstance(dialog, QInputDialog)
        dialog.setTextValue(text)
        dialog.accept()
    return handler


def choose_file(path: Path):
    def handler(dialog):
        assert isinstance(dialog, QFileDialog), dialog
        if dialog.fileMode() == QFileDialog.FileMode.Directory:
            # a folder chooser answers its current folder; selectFile() of a folder races
            # the dialog's file-system model as it loads (seen under load, in CI)
            dialog.setDirectory(str(path))
        else:  # typed into the name field, as a user does: selectFile() races that model too
            dialog.setDirectory(str(path.parent))
            dialog.findChild(QLineEdit, "fileNameEdit").setText(str(path))
        assert [Path(f) for f in dialog.selectedFiles()] == [path], dialog.selectedFiles()
        dialog.accept()
    return handler


def press(text: str):
    """Press the button labelled `text` (a QMessageBox or a QDialogButtonBox)."""
    def handler(dialog):
        buttons = [b for b in dialog.findChildren(QPushButton) if b.text().replace("&", "") == text]
        assert buttons, f"no {text!r} button in {dialog.windowTitle()!r}: " + ", ".join(
            b.text() for b in dialog.findChildren(QPushButton))
        buttons[0].click()
    return handler


@pytest.fixture(autouse=True)
def _app(qapp):
    _application()
    QSettings().clear()


@pytest.fixture
def shifted_batch(tmp_path) -> Path:
    loans = pd.read_csv(SAMPLE_LOANS)
    batch = loans.sample(400, random_state=7).reset_index(drop=True)
    batch["age"] += 15
    batch["income"] *= 1.8
    batch["credit_score"] -= 90
    batch["employment_years"] += 8
    batch["loan_amount"] *= 2
    batch["home_ownership"] = "rent"
    flip = np.arange(len(batch)) % 2 == 0
    batch.loc[flip, "approved"] = 1 - batch.loc[flip, "approved"]
    path = tmp_path / "week-1.csv"
    batch.to_csv(path, index=False)
    return path


def sign_in(qtbot, window, name: str) -> None:
    qtbot.mouseClick(window.user_label, Qt.MouseButton.LeftButton)
    dialog = window.people.sign_in_dialog
    qtbot.waitUntil(lambda: dialog.model.rowCount() >= 3, timeout=TIMEOUT_MS)
    qtbot.keyClicks(dialog.name_edit, name)
    with qtbot.waitSignal(window.store_changed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert window.store.user == name


def go_to(qtbot, window, number: int) -> None:
    """Ctrl+number, as the user presses it in the window (active again after a dialog)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=TIMEOUT_MS)
    qtbot.keyClick(window, Qt.Key(Qt.Key.Key_0 + number), Qt.KeyboardModifier.ControlModifier)


def idle(qtbot, pane) -> None:
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)


def train(qtbot, pane, algorithm: str) -> None:
    pane.set_target("approved")
    pane.set_algorithm(algorithm)
    pane.cv_folds.setValue(2)
    qtbot.mouseClick(pane.train_button, Qt.MouseButton.LeftButton)
    job = pane.running_job()
    assert job is not None
    qtbot.waitUntil(lambda: job.state in ("finished", "failed", "cancelled"), timeout=TIMEOUT_MS)
    assert job.state == "finished", pane.log.toPlainText()[-2000:]
    idle(qtbot, pane)


def test_the_whole_lifecycle_in_one_window(qtbot, tmp_path, shifted_batch):
    root = tmp_path / "store"
    window = MainWindow(Store(root, user="ana"), restore_state=False, watch=False,
                        owns_store=True)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    answer = Answer(qtbot)
    try:
        _walk(qtbot, window, answer, root, tmp_path, shifted_batch)
    finally:
        answer.stop()


def _walk(qtbot, window, answer, root, tmp_path, shifted_batch):
    # -- ana, the first user of a new store, is its admin: she adds her colleagues
    qtbot.waitUntil(lambda: window.user_label.text() == "User: ana (admin)",
                    timeout=TIMEOUT_MS)  # the role is read in a worker
    qtbot.waitUntil(window.people.users_action.isEnabled, timeout=TIMEOUT_MS)  # role read
    window.people.users_action.trigger()
    users = window.people.users_dialog
    qtbot.waitUntil(lambda: users.model.rowCount() == 1, timeout=TIMEOUT_MS)
    for name, role in (("rita", "reviewer"), ("oscar", "ops")):
        users.name_edit.clear()
        qtbot.keyClicks(users.name_edit, name)
        users.role_combo.setCurrentText(role)
        with qtbot.waitSignal(users.changed, timeout=TIMEOUT_MS):
            qtbot.mouseClick(users.apply_button, Qt.MouseButton.LeftButton)
    assert sorted(users.names()) == ["ana", "oscar", "rita"]
    users.accept()

    # -- the sample data, from the File menu
    datasets_pane = window.select_pane("datasets")
    idle(qtbot, datasets_pane)
    window.sample_action.trigger()
    qtbot.waitUntil(lambda: not datasets_pane.is_busy("import") and datasets_pane.is_busy() is False,
                    timeout=TIMEOUT_MS)
    store = window.store
    qtbot.waitUntil(lambda: len(store.query("SELECT id FROM datasets")) == 1, timeout=TIMEOUT_MS)

    # -- two runs, then the better one registered
    go_to(qtbot, window, 2)
    experiments = window.panes["experiments"]
    assert window.current_pane_name() == "experiments"
    idle(qtbot, experiments)
    train(qtbot, experiments, "logistic_regression")
    train(qtbot, experiments, "decision_tree")
    runs = training.list_runs(store)
    assert sorted(r["algorithm"] for r in runs) == ["decision_tree", "logistic_regression"]
    assert all(r["status"] == "finished" for r in runs)
    best = max(runs, key=lambda r: training.get_run(store, r["id"])["metrics"]["holdout"]["roc_auc"])
    assert experiments.select_run(best["id"]) is not False
    idle(qtbot, experiments)
    qtbot.waitUntil(lambda: experiments.register_button.isEnabled(), timeout=TIMEOUT_MS)
    answer.expect(name_it("loans"))
    qtbot.mouseClick(experiments.register_button, Qt.MouseButton.LeftButton)
    answer.done()
    idle(qtbot, experiments)
    (version,) = registry.list_versions(store, "loans")
    assert (version["run_id"], version["status"]) == (best["id"], "pending")

    # -- rita signs in and approves (she neither trained nor registered it)
    sign_in(qtbot, window, "rita")
    qtbot.waitUntil(lambda: window.user_label.text() == "User: rita (reviewer)",
                    timeout=TIMEOUT_MS)
    go_to(qtbot, window, 4)
    approvals = window.panes["approvals"]
    qtbot.waitUntil(lambda: not approvals.is_busy() and approvals.detail is not None
                    and approvals.decision.approve_button.isEnabled(), timeout=TIMEOUT_MS)
    assert approvals.queue_refs() == ["loans:1"]
    approvals.decision.comment.setPlainText("Holdout and CV agree; fairness not gated.")
    qtbot.mouseClick(approvals.decision.approve_button, Qt.MouseButton.LeftButton)
    idle(qtbot, approvals)
    assert registry.resolve_version(window.store, "loans:1")["status"] == "approved"

    # -- oscar (ops) exports the bundle into a folder he picks
    sign_in(qtbot, window, "oscar")
    go_to(qtbot, window, 3)
    reg = window.panes["registry"]
    idle(qtbot, reg)
    reg.select_version("loans:1")
    qtbot.waitUntil(lambda: not reg.is_busy() and reg.export_button.isEnabled(),
                    timeout=TIMEOUT_MS)
    exports = tmp_path / "exports"
    exports.mkdir()
    answer.expect(choose_file(exports))
    answer.expect(press("OK"))  # the "Bundle exported" report (it also offers Open folder)
    qtbot.mouseClick(reg.export_button, Qt.MouseButton.LeftButton)
    answer.done()
    idle(qtbot, reg)
    bundle = exports / "loans-v1"
    assert "Bundle exported" in answer.seen[-1], answer.seen
    assert bundles.verify(bundle, window.store)["ok"]
    assert reg.open_folder_button.property("folder") == str(bundle)

    # -- and ingests a week of production traffic, labelled, from the Monitoring pane
    go_to(qtbot, window, 5)
    mon = window.panes["monitoring"]
    idle(qtbot, mon)
    answer.expect(choose_file(shifted_batch))
    answer.expect(press("Ingest"))
    with qtbot.waitSignal(mon.loaded, timeout=TIMEOUT_MS):
        qtbot.mouseClick(mon.top.ingest_button, Qt.MouseButton.LeftButton)
    answer.done()
    idle(qtbot, mon)
    report = monitoring.report(window.store, "loans:1")
    (batch,) = report["batches"]
    assert batch["rows"] == 400 and batch["dataset_drift"]

    # -- the charts: drift share, per-feature heatmap, the age histogram, accuracy over time
    assert mon.content.currentWidget() is mon.tabs
    (share_ax,) = mon.drift_tab.share_chart.figure.axes
    assert [p.get_height() for p in share_ax.patches] == [pytest.approx(batch["drift_share"])]
    assert mon.drift_tab.feature in {"age", "income", "credit_score"}
    (dist_ax,) = mon.drift_tab.dist_chart.figure.axes
    assert len(dist_ax.patches) == 2  # reference and batch
    mon.tabs.setCurrentWidget(mon.performance_tab)
    (metric_ax,) = mon.performance_tab.metric_chart.figure.axes
    assert any(len(line.get_ydata()) == 1 for line in metric_ax.lines)  # the batch's point
    qtbot.waitUntil(window.banner.isVisible, timeout=TIMEOUT_MS)  # read in a worker
    assert "loans:1 needs attention" in window.banner.label.text()

    # -- who did what, in the audit log, from one window and one process
    entries = audit.entries(window.store)
    by = {(e["action"], e["user"]) for e in entries}
    assert {("user.role", "ana"), ("version.register", "ana"), ("version.approve", "rita"),
            ("bundle.export", "oscar")} <= by, sorted(by)
    assert audit.verify(window.store).ok
