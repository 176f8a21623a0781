"""Registry pane: models, versions, aliases, lineage, Set alias / Archive / Export bundle from
the pane with the core's refusals, one click to the run and the data. Real widgets, real runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from lablift.cli import main
from lablift.core import audit, bundles, registry
from lablift.gui.main_window import MainWindow
from lablift.gui.panes import registry as rpane

from gui_helpers import notices, pane_opener, settled  # noqa: F401  (a fixture)
from registry_gui_helpers import Stores, build_template, history_rows

TIMEOUT_MS = 60000


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("registry") / "store")


@pytest.fixture
def stores(template, tmp_path):
    s = Stores(template, tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def world(stores):
    """loan:1 approved by bob and production; loan:2 pending."""
    registry.register(stores("alice"), 1, "loan")
    registry.approve(stores("bob"), "loan:1", comment="fine")
    registry.set_alias(stores("olga"), "loan:1", "production")
    registry.register(stores("alice"), 2, "loan")
    return stores


@pytest.fixture
def open_pane(qtbot):
    opened = []
    yield pane_opener(qtbot, rpane.Pane, opened)
    for p in opened:
        settled(qtbot, p)


def _tree(pane) -> dict[str, list[list[str]]]:
    out = {}
    for i in range(pane.tree.topLevelItemCount()):
        top = pane.tree.topLevelItem(i)
        out[top.text(0).split()[0]] = [[top.child(j).text(c) for c in range(5)]
                            for j in range(top.childCount())]
    return out


def test_lists_models_versions_status_aliases_and_attention(qtbot, world, open_pane):
    olga = world("olga")
    registry.mark_attention(olga, registry.resolve_version(olga, "loan:1")["id"],
                            "drift in income")
    pane = open_pane(olga)
    rows = _tree(pane)
    assert list(rows) == ["loan"]
    assert [r[:4] for r in rows["loan"]] == [["v2", "pending", "", "alice"],
                                            ["⚠ v1", "approved", "production", "alice"]]
    top = pane.tree.topLevelItem(0)
    assert top.text(0) == "loan   (2 versions; production→1)" and top.isFirstColumnSpanned()
    assert "drift in income" in top.child(1).toolTip(0)
    # The first model's latest version is selected; its lineage chain is the first tab.
    assert pane.detail["ref"] == "loan:2"
    assert "href='run:2'" in pane.evidence.header.text()
    assert "href='dataset:1'" in pane.evidence.header.text()
    assert pane.evidence.tabs.currentIndex() == pane.evidence.tab_index["lineage"]
    assert pane.select_version("loan:production")
    qtbot.waitUntil(lambda: pane.detail["ref"] == "loan:1", timeout=TIMEOUT_MS)
    chain = pane.evidence.lineage.text()
    assert "loans:1" in chain and "run #1" in chain
    assert "approved by bob" in chain and "“fine”" in chain
    assert "needs attention" in pane.evidence.header.text()


def test_set_alias_production_on_approved_through_the_dialog(qtbot, world, open_pane,
                                                             monkeypatch):
    olga = world("olga")
    pane = open_pane(olga)
    assert pane.select_version("loan:1")
    settled(qtbot, pane)
    asked = []

    def fake_get_item(parent, title, label, items, current=0, editable=True):
        asked.append(items)
        return "staging", True
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(fake_get_item))
    messages = []
    pane.message.connect(messages.append)
    qtbot.mouseClick(pane.alias_button, Qt.MouseButton.LeftButton)
    settled(qtbot, pane)
    assert "production" in asked[0]
    assert registry.resolve_version(olga, "loan:staging")["version"] == 1
    assert messages[-1] == "loan:staging now points at loan:1"
    last = audit.entries(olga)[0]
    assert (last["action"], last["user"], last["details"]["alias"]) == ("alias.set", "olga",
                                                                       "staging")
    assert pane.detail["ref"] == "loan:1" and "staging" in pane.evidence.header.text()
    assert _tree(pane)["loan"][1][2] == "production, staging"


def test_production_on_pending_is_refused_with_the_core_message(qtbot, world, open_pane,
                                                                notices):
    olga = world("olga")
    pane = open_pane(olga)
    assert pane.detail["ref"] == "loan:2" and pane.alias_button.isEnabled()
    before = len(audit.entries(olga))
    task = pane.set_alias("production")
    with qtbot.waitSignal(task.failed, timeout=TIMEOUT_MS):
        pass
    assert [(n.level, n.title, n.text) for n in notices] == [
        ("warning", "Alias refused", "alias 'production' may only point at an approved "
                                     "version; loan:2 is pending")]
    settled(qtbot, pane)
    assert registry.resolve_version(olga, "loan:production")["version"] == 1
    assert len(audit.entries(olga)) == before


def test_buttons_disabled_with_the_reason_for_role_and_status(qtbot, world, open_pane):
    alice = open_pane(world("alice"))  # analyst, on pending loan:2
    for button in (alice.alias_button, alice.archive_button, alice.export_button):
        assert not button.isEnabled()
    assert alice.alias_button.toolTip() == ("setting an alias needs the role ops or admin; "
                                            "user 'alice' is analyst")
    assert "exporting a bundle needs the role" in alice.reason_label.text()

    olga = open_pane(world("olga"))
    assert olga.alias_button.isEnabled() and olga.archive_button.isEnabled()
    assert not olga.export_button.isEnabled()
    assert "only an approved version can be exported" in olga.export_button.toolTip()
    olga.select_version("loan:1")
    qtbot.waitUntil(olga.export_button.isEnabled, timeout=TIMEOUT_MS)
    assert not olga.archive_button.isEnabled()  # production points at it
    assert "aliased as production" in olga.archive_button.toolTip()
    assert "Archive:" in olga.reason_label.text()


def test_archive_from_the_pane(qtbot, world, open_pane, monkeypatch):
    olga = world("olga")
    pane = open_pane(olga)
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    qtbot.mouseClick(pane.archive_button, Qt.MouseButton.LeftButton)
    settled(qtbot, pane)
    assert registry.resolve_version(olga, "loan:2")["status"] == "archived"
    assert _tree(pane)["loan"][0][1] == "archived"
    assert not pane.archive_button.isEnabled() and not pane.alias_button.isEnabled()


def test_export_bundle_from_the_pane(qtbot, world, open_pane, monkeypatch, tmp_path):
    olga = world("olga")
    pane = open_pane(olga)
    pane.select_version("loan:1")
    settled(qtbot, pane)
    target = tmp_path / "exports"
    target.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(target)))
    progress = []
    messages = []
    pane.message.connect(messages.append)
    qtbot.mouseClick(pane.export_button, Qt.MouseButton.LeftButton)
    task = pane.export_task
    assert task is not None and pane.is_busy() and not pane.export_button.isEnabled()
    assert pane.export_bar.isVisible()
    task.progress.connect(lambda f, m: progress.append(f))
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT_MS)

    out = target / "loan-v1"
    assert task.state == "finished", task.error
    assert (out / "SHA256SUMS").is_file() and (out / "MLmodel").is_file()
    assert bundles.verify(out, olga)["ok"]
    row = olga.query_one("SELECT path, created_by FROM bundles")
    assert Path(row["path"]) == out and row["created_by"] == "olga"
    assert messages[-1] == f"Exported loan:1 to {out}"
    assert str(out) in pane.last_dialog.text()
    assert progress and progress == sorted(progress)
    assert pane.export_bar.isHidden() and pane.export_button.isEnabled()
    assert str(out) in pane.evidence.lineage.text()  # the chain gained the bundle
    # A second export never writes over the first: the pane picks a new folder.
    assert pane.bundle_path(target) == target / "loan-v1-2"


def test_export_refusal_is_shown_in_a_dialog(qtbot, world, open_pane, tmp_path, notices):
    pane = open_pane(world("olga"))
    pane.select_version("loan:1")
    settled(qtbot, pane)
    existing = tmp_path / "taken"
    existing.mkdir()
    task = pane.export_bundle(existing)
    with qtbot.waitSignal(task.failed, timeout=TIMEOUT_MS):
        pass
    qtbot.waitUntil(lambda: bool(notices), timeout=TIMEOUT_MS)
    assert [(n.level, n.title) for n in notices] == [("error", "Export failed")]
    assert "already exists" in notices[0].text
    assert pane.store.query("SELECT * FROM bundles") == []


def test_open_run_dialog_without_experiments_pane(qtbot, world, open_pane):
    pane = open_pane(world("bob"))
    qtbot.mouseClick(pane.evidence.lineage.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.run_dialog is not None, timeout=TIMEOUT_MS)
    dialog = pane.run_dialog
    assert dialog is not None and dialog.isVisible()
    text = dialog.browser.toPlainText()
    assert "Run 2: logistic_regression" in text and "roc_auc" in text and "C" in text


def test_open_data_and_run_in_the_main_window(qtbot, world):
    bob = world("bob")
    window = MainWindow(bob, restore_state=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    pane = settled(qtbot, window.select_pane("registry"))
    qtbot.mouseClick(pane.evidence.lineage.data_button, Qt.MouseButton.LeftButton)
    assert window.current_pane_name() == "datasets"
    datasets_pane = settled(qtbot, window.pane("datasets"))
    assert datasets_pane.selected_id() == pane.detail["dataset"]["id"]
    window.select_pane("registry")
    pane.evidence.header.linkActivated.emit("run:2")  # the "run #2" link in the header
    experiments = window.pane("experiments")
    if experiments is not None and hasattr(experiments, "select_run"):
        assert window.current_pane_name() == "experiments"
    else:
        assert pane.run_dialog is not None and pane.run_dialog.isVisible()
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=TIMEOUT_MS)
    for p in window.panes.values():  # let every pane's first load end before teardown
        if hasattr(p, "is_busy"):
            qtbot.waitUntil(lambda p=p: not p.is_busy(), timeout=TIMEOUT_MS)


def test_empty_registry_and_screenshot(qtbot, tmp_path, stores, open_pane):
    pane = open_pane(stores("olga"))
    assert pane.pages.currentWidget() is pane.empty
    registry.register(stores("alice"), 1, "loan")
    pane.refresh()
    settled(qtbot, pane)
    assert pane.pages.currentWidget() is pane.splitter and pane.detail["ref"] == "loan:1"
    png = tmp_path / "registry.png"
    assert main(["--store", str(stores.root), "--user", "olga", "gui", "--screenshot",
                 str(png), "--pane", "registry"]) == 0
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1280, 800)
    colours = {image.pixel(x, y) for x in range(0, 1280, 7) for y in range(0, 800, 7)}
    assert len(colours) > 20


def test_analyst_writes_the_model_card_until_the_version_is_decided(qtbot, world, open_pane):
    alice = world("alice")
    pane = open_pane(alice)
    assert pane.detail["ref"] == "loan:2" and pane.card_button.isEnabled()
    qtbot.mouseClick(pane.card_button, Qt.MouseButton.LeftButton)
    dialog = pane.card_dialog
    assert dialog.isVisible() and set(dialog.fields) == {
        "intended_use", "factors", "ethical_considerations", "caveats"}
    dialog.fields["intended_use"].setPlainText("Pre-screening of consumer loan applications.")
    dialog.accept()
    settled(qtbot, pane)
    assert registry.resolve_version(alice, "loan:2")["card"]["intended_use"] == (
        "Pre-screening of consumer loan applications.")
    assert "Pre-screening of consumer loan applications." in (
        pane.evidence.card_browser.toPlainText())
    assert audit.entries(alice)[0]["action"] == "version.card"

    pane.select_version("loan:1")  # approved: the card is frozen
    settled(qtbot, pane)
    assert pane.detail["ref"] == "loan:1"
    assert not pane.card_button.isEnabled()
    assert "frozen" in pane.card_button.toolTip() and "Edit card" in pane.reason_label.text()
    olga = open_pane(world("olga"))
    assert not olga.card_button.isEnabled()
    assert "needs the role analyst" in olga.card_button.toolTip()
    assert "Edit card" not in olga.reason_label.text()  # not an ops concern


@pytest.fixture
def two_in_production(world):
    """world, then loan:2 approved by rita and production moved to it by olga."""
    registry.approve(world("rita"), "loan:2", comment="better recall")
    registry.set_alias(world("olga"), "loan:2", "production")
    return world


def test_roll_back_production_from_the_pane(qtbot, two_in_production, open_pane,
                                            monkeypatch):
    olga = two_in_production("olga")
    pane = open_pane(olga)
    assert pane.detail["ref"] == "loan:2"
    button = pane.rollback_button
    assert button.text() == "Roll back production…" and button.isEnabled()
    assert button.toolTip() == ("Move loan:production back from loan:2 to loan:1, its "
                                "previous target that is still approved")
    asked = []

    def fake_question(parent, title, text, *a, **k):
        asked.append((title, text))
        return QMessageBox.StandardButton.Yes
    monkeypatch.setattr(QMessageBox, "question", staticmethod(fake_question))
    messages = []
    pane.message.connect(messages.append)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    settled(qtbot, pane)
    assert asked[0][0] == "Roll back production"
    assert asked[0][1].startswith("Roll back loan:production from loan:2 to loan:1?")
    assert registry.resolve_version(olga, "loan:production")["version"] == 1
    assert messages[-1] == "loan:production rolled back from loan:2 to loan:1"
    last = audit.entries(olga, limit=1)[0]
    assert (last["action"], last["user"], last["details"]) == (
        "alias.set", "olga", {"alias": "production", "old": "loan:2", "new": "loan:1",
                              "rollback": True})
    # Nothing earlier than loan:1: the button closes with the core's reason.
    assert not pane.rollback_button.isEnabled()
    assert pane.rollback_button.toolTip() == (
        "loan has no earlier approved version for 'production' to roll back to (history: "
        "loan:1, loan:2, rolled back to loan:1)")
    assert "Roll back" not in pane.reason_label.text()  # the normal state, not a warning
    # The History tab of loan:1 shows its alias moves among its approval and registration.
    pane.select_version("loan:1")
    qtbot.waitUntil(lambda: pane.detail["ref"] == "loan:1", timeout=TIMEOUT_MS)
    rows = [r[2:] for r in history_rows(pane)]
    assert rows[:3] == [["olga", "production rolled back", "loan:2 → loan:1"],
                        ["olga", "production set", "loan:1 → loan:2"],
                        ["olga", "production set", "unset → loan:1"]]
    assert [r[1] for r in rows[3:]] == ["version.approve", "version.register"]
    assert rows[3][0] == "bob"


def test_rollback_is_role_gated_and_refused_when_history_changed(qtbot, two_in_production,
                                                                 open_pane, notices):
    alice = open_pane(two_in_production("alice"))
    assert not alice.rollback_button.isEnabled()
    assert alice.rollback_button.toolTip() == ("setting an alias needs the role ops or admin; "
                                               "user 'alice' is analyst")
    olga = two_in_production("olga")
    pane = open_pane(olga)
    plan = pane.detail["rollback"]["plan"]
    assert (plan["from"], plan["to"]) == ("loan:2", "loan:1")
    # Someone moves production before the confirmation is answered: the rollback refuses
    # rather than go somewhere the dialog did not name.
    registry.rollback_alias(two_in_production("admin"), "loan", "production")
    task = pane.rollback(plan)
    with qtbot.waitSignal(task.failed, timeout=TIMEOUT_MS):
        pass
    assert [(n.level, n.title) for n in notices] == [("warning", "Rollback refused")]
    assert "loan has no earlier approved version for 'production'" in notices[0].text
    settled(qtbot, pane)
    assert registry.resolve_version(olga, "loan:production")["version"] == 1
    assert not pane.rollback_button.isEnabled()


def test_context_menu_offers_the_rollback_as_the_button_does(qtbot, two_in_production,
                                                             open_pane):
    pane = open_pane(two_in_production("olga"))
    entries = [e for e in pane._context_actions([]) if e]
    rollback = next(e for e in entries if e[0] == "Roll back production…")
    assert rollback[2] is None and "from loan:2 to loan:1" in rollback[3]
