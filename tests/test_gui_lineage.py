"""The lineage dialog (gui/lineage.py): the tree from the dataset version down, the asked-for
item highlighted and its path expanded; double-click or Enter opens a row in its pane; View →
Lineage… (Ctrl+L) opens it on what the current pane has selected."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from bundle_helpers import build_world
from gui_helpers import TIMEOUT_MS, notices, settled  # noqa: F401  (a fixture)
from lablift.core import registry
from lablift.gui.lineage import LineageDialog, pane_selection, show_lineage
from lablift.gui.main_window import MainWindow


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = build_world(tmp_path_factory.mktemp("gui_lineage"))
    yield w
    for s in (w["store"], w["ana"], w["oscar"]):
        s.close()


@pytest.fixture
def host(qtbot):
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


def opened(qtbot, host, store, kind, ref) -> LineageDialog:
    dialog = show_lineage(host, store, kind, ref)
    qtbot.waitUntil(lambda: dialog.graph is not None, timeout=TIMEOUT_MS)
    return dialog


def rows(dialog, parent=None):
    """(index, node) of every row under `parent`, depth first."""
    model = dialog.model
    parent = parent if parent is not None else model.invisibleRootItem().index()
    out = []
    for r in range(model.rowCount(parent)):
        index = model.index(r, 0, parent)
        out.append((index, dialog.node_at(index)))
        out += rows(dialog, index)
    return out


def row_of(dialog, node_id):
    return next(index for index, node in rows(dialog) if node["id"] == node_id)


def test_the_dialog_shows_the_tree_with_the_version_highlighted(qtbot, host, world):
    v1 = registry.resolve_version(world["store"], "loans:1")
    dialog = opened(qtbot, host, world["store"], "version", "loans:1")
    assert dialog.isVisible() and not dialog.isModal()
    model = dialog.model
    assert model.rowCount() == 1 and model.index(0, 0).data() == "Dataset  loans v1"
    runs = [model.index(r, 0, model.index(0, 0)).data() for r in range(model.rowCount(
        model.index(0, 0)))]
    assert runs == [f"Run  #{world['run']['id']} logistic_regression",
                    f"Run  #{world['run']['id'] + 1} decision_tree"]
    focus = row_of(dialog, f"version:{v1['id']}")
    assert dialog.tree.currentIndex() == focus and focus.data() == "Version  loans:1"
    assert focus.data(Qt.ItemDataRole.FontRole).bold()
    assert focus.siblingAtColumn(1).data() == "approved"
    # the path to it and below it is open; the pending sibling's run is not
    assert dialog.tree.isExpanded(focus) and dialog.tree.isExpanded(focus.parent())
    assert not dialog.tree.isExpanded(row_of(dialog, f"run:{world['run']['id'] + 1}"))
    below = {model.index(r, 0, focus).data(): model.index(r, 2, focus).data()
             for r in range(model.rowCount(focus))}
    assert below == {"Approval  approved by rita": "rita",
                     f"Bundle  #{world['exported']['id']} {world['bundle']}": "oscar"}
    assert "loans:1" in dialog.heading.text() and "approved · by ana" in dialog.detail.text()


def test_double_click_on_a_run_and_enter_on_a_version_navigate(qtbot, host, world):
    dialog = opened(qtbot, host, world["store"], "bundle", world["bundle"])
    run = row_of(dialog, f"run:{world['run']['id']}")
    dialog.tree.scrollTo(run)
    where = dialog.tree.visualRect(run).center()
    with qtbot.waitSignal(dialog.navigate, timeout=5000) as signal:
        # a view acts on a double-click only on the row its press went to, as a user's does
        qtbot.mouseClick(dialog.tree.viewport(), Qt.MouseButton.LeftButton, pos=where)
        qtbot.mouseDClick(dialog.tree.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert signal.args == ["experiments", world["run"]["id"]]
    v2 = registry.resolve_version(world["store"], "loans:2")
    dialog.tree.setCurrentIndex(row_of(dialog, f"version:{v2['id']}"))
    dialog.tree.setFocus()
    with qtbot.waitSignal(dialog.navigate, timeout=5000) as signal:
        qtbot.keyClick(dialog.tree, Qt.Key.Key_Return)
    assert signal.args == ["registry", "loans:2"]


def test_an_unknown_item_is_said_in_the_dialog(qtbot, host, world, notices):
    dialog = show_lineage(host, world["store"], "run", 4242)
    qtbot.waitUntil(lambda: bool(notices), timeout=TIMEOUT_MS)
    assert notices[0].level == "error" and "run 4242 not found" in notices[0].text
    assert "run 4242 not found" in dialog.heading.text() and dialog.model.rowCount() == 0


def test_view_lineage_from_the_registry_opens_the_selected_version(qtbot, world, notices):
    window = MainWindow(world["ana"], restore_state=False, watch=False)
    qtbot.addWidget(window)
    window.resize(1024, 640)
    window.show()
    pane = settled(qtbot, window.select_pane("registry"))
    assert pane.select_version("loans:2")
    settled(qtbot, pane)
    v2 = registry.resolve_version(world["store"], "loans:2")
    assert pane_selection(pane) == ("version", v2["id"])
    assert window.lineage_action.shortcut().toString() == "Ctrl+L"
    assert window.lineage_action in window.menuBar().actions()[1].menu().actions()
    window.lineage_action.trigger()
    dialog = window.lineage_dialog
    qtbot.waitUntil(lambda: dialog.graph is not None, timeout=TIMEOUT_MS)
    assert dialog.graph["focus"] == f"version:{v2['id']}"
    assert dialog.tree.currentIndex().data() == "Version  loans:2"
    # a row opens its pane in the window: the run, in Experiments
    run = row_of(dialog, f"run:{world['run']['id']}")
    dialog.tree.activated.emit(run)
    assert window.current_pane_name() == "experiments"
    experiments = window.pane("experiments")
    qtbot.waitUntil(lambda: experiments.current_run_id() == world["run"]["id"],
                    timeout=TIMEOUT_MS)
    assert pane_selection(experiments) == ("run", world["run"]["id"])
    dialog.close()
    for p in window.panes.values():  # every pane's load ends before teardown
        if hasattr(p, "is_busy"):
            qtbot.waitUntil(lambda p=p: not p.is_busy(), timeout=TIMEOUT_MS)
    assert not [n for n in notices if n.level != "info"]
