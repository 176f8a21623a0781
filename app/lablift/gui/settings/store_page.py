"""Settings → Store: which store this window works on and who it says you are, the recent
stores (open one, or take it off the list), and the window's own ways to open another store.
Opening goes through the main window (`open_store_location`, in its worker); the dialog then
follows the window to the new store."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QListView, QPushButton, QVBoxLayout)

from ...core.store import is_url
from ..connect import RECENT_KEY, recent_stores, server_name, strip_password
from .common import SettingsPage, muted

LOCATION_ROLE = Qt.ItemDataRole.UserRole


def _is_team(store) -> bool:
    return getattr(store, "engine", "sqlite") != "sqlite"


def _read(store) -> dict[str, Any]:
    return {"role": store.role()}


class StorePage(SettingsPage):
    title = "Store"

    def __init__(self, store, window, parent=None):
        super().__init__(store, parent)
        self.window_ = window
        outer = QVBoxLayout(self)
        current = QGroupBox("This window's store")
        form = QFormLayout(current)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.location_label = QLabel()
        self.kind_label = QLabel()
        self.user_label = QLabel()
        for label in (self.location_label, self.kind_label, self.user_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Location", self.location_label)
        form.addRow("Kind", self.kind_label)
        form.addRow("You", self.user_label)
        outer.addWidget(current)

        recent = QGroupBox("Recent stores")
        box = QVBoxLayout(recent)
        self.recent_model = QStandardItemModel(self)
        self.recent_view = QListView()
        self.recent_view.setModel(self.recent_model)
        self.recent_view.setAccessibleName("recent stores")
        self.recent_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.recent_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.recent_view.setMinimumHeight(80)
        self.recent_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.recent_view.doubleClicked.connect(lambda _i: self.open_selected())
        self.recent_view.selectionModel().selectionChanged.connect(self._update_buttons)
        box.addWidget(self.recent_view, 1)
        row = QHBoxLayout()
        self.recent_note = muted(QLabel("Passwords are never remembered."))
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Switch this window to the selected store")
        self.open_button.clicked.connect(self.open_selected)
        self.remove_button = QPushButton("Remove from list")
        self.remove_button.setToolTip("Forget the selected store (its files and data stay "
                                      "where they are)")
        self.remove_button.clicked.connect(self.remove_selected)
        row.addStretch(1)
        row.addWidget(self.open_button)
        row.addWidget(self.remove_button)
        box.addLayout(row)
        box.addWidget(self.recent_note)
        outer.addWidget(recent, 1)

        others = QVBoxLayout()  # one under the other: the page stays narrow
        self.folder_button = QPushButton("Open a local store folder…")
        self.folder_button.clicked.connect(lambda: self.window_.choose_store_folder())
        self.connect_button = QPushButton("Connect to a team store…")
        self.connect_button.clicked.connect(lambda: self.window_.show_connect_dialog())
        for button in (self.folder_button, self.connect_button):
            others.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
        outer.addLayout(others)
        self.refresh()

    def refresh(self) -> None:
        store = self.store
        self.location_label.setText(str(store.root))
        if _is_team(store):
            server = server_name(getattr(store, "server_version", None))
            self.kind_label.setText(f"Team store on {server}, database "
                                    f"{getattr(store, 'database', '?')}")
        else:
            self.kind_label.setText("Embedded store (an SQLite file and an artifacts folder)")
        self.user_label.setText(f"{store.user} (reading your role…)")
        self.fill_recent()
        self.start("load", lambda progress, cancelled: _read(store), self._show_role,
                   on_failed=lambda text: self.user_label.setText(
                       f"{store.user} (role unknown: {text})"))

    def _show_role(self, data: dict[str, Any]) -> None:
        store = self.store
        role = data["role"] or "not registered in this store"
        how = ("identity from the database server" if _is_team(store) else
               "the name you started with, taken on trust")
        self.user_label.setText(f"{store.user} · role {role} · {how}")

    def _current(self) -> set[str]:
        location = getattr(self.store, "url", None)
        return {str(self.store.root)} | ({strip_password(location) or ""} if location else set())

    def fill_recent(self) -> None:
        self.recent_model.clear()
        current = self._current()
        for location in recent_stores():
            open_now = location in current
            item = QStandardItem(location + ("   (open now)" if open_now else ""))
            item.setData(location, LOCATION_ROLE)
            item.setToolTip(("Team store " if is_url(location) else "Store folder ")
                            + location)
            self.recent_model.appendRow(item)
        if not self.recent_model.rowCount():
            empty = QStandardItem("(none yet: stores you open are listed here)")
            empty.setEnabled(False)
            self.recent_model.appendRow(empty)
        self._update_buttons()

    def selected_location(self) -> str | None:
        rows = self.recent_view.selectionModel().selectedRows()
        return rows[0].data(LOCATION_ROLE) if rows else None

    def select_location(self, location: str) -> bool:
        for row in range(self.recent_model.rowCount()):
            index = self.recent_model.index(row, 0)
            if index.data(LOCATION_ROLE) == location:
                self.recent_view.setCurrentIndex(index)
                return True
        return False

    def _update_buttons(self, *_: Any) -> None:
        location = self.selected_location()
        self.open_button.setEnabled(location is not None and location not in self._current())
        self.remove_button.setEnabled(location is not None)

    def open_selected(self):
        """Switch the window to the selected store (the window reports how it went)."""
        location = self.selected_location()
        if location is None or location in self._current():
            return None
        return self.window_.open_store_location(location)

    def remove_selected(self) -> None:
        location = self.selected_location()
        if location is None:
            return
        # edited in place, as File → Recent stores → Clear the list is
        QSettings().setValue(RECENT_KEY, [r for r in recent_stores() if r != location])
        self.fill_recent()
