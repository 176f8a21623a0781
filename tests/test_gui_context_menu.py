"""Right-click menus (gui/context_menu.py) on every pane's tables, trees and lists: Copy puts
the selection on the clipboard, Export as CSV writes what the view shows (through a worker,
via a temporary file), and each pane's own entries do what its buttons do, disabled with the
same reason when the role or state forbids it."""

from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QComboBox, QFileDialog, QHeaderView,
                               QMenu, QTableView, QTreeView, QWidget)

from lablift.core import monitoring
from lablift.core.store import Store
from lablift.gui import context_menu
from lablift.gui.panes import approvals, datasets, experiments, monitoring as mpane, registry
from lablift.resources import SAMPLE_LOANS

from bundle_helpers import build_world
from gui_helpers import TIMEOUT_MS, notices, pane_opener, settled  # noqa: F401  (fixtures)

HAS_LINEAGE = importlib.util.find_spec("lablift.gui.lineage") is not None
NO_LINEAGE = "gui/lineage.py (the lineage dialog, another helper's work) is not in the tree yet"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """build_world's store (loans:1 approved and exported, loans:2 pending) plus one shifted,
    labelled monitoring batch of loans:1 (so Monitoring has batches and alerts)."""
    root = tmp_path_factory.mktemp("menus")
    w = build_world(root)
    batch = pd.read_csv(SAMPLE_LOANS).sample(300, random_state=3).reset_index(drop=True)
    batch["income"] = batch["income"] * 2.0
    batch["credit_score"] = batch["credit_score"] - 80
    batch.loc[np.arange(len(batch)) % 2 == 0, "approved"] ^= 1
    path = root / "batch.csv"
    batch.to_csv(path, index=False)
    monitoring.ingest(w["oscar"], "loans:1", path, label="approved")
    for key in ("store", "ana", "oscar"):
        w[key].close()
    return root / "store"


@pytest.fixture
def open_pane(qtbot, world):
    """open(pane_class, user): the pane on the world's store, its first load ended."""
    opened, stores = [], []

    def open_(cls, user: str):
        store = Store(world, user=user)
        stores.append(store)
        return pane_opener(qtbot, cls, opened)(store)
    yield open_
    for pane in opened:
        settled(qtbot, pane)
    for store in stores:
        store.close()


@pytest.fixture
def save_to(monkeypatch, tmp_path):
    """Export's file dialog answers tmp_path/NAME; returns the path chosen."""
    def choose(name: str = "out.csv"):
        path = tmp_path / name
        monkeypatch.setattr(QFileDialog, "getSaveFileName",
                            lambda *a, **k: (str(path), "CSV files (*.csv)"))
        return path
    return choose


def texts(menu: QMenu) -> list[str]:
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def action(menu: QMenu, text: str):
    found = context_menu.find_action(menu, text)
    assert found is not None, f"{text!r} not in {texts(menu)}"
    return found


def shown_table(view) -> tuple[list[str], list[list[str]]]:
    """Header and display text of every row of a flat view, as the export should write them."""
    model = view.model()
    cols = [c for c in range(model.columnCount()) if not view.isColumnHidden(c)]
    header = [model.headerData(c, Qt.Orientation.Horizontal) for c in cols]
    rows = [[model.index(r, c).data() or "" for c in cols] for r in range(model.rowCount())]
    return header, [["" if t == "—" else t for t in row] for row in rows]


def export(qtbot, view, path, notices):
    """Trigger the menu's Export as CSV… and wait for the worker's notice; the rows read."""
    action(context_menu.build_menu(view), "Export as CSV…").trigger()
    qtbot.waitUntil(lambda: any("Export" in n.title for n in notices), timeout=TIMEOUT_MS)
    assert [n.level for n in notices if "Export" in n.title] == ["info"], notices
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def assert_menus_everywhere(pane: QWidget) -> None:
    """Every item view of the pane (not a combo box's popup list) has the context menu."""
    views = [v for v in pane.findChildren(QAbstractItemView)
             if not isinstance(v, QHeaderView)
             and not any(isinstance(p, QComboBox) for p in _ancestors(v))]
    assert views
    missing = [f"{type(v).__name__} {v.objectName() or v.model()}" for v in views
               if v.contextMenuPolicy() != Qt.ContextMenuPolicy.CustomContextMenu]
    assert not missing, missing


