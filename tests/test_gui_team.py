"""The GUI on a team store (issue 10): File → Connect to a team store…, the status bar's server
and authenticated user, what is remembered (never a password), and colleagues' changes
showing up without a restart, on PostgreSQL (LISTEN/NOTIFY) and on an embedded store (the
audit head polled). Real widgets, a real PostgreSQL server, real runs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

import pg
from lablift.core import datasets, registry, training
from lablift.core.store import Store, team
from lablift.gui import store_switching  # where the window opens another store
from lablift.gui.app import _application
from lablift.gui.connect import has_password, recent_stores, strip_password
from lablift.gui.main_window import MainWindow
from lablift.resources import SAMPLE_LOANS

TIMEOUT_MS = 20000
LIVE_MS = 5000  # "within a few seconds"
APP = Path(__file__).resolve().parents[1] / "app"
SPEC = {"dataset": "loans", "target": "approved", "algorithm": "logistic_regression", "cv": 2}


@pytest.fixture(autouse=True)
def _app(qapp):
    _application()  # names QSettings' organisation/application as the real app does
    QSettings().clear()


@pytest.fixture
def opened():
    """Stores a test opens itself, closed at the end (a team store's connections too)."""
    stores: list[Store] = []

    def _open(location, user: str | None = None) -> Store:
        s = Store(location, user=user)
        stores.append(s)
        return s

    yield _open
    for s in stores:
        s.close()


@pytest.fixture
def team_store(pg_database, opened):
    """A fresh team store: the superuser who ran init is its admin; people are login roles
    given a Lablift role with admin.add_user (the server's lablift_set_role)."""
    team.init(pg_database)
    admin = opened(pg_database)
    people: dict[str, str] = {}

    def person(role: str, prefix: str | None = None) -> str:
        name = pg.unique_name(prefix or role)
        pg.pg_role(pg_database, name)  # made here so the session drops it at the end
        admin.add_user(name, role)
        people[name] = pg.with_user(pg_database, name)
        return name

    return {"url": pg_database, "admin": admin, "person": person, "urls": people}


def show(qtbot, window: MainWindow, size=(1280, 800)) -> MainWindow:
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    return window


def settle(qtbot, window: MainWindow) -> None:
    for p in window.panes.values():  # let every pane's first load end
        if hasattr(p, "is_busy"):
            qtbot.waitUntil(lambda p=p: not p.is_busy(), timeout=TIMEOUT_MS)


def wait_live(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.feed is not None and window.feed.status == "live",
                    timeout=TIMEOUT_MS)
    assert window.live_label.text() == "● live"


def train_one(store: Store) -> int:
    datasets.import_dataset(store, SAMPLE_LOANS, name="loans")
    return training.train(store, SPEC)["id"]


REGISTER = """
import sys
from lablift.core import registry
from lablift.core.store import Store
store = Store(sys.argv[1], user=sys.argv[3] or None)
print(registry.register(store, int(sys.argv[2]), "loans")["version"])
store.close()
"""


def register_in_another_process(location, run_id: int, user: str = "") -> int:
    """registry.register in a python process of its own; returns the version number."""
    env = dict(os.environ, PYTHONPATH=str(APP))
    env.pop("LABLIFT_USER", None)
    done = subprocess.run([sys.executable, "-c", REGISTER, str(location), str(run_id), user],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


# -- File → Connect to a team store… ------------------------------------------------------

def test_connect_dialog_tests_then_connects_and_the_status_bar_names_the_server_user(
        qtbot, tmp_path, team_store, monkeypatch):
    rita = team_store["person"]("reviewer", "rita")
    url = team_store["urls"][rita]
    window = show(qtbot, MainWindow(Store(tmp_path / "local", user="me"), restore_state=False))
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.user_label.text() == "User: me (admin)", timeout=TIMEOUT_MS)
    assert window.store_label.text() == f"Store: {tmp_path / 'local'}"
    assert not window.identity_label.isVisible()  # an embedded store's user is claimed
    old_approvals = window.panes["approvals"]

    # Test connection and Connect run in workers, never on the GUI thread.
    threads = {}
    real_info, real_store = team.info, store_switching.Store

    def info(u):
        threads["info"] = threading.current_thread() is threading.main_thread()
        return real_info(u)

    def store_for(*args, **kwargs):
        threads["open"] = threading.current_thread() is threading.main_thread()
        return real_store(*args, **kwargs)
    monkeypatch.setattr(team, "info", info)
    monkeypatch.setattr(store_switching, "Store", store_for)

    window.connect_action.trigger()  # File → Connect to a team store…
    dialog = window.connect_dialog
    assert dialog.isVisible() and dialog.windowTitle() == "Connect to a team store"
    assert dialog.url_edit.placeholderText() == "postgresql://[user@]host[:port]/dbname"
    assert not dialog.test_button.isEnabled()  # nothing typed yet
    qtbot.keyClicks(dialog.url_edit, url)
    assert not dialog.password_note.isVisible()
    with qtbot.waitSignal(dialog.tested, timeout=TIMEOUT_MS) as tested:
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    ok, text = tested.args
    assert ok, text
    assert text.startswith("✓ PostgreSQL ")
    assert f"signed in as {rita} (reviewer), identity from the server" in text
    assert dialog.result.text() == text
    assert threads["info"] is False

    with qtbot.waitSignal(window.store_changed, timeout=TIMEOUT_MS) as changed:
        qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    assert threads["open"] is False
    store = changed.args[0]
    assert store is window.store and store.engine == "postgresql" and store.user == rita
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=TIMEOUT_MS)

    # The status bar: engine, server (masked URL) and the user the server authenticated.
    assert window.store_label.text() == (f"Team store: {team.mask_url(url)} · PostgreSQL "
                                         f"{store.server_version.split()[0]}")
    qtbot.waitUntil(lambda: window.user_label.text() == f"User: {rita} (reviewer)",
                    timeout=TIMEOUT_MS)  # the role is read in a worker
    assert window.identity_label.isVisible()
    assert window.status_text().endswith(f"User: {rita} (reviewer) · identity from the server")
    assert window.windowTitle() == f"Lablift — {team.mask_url(url)}"
    # The panes were rebuilt on the team store (the old ones are retired, then deleted).
    approvals = window.panes["approvals"]
    assert approvals is not old_approvals and approvals.store is store
    assert all(getattr(p, "store", store) is store for p in window.panes.values())
    assert window.pane_errors == {}
    settle(qtbot, window)
    qtbot.waitUntil(lambda: not window._retiring, timeout=TIMEOUT_MS)
    assert recent_stores()[0] == url
    wait_live(qtbot, window)


