"""Who you work as: File → Sign in as… (also a click on the status bar's user) and File →
Users and roles… (users_dialog.py), wired into the main window by `add_actions` (File menu)
and `install` (status bar).

An embedded store takes the name on trust (as `--user` does): signing in reopens the same
folder as that name in a worker and re-points the window (`set_store`), so every pane
rebuilds with the new role. A name nobody registered is allowed, as on the command line, and
the dialog says it can only read. A team store's user is the database server's session
user: the dialog says so and offers to connect as another login, never to claim a name.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                               QToolTip, QVBoxLayout)

from ..core.errors import LabliftError
from ..core.store import Store
from .connect import server_place, strip_password
from .notifications import notify
from .store_switching import is_team, store_location
from .tablemodels import Column
from .users_dialog import (UsersDialog, error_style, find_user, manage_refusal, note_style,
                           select_name, selected_record, users_view, warn_style)
from .workers import Task, run_task, while_alive

CLICK_HINT = "Click to sign in as someone else"
MANAGE_TIP = "Add users and change their roles (admin)"
TRUST_NOTE = ("In an embedded store the name is taken on trust: Lablift asks for no password, "
              "and whoever can write this folder can work under any name. Every change is "
              "recorded under the name, with this computer's login and host (the BY column of "
              "`lablift audit log`), so a claimed name can be traced. For names a server "
              "checks, use a team store.")


def url_without_user(url: str) -> str:
    """`url` with neither password nor user (in the user info or a user= parameter): the
    server's address, for connecting as another login. "" if it cannot be taken apart."""
    stripped = strip_password(url)
    if stripped is None:
        return ""
    parts = urlsplit(stripped)
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(p for p in parts.query.split("&")
                     if p and p.partition("=")[0].lower() != "user")
    # built by hand: urlunsplit drops the // of an empty host (a socket URL)
    return f"{parts.scheme}://{host}{parts.path}" + (f"?{query}" if query else "")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class SignInDialog(QDialog):
    """Embedded store: registered users, a name field, Sign in. Team store: who the server
    says you are, and Connect as another login…"""

    loaded = Signal()  # the users (embedded) or your role (team) have been read

    def __init__(self, people: "People"):
        window = people.window_
        super().__init__(window)
        self.people, self.window_ = people, window
        self.store = window.store
        self.team = is_team(self.store)
        self.records: list[dict[str, Any]] = []
        self.load_task: Task | None = None
        self.sign_in_task: Task | None = None
        self.name_edit: QLineEdit | None = None
        self.connect_button = self.sign_in_button = None
        self.setWindowTitle("Sign in as…")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.heading)
        if self.team:
            self._build_team(layout)
        else:
            self._build_embedded(layout)
        self.reload()

    # -- layout --------------------------------------------------------------------------
    def _build_embedded(self, layout: QVBoxLayout) -> None:
        self.view, self.model = users_view([Column("name", "Name"), Column("role", "Role")],
                                           self)
        self.view.setMinimumHeight(120)
        self.view.selectionModel().selectionChanged.connect(self._on_row)
        self.view.doubleClicked.connect(lambda _i: self.sign_in())
        layout.addWidget(self.view, 1)
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("pick a user above, or type a name")
        self.name_edit.textChanged.connect(self._update)
        self.name_edit.returnPressed.connect(self.sign_in)
        form.addRow("Work as:", self.name_edit)
        layout.addLayout(form)
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.trust_note = QLabel(TRUST_NOTE)
        self.trust_note.setWordWrap(True)
        self.trust_note.setStyleSheet(note_style())
        layout.addWidget(self.trust_note)
        running = self.window_.running_work() if hasattr(self.window_, "running_work") else []
        self.work_note = QLabel(f"Signing in stops what is still running in this store: "
                                f"{'; '.join(running)}." if running else "")
        self.work_note.setWordWrap(True)
        self.work_note.setStyleSheet(warn_style())
        self.work_note.setVisible(bool(running))
        layout.addWidget(self.work_note)
        self.buttons = QDialogButtonBox()
        self.sign_in_button = self.buttons.addButton(
            "Sign in", QDialogButtonBox.ButtonRole.AcceptRole)
        self.sign_in_button.setDefault(True)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.sign_in)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._show_heading(None)
        self._update()
        self.name_edit.setFocus()

    def _build_team(self, layout: QVBoxLayout) -> None:
        self.note = QLabel(
            "In a team store your identity is the database server's: Lablift cannot work "
            "under another name. To work as someone else, connect as their database login "
            "(postgresql://LOGIN@host/dbname; the password from ~/.pgpass or PGPASSWORD, "
            "never from Lablift).")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.buttons = QDialogButtonBox()
        self.connect_button = self.buttons.addButton(
            "Connect as another login…", QDialogButtonBox.ButtonRole.ActionRole)
        self.connect_button.clicked.connect(self.connect_as_another)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._show_heading(None)

    def _show_heading(self, role: str | None, read: bool = False) -> None:
        store = self.store
        user = html.escape(str(store.user))
        shown = html.escape(role) if role else ("not registered" if read else "…")
        if self.team:
            self.heading.setText(
                f"You are <b>{user}</b> ({shown}) because you connected to "
                f"{html.escape(server_place(store))} as {user}.")
        else:
            self.heading.setText(f"You work as <b>{user}</b> ({shown}) in the store "
                                 f"{html.escape(str(store.root))}.")

    # -- reading -------------------------------------------------------------------------
    def reload(self) -> Task:
        store = self.store
        if self.team:
            task = run_task(lambda progress, cancelled: store.role())
            task.finished.connect(lambda role, t=task: self._role_read(t, role))
        else:
            task = run_task(lambda progress, cancelled: store.users())
            task.finished.connect(lambda rows, t=task: self._users_read(t, rows))
        task.failed.connect(lambda text, t=task: self._read_failed(t, text))
        self.load_task = task
        return task

    @while_alive
    def _role_read(self, task: Task, role: str | None) -> None:
        self._show_heading(role, read=True)
        self.loaded.emit()

    @while_alive
    def _users_read(self, task: Task, rows: list[dict]) -> None:
        self.records = rows
        self.model.set_records(rows)
        self.view.resizeColumnsToContents()
        found = find_user(rows, str(self.store.user))
        self._show_heading(found["role"] if found and found["name"] == self.store.user
                           else None, read=True)
        if self.name_edit.text():
            select_name(self.view, self.model, self.name_edit.text())
        self._update()
        self.loaded.emit()

    @while_alive
    def _read_failed(self, task: Task, text: str) -> None:
        self.note.setStyleSheet(error_style())
        self.note.setText(f"Could not read {'your role' if self.team else 'the users'}: {text}")
        self.loaded.emit()

    # -- choosing --------------------------------------------------------------------------
    def _on_row(self, *_selection) -> None:
        if self.name_edit.isReadOnly():  # opening the store as the name chosen
            return
        record = selected_record(self.view, self.model)
        if record is not None and record["name"] != self.name_edit.text().strip():
            self.name_edit.setText(record["name"])

    def chosen(self) -> tuple[str, str | None]:
        """(the name to work as, in its registered spelling; its role or None)."""
        typed = self.name_edit.text().strip()
        found = find_user(self.records, typed) if typed else None
        return (found["name"], found["role"]) if found else (typed, None)

    def _update(self) -> None:
        if self.name_edit is None:
            return
        typed = self.name_edit.text().strip()
        name, role = self.chosen()
        opening = self.sign_in_task is not None and self.sign_in_task.is_running()
        style, text = note_style(), ""
        if not typed:
            text = "Pick a user above or type a name."
        elif name == self.store.user:
            text = f"You already work as {name}."
        elif role is not None:
            spelled = f"{typed} is registered as {name}: " if typed != name else ""
            text = (f"{_sentence(spelled)}You will work as {name} ({role}); every pane "
                    f"reopens with that role.")
        else:
            style = warn_style()
            text = (f"Nobody called {name} is registered in this store: as {name} you can read "
                    f"everything, and every change is refused until an admin adds {name} "
                    f"(File → Users and roles…).")
        self.note.setStyleSheet(style)
        self.note.setText(text)
        self.sign_in_button.setEnabled(bool(typed) and name != self.store.user and not opening)
        # read-only, not disabled: focus would jump to Cancel, and Return would cancel
        self.name_edit.setReadOnly(opening)

    # -- acting ----------------------------------------------------------------------------
    def sign_in(self) -> Task | None:
        """Reopen this store as the chosen name (in a worker); the window switches to it."""
        if self.name_edit is None or not self.sign_in_button.isEnabled():
            return None
        name, _role = self.chosen()
        task = self.sign_in_task = self.people.sign_in_as(name)  # it accepts this dialog
        task.failed.connect(lambda text, t=task: self._sign_in_failed(t, text))
        self._update()
        self.note.setStyleSheet(note_style())
        self.note.setText(f"Opening the store as {name}…")
        return task

    @while_alive
    def _sign_in_failed(self, task: Task, text: str) -> None:
        if task is not self.sign_in_task:
            return
        self._update()
        self.note.setStyleSheet(error_style())
        self.note.setText(text)

    def connect_as_another(self) -> None:
        """Close this and open Connect to a team store… on the same server, with no login."""
        url = url_without_user(store_location(self.store))
        self.accept()
        self.window_.show_connect_dialog(url)

    def reject(self) -> None:
        if self.sign_in_task is not None and self.sign_in_task.is_running():
            self.sign_in_task.cancel()  # the store it opens is closed, not switched to
        super().reject()