def _ancestors(w):
    p = w.parent()
    while p is not None:
        yield p
        p = p.parent()


# -- the menu itself, on a small view --------------------------------------------------------------
def small_view(qtbot) -> QTableView:
    model = QStandardItemModel(3, 2)
    model.setHorizontalHeaderLabels(["name", "note"])
    for r, (a, b) in enumerate((("a", "x"), ("b", "tab\there, comma"), ("c", "—"))):
        model.setItem(r, 0, QStandardItem(a))
        model.setItem(r, 1, QStandardItem(b))
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    qtbot.addWidget(view)
    context_menu.install(view, extra=lambda rows: [("Rows", lambda: None),
                                                   ("Barred", lambda: None, "not for you")])
    view.show()
    return view


def test_copy_and_keyboard(qtbot):
    view = small_view(qtbot)
    menu = context_menu.build_menu(view, [1, 2])
    assert texts(menu) == ["Rows", "Barred", "Copy", "Copy as CSV", "Export as CSV…"]
    assert not action(menu, "Barred").isEnabled()
    assert action(menu, "Barred").toolTip() == "not for you"
    action(menu, "Copy").trigger()
    # whole rows: header first; a tab inside a cell would break the columns, "—" is empty
    assert QApplication.clipboard().text() == "name\tnote\nb\ttab here, comma\nc\t\n"
    action(menu, "Copy as CSV").trigger()
    assert QApplication.clipboard().text() == 'name,note\nb,"tab\there, comma"\nc,\n'

    # one cell: no header
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
    view.setCurrentIndex(view.model().index(0, 1))
    QApplication.clipboard().clear()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == "x\n"

    # the keyboard opens the same menu on the current row
    qtbot.keyClick(view, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    popup = QApplication.activePopupWidget()
    assert "Export as CSV…" in texts(popup)
    popup.close()
    qtbot.waitUntil(lambda: QApplication.activePopupWidget() is None)
    qtbot.keyClick(view, Qt.Key.Key_Menu)
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    QApplication.activePopupWidget().close()


def test_right_click_selects_the_row_under_the_cursor(qtbot):
    view = small_view(qtbot)
    view.selectRow(0)
    rect = view.visualRect(view.model().index(2, 0))
    menu = context_menu.build_menu(view, QPoint(rect.center()))
    assert context_menu.selected_source_rows(view) == [2]
    action(menu, "Copy").trigger()
    assert QApplication.clipboard().text().splitlines()[1] == "c\t"


def test_export_failure_names_the_file_and_leaves_nothing(qtbot, tmp_path, notices):
    view = small_view(qtbot)
    target = tmp_path / "missing-folder" / "out.csv"
    task = context_menu.export_csv(view, target)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=TIMEOUT_MS)
    [notice] = notices
    assert notice.level == "error" and str(target) in notice.text
    assert not target.parent.exists()
    # and a good export leaves only the file (the temporary one was renamed)
    task = context_menu.export_csv(view, tmp_path / "ok.csv")
    qtbot.waitUntil(lambda: not task.is_running(), timeout=TIMEOUT_MS)
    assert [p.name for p in tmp_path.iterdir()] == ["ok.csv"]


def test_export_of_a_big_tree_reads_in_slices_and_restarts_on_change(qtbot, tmp_path,
                                                                   notices):
    model = QStandardItemModel()
    model.setHorizontalHeaderLabels(["name", "n"])
    parent = QStandardItem("group")
    model.appendRow([parent, QStandardItem("")])
    for i in range(30000):
        parent.appendRow([QStandardItem(f"row {i}"), QStandardItem(str(i))])
    view = QTreeView()
    view.setModel(model)
    qtbot.addWidget(view)
    context_menu.install(view)
    path = tmp_path / "tree.csv"
    export = context_menu.export_csv(view, path)
    # the GUI thread reads a slice per event-loop turn: part-way through, a row comes in
    qtbot.waitUntil(lambda: len(export._rows) > 0)
    assert export.is_running() and export.task is None, "read in one go: not in slices"
    model.appendRow([QStandardItem("late"), QStandardItem("")])
    qtbot.waitUntil(lambda: not export.is_running(), timeout=TIMEOUT_MS)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["name", "n"] and rows[1] == ["group", ""] and rows[2] == ["row 0", "0"]
    assert len(rows) == 1 + 1 + 30000 + 1 and rows[-1] == ["late", ""]
    assert [n.level for n in notices] == ["info"]