def test_test_connection_error_for_an_unreachable_server_is_one_line(qtbot, tmp_path):
    window = show(qtbot, MainWindow(Store(tmp_path / "local", user="me"), restore_state=False))
    settle(qtbot, window)
    dialog = window.show_connect_dialog("postgresql://x@127.0.0.1:1/db")
    with qtbot.waitSignal(dialog.tested, timeout=TIMEOUT_MS) as tested:
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    ok, text = tested.args
    assert not ok
    assert text.startswith("cannot connect to postgresql://x@127.0.0.1:1/db: ")
    assert "\n" not in text and "Traceback" not in text and "psycopg" not in text
    assert dialog.result.text() == text

    # Connect to it: the same line in the dialog, which stays open; the store is unchanged.
    before = window.store
    task = dialog.connect_store()
    with qtbot.waitSignal(task.done, timeout=TIMEOUT_MS):
        pass
    assert dialog.isVisible() and window.store is before
    assert dialog.result.text().startswith("cannot connect to postgresql://x@127.0.0.1:1/db")
    assert "\n" not in dialog.result.text()
    assert window.last_dialog is None  # the dialog says it; no second message box
    assert recent_stores() == []

    # Not a URL at all: said at once, nothing is run.
    dialog.set_url("/some/folder")
    assert dialog.test_connection() is None
    assert "postgresql://[user@]host[:port]/dbname" in dialog.result.text()
    dialog.reject()


def test_a_url_with_a_password_is_remembered_without_it(qtbot, tmp_path, team_store):
    rita = team_store["person"]("reviewer", "rita")
    secret = "s3cret-Pw"
    # Local socket authentication is trust: the server ignores the password, libpq sends it.
    url = pg.with_user(team_store["url"], rita, secret)
    assert secret in url
    window = show(qtbot, MainWindow(Store(tmp_path / "local", user="me"), restore_state=False))
    settle(qtbot, window)
    dialog = window.show_connect_dialog(url)
    assert dialog.password_note.isVisible()
    assert "~/.pgpass" in dialog.password_note.text()
    assert "PGPASSWORD" in dialog.password_note.text()
    with qtbot.waitSignal(window.store_changed, timeout=TIMEOUT_MS):
        dialog.connect_store()
    settle(qtbot, window)

    remembered = strip_password(url)
    assert remembered == pg.with_user(team_store["url"], rita)
    assert recent_stores() == [remembered]
    assert "without its password" in window.statusBar().currentMessage()
    assert "~/.pgpass" in window.statusBar().currentMessage()
    # Nowhere a user or a file could read it: settings, title, status bar, menus.
    settings = QSettings()
    settings.sync()
    for key in settings.allKeys():
        assert secret not in str(settings.value(key))
    if os.path.exists(settings.fileName()):
        assert secret not in Path(settings.fileName()).read_text(errors="replace")
    for text in (window.windowTitle(), window.store_label.text(), window.store_label.toolTip(),
                 window.user_label.text()):
        assert secret not in text
    window._fill_recent_menu()
    assert all(secret not in a.text() for a in window.recent_menu.actions())
    # The next dialog offers the URL without it.
    window.connect_dialog.hide()
    again = window.show_connect_dialog()
    assert again.url() == remembered and not has_password(again.url())
    again.reject()


