"""Datasets pane and table models: real widgets offscreen, real imports through core in workers."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QTableView

from lablift.core import datasets as core_datasets
from lablift.gui.panes import datasets as dpane
from lablift.gui.tablemodels import (MISSING, RAW_ROLE, ArrowTableModel, Column,
                                     RecordsTableModel, make_sort_proxy)

from gui_helpers import notices, settled  # noqa: F401  (notices is a fixture)

TIMEOUT_MS = 20000


@pytest.fixture
def pane(qtbot, store):
    p = dpane.Pane(store)
    qtbot.addWidget(p)
    p.resize(1100, 700)
    p.show()
    yield p
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=TIMEOUT_MS)


def _refreshed(qtbot, pane):
    """Re-read the store as the pane does when shown, and wait for it like a user would."""
    pane.refresh()
    return settled(qtbot, pane, TIMEOUT_MS)


def _audit_count(store) -> int:
    return store.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]


def _wait_import(qtbot, pane, signal_name="finished"):
    task = pane.import_task
    assert task is not None
    progress = []
    task.progress.connect(lambda f, m: progress.append((f, m)))
    with qtbot.waitSignal(getattr(task, signal_name), timeout=TIMEOUT_MS):
        pass
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    return progress


def test_empty_store_shows_sample_button_and_imports_sample(qtbot, pane, store):
    assert pane.pages.currentWidget() is pane.empty
    messages = []
    pane.message.connect(messages.append)
    qtbot.mouseClick(pane.empty.sample_button, Qt.MouseButton.LeftButton)
    progress = _wait_import(qtbot, pane)

    fractions = [f for f, _ in progress]
    assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("Profiling" in m for _, m in progress)
    rows = core_datasets.list_datasets(store)
    assert [(r["name"], r["version"]) for r in rows] == [("sample_loans", 1)]
    assert pane.pages.currentWidget() is pane.splitter
    assert pane.version_ids() == [rows[0]["id"]] and pane.selected_id() == rows[0]["id"]
    assert pane.data_model.rowCount() == 2000 == rows[0]["rows"]
    assert pane.data_model.columnCount() == 12
    assert pane.data_stack.currentWidget() is pane.data_view
    assert pane.profile_model.rowCount() == 12
    assert "sample_loans" in pane.header.text()
    assert messages and "Imported sample_loans:1" in messages[-1]
    assert pane.import_bar.isHidden()

    # The same content again: no new version, and the pane says where it already is.
    pane.import_sample()
    _wait_import(qtbot, pane)
    assert len(core_datasets.list_datasets(store)) == 1
    assert "already imported as sample_loans:1" in messages[-1]


def test_new_version_is_selected_and_profile_selection_plots(qtbot, pane, store, sample_csv,
                                                           tmp_path):
    core_datasets.import_dataset(store, sample_csv, name="loans")
    _refreshed(qtbot, pane)
    first = pane.selected_id()
    changed = tmp_path / "loans.csv"
    lines = sample_csv.read_text().splitlines()
    changed.write_text("\n".join(lines[:501]) + "\n")
    pane.import_file(str(changed), name="loans")
    _wait_import(qtbot, pane)
    second = pane.selected_id()
    assert second != first and pane.version_ids() == [first, second]
    assert pane.data_model.rowCount() == 500
    assert pane.tree.currentItem().text(0) == "v2"

    # Selecting another profile row redraws the chart with that column's title.
    pane.tabs.setCurrentIndex(1)
    source_row = [c["name"] for c in pane.profile_model.records()].index("purpose")
    pane.profile_view.selectRow(pane.profile_proxy.mapFromSource(
        pane.profile_model.index(source_row, 0)).row())
    ax = pane.chart.figure.axes[0]
    assert ax.get_title(loc="left").startswith("purpose")
    assert len(ax.patches) == 5  # five purposes, one bar each

    # Clicking the older version shows it again.
    top = pane.tree.topLevelItem(0)
    pane.tree.setCurrentItem(top.child(0))
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    assert pane.selected_id() == first and pane.data_model.rowCount() == 2000


def test_drop_a_file_imports_it(qtbot, pane, store, sample_csv, tmp_path):
    dropped = tmp_path / "dropped loans.csv"
    shutil.copy(sample_csv, dropped)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    enter = QDragEnterEvent(pane.rect().center(), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    pane.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pane.rect().center()), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    pane.dropEvent(drop)
    assert drop.isAccepted()
    _wait_import(qtbot, pane)
    rows = core_datasets.list_datasets(store)
    assert [r["name"] for r in rows] == ["dropped loans"]
    assert pane.selected_id() == rows[0]["id"]


def test_drop_of_non_files_is_refused(pane):
    mime = QMimeData()
    mime.setText("not a file")
    enter = QDragEnterEvent(pane.rect().center(), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    pane.dragEnterEvent(enter)
    assert not enter.isAccepted()
    assert pane.import_task is None


def test_cancel_import_leaves_store_unchanged(qtbot, pane, store, sample_csv, monkeypatch):
    core_datasets.import_dataset(store, sample_csv, name="kept")
    _refreshed(qtbot, pane)
    before_ids, before_audit = pane.version_ids(), _audit_count(store)
    assert before_ids
    before_artifacts = sorted(p.name for p in store.artifacts.root.rglob("*") if p.is_file())
    real = dpane.import_dataset

    def gated_import(store_, path, name=None, progress=None, cancelled=None):
        # Hold the worker at "Profiling" until the user has pressed Cancel, so the test
        # does not race the import; core then stops at its next cancellation check.
        def gated(fraction, message):
            progress(fraction, message)
            if fraction >= 0.55:
                deadline = time.monotonic() + 10
                while not cancelled() and time.monotonic() < deadline:
                    time.sleep(0.005)
        return real(store_, path, name=name, progress=gated, cancelled=cancelled)

    monkeypatch.setattr(dpane, "import_dataset", gated_import)
    messages = []
    pane.message.connect(messages.append)
    pane.import_file(str(sample_csv), name="cancelled one")
    task = pane.import_task
    seen = []
    task.progress.connect(lambda f, m: seen.append(f))
    assert pane.import_bar.isVisible()
    qtbot.waitUntil(lambda: any(f >= 0.55 for f in seen), timeout=TIMEOUT_MS)
    with qtbot.waitSignal(task.cancelled, timeout=TIMEOUT_MS):
        qtbot.mouseClick(pane.import_bar.cancel_button, Qt.MouseButton.LeftButton)
    assert task.state == "cancelled"
    assert pane.version_ids() == before_ids
    assert [r["name"] for r in core_datasets.list_datasets(store)] == ["kept"]
    assert _audit_count(store) == before_audit
    after_artifacts = sorted(p.name for p in store.artifacts.root.rglob("*") if p.is_file())
    assert after_artifacts == before_artifacts
    assert "cancelled" in messages[-1]
    assert pane.import_bar.isHidden()


def test_bad_file_shows_error_and_changes_nothing(qtbot, pane, store, sample_csv, tmp_path,
                                                  notices):
    core_datasets.import_dataset(store, sample_csv, name="kept")
    _refreshed(qtbot, pane)
    before_ids, before_audit = pane.version_ids(), _audit_count(store)
    assert before_ids
    bad = tmp_path / "header_only.csv"
    bad.write_text("a,b,c\n")
    pane.import_file(str(bad))
    _wait_import(qtbot, pane, "failed")
    assert len(notices) == 1
    notice = notices[0]
    assert notice.level == "error"
    assert notice.title == "Import failed" and str(bad) in notice.text
    assert "no data rows" in notice.text
    assert pane.version_ids() == before_ids
    assert _audit_count(store) == before_audit


def test_a_role_that_may_not_import_sees_import_disabled_with_the_reason(
        qtbot, make_store, sample_csv, notices):
    make_store("admin").add_user("rita", "reviewer")
    rita = make_store("rita")
    pane = dpane.Pane(rita)
    qtbot.addWidget(pane)
    pane.show()
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)
    reason = "importing datasets needs the role analyst or admin; user 'rita' is reviewer"
    for button in (pane.import_button, pane.empty.import_button, pane.empty.sample_button):
        assert not button.isEnabled() and button.toolTip() == reason
    pane.import_file(str(sample_csv))  # a drop, or the File menu: refused before any work
    assert pane.import_task is None and pane.import_bar.isHidden()
    assert [(n.level, n.title, n.text) for n in notices] == [("warning", "Import refused",
                                                              reason)]
    assert core_datasets.list_datasets(rita) == []


def test_file_menu_import_uses_the_file_dialog(qtbot, store, sample_csv, monkeypatch):
    from lablift.gui.main_window import MainWindow
    window = MainWindow(store, restore_state=False)
    qtbot.addWidget(window)
    monkeypatch.setattr(dpane.QFileDialog, "getOpenFileNames",
                        lambda *a, **k: ([str(sample_csv)], ""))
    window.import_action.trigger()
    pane = window.pane("datasets")
    _wait_import(qtbot, pane)
    assert window.current_pane_name() == "datasets"
    assert [r["name"] for r in core_datasets.list_datasets(store)] == ["sample_loans"]
    assert window.import_action.shortcut().toString() == "Ctrl+O"


# -- table models -----------------------------------------------------------------

def _mixed_table() -> pa.Table:
    return pa.table({
        "i": pa.array([1, None, 3], pa.int64()),
        "f": pa.array([1.5, float("nan"), None], pa.float64()),
        "s": pa.array(["a", None, "c"]),
        "b": pa.array([True, False, None]),
        "t": pa.array([pd.Timestamp("2024-01-02"), None, pd.Timestamp("2024-01-03 04:05:06")],
                      pa.timestamp("ns")),
    })


def test_arrow_model_passes_qt_model_tester_and_formats_cells(qtmodeltester):
    model = ArrowTableModel(_mixed_table())
    qtmodeltester.check(model)
    display = [[model.index(r, c).data() for c in range(5)] for r in range(3)]
    assert display[0] == ["1", "1.5", "a", "true", "2024-01-02 00:00:00"]
    # null int/string/time and NaN float are missing; False is a value
    assert display[1] == [MISSING, MISSING, MISSING, "false", MISSING]
    assert display[2][3] == MISSING and display[2][4] == "2024-01-03 04:05:06"
    grey = model.index(1, 0).data(Qt.ItemDataRole.ForegroundRole)
    assert grey is not None and model.index(0, 0).data(Qt.ItemDataRole.ForegroundRole) is None
    assert model.index(0, 0).data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    assert not model.index(0, 2).data(Qt.ItemDataRole.TextAlignmentRole) & \
        Qt.AlignmentFlag.AlignRight
    assert model.headerData(1, Qt.Orientation.Horizontal) == "f"
    assert "double" in model.headerData(1, Qt.Orientation.Horizontal,
                                        Qt.ItemDataRole.ToolTipRole)
    assert model.index(0, 0).data(RAW_ROLE) == 1


def test_arrow_model_accepts_a_dataframe(qtmodeltester):
    model = ArrowTableModel(pd.DataFrame({"x": [1.0, None], "y": ["u", "v"]}))
    qtmodeltester.check(model)
    assert model.rowCount() == 2 and model.index(1, 0).data() == MISSING


def test_arrow_model_first_paint_of_a_million_rows_is_fast(qtbot):
    n = 1_000_000
    rng = np.random.default_rng(0)
    table = pa.table({
        "id": np.arange(n), "x": rng.normal(size=n),
        "cat": pa.array(np.array(["red", "green", "blue"])[np.arange(n) % 3]),
        "y": rng.integers(0, 100, size=n)})
    view = QTableView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    start = time.perf_counter()
    model = ArrowTableModel(table)
    view.setModel(model)
    view.scrollToBottom()
    view.repaint()
    elapsed = time.perf_counter() - start
    assert model.rowCount() == n
    assert model.index(n - 1, 0).data() == str(n - 1)
    assert elapsed < 1.0, f"first paint of 1M rows took {elapsed:.2f} s"


def test_records_model_sorts_by_value_with_missing_last(qtmodeltester):
    records = [{"name": "b", "score": 0.5}, {"name": "a", "score": None},
               {"name": "C", "score": 0.25}, {"name": "d", "score": 10}]
    model = RecordsTableModel([Column("name", "Name"),
                               Column("score", "Score", tooltip="higher is better")], records)
    qtmodeltester.check(model)
    proxy = make_sort_proxy(model)
    proxy.sort(1, Qt.SortOrder.AscendingOrder)
    assert [proxy.index(r, 0).data() for r in range(4)] == ["C", "b", "d", "a"]
    proxy.sort(0, Qt.SortOrder.AscendingOrder)
    assert [proxy.index(r, 0).data() for r in range(4)] == ["a", "b", "C", "d"]
    assert model.index(1, 1).data() == MISSING
    assert model.headerData(1, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) == \
        "higher is better"
    model.set_records(records[:1])
    assert model.rowCount() == 1 and proxy.rowCount() == 1
