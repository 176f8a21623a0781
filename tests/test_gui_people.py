"""File → Sign in as… (and a click on the status bar's user) and File → Users and roles…:
switching who you work as without a restart, and managing users from the GUI. Real widgets
on a real store; the store with a pending version is trained once per module."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QEvent, QPoint, QSettings, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QDialog, QToolTip

import pg
from gui_helpers import notices  # noqa: F401  (fixture)
from lablift.core import audit, datasets, registry, training
from lablift.core.store import Store
from lablift.gui.app import _application
from lablift.gui.main_window import MainWindow
from lablift.gui.people import CLICK_HINT, MANAGE_TIP, url_without_user
from lablift.resources import SAMPLE_LOANS

TIMEOUT_MS = 20000
SPEC = {"dataset": "loans", "target": "approved", "algorithm": "logistic_regression", "cv": 2}


@pytest.fixture(autouse=True)
def _app(qapp):
    _application()  # names QSettings' organisation/application as the real app does
    QSettings().clear()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """admin made the store; ana (analyst) trained and registered loans:1, pending; rita is a
    reviewer."""
    root = tmp_path_factory.mktemp("people") / "store"
    admin = Store(root, user="admin")
    admin.add_user("ana", "analyst")
    admin.add_user("rita", "reviewer")
    ana = Store(root, user="ana")
    datasets.import_dataset(ana, SAMPLE_LOANS, name="loans")
    registry.register(ana, training.train(ana, SPEC)["id"], "loans")
    ana.close()
    admin.close()
    return root


@pytest.fixture
def stores(template, tmp_path):
    """open(user): the test's copy of the template store as `user`; closed at the end."""
    root = tmp_path / "store"
    shutil.copytree(template, root)
    opened: list[Store] = []

    def open_(user: str) -> Store:
        s = Store(root, user=user)
        opened.append(s)
        return s

    open_.root = root
    yield open_
    for s in opened:
        s.close()


def open_window(qtbot, store) -> MainWindow:
    window = MainWindow(store, restore_state=False, watch=False)
    qtbot.addWidget(window)
    window.resize(1100, 700)
    window.show()
    return window


