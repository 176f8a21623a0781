"""File → Users and roles…: who may do what in the store, and (for an admin) adding a user
or changing a role. Every write is `Store.add_user` in a worker, so the core's rules and its
audit entry apply as on the command line (`lablift users add`); a refusal is the core's line,
shown through notify. The core has no way to remove a user, so neither has this dialog."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QTableView, QVBoxLayout)

from ..core.store import ROLES
from . import palette
from .notifications import notify
from .store_switching import is_team
from .tablemodels import Column, RecordsTableModel, make_sort_proxy
from .workers import Task, run_task, while_alive

ROLE_DUTIES = ("analyst: import, train, sweep, register · reviewer: approve, reject · "
               "ops: export bundles, set aliases · admin: all of these, and manage users")


# Stylesheets of a note's tone, in the colours of the theme in use (gui/palette.py)
def note_style() -> str:
    return palette.css_text("muted")


def warn_style() -> str:
    return palette.css_warning()


def error_style() -> str:
    return palette.css_text("bad")


def manage_refusal(user: str, role: str | None, root: Any) -> str:
    """Why `user` may not manage users (the core's wording), or "" for an admin."""
    if role == "admin":
        return ""
    if role is None:
        return (f"managing users needs the role admin; user {user!r} is not registered in "
                f"store {root}")
    return f"managing users needs the role admin; user {user!r} is {role}"


def find_user(records: list[dict], name: str) -> dict | None:
    """The record of `name`, compared without case (as four-eyes compares names)."""
    folded = name.strip().casefold()
    return next((r for r in records if str(r["name"]).casefold() == folded), None)


def users_view(columns: list[Column], parent=None) -> tuple[QTableView, RecordsTableModel]:
    """A sortable, row-selecting table of users."""
    model = RecordsTableModel(columns, parent=parent)
    proxy = make_sort_proxy(model, parent)
    view = QTableView(parent)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 10)
    view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    return view, model


def selected_record(view: QTableView, model: RecordsTableModel) -> dict | None:
    """The selected user (not merely the current row: a view makes its first row current
    when it gets focus, and that must not pick anyone)."""
    rows = view.selectionModel().selectedRows()
    if not rows:
        return None
    return model.record(view.model().mapToSource(rows[0]).row())


def select_name(view: QTableView, model: RecordsTableModel, name: str) -> None:
    """Select the row of `name` (without case), or clear the selection."""
    proxy = view.model()
    for row in range(proxy.rowCount()):
        if model.record(proxy.mapToSource(proxy.index(row, 0)).row())["name"].casefold() \
                == name.strip().casefold():
            view.selectRow(row)
            return
    view.clearSelection()