def test_strip_password_takes_out_every_spelling():
    assert strip_password("postgresql://ana:pw@db.example.com:5433/lab") == \
        "postgresql://ana@db.example.com:5433/lab"
    assert strip_password("postgresql://ana:p%40w@db/lab?sslmode=require") == \
        "postgresql://ana@db/lab?sslmode=require"
    assert strip_password("postgresql://:pw@db/lab") == "postgresql://db/lab"
    assert strip_password("postgresql://ana@/lab?host=/tmp/s&password=pw&port=5") == \
        "postgresql://ana@/lab?host=/tmp/s&port=5"
    assert strip_password("postgresql://ana@db/lab") == "postgresql://ana@db/lab"
    assert not has_password("postgresql://ana@db/lab")
    assert has_password("postgresql://ana@db/lab?PASSWORD=x")


# -- colleagues' changes, live ----------------------------------------------------------------

def test_a_version_registered_by_another_process_appears_in_approvals(
        qtbot, team_store, opened):
    ana = team_store["person"]("analyst", "ana")
    rita = team_store["person"]("reviewer", "rita")
    run_id = train_one(opened(team_store["urls"][ana]))

    window = show(qtbot, MainWindow(opened(team_store["urls"][rita]), restore_state=False))
    pane = window.select_pane("approvals")
    settle(qtbot, window)
    assert pane.queue_refs() == []
    wait_live(qtbot, window)

    assert register_in_another_process(team_store["urls"][ana], run_id) == 1
    registered = time.monotonic()
    qtbot.waitUntil(lambda: pane.queue_refs() == ["loans:1"], timeout=LIVE_MS)
    assert time.monotonic() - registered < LIVE_MS / 1000
    assert pane.queue_heading.text() == "Waiting for review (1)"
    assert pane.detail["ref"] == "loans:1" and pane.detail["created_by"] == ana
    assert pane.decision.approve_button.isEnabled()  # rita may decide it: four eyes kept

    # Another Store object (another connection) of the same process: the same.
    run2 = training.train(opened(team_store["urls"][ana]), SPEC)["id"]
    registry.register(opened(team_store["urls"][ana]), run2, "loans")
    qtbot.waitUntil(lambda: pane.queue_refs() == ["loans:1", "loans:2"], timeout=LIVE_MS)
    settle(qtbot, window)


def test_live_refresh_after_connecting_and_a_role_change_reaches_the_status_bar(
        qtbot, tmp_path, team_store, opened):
    ana = team_store["person"]("analyst", "ana")
    rita = team_store["person"]("reviewer", "rita")
    run_id = train_one(opened(team_store["urls"][ana]))
    window = show(qtbot, MainWindow(Store(tmp_path / "local", user="me"), restore_state=False))
    window.select_pane("approvals")
    settle(qtbot, window)
    with qtbot.waitSignal(window.store_changed, timeout=TIMEOUT_MS):
        window.show_connect_dialog(team_store["urls"][rita]).connect_store()
    pane = window.panes["approvals"]
    assert window.current_pane_name() == "approvals"  # the same pane, on the new store
    settle(qtbot, window)
    wait_live(qtbot, window)

    registry.register(opened(team_store["urls"][ana]), run_id, "loans")
    qtbot.waitUntil(lambda: pane.queue_refs() == ["loans:1"], timeout=LIVE_MS)

    team_store["admin"].add_user(rita, "ops")  # the admin changes rita's role
    qtbot.waitUntil(lambda: window.user_label.text() == f"User: {rita} (ops)",
                    timeout=LIVE_MS)
    settle(qtbot, window)