# -- each pane -------------------------------------------------------------------------------------
def test_datasets_menus(qtbot, open_pane, save_to, notices):
    pane = open_pane(datasets.Pane, "ana")
    qtbot.waitUntil(lambda: pane.data_model.rowCount() > 0, timeout=TIMEOUT_MS)
    assert_menus_everywhere(pane)
    tree_menu = context_menu.build_menu(pane.tree)
    assert {"Open lineage", "Copy", "Export as CSV…"} <= set(texts(tree_menu))

    view = pane.data_view
    menu = context_menu.build_menu(view, [4])
    action(menu, "Copy").trigger()
    header, rows = shown_table(view)
    assert QApplication.clipboard().text() == "\t".join(header) + "\n" + "\t".join(rows[4]) + "\n"

    path = save_to("loans.csv")
    written = export(qtbot, view, path, notices)
    assert written[0] == header
    assert len(written) - 1 == view.model().rowCount() == 2000


def test_experiments_menus_compare_and_register(qtbot, open_pane, save_to, notices):
    pane = open_pane(experiments.Pane, "ana")
    assert_menus_everywhere(pane)
    view = pane.runs_view
    assert pane.runs_model.rowCount() == 2
    menu = context_menu.build_menu(view, [0])
    compare = action(menu, "Compare selected")
    assert not compare.isEnabled() and "two or more" in compare.toolTip()
    run_id = pane.runs_model.record(0)["id"]
    assert {f"Open run #{run_id}", "Register as model version…", "Copy",
            "Export as CSV…"} <= set(texts(menu))
    assert action(menu, "Register as model version…").isEnabled()

    menu = context_menu.build_menu(view, [0, 1])
    compare = action(menu, "Compare selected")
    assert compare.isEnabled()
    compare.trigger()
    qtbot.waitUntil(lambda: len(pane.compared) == 2, timeout=TIMEOUT_MS)
    assert pane.tabs.currentIndex() == 1 and pane.compare_stack.currentIndex() == 1
    assert sorted(r["id"] for r in pane.compared) == sorted(pane.selected_run_ids())

    action(menu, "Copy").trigger()
    header, rows = shown_table(view)
    assert QApplication.clipboard().text().splitlines() == ["\t".join(r) for r in [header] + rows]

    written = export(qtbot, view, save_to("runs.csv"), notices)
    assert written == [header] + rows
    settled(qtbot, pane)


def test_registry_menu_follows_the_role(qtbot, open_pane, save_to, notices):
    ana = open_pane(registry.Pane, "ana")
    assert_menus_everywhere(ana)
    assert ana.select_version("loans:1")
    settled(qtbot, ana)
    menu = context_menu.build_menu(ana.tree)
    export_entry = action(menu, "Export bundle…")
    assert not export_entry.isEnabled()
    assert export_entry.toolTip() == ana.export_button.toolTip()
    assert "ops" in export_entry.toolTip()  # the core's role refusal, as the button says it
    run_id = ana.detail["run_id"]
    assert f"Open run #{run_id}" in texts(menu)

    written = export(qtbot, ana.tree, save_to("registry.csv"), notices)
    assert written[0] == ["Model / version", "Status", "Aliases", "By", "Created"]
    assert len(written) == 1 + 3  # the model, then its two versions
    assert [r[1] for r in written[2:]] == ["pending", "approved"]

    oscar = open_pane(registry.Pane, "oscar")
    assert oscar.select_version("loans:1")
    settled(qtbot, oscar)
    assert action(context_menu.build_menu(oscar.tree), "Export bundle…").isEnabled()


