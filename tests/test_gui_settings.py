"""File → Settings…: the store's monitoring settings and default gates (read and written in
workers, admin only, audited), this machine's Dask scheduler, local workers and theme
(QSettings), and the recent stores, driven through the real dialog on a real MainWindow."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from lablift.core import audit, registry
from lablift.core.errors import PermissionDenied
from lablift.core import monitoring as monitoring_settings
from lablift.core.store import Store
from lablift.gui.app import _application
from lablift.gui.connect import recent_stores, remember_store
from lablift.gui.main_window import MainWindow
from lablift.gui.settings import SettingsDialog, scheduler_setting
from lablift.gui.settings import machine, machine_pages, monitoring_page
from gui_helpers import notices  # noqa: F401  (fixture)

TIMEOUT_MS = 20000


@pytest.fixture(autouse=True)
def _app(qapp):
    _application()  # names QSettings' organisation/application as the real app does
    QSettings().clear()
    yield
    QSettings().clear()


@pytest.fixture
def open_window(qtbot):
    opened = []

    def open_(store):
        window = MainWindow(store, restore_state=False, watch=False)
        qtbot.addWidget(window)
        window.resize(1000, 700)
        window.show()
        opened.append(window)
        return window
    yield open_
    for window in opened:
        for dialog in window.findChildren(SettingsDialog):
            qtbot.waitUntil(lambda d=dialog: not d.is_busy(), timeout=TIMEOUT_MS)
        qtbot.waitUntil(lambda w=window: not w.is_busy(), timeout=TIMEOUT_MS)


def settings_from_menu(qtbot, window) -> SettingsDialog:
    """File → Settings…, as a user opens it; returns the dialog once the store is read."""
    window.settings_action.trigger()
    dialog = next(d for d in window.findChildren(SettingsDialog) if d.isVisible())
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=TIMEOUT_MS)
    return dialog


def type_into(qtbot, edit, text: str) -> None:
    edit.selectAll()
    edit.clear()
    qtbot.keyClicks(edit, text)


def saved(qtbot, dialog, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=TIMEOUT_MS)


def add_gate(qtbot, editor, metric: str, rule: str, value: str) -> None:
    editor.metric.setCurrentText(metric)
    editor.rule.setCurrentIndex(editor.rule.findData(rule))
    type_into(qtbot, editor.value, value)
    qtbot.mouseClick(editor.add_button, Qt.MouseButton.LeftButton)


def test_settings_action_is_in_the_file_menu_with_the_preferences_shortcut(qtbot, store_dir,
                                                                            open_window):
    window = open_window(Store(store_dir, user="ana"))
    file_menu = window.menuBar().actions()[0].menu()
    assert window.settings_action in file_menu.actions()
    assert window.settings_action.text().replace("&", "") == "Settings…"
    assert not window.settings_action.shortcut().isEmpty()
    assert window.settings_action.shortcut() == QKeySequence("Ctrl+,")  # no platform keys here
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # a window shortcut needs its window active
    qtbot.keyClick(window, ",", Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: any(d.isVisible() for d in window.findChildren(SettingsDialog)))
    dialog = settings_from_menu(qtbot, window)
    window.settings_action.trigger()  # a second time raises the same dialog
    assert window.findChildren(SettingsDialog) == [dialog]
    assert [p.title for p in dialog.pages] == ["Store", "Monitoring", "Gates", "Compute",
                                               "Appearance"]


def test_apply_writes_a_drift_threshold_and_a_default_gate_through_core(qtbot, store_dir,
                                                                         open_window):
    store = Store(store_dir, user="ana")  # ana made the store: admin
    window = open_window(store)
    dialog = settings_from_menu(qtbot, window)
    monitoring = dialog.select_section("Monitoring")
    assert monitoring.edits["p_threshold"].text() == "0.05"  # read from the store
    assert not dialog.apply_button.isEnabled()  # nothing changed yet
    type_into(qtbot, monitoring.edits["p_threshold"], "0.01")
    type_into(qtbot, monitoring.test_column, "income")
    monitoring.test_choice.setCurrentIndex(monitoring.test_choice.findData("psi"))
    qtbot.mouseClick(monitoring.add_test_button, Qt.MouseButton.LeftButton)
    gates = dialog.select_section("Gates")
    add_gate(qtbot, gates.default, "roc_auc", ">=", "0.75")
    add_gate(qtbot, gates.default, "log_loss", "production", "0.02")
    assert gates.default.value_label.text() == "Tolerance"
    assert [r["text"] for r in gates.default.list.rows()] == [
        "roc_auc >= 0.75", "log_loss no worse than production (tolerance 0.02)"]
    assert dialog.apply_button.isEnabled()
    before = audit.head(store)["seq"]

    saved(qtbot, dialog, dialog.apply_button)

    assert dialog.isVisible()  # Apply keeps the dialog open
    assert dialog.status.text() == "Saved"
    current = monitoring_settings.settings(store)
    assert current["p_threshold"] == 0.01 and current["tests"] == {"income": "psi"}
    assert current["distance_threshold"] == 0.1  # untouched fields are not rewritten
    assert registry.policy(store)["default_gates"] == [
        {"metric": "roc_auc", "op": ">=", "threshold": 0.75},
        {"metric": "log_loss", "no_worse_than": "production", "tolerance": 0.02}]
    new = [e for e in audit.entries(store) if e["seq"] > before]
    assert sorted(e["action"] for e in new) == ["monitor.settings", "policy.gates"]
    changed = next(e for e in new if e["action"] == "monitor.settings")["details"]
    assert set(changed) == {"p_threshold", "tests"}
    assert not dialog.apply_button.isEnabled()  # the store is the new baseline


def test_an_invalid_gate_or_threshold_is_named_by_its_field_and_nothing_is_written(
        qtbot, store_dir, open_window):
    store = Store(store_dir, user="ana")
    window = open_window(store)
    dialog = settings_from_menu(qtbot, window)
    gates = dialog.select_section("Gates")
    add_gate(qtbot, gates.default, "roc_auc", ">=", "high")
    message = gates.default.message
    assert message.isVisible() and "threshold" in message.text() and "'high'" in message.text()
    assert gates.default.list.rows() == []  # refused: not added
    monitoring = dialog.page("Monitoring")
    type_into(qtbot, monitoring.edits["drift_share"], "1.5")
    shown = monitoring.messages["drift_share"]
    assert not shown.isHidden()  # on its page, which is not the one showing
    assert "Share of drifted columns (drift_share): 1.5 is outside (0, 1]" in shown.text()
    before = audit.head(store)["seq"]

    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    assert dialog.isVisible() and dialog.save_task is None  # OK refused: nothing to wait for
    assert dialog.status.text().startswith("Nothing saved:")
    assert dialog.stack.currentIndex() == dialog.pages.index(monitoring)  # shows the field
    assert audit.head(store)["seq"] == before
    assert monitoring_settings.settings(store)["drift_share"] == 0.5
    assert registry.policy(store)["default_gates"] == []


def test_a_gate_typed_but_not_added_stops_ok_instead_of_being_dropped(qtbot, store_dir,
                                                                       open_window):
    store = Store(store_dir, user="ana")
    dialog = settings_from_menu(qtbot, open_window(store))
    gates = dialog.select_section("Gates")
    gates.fairness.metric.setCurrentText("demographic_parity_ratio")
    type_into(qtbot, gates.fairness.value, "0.9")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert "Threshold: '0.9' is typed but not added" in gates.fairness.message.text()
    assert registry.policy(store)["fairness_gates"] == [
        {"metric": "demographic_parity_ratio", "op": ">=", "threshold": 0.8}]
    qtbot.mouseClick(gates.fairness.add_button, Qt.MouseButton.LeftButton)  # replaces 0.8
    with qtbot.waitSignal(dialog.accepted, timeout=TIMEOUT_MS):  # OK closes once saved
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert registry.policy(store)["fairness_gates"] == [
        {"metric": "demographic_parity_ratio", "op": ">=", "threshold": 0.9}]


def test_a_reviewer_sees_the_store_pages_read_only_with_the_cores_reason(qtbot, store_dir,
                                                                          open_window):
    Store(store_dir, user="ana").add_user("rita", "reviewer")
    dialog = settings_from_menu(qtbot, open_window(Store(store_dir, user="rita")))
    for title in ("Monitoring", "Gates"):
        page = dialog.select_section(title)
        assert not page.body.isEnabled()
        assert "needs the role admin" in page.body.toolTip()
        assert page.note.isVisible() and "user 'rita' is reviewer" in page.note.text()
        assert not page.has_changes()
    assert dialog.page("Monitoring").edits["p_threshold"].text() == "0.05"  # still readable
    assert dialog.page("Compute").isEnabled()  # this machine's settings are hers
    assert "role reviewer" in dialog.page("Store").user_label.text()


def test_a_refusal_while_saving_is_notified_and_the_dialog_stays_open(qtbot, store_dir,
                                                                       open_window, notices,
                                                                       monkeypatch):
    store = Store(store_dir, user="ana")
    dialog = settings_from_menu(qtbot, open_window(store))
    monitoring = dialog.select_section("Monitoring")

    def demoted(store, changes):  # as if an admin took the role away after the dialog opened
        raise PermissionDenied("changing monitoring settings needs the role admin; user "
                               "'ana' is analyst")
    monkeypatch.setattr(monitoring_page, "update_settings", demoted)
    type_into(qtbot, monitoring.edits["p_threshold"], "0.02")
    saved(qtbot, dialog, dialog.ok_button)
    assert dialog.isVisible()
    assert [(n.level, n.title) for n in notices] == [("warning",
                                                      "Settings: Monitoring not saved")]
    assert "needs the role admin" in notices[0].text
    assert "Monitoring not saved" in dialog.status.text()
    assert monitoring.edits["p_threshold"].text() == "0.02"  # the edit is kept to retry


def test_cancel_discards_the_edits(qtbot, store_dir, open_window):
    store = Store(store_dir, user="ana")
    dialog = settings_from_menu(qtbot, open_window(store))
    monitoring = dialog.page("Monitoring")
    type_into(qtbot, monitoring.edits["latency_p99_ms"], "250")
    type_into(qtbot, dialog.page("Compute").address, "tcp://10.0.0.5:8786")
    with qtbot.waitSignal(dialog.rejected):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert monitoring_settings.settings(store)["latency_p99_ms"] == 100.0
    assert scheduler_setting() is None


def test_theme_is_shown_at_once_kept_by_apply_and_undone_by_cancel(qtbot, store_dir,
                                                                    open_window, monkeypatch):
    shown = []
    monkeypatch.setattr(machine, "apply_theme", lambda name: shown.append(name) or True)
    window = open_window(Store(store_dir, user="ana"))
    dialog = settings_from_menu(qtbot, window)
    page = dialog.select_section("Appearance")
    assert page.buttons["system"].isChecked()
    page.buttons["dark"].click()
    assert shown == ["dark"]  # applied at once
    saved(qtbot, dialog, dialog.apply_button)
    assert QSettings().value("appearance/theme") == "dark"
    assert machine.theme_setting() == "dark"
    page.buttons["light"].click()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert shown == ["dark", "light", "dark"]  # Cancel shows the kept theme again
    assert QSettings().value("appearance/theme") == "dark"


def test_the_chosen_theme_reaches_the_palette(qtbot, store_dir, open_window):
    palette = pytest.importorskip("lablift.gui.palette")
    dialog = settings_from_menu(qtbot, open_window(Store(store_dir, user="ana")))
    page = dialog.select_section("Appearance")
    try:
        page.buttons["dark"].click()
        assert palette.is_dark()
        assert QApplication.palette().window().color().lightness() < 100
        saved(qtbot, dialog, dialog.ok_button)
        assert palette.theme_setting() == "dark"
    finally:
        palette.apply("light")  # the next tests paint in the default colours


def test_scheduler_address_and_local_workers_persist_in_qsettings(qtbot, store_dir,
                                                                   open_window):
    window = open_window(Store(store_dir, user="ana"))
    dialog = settings_from_menu(qtbot, window)
    page = dialog.select_section("Compute")
    type_into(qtbot, page.address, "tcp://dask-head")
    assert "needs a port" in page.address_message.text()
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    assert dialog.status.text().startswith("Nothing saved: Scheduler address")
    assert scheduler_setting() is None
    type_into(qtbot, page.address, "tcp://dask-head:8786")
    assert page.address_message.isHidden()
    page.workers.setValue(0)  # every core
    saved(qtbot, dialog, dialog.ok_button)
    assert QSettings().value("compute/dask_scheduler") == "tcp://dask-head:8786"
    assert scheduler_setting() == "tcp://dask-head:8786"
    assert machine.local_workers_setting() == machine.ALL_CORES
    again = settings_from_menu(qtbot, window)  # a new dialog shows what was kept
    assert again is not dialog and again.page("Compute").address.text() == \
        "tcp://dask-head:8786"
    assert again.page("Compute").workers.text().startswith("every core")


def test_test_connection_says_plainly_when_distributed_is_missing_or_unreachable(
        qtbot, store_dir, open_window, monkeypatch):
    dialog = settings_from_menu(qtbot, open_window(Store(store_dir, user="ana")))
    page = dialog.select_section("Compute")
    monkeypatch.setattr(machine_pages, "distributed_version", lambda: None)
    type_into(qtbot, page.address, "tcp://127.0.0.1:9")
    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=TIMEOUT_MS)
    assert "distributed package is not installed" in page.test_result.text()
    assert "pip install 'dask[distributed]'" in page.test_result.text()
    monkeypatch.undo()
    monkeypatch.setattr(machine_pages, "TEST_TIMEOUT_S", 0.5)
    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    assert not page.test_button.isEnabled()  # the GUI thread did not wait for it
    qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=TIMEOUT_MS)
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in page.test_result.text()


def test_test_connection_reaches_a_local_dask_cluster(qtbot, store_dir, open_window):
    distributed = pytest.importorskip("distributed")
    # processes=False needs protocol="tcp": its default in-process transport has no address
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       protocol="tcp", host="127.0.0.1",
                                       dashboard_address=None)
    try:
        dialog = settings_from_menu(qtbot, open_window(Store(store_dir, user="ana")))
        page = dialog.select_section("Compute")
        type_into(qtbot, page.address, cluster.scheduler_address)
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=TIMEOUT_MS)
        assert page.test_result.text() == (f"✓ Reached the scheduler at "
                                           f"{cluster.scheduler_address}: 1 worker, 1 thread")
    finally:
        cluster.close()


def test_a_recent_store_opens_through_the_window_and_can_be_removed(qtbot, tmp_path,
                                                                     open_window):
    first = Store(tmp_path / "first", user="ana")
    other = Store(tmp_path / "other", user="ana")
    monitoring_settings.update_settings(other, {"p_threshold": 0.0123456789})
    other.close()
    remember_store(str(tmp_path / "gone"))
    remember_store(str(tmp_path / "other"))
    remember_store(str(tmp_path / "first"))
    window = open_window(first)
    dialog = settings_from_menu(qtbot, window)
    page = dialog.select_section("Store")
    assert str(tmp_path / "first") in page.location_label.text()
    assert page.select_location(str(tmp_path / "first"))
    assert not page.open_button.isEnabled()  # the store open now
    assert page.select_location(str(tmp_path / "other"))
    with qtbot.waitSignal(window.store_changed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.open_button, Qt.MouseButton.LeftButton)
    assert str(window.store.root) == str(tmp_path / "other")
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=TIMEOUT_MS)
    assert dialog.isVisible() and dialog.store is window.store  # follows the window
    assert dialog.page("Monitoring").edits["p_threshold"].text() == "0.0123456789"
    assert not dialog.apply_button.isEnabled()  # shown exactly: no edit is made up
    assert str(tmp_path / "other") in page.location_label.text()
    assert page.select_location(str(tmp_path / "gone"))
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    assert str(tmp_path / "gone") not in recent_stores()
    assert not page.select_location(str(tmp_path / "gone"))
    QApplication.processEvents()