class UsersDialog(QDialog):
    """The users table; for an admin, Name + Role + Add user / Change role."""

    changed = Signal(str, str)  # name, role: a write the store accepted
    loaded = Signal()

    def __init__(self, window, refusal: str = ""):
        super().__init__(window)
        self.window_ = window
        self.store = window.store
        self.refusal = refusal
        self.load_task: Task | None = None
        self.write_task: Task | None = None
        self.setWindowTitle("Users and roles")
        self.setMinimumWidth(560)
        team = is_team(self.store)

        layout = QVBoxLayout(self)
        intro = QLabel(f"Who may do what in {'team store' if team else 'store'} "
                       f"{self.store.root}. Every change is recorded in the audit log.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        duties = QLabel(ROLE_DUTIES + ".")
        duties.setWordWrap(True)
        duties.setStyleSheet(note_style())
        layout.addWidget(duties)
        if team:
            self.team_note = QLabel(
                "In a team store each user is a database login role: adding NAME creates "
                "that login role on the server (or gives an existing one its Lablift role). "
                "Passwords stay with the DBA: Lablift never sets or keeps one (in psql: "
                "ALTER ROLE NAME PASSWORD …).")
            self.team_note.setWordWrap(True)
            self.team_note.setStyleSheet(warn_style())
            layout.addWidget(self.team_note)
        else:
            self.team_note = None

        self.view, self.model = users_view(
            [Column("name", "Name"), Column("role", "Role"),
             Column("created_by", "Recorded by", tooltip="who last set this user's role"),
             Column("created_at", "Since", fmt=lambda v: str(v or "")[:19].replace("T", " "))],
            self)
        self.view.selectionModel().selectionChanged.connect(self._on_row)
        layout.addWidget(self.view, 1)

        row = QHBoxLayout()
        row.addWidget(QLabel("Name:"))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("a new user, or pick one above")
        row.addWidget(self.name_edit, 1)
        row.addWidget(QLabel("Role:"))
        self.role_combo = QComboBox()
        self.role_combo.addItems(list(ROLES))
        row.addWidget(self.role_combo)
        self.apply_button = QPushButton("Add user")
        self.apply_button.clicked.connect(self.apply)
        row.addWidget(self.apply_button)
        layout.addLayout(row)

        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(note_style())
        layout.addWidget(self.note)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.name_edit.textChanged.connect(self._update)
        self.name_edit.returnPressed.connect(self.apply)
        self.role_combo.currentTextChanged.connect(self._update)
        for w in (self.name_edit, self.role_combo):
            w.setEnabled(not refusal)
        self._update()
        self.name_edit.setFocus()
        self.reload()

    # -- reading -------------------------------------------------------------------------
    def reload(self) -> Task:
        store = self.store
        task = self.load_task = run_task(lambda progress, cancelled: store.users())
        task.finished.connect(lambda rows, t=task: self._show_users(t, rows))
        task.failed.connect(lambda text, t=task: self._failed(t, text, "Could not read the "
                                                                        "users"))
        return task

    @while_alive
    def _show_users(self, task: Task, rows: list[dict]) -> None:
        if task is not self.load_task:
            return
        self.model.set_records(rows)
        self.view.resizeColumnsToContents()
        self.view.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        select_name(self.view, self.model, self.name_edit.text())
        self._update()
        self.loaded.emit()

    def names(self) -> list[str]:
        return [r["name"] for r in self.model.records()]

    def _on_row(self, *_selection) -> None:
        record = selected_record(self.view, self.model)
        if record is None or self.refusal:
            return
        if record["name"] != self.name_edit.text().strip():
            self.name_edit.setText(record["name"])
        self.role_combo.setCurrentText(record["role"])

    # -- writing ---------------------------------------------------------------------------
    def _update(self) -> None:
        name, role = self.name_edit.text().strip(), self.role_combo.currentText()
        writing = self.write_task is not None and self.write_task.is_running()
        existing = next((r for r in self.model.records() if r["name"] == name), None)
        self.apply_button.setText("Change role" if existing else "Add user")
        if self.refusal:
            self.apply_button.setEnabled(False)
            self.apply_button.setToolTip(self.refusal)
            self._note(f"You can only read this list: {self.refusal}.", warn_style())
            return
        same = existing is not None and existing["role"] == role
        self.apply_button.setEnabled(bool(name) and not same and not writing)
        self.apply_button.setToolTip(f"{name} is already {role}" if same else "")
        if writing:
            return
        if name and name.casefold() == str(self.store.user).casefold() and role != "admin":
            self._note(f"This takes your own admin role away: you ({self.store.user}) could "
                       f"no longer manage users. Make sure another admin remains.", warn_style())
        elif existing is not None and not same:
            self._note(f"{name} is {existing['role']}; Change role makes them {role}.")
        elif name and existing is None:
            self._note(f"Add user records {name} as {role}" + (
                " and creates the database login role on the server." if is_team(self.store)
                else "."))
        else:
            self._note("")

    def _note(self, text: str, style: str | None = None) -> None:
        self.note.setStyleSheet(style or note_style())
        self.note.setText(text)

    def apply(self) -> Task | None:
        """Add the user or change their role (Store.add_user) in a worker."""
        name, role = self.name_edit.text().strip(), self.role_combo.currentText()
        if not name or self.refusal or not self.apply_button.isEnabled():
            return None
        store = self.store

        def work(progress, cancelled):
            store.add_user(name, role)
            return store.users()

        self._note(f"Recording {name} as {role}…")
        task = self.write_task = run_task(work)
        task.finished.connect(lambda rows, t=task: self._written(t, name, role, rows))
        task.failed.connect(lambda text, t=task: self._failed(t, text, "Not allowed"))
        task.done.connect(self._after_write)
        self._update()
        return task

    @while_alive
    def _written(self, task: Task, name: str, role: str, rows: list[dict]) -> None:
        self.model.set_records(rows)
        select_name(self.view, self.model, name)
        self._note(f"{name} is now {role} (recorded in the audit log).")
        self.changed.emit(name, role)

    @while_alive
    def _after_write(self) -> None:
        if self.write_task is not None and not self.write_task.is_running():
            self.write_task = None
        # keep the outcome line; only the buttons follow the new state
        text, style = self.note.text(), self.note.styleSheet()
        self._update()
        self._note(text, style)

    @while_alive
    def _failed(self, task: Task, text: str, title: str) -> None:
        if task not in (self.load_task, self.write_task):
            return
        self._note(text, error_style())
        level = "error" if text.startswith("internal error") else "warning"
        notify(text, level, title if level == "warning" else "Something failed", parent=self)