def click_row(qtbot, view, model, name: str) -> None:
    proxy = view.model()
    row = next(r for r in range(proxy.rowCount())
               if model.record(proxy.mapToSource(proxy.index(r, 0)).row())["name"] == name)
    rect = view.visualRect(proxy.index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def approve_state(pane) -> bool | None:
    """Whether Approve is enabled once the pane has read the selected version."""
    if pane.is_busy() or pane.detail is None:
        return None
    return pane.decision.approve_button.isEnabled()


def test_sign_in_as_a_reviewer_from_the_user_label_enables_approve(qtbot, stores, notices):
    window = open_window(qtbot, stores("ana"))
    pane = window.select_pane("approvals")
    qtbot.waitUntil(lambda: approve_state(pane) is not None, timeout=TIMEOUT_MS)
    assert pane.queue_refs() == ["loans:1"]
    assert approve_state(pane) is False  # ana is an analyst, and registered it
    label = window.user_label
    assert label.text() == "User: ana (analyst)"
    assert label.cursor().shape() == Qt.CursorShape.PointingHandCursor
    tip = QPoint(3, 3)
    QApplication.sendEvent(label, QHelpEvent(QEvent.Type.ToolTip, tip, label.mapToGlobal(tip)))
    assert QToolTip.text().startswith(CLICK_HINT)

    qtbot.mouseClick(label, Qt.MouseButton.LeftButton)
    dialog = window.people.sign_in_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 3, timeout=TIMEOUT_MS)
    assert sorted(r["name"] for r in dialog.model.records()) == ["admin", "ana", "rita"]
    assert "ana</b> (analyst)" in dialog.heading.text()
    assert "taken on trust" in dialog.trust_note.text()
    assert not dialog.sign_in_button.isEnabled()  # no name yet

    qtbot.keyClicks(dialog.name_edit, "zoe")  # nobody registered: allowed, and said to read
    assert dialog.note.text().startswith("Nobody called zoe is registered in this store")
    assert "every change is refused" in dialog.note.text()
    assert dialog.sign_in_button.isEnabled()
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, "ANA")  # names compare without case
    assert dialog.note.text() == "You already work as ana."
    assert not dialog.sign_in_button.isEnabled()

    click_row(qtbot, dialog.view, dialog.model, "rita")
    assert dialog.name_edit.text() == "rita"
    assert "You will work as rita (reviewer)" in dialog.note.text()
    old_store = window.store
    with qtbot.waitSignal(window.store_changed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible()
    assert window.store is not old_store and window.store.root == old_store.root
    assert window.store.user == "rita" and window.claimed_user == "rita"
    qtbot.waitUntil(lambda: window.user_label.text() == "User: rita (reviewer)",
                    timeout=TIMEOUT_MS)  # the role is read in a worker
    assert window.current_pane_name() == "approvals"
    new_pane = window.panes["approvals"]
    assert new_pane is not pane
    qtbot.waitUntil(lambda: approve_state(new_pane) is True, timeout=TIMEOUT_MS)
    assert new_pane.queue_refs() == ["loans:1"]
    assert [n for n in notices if n.level != "info"] == []


def test_users_and_roles_is_for_admins_and_writes_through_the_core(qtbot, stores, notices):
    window = open_window(qtbot, stores("ana"))
    people, action = window.people, window.people.users_action
    file_menu = window.menuBar().actions()[0].menu()
    assert [a.text() for a in file_menu.actions()].count("&Users and roles…") == 1
    assert people.sign_in_action in file_menu.actions()
    qtbot.waitUntil(lambda: people.refusal is not None, timeout=TIMEOUT_MS)
    assert not action.isEnabled()
    assert action.toolTip() == "Managing users needs the role admin; user 'ana' is analyst"
    read_only = people.show_users()  # opened anyway, it only lists
    qtbot.waitUntil(lambda: read_only.model.rowCount() == 3, timeout=TIMEOUT_MS)
    assert not read_only.apply_button.isEnabled() and not read_only.name_edit.isEnabled()
    assert "managing users needs the role admin" in read_only.note.text()
    read_only.reject()

    dialog = people.show_sign_in()  # the admin sits down at ana's desk
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 3, timeout=TIMEOUT_MS)
    qtbot.keyClicks(dialog.name_edit, "admin")
    with qtbot.waitSignal(window.store_changed, timeout=TIMEOUT_MS):
        qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(action.isEnabled, timeout=TIMEOUT_MS)  # re-read after the switch
    assert action.toolTip() == MANAGE_TIP

    action.trigger()
    users = people.users_dialog
    assert users.isVisible()
    qtbot.waitUntil(lambda: users.model.rowCount() == 3, timeout=TIMEOUT_MS)
    qtbot.keyClicks(users.name_edit, "olga")
    users.role_combo.setCurrentText("ops")
    assert users.apply_button.text() == "Add user" and users.apply_button.isEnabled()
    with qtbot.waitSignal(users.changed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(users.apply_button, Qt.MouseButton.LeftButton)
    assert "olga" in users.names()
    entry = audit.entries(window.store, entity="user:olga")[0]
    assert (entry["action"], entry["user"], entry["details"]["role"]) == ("user.role", "admin",
                                                                          "ops")

    click_row(qtbot, users.view, users.model, "rita")  # change a role: pick, choose, apply
    assert users.name_edit.text() == "rita" and users.role_combo.currentText() == "reviewer"
    assert users.apply_button.text() == "Change role" and not users.apply_button.isEnabled()
    users.role_combo.setCurrentText("ops")
    with qtbot.waitSignal(users.changed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(users.apply_button, Qt.MouseButton.LeftButton)
    assert window.store.role("rita") == "ops"

    users.name_edit.clear()  # the core's rule refuses a second spelling of olga
    qtbot.keyClicks(users.name_edit, "Olga")
    task = users.apply()
    qtbot.waitUntil(lambda: not task.is_running(), timeout=TIMEOUT_MS)
    refusals = [n for n in notices if n.level == "warning"]
    assert len(refusals) == 1 and "would be the same person as 'olga'" in refusals[0].text
    assert "same person" in users.note.text()
    assert "Olga" not in users.names()
    users.reject()


def test_url_without_user_keeps_the_server_and_drops_the_login():
    assert url_without_user("postgresql://ana:s3cret@db.example:5433/lablift?sslmode=require"
                            ) == "postgresql://db.example:5433/lablift?sslmode=require"
    assert url_without_user("postgresql://postgres@/lablift?host=/tmp/pg&port=5439"
                            ) == "postgresql:///lablift?host=/tmp/pg&port=5439"
    assert url_without_user("postgresql://db/lablift?user=ana&password=x&port=5432"
                            ) == "postgresql://db/lablift?port=5432"


@pytest.fixture
def team_url(pg_server, pg_store_template):
    name = pg.unique_name("lablift_store")
    url = pg.create_database(pg_server, name, template=pg_store_template)
    yield url
    pg.drop_database(pg_server, name)


def test_team_store_sign_in_states_the_server_identity_and_offers_another_login(
        qtbot, team_url):
    store = Store(team_url)  # the superuser, who ran init: the store's admin
    try:
        window = open_window(qtbot, store)
        qtbot.mouseClick(window.user_label, Qt.MouseButton.LeftButton)
        dialog = window.people.sign_in_dialog
        qtbot.waitUntil(lambda: "(admin)" in dialog.heading.text(), timeout=TIMEOUT_MS)
        assert dialog.name_edit is None and dialog.sign_in_button is None  # no name to claim
        assert (f"You are <b>{store.user}</b> (admin) because you connected to"
                in dialog.heading.text())
        assert f"as {store.user}." in dialog.heading.text()
        assert "identity is the database server's" in dialog.note.text()
        assert dialog.connect_button.text() == "Connect as another login…"
        qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
        assert not dialog.isVisible()
        connect = window.connect_dialog
        assert connect.isVisible()
        assert connect.url() == url_without_user(team_url)
        assert f"{store.user}@" not in connect.url() and connect.url().startswith(
            "postgresql://")
        connect.reject()

        qtbot.waitUntil(window.people.users_action.isEnabled, timeout=TIMEOUT_MS)
        users = window.people.show_users()
        assert "Passwords stay with the DBA" in users.team_note.text()
        qtbot.waitUntil(lambda: store.user in users.names(), timeout=TIMEOUT_MS)
        users.reject()
        window.close()
    finally:
        store.close()