def test_registry_open_lineage(qtbot, open_pane):
    pane = open_pane(registry.Pane, "ana")
    assert pane.select_version("loans:1")
    settled(qtbot, pane)
    entry = action(context_menu.build_menu(pane.tree), "Open lineage")
    if not HAS_LINEAGE:
        assert not entry.isEnabled() and "lineage" in entry.toolTip()
        pytest.skip(NO_LINEAGE)
    before = {id(w) for w in QApplication.topLevelWidgets()}
    entry.trigger()
    qtbot.waitUntil(lambda: any(w.isVisible() and id(w) not in before and
                                "Lineage" in type(w).__name__
                                for w in QApplication.topLevelWidgets()), timeout=TIMEOUT_MS)


def test_approvals_menu_opens_the_run(qtbot, open_pane, save_to, notices):
    pane = open_pane(approvals.Pane, "rita")
    assert_menus_everywhere(pane)
    assert pane.queue_refs() == ["loans:2"]
    menu = context_menu.build_menu(pane.view, [0])
    run_id = pane.model.record(0)["run_id"]
    with qtbot.waitSignal(pane.navigate) as signal:
        action(menu, f"Open run #{run_id}").trigger()
    assert signal.args == ["experiments", run_id]
    assert "Open lineage" in texts(menu)
    written = export(qtbot, pane.view, save_to("queue.csv"), notices)
    assert written[1][0] == "loans:2" and len(written) == 2


def test_monitoring_menus(qtbot, open_pane, save_to, notices):
    pane = open_pane(mpane.Pane, "oscar")
    qtbot.waitUntil(lambda: bool(pane.batches), timeout=TIMEOUT_MS)
    settled(qtbot, pane)
    assert_menus_everywhere(pane)
    view = pane.batches_tab.batches_view
    batch_id = pane.batches[0]["id"]
    menu = context_menu.build_menu(view, [0])
    assert {f"Open lineage of batch #{batch_id}", "Open lineage of loans:1", "Copy",
            "Export as CSV…"} <= set(texts(menu))
    action(menu, "Copy").trigger()
    header, rows = shown_table(view)
    assert QApplication.clipboard().text().splitlines()[1] == "\t".join(rows[0])
    written = export(qtbot, view, save_to("batches.csv"), notices)
    assert written == [header] + rows

    alerts = pane.alerts_tab
    assert alerts.open_alerts(), "the shifted batch should raise an alert"
    menu = context_menu.build_menu(alerts.alerts_view, [0])
    ack = action(menu, alerts.ack_button.text())
    assert ack.isEnabled() == alerts.ack_button.isEnabled()


def test_train_on_this_dataset_opens_it_in_the_train_form(qtbot, tmp_path):
    """Datasets → right-click → Train on this dataset: Experiments gets ("dataset", id) and
    its form shows that version, also one imported after the form's list was read."""
    from lablift.core import datasets as core_datasets
    store = Store(tmp_path / "store", user="ana")
    first = core_datasets.import_dataset(store, SAMPLE_LOANS, name="loans")["id"]
    core_datasets.import_dataset(store, SAMPLE_LOANS, name="other")
    opened: list = []
    data_pane = pane_opener(qtbot, datasets.Pane, opened)(store)
    exp_pane = pane_opener(qtbot, experiments.Pane, opened)(Store(tmp_path / "store",
                                                                    user="ana"))
    assert exp_pane.dataset_combo.currentText() == "other:1"  # the newest, at first
    assert data_pane.select_version(first)
    asked = []
    data_pane.navigate.connect(lambda pane, ref: asked.append((pane, ref)))
    action(context_menu.build_menu(data_pane.tree), "Train on this dataset").trigger()
    assert asked == [("experiments", ("dataset", first))]
    exp_pane.show_ref(asked[0][1])
    assert exp_pane.dataset_combo.currentData() == first

    late = core_datasets.import_dataset(store, SAMPLE_LOANS, name="late")["id"]
    exp_pane.show_ref(("dataset", late))
    qtbot.waitUntil(lambda: exp_pane.dataset_combo.currentData() == late, timeout=TIMEOUT_MS)
    assert exp_pane.dataset_combo.currentText() == "late:1"
    for pane in opened:
        settled(qtbot, pane)
    store.close()