class People(QObject):
    """The window's Sign in as… and Users and roles… actions, and the clickable user label."""

    access_changed = Signal(str)  # why you may not manage users ("" for an admin)

    def __init__(self, window):
        super().__init__(window)
        self.window_ = window
        self.refusal: str | None = None  # None until your role in this store is read
        self.access_task: Task | None = None
        self.sign_in_task: Task | None = None
        self.sign_in_dialog: SignInDialog | None = None
        self.users_dialog: UsersDialog | None = None
        self.label = None
        self.sign_in_action = QAction("Sig&n in as…", window)
        self.sign_in_action.setStatusTip("Work under another name (embedded store) or connect "
                                         "as another login (team store)")
        self.sign_in_action.triggered.connect(lambda: self.show_sign_in())
        self.users_action = QAction("&Users and roles…", window)
        self.users_action.triggered.connect(lambda: self.show_users())
        self._set_access(None)

    # -- the status bar's user label ---------------------------------------------------------
    def hook_label(self, label) -> None:
        self.label = label
        label.setCursor(Qt.CursorShape.PointingHandCursor)
        label.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            self.show_sign_in()
            return True
        if kind == QEvent.Type.ToolTip:
            # the window keeps the label's own tooltip (who says you are who); the hint leads
            tip = obj.toolTip()
            QToolTip.showText(event.globalPos(), f"{CLICK_HINT}.\n{tip}" if tip else CLICK_HINT,
                              obj)
            return True
        return False

    # -- who may manage users ------------------------------------------------------------------
    def refresh_access(self) -> Task:
        """Read your role in the window's store (in a worker) and enable Users and roles…
        for an admin only."""
        window, store = self.window_, self.window_.store
        self._set_access(None)
        task = self.access_task = run_task(lambda progress, cancelled: store.role())

        def current() -> bool:
            return (shiboken6.isValid(self) and task is self.access_task
                    and window.store is store)

        task.finished.connect(lambda role: self._set_access(
            manage_refusal(store.user, role, store.root)) if current() else None)
        task.failed.connect(lambda text: self._set_access(
            f"cannot read your role in this store: {text}") if current() else None)
        return task

    def _set_access(self, refusal: str | None) -> None:
        self.refusal = refusal
        action = self.users_action
        action.setEnabled(refusal == "")
        tip = "Reading your role in this store…" if refusal is None else (
            _sentence(refusal) if refusal else MANAGE_TIP)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        if refusal is not None:
            self.access_changed.emit(refusal)

    def _on_changes(self, entries: list) -> None:
        if any(str(e.get("action", "")).startswith(("user.", "resync")) for e in entries):
            self.refresh_access()  # a role changed, maybe yours

    def _on_store_changed(self, _store) -> None:
        for dialog in (self.sign_in_dialog, self.users_dialog):
            if dialog is not None and shiboken6.isValid(dialog) and dialog.isVisible() \
                    and dialog.store is not self.window_.store:
                dialog.reject()  # it shows the store the window just left
        self.refresh_access()

    # -- dialogs -------------------------------------------------------------------------------
    def show_sign_in(self) -> SignInDialog:
        dialog = self.sign_in_dialog
        if dialog is not None and shiboken6.isValid(dialog) and dialog.isVisible():
            dialog.raise_()
            return dialog
        if dialog is not None and shiboken6.isValid(dialog):
            dialog.deleteLater()
        dialog = self.sign_in_dialog = SignInDialog(self)
        dialog.open()  # window-modal, does not block the event loop
        return dialog

    def show_users(self) -> UsersDialog:
        dialog = self.users_dialog
        if dialog is not None and shiboken6.isValid(dialog) and dialog.isVisible():
            dialog.raise_()
            return dialog
        if dialog is not None and shiboken6.isValid(dialog):
            dialog.deleteLater()
        refusal = self.refusal if self.refusal is not None else "your role is still being read"
        dialog = self.users_dialog = UsersDialog(self.window_, refusal)
        dialog.changed.connect(self._user_changed)
        dialog.open()
        return dialog

    def _user_changed(self, name: str, role: str) -> None:
        window = self.window_
        window.show_message(f"{name} is now {role}")
        if name == window.store.user:  # your own role: the status bar and panes follow
            update = getattr(window, "_update_status", None)
            if callable(update):
                update()
            window.refresh_current()
            self.refresh_access()

    # -- signing in ------------------------------------------------------------------------------
    def sign_in_as(self, name: str) -> Task:
        """Reopen the window's embedded store folder as `name` in a worker, then re-point the
        window at it (it owns the new store). Failures are notified."""
        window = self.window_
        old = window.store
        root = old.root

        def work(progress, cancelled):
            from ..core import audit
            if is_team(old):  # the server says who you are: there is no name to claim
                raise LabliftError("in a team store you are who the database server says; "
                                   "connect as another login instead (File → Connect to a "
                                   "team store…)")
            store = Store(root, user=name)
            try:
                seq = audit.head(store)["seq"]
            except Exception:  # the change feed then starts from what it finds
                seq = None
            try:
                role = store.role()
            except LabliftError:
                role = None
            return store, seq, role

        task = self.sign_in_task = run_task(work)
        task.finished.connect(lambda result, t=task: self._opened_as(t, old, result))
        task.failed.connect(lambda text: notify(
            f"Cannot sign in as {name}: {text}", "error", "Cannot sign in",
            parent=window if shiboken6.isValid(window) else None))
        return task

    def _opened_as(self, task: Task, old, result) -> None:
        store, seq, role = result
        window = self.window_ if shiboken6.isValid(self) else None
        if (window is None or not shiboken6.isValid(window) or task.is_cancel_requested()
                or task is not self.sign_in_task or window.store is not old):
            store.close()  # nobody wants it any more (cancelled, or another store opened)
            return
        dialog = self.sign_in_dialog
        if dialog is not None and shiboken6.isValid(dialog) and dialog.sign_in_task is task:
            dialog.accept()
        window.set_store(store, seen_seq=seq, owned=True)
        window.show_message(f"Signed in as {store.user} ({role or 'not registered'}) in "
                            f"{store.root}; the name is taken on trust")


def _people(window) -> People:
    people = getattr(window, "people", None)
    if people is None:
        people = window.people = People(window)
    return people


def add_actions(window, file_menu) -> People:
    """File → Sign in as… and Users and roles… (called while the window builds its menus)."""
    people = _people(window)
    file_menu.setToolTipsVisible(True)  # a disabled Users and roles… says why
    file_menu.addSeparator()
    file_menu.addAction(people.sign_in_action)
    file_menu.addAction(people.users_action)
    return people


def install(window) -> People:
    """Make the status bar's user label open Sign in as…, and follow the window's store
    (your role decides whether Users and roles… is enabled)."""
    people = _people(window)
    people.hook_label(window.user_label)
    window.store_changed.connect(people._on_store_changed)
    window.changes_applied.connect(people._on_changes)
    people.refresh_access()
    return people
