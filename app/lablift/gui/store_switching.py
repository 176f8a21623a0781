"""Opening another store from the window: File → Connect to a team store…, Open a local
store folder…, Recent stores. The store opens in a worker (a server may be slow); then
`set_store` re-points the window: the old panes are cancelled and retired (deleted once their
workers have ended), new panes are built on the new store. A mixin of MainWindow."""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ..core.store import Store, is_url
from .connect import (CREDENTIALS_HINT, ConnectDialog, clear_recent_stores, has_password,
                      recent_stores, remember_store, scrub, server_place, strip_password)
from . import workers
from .workers import Task, run_task

RETIRE_CHECK_MS = 200  # how often retired panes look whether their workers have ended
# Tasks a pane runs that change the store (loads are only reads): named when switching stores.
WRITING_TASKS = {"import_task": "a dataset import", "export_task": "a bundle export",
                 "ingest_task": "a monitoring ingest", "retrain_task": "a retraining"}


def is_team(store) -> bool:
    return getattr(store, "engine", "sqlite") != "sqlite"


def store_location(store) -> str:
    """What opens this store again: a team store's URL (as given, password and all, kept in
    memory only) or an embedded store's folder."""
    return str(getattr(store, "url", None) or store.root)


class StoreSwitching:
    def show_connect_dialog(self, url: str | None = None) -> ConnectDialog:
        """File → Connect to a team store… (window-modal, does not block the event loop)."""
        dialog = self.connect_dialog
        if dialog is not None and shiboken6.isValid(dialog) and dialog.isVisible():
            dialog.raise_()
            return dialog
        if dialog is not None and shiboken6.isValid(dialog):
            dialog.deleteLater()
        dialog = self.connect_dialog = ConnectDialog(self)  # fresh: the recent URLs change
        if url is not None:
            dialog.set_url(url)
        elif is_team(self.store):
            dialog.set_url(strip_password(store_location(self.store)) or "")
        dialog.update_work_note()
        dialog.open()
        return dialog

    def choose_store_folder(self) -> Task | None:
        settings = QSettings()
        start = str(settings.value("stores/last_dir", "") or (
            Path(self.store.root).parent if not is_team(self.store) else Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Open or create a store folder", start)
        if not folder:
            return None
        settings.setValue("stores/last_dir", str(Path(folder).parent))
        return self.open_store_location(folder)

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        current = {strip_password(store_location(self.store)), str(self.store.root)}
        items = recent_stores()
        for location in items:
            action = menu.addAction(location)
            action.setToolTip(("Team store " if is_url(location) else "Store folder ")
                              + location)
            action.setEnabled(location not in current)  # the one open now: greyed
            action.triggered.connect(lambda _c=False, loc=location: self.open_store_location(loc))
        if not items:
            menu.addAction("(none yet)").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list").triggered.connect(clear_recent_stores)

    def running_work(self) -> list[str]:
        """What changes the store right now (training, imports, exports, ingests): switching
        stores cancels it."""
        out: list[str] = []
        for pane in self.panes.values():
            running = getattr(pane, "running_job", None)
            job = running() if callable(running) else None
            if job is not None:
                out.append(f"training {job.label}")
            queued = getattr(pane, "queued_jobs", None)
            n = len(queued()) if callable(queued) else 0
            if n:
                out.append(f"{n} queued training job{'s' if n != 1 else ''}")
            for attr, what in WRITING_TASKS.items():
                task = getattr(pane, attr, None)
                if isinstance(task, Task) and task.is_running():
                    out.append(what)
        return out

    def open_store_location(self, location: str, report: bool = True) -> Task:
        """Open the store at `location` (a folder or a postgresql:// URL) in a worker, then
        switch the window to it. With `report`, a failure is a one-line dialog; the Task's
        signals say how it went either way."""
        location = str(location)
        user = None if is_url(location) else self.claimed_user

        def work(progress, cancelled):
            from ..core import audit
            store = Store(location, user=user)
            try:
                seq = audit.head(store)["seq"]
            except Exception:  # the feed then starts from what it finds
                seq = None
            return store, seq

        shown = scrub(_shown_location(location), location)
        self.show_message(f"Opening {shown}…")
        task = self.open_task = run_task(work)
        task.finished.connect(lambda result, t=task, loc=location: self._on_store_opened(
            t, loc, result))
        task.failed.connect(lambda msg, loc=location: self._on_open_failed(loc, msg, report))
        return task

    def _on_store_opened(self, task: Task, location: str, result) -> None:
        store, seq = result
        if not shiboken6.isValid(self) or task.is_cancel_requested() \
                or task is not self.open_task:
            store.close()  # nobody wants it any more: give its connection back
            return
        remembered = remember_store(location)
        self.set_store(store, seen_seq=seq, owned=True)
        text = f"Opened {store.root}" if not is_team(store) else (
            f"Connected to {server_place(store)} as {store.user}")
        if is_url(location) and has_password(location):
            text += ("; remembered without its password" if remembered else
                     "; not remembered (its password could not be taken out)")
            text += f": {CREDENTIALS_HINT}"
        self.show_message(text)

    def _on_open_failed(self, location: str, message: str, report: bool) -> None:
        if not shiboken6.isValid(self):
            return
        line = scrub(message, location)
        self.show_message(f"Cannot open the store: {line}")
        if report:
            box = QMessageBox(QMessageBox.Icon.Warning, "Cannot open the store", line,
                              QMessageBox.StandardButton.Ok, self)
            box.open()  # window-modal, does not block the event loop
            self.last_dialog = box

    def set_store(self, store: Store, seen_seq: int | None = None, owned: bool = False) -> None:
        """Re-point the window at `store`: retire the old panes (their workers are cancelled;
        they are deleted once those end), build new ones, update the title, the status bar
        and the banner, and listen for the new store's changes."""
        old, old_owned = self.store, self._owns_store
        if store is old:
            return
        current = self.current_pane_name()
        self._stop_feed()
        self._change_timer.stop()
        self._pending_changes = []
        holder, old_tasks = self._retire_panes()
        self.store, self._owns_store = store, owned
        if not is_team(store):
            self.claimed_user = store.user
        self.setWindowTitle(f"Lablift — {store.root}")
        self._build_panes()
        self._update_dataset_actions()
        self._update_status()
        self._attention_banner = False
        self.clear_banner()
        if self.nav.count():
            if current in self.panes:
                self.select_pane(current)
            else:
                self.nav.setCurrentRow(0)
        self._safe_attention()
        if self._watch:
            self._start_feed(seen_seq)
        self._retiring.append({"holder": holder, "tasks": old_tasks,
                               "store": old if old_owned else None})
        if not self._retire_timer_running():
            self._retire_timer = QTimer(self)
            self._retire_timer.timeout.connect(self._finish_retiring)
            self._retire_timer.start(RETIRE_CHECK_MS)
        self.store_changed.emit(store)

    def _retire_panes(self) -> tuple[QWidget, set]:
        old_tasks = set(workers._live)  # every worker now running belongs to the old store
        holder = QWidget()  # hidden, parentless: the old panes wait here for their workers
        holder.hide()
        for pane in self.panes.values():
            message = getattr(pane, "message", None)
            if message is not None and hasattr(message, "disconnect"):
                try:
                    message.disconnect(self.show_message)
                except (RuntimeError, TypeError):
                    pass
            stop_all = getattr(pane, "stop_all", None)
            if callable(stop_all):
                stop_all(0)  # drop the training queue, cancel the running job; no waiting
            self.stack.removeWidget(pane)
            pane.hide()
            pane.setParent(holder)
        for task in old_tasks:
            if task is not self.open_task:
                task.cancel()
        self.nav.blockSignals(True)
        self.nav.clear()
        self.nav.blockSignals(False)
        self.panes = {}
        self.pane_errors = {}
        return holder, old_tasks

    def _retire_timer_running(self) -> bool:
        timer = getattr(self, "_retire_timer", None)
        return timer is not None and shiboken6.isValid(timer) and timer.isActive()

    def _finish_retiring(self, force: bool = False) -> None:
        left = []
        for item in self._retiring:
            if not force and item["tasks"] & workers._live:
                left.append(item)
                continue
            item["holder"].deleteLater()
            if item["store"] is not None:
                item["store"].close()
        self._retiring = left
        if not left and self._retire_timer_running():
            self._retire_timer.stop()


def _shown_location(location: str) -> str:
    if is_url(location):
        from ..core.store import team
        return team.mask_url(location)
    return location