def test_embedded_store_live_refresh_of_approvals(qtbot, tmp_path, opened):
    root = tmp_path / "shared"
    admin = opened(root, "admin")
    admin.add_user("alice", "analyst")
    admin.add_user("bob", "reviewer")
    alice = opened(root, "alice")
    run_id = train_one(alice)

    window = show(qtbot, MainWindow(opened(root, "bob"), restore_state=False))
    pane = window.select_pane("approvals")
    settle(qtbot, window)
    assert pane.queue_refs() == []
    wait_live(qtbot, window)
    qtbot.waitUntil(lambda: window.user_label.text() == "User: bob (reviewer)",
                    timeout=TIMEOUT_MS)

    with qtbot.waitSignal(window.changes_applied, timeout=LIVE_MS) as applied:
        registry.register(alice, run_id, "loans")  # another Store object, same folder
    assert any(e["action"].startswith("version.") or e["action"].startswith("model.")
               for e in applied.args[0]), applied.args[0]
    qtbot.waitUntil(lambda: pane.queue_refs() == ["loans:1"], timeout=LIVE_MS)

    # And from another process (the audit head is polled, so any writer is heard).
    run2 = training.train(alice, SPEC)["id"]
    assert register_in_another_process(root, run2, "alice") == 2
    qtbot.waitUntil(lambda: pane.queue_refs() == ["loans:1", "loans:2"], timeout=LIVE_MS)
    settle(qtbot, window)


def test_the_watcher_stops_when_switching_stores_and_on_close(qtbot, tmp_path):
    window = show(qtbot, MainWindow(Store(tmp_path / "one", user="me"), restore_state=False))
    settle(qtbot, window)
    wait_live(qtbot, window)
    first = window.feed.task
    with qtbot.waitSignal(window.store_changed, timeout=TIMEOUT_MS):
        window.open_store_location(str(tmp_path / "two"))
    qtbot.waitUntil(lambda: first.state == "cancelled", timeout=TIMEOUT_MS)
    assert window.store_label.text() == f"Store: {tmp_path / 'two'}"
    qtbot.waitUntil(lambda: window.user_label.text() == "User: me (admin)",
                    timeout=TIMEOUT_MS)  # the claimed name is kept; the role read in a worker
    assert recent_stores()[0] == str(tmp_path / "two")
    window._fill_recent_menu()  # File → Recent stores: the open one greyed, the other offered
    offered = {a.text(): a for a in window.recent_menu.actions() if a.text()}
    assert not offered[str(tmp_path / "two")].isEnabled()
    settle(qtbot, window)
    wait_live(qtbot, window)
    second = window.feed.task
    assert second is not first
    qtbot.waitUntil(lambda: not window._retiring, timeout=TIMEOUT_MS)  # old panes deleted
    window.close()
    qtbot.waitUntil(lambda: second.state == "cancelled", timeout=TIMEOUT_MS)
    assert window.feed is None


def test_a_store_that_cannot_open_is_a_one_line_dialog(qtbot, tmp_path):
    window = show(qtbot, MainWindow(Store(tmp_path / "one", user="me"), restore_state=False))
    settle(qtbot, window)
    bad = tmp_path / "a-file"
    bad.write_text("not a folder")
    task = window.open_store_location(str(bad))
    with qtbot.waitSignal(task.done, timeout=TIMEOUT_MS):
        pass
    box = window.last_dialog
    assert box is not None and box.isVisible()
    assert box.text() == f"store {bad} is not a folder"
    box.close()
    assert window.store_label.text() == f"Store: {tmp_path / 'one'}"


def test_the_feed_survives_a_dropped_connection_and_catches_up(qtbot, team_store, opened,
                                                                monkeypatch):
    import psycopg

    from lablift.core.store import changes
    pids = []

    class Watcher(changes.ChangeWatcher):  # the real one, telling us its server process
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pids.append(self._conn.info.backend_pid)
    monkeypatch.setattr(changes, "ChangeWatcher", Watcher)

    rita = team_store["person"]("reviewer", "rita")
    window = show(qtbot, MainWindow(opened(team_store["urls"][rita]), restore_state=False))
    settle(qtbot, window)
    wait_live(qtbot, window)
    with psycopg.connect(team_store["url"], autocommit=True) as conn:  # as a server restart
        assert conn.execute("SELECT pg_terminate_backend(%s)", [pids[-1]]).fetchone()[0]
    qtbot.waitUntil(lambda: window.live_label.text() == "● paused", timeout=TIMEOUT_MS)
    assert "live updates paused" in window.live_label.toolTip().lower()
    assert "\n" not in window.feed.status_text
    team_store["admin"].add_user(rita, "ops")  # while nobody listens
    with qtbot.waitSignal(window.changes_applied, timeout=TIMEOUT_MS) as applied:
        pass
    assert applied.args[0][0]["action"] == "resync"
    assert len(pids) == 2 and window.live_label.text() == "● live"
    qtbot.waitUntil(lambda: window.user_label.text() == f"User: {rita} (ops)",
                    timeout=TIMEOUT_MS)  # re-read in a worker
    settle(qtbot, window)
