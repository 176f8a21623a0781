"""First contact in the GUI: an empty store's Datasets pane (and a one-time banner) offers the
sample project, which runs in a worker and leaves a dataset and a version pending review that
the Approvals and Registry panes show; Help → Tour walks a role's steps, selecting each step's
pane and outlining the widget it is about. Real widgets on embedded stores."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, Qt

from gui_helpers import notices, settled  # noqa: F401  (notices is a fixture)
from lablift.core import sample_project
from lablift.core.store import Store
from lablift.gui import tour
from lablift.gui.app import _application
from lablift.gui.main_window import MainWindow

TIMEOUT_MS = 60000


@pytest.fixture(autouse=True)
def _app(qapp):
    _application()
    QSettings().clear()


@pytest.fixture
def cheap_runs(monkeypatch):
    """Two quick runs instead of the shipped ones (tests/test_sample_project.py trains those):
    a baseline and a shallow tree, holdout only."""
    monkeypatch.setattr(sample_project, "RUNS", (("dummy", {}),
                                                 ("decision_tree", {"max_depth": 3})))
    monkeypatch.setattr(sample_project, "CV_FOLDS", 0)


def open_window(qtbot, store) -> MainWindow:
    window = MainWindow(store, restore_state=False, watch=False)
    qtbot.addWidget(window)
    window.resize(1024, 640)
    window.show()
    qtbot.waitExposed(window)
    settled(qtbot, window.pane("datasets"))
    return window


def menu_action(window, menu_title: str, text: str):
    for top in window.menuBar().actions():
        if top.text().replace("&", "") == menu_title:
            for action in top.menu().actions():
                if action.text().replace("&", "") == text:
                    return action
    raise AssertionError(f"no {menu_title} → {text}")


def test_empty_store_offers_the_sample_project_and_makes_it(qtbot, tmp_path, notices,
                                                            cheap_runs):
    store = Store(tmp_path / "store", user="ana")  # the first user: the store's admin
    window = open_window(qtbot, store)
    pane = window.pane("datasets")
    assert pane.pages.currentIndex() == 0  # the empty state
    button = pane.empty.project_button
    assert button.isVisible() and button.isEnabled() and button.text() == "Create sample project"
    assert pane.empty.import_button.isVisible()
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)  # the welcome
    assert "This store is empty" in window.banner.label.text()
    assert window.banner.action_button.text() == "Create sample project"

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert pane.sample_project.strip.isVisible() and not button.isEnabled()
    assert not pane.empty.import_button.isEnabled()  # one thing at a time
    qtbot.waitUntil(lambda: not pane.is_busy("sample project"), timeout=TIMEOUT_MS)
    settled(qtbot, pane)
    assert not pane.sample_project.strip.isVisible()
    assert pane.pages.currentIndex() == 1
    assert pane.tree.topLevelItem(0).text(0) == "sample_loans"
    said = [n.text for n in notices if n.level == "info"]
    assert any("loans-sample:1 pending review" in t and "Open Approvals" in t for t in said)
    assert not [n for n in notices if n.level != "info"]
    assert "Next:" in window.banner.label.text()
    assert window.banner.action_button.text() == "Open Approvals"

    window.banner.action_button.click()  # the banner's next step
    assert window.current_pane_name() == "approvals"
    approvals = settled(qtbot, window.pane("approvals"))
    assert approvals.queue_refs() == ["loans-sample:1"]
    assert "four-eyes" in approvals.decision.reason.text()  # ana made it: someone else decides
    registry = window.pane("registry")
    window.select_pane("registry")
    settled(qtbot, registry)
    assert [(v["model"], v["version"], v["status"]) for v in registry.versions] == [
        ("loans-sample", 1, "pending")]


def test_cancel_stops_the_sample_project_and_says_so(qtbot, tmp_path, notices, cheap_runs):
    window = open_window(qtbot, Store(tmp_path / "store", user="ana"))
    pane = window.pane("datasets")
    qtbot.mouseClick(pane.empty.project_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(pane.sample_project.strip.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not pane.is_busy("sample project"), timeout=TIMEOUT_MS)
    settled(qtbot, pane)
    assert any(n.text.startswith("Sample project cancelled") for n in notices)
    assert not pane.sample_project.strip.isVisible() and pane.empty.project_button.isEnabled()
    assert sample_project.is_empty(window.store)  # cancelled before its first write


def test_a_user_who_may_not_import_sees_why_and_no_sample_offer(qtbot, tmp_path, notices):
    Store(tmp_path / "store", user="admin").add_user("rita", "reviewer")
    window = open_window(qtbot, Store(tmp_path / "store", user="rita"))
    button = window.pane("datasets").empty.project_button
    assert not button.isEnabled() and "needs the role analyst" in button.toolTip()
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=5000)
    assert window.banner.action_button.text() == "Open the tour"
    window.banner.action_button.click()
    panel = window.findChild(tour.TourPanel)
    qtbot.waitUntil(lambda: panel.track == "reviewer", timeout=5000)  # once her role is read
    assert window.current_pane_name() == "approvals"
    assert "Needs reviewer: you may" in panel.needs.text()


def outlined(panel) -> QRect:
    """The target's rectangle in window coordinates, as the outline should surround it."""
    target = panel.highlight.target
    return QRect(target.mapTo(panel.window_, QPoint(0, 0)), target.size())


def test_tour_opens_from_help_and_walks_the_analyst_track(qtbot, tmp_path):
    Store(tmp_path / "store", user="boss").add_user("ana", "analyst")
    window = open_window(qtbot, Store(tmp_path / "store", user="ana"))
    menu_action(window, "Help", "Tour").trigger()
    panel = window.findChild(tour.TourPanel)
    assert panel is not None and panel.isVisible()
    qtbot.waitUntil(lambda: panel.people is not None, timeout=5000)
    assert panel.track == "analyst" and "ana (analyst)" in panel.you.text()
    assert window.current_pane_name() == "datasets"
    qtbot.waitUntil(lambda: panel.highlight.isVisible(), timeout=5000)
    assert panel.highlight.target is window.pane("datasets").empty.project_button
    assert panel.highlight.geometry().contains(outlined(panel))
    assert "you may" in panel.needs.text()

    qtbot.mouseClick(panel.next_button, Qt.MouseButton.LeftButton)
    assert window.current_pane_name() == "experiments"
    assert "Train a model" in panel.heading.text()
    experiments = window.pane("experiments")
    settled(qtbot, experiments)
    qtbot.waitUntil(lambda: panel.highlight.isVisible() and panel.highlight.target is not None,
                    timeout=5000)
    # no dataset yet: the pane's way to Datasets is what there is to point at
    assert panel.highlight.target is experiments.no_datasets.go_button
    assert panel.highlight.target.isVisible()
    assert panel.highlight.geometry().contains(outlined(panel))

    qtbot.mouseClick(panel.back_button, Qt.MouseButton.LeftButton)
    assert window.current_pane_name() == "datasets" and panel.index == 0

    panel.tracks.setCurrentIndex(panel.track_keys.index("reviewer"))
    assert window.current_pane_name() == "approvals"
    needs = panel.needs.text()
    assert "You are ana (analyst)" in needs and "need the role reviewer" in needs
    # boss, an admin, may approve; how to work as him is what this window offers
    sign_in = tour._menu_path(window, "Sign in")
    assert "(here: boss)" in needs
    assert (sign_in in needs) if sign_in else ("lablift --user boss" in needs)
    panel.close()
    assert not panel.highlight.isVisible()
