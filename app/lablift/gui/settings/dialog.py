"""File → Settings… (Ctrl+,): sections on the left, one page each on the right.

Store pages (Monitoring, Gates) read the store in their workers when the dialog opens and
again when the window switches stores; OK and Apply first check every page on the GUI thread
(a mistake is named next to its field and nothing is written), keep this machine's settings
(QSettings) and write the store's in one worker; a refusal goes through notify and the dialog
stays open. Cancel discards. The dialog is not modal: the window's own store actions (open,
connect) stay usable while it is open."""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QScrollArea, QStackedWidget,
                               QVBoxLayout, QWidget)

from ...core.errors import LabliftError, PermissionDenied
from ..notifications import notify
from ..workers import Task, run_task
from .common import SettingsPage, muted
from .gates_page import GatesPage
from .machine_pages import AppearancePage, ComputePage
from .monitoring_page import MonitoringPage
from .store_page import StorePage

DEFAULT_SIZE = (780, 560)
MINIMUM_SIZE = (480, 360)
SECTIONS_WIDTH = 120


def _write_all(store, jobs: list[tuple[int, SettingsPage, Any]]) -> dict[str, Any]:
    """In the worker: each store page's write, in turn; a refusal stops the rest and says
    which were written before it."""
    done: list[tuple[int, Any]] = []
    for index, page, payload in jobs:
        try:
            done.append((index, page.write(store, payload)))
        except LabliftError as exc:
            return {"done": done, "error": str(exc), "page": index,
                    "refused": isinstance(exc, PermissionDenied)}
    return {"done": done}


class SettingsDialog(QDialog):
    def __init__(self, window, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.window_ = window
        self.store = window.store
        self.save_task: Task | None = None
        self.setWindowTitle("Settings")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setMinimumSize(*MINIMUM_SIZE)
        self.resize(*DEFAULT_SIZE)

        self.pages: list[SettingsPage] = [
            StorePage(self.store, window), MonitoringPage(self.store), GatesPage(self.store),
            ComputePage(self.store), AppearancePage(self.store)]
        self.sections = QListWidget()
        self.sections.setAccessibleName("settings sections")
        self.sections.setFixedWidth(SECTIONS_WIDTH)
        self.stack = QStackedWidget()
        for page in self.pages:
            item = QListWidgetItem(page.title)
            item.setSizeHint(QSize(0, 30))
            self.sections.addItem(item)
            scroll = QScrollArea()  # a small screen scrolls a page instead of cutting it
            scroll.setWidget(page)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            self.stack.addWidget(scroll)
            page.changed.connect(self._update_buttons)
        self.sections.currentRowChanged.connect(self.stack.setCurrentIndex)

        self.status = muted(QLabel())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Apply
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button.clicked.connect(lambda: self.apply(close=True))
        self.apply_button.clicked.connect(lambda: self.apply(close=False))
        self.cancel_button.clicked.connect(self.reject)

        body = QHBoxLayout()
        body.addWidget(self.sections)
        body.addWidget(self.stack, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.buttons)
        layout.addLayout(bottom)
        self.sections.setCurrentRow(0)
        store_changed = getattr(window, "store_changed", None)
        if store_changed is not None:
            store_changed.connect(self.set_store)
        self._update_buttons()

    # -- navigation ------------------------------------------------------------------------
    def page(self, title: str) -> SettingsPage:
        for page in self.pages:
            if page.title.lower() == title.lower():
                return page
        raise LookupError(f"no settings section {title!r} "
                          f"(sections: {', '.join(p.title for p in self.pages)})")

    def select_section(self, title: str) -> SettingsPage:
        page = self.page(title)
        self.sections.setCurrentRow(self.pages.index(page))
        return page

    def is_busy(self) -> bool:
        saving = self.save_task is not None and self.save_task.is_running()
        return saving or any(p.is_busy() for p in self.pages)

    def set_store(self, store) -> None:
        """The window switched stores: show that store's settings (unsaved edits of the old
        store's pages are dropped with it)."""
        if not shiboken6.isValid(self):
            return
        self.store = store
        for page in self.pages:
            page.set_store(store)
        self.status.setText(f"Now showing the settings of {store.root}")
        self._update_buttons()

    def _update_buttons(self) -> None:
        saving = self.save_task is not None and self.save_task.is_running()
        self.apply_button.setEnabled(not saving and any(p.has_changes() for p in self.pages))
        self.ok_button.setEnabled(not saving)

    # -- keeping and discarding ------------------------------------------------------------
    def apply(self, close: bool = False) -> Task | None:
        """Check every page; keep this machine's settings; write the store's in a worker.
        Returns the worker's Task (None when nothing had to be written)."""
        if self.save_task is not None and self.save_task.is_running():
            return self.save_task
        for index, page in enumerate(self.pages):
            problems = page.problems()
            if problems:
                self.sections.setCurrentRow(index)
                self.status.setText(f"Nothing saved: {problems[0]}")
                return None
        for page in self.pages:
            if not page.store_level and page.has_changes():
                page.save()
        jobs = [(i, p, payload) for i, p in enumerate(self.pages) if p.store_level
                for payload in [p.prepare()] if payload is not None]
        if not jobs:
            self.status.setText("Saved")
            self._update_buttons()
            if close:
                self.accept()
            return None
        self.status.setText(f"Saving to the store {self.store.root}…")
        store = self.store
        task = self.save_task = run_task(lambda progress, cancelled: _write_all(store, jobs))
        task.finished.connect(lambda result: self._saved(result, close))
        task.failed.connect(self._save_failed)
        task.done.connect(lambda: self._update_buttons() if shiboken6.isValid(self) else None)
        self._update_buttons()
        return task

    def _saved(self, result: dict[str, Any], close: bool) -> None:
        if not shiboken6.isValid(self):
            return
        for index, value in result["done"]:
            self.pages[index].written(value)
        error = result.get("error")
        if error is None:
            self.status.setText("Saved")
            if close:
                self.accept()
            return
        page = self.pages[result["page"]]
        self.sections.setCurrentRow(result["page"])
        self.status.setText(f"{page.title} not saved: {error}")
        notify(error, "warning" if result.get("refused") else "error",
               f"Settings: {page.title} not saved", parent=self)

    def _save_failed(self, text: str) -> None:
        if not shiboken6.isValid(self):
            return
        self.status.setText(f"Not saved: {text}")
        notify(text, "error", "Settings: saving failed", parent=self)

    def reject(self) -> None:
        for page in self.pages:
            page.discard()
            page.cancel()
        super().reject()


def open_settings(window, section: str | None = None) -> SettingsDialog:
    """File → Settings…: the window's settings dialog (raised if it is open already)."""
    dialog = next((d for d in window.findChildren(SettingsDialog)
                   if shiboken6.isValid(d) and d.isVisible()), None)
    if dialog is None:
        dialog = SettingsDialog(window)
        dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    if section:
        dialog.select_section(section)
    return dialog
