"""The main window: navigation list of panes, a stacked area, banner, menus and status bar."""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Callable

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QMainWindow, QMessageBox, QPushButton, QStackedWidget,
                               QVBoxLayout, QWidget)

from .. import __version__
from ..core.store import Store
from .panes import PANE_NAMES
from .workers import cancel_all

ATTENTION_CHARS = 120  # of the reason in the banner; the whole text is in its tooltip


def load_pane_class(name: str) -> type | None:
    """The Pane class of lablift.gui.panes.<name>, or None if that module does not exist."""
    module_name = f"lablift.gui.panes.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None  # not built yet: simply no such pane
        raise
    return module.Pane


class Banner(QFrame):
    """A strip across the top for something that needs attention (e.g. a monitoring alert)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setStyleSheet("#banner { background: #fff3cd; border-bottom: 1px solid #e0c36a; }"
                           "#banner QLabel { color: #5c4400; }")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 8, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.action_button = QPushButton()
        self.action_button.hide()
        close = QPushButton("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action_button)
        layout.addWidget(close)
        self._callback: Callable[[], None] | None = None
        self.action_button.clicked.connect(self._run_action)
        self.hide()

    def _run_action(self) -> None:
        if self._callback is not None:
            self._callback()


class MainWindow(QMainWindow):
    def __init__(self, store: Store, parent=None, restore_state: bool = True):
        super().__init__(parent)
        self.store = store
        self.setWindowTitle(f"Lablift — {store.root}")
        self.panes: dict[str, QWidget] = {}
        self.pane_errors: dict[str, str] = {}
        self._keep_settings = restore_state

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.banner = Banner()
        outer.addWidget(self.banner)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFixedWidth(160)
        self.nav.setSpacing(2)
        self.nav.setStyleSheet("#nav { border: none; border-right: 1px solid #d0d0d0;"
                               " background: #f3f4f6; padding-top: 8px; font-size: 11pt; outline: 0; }"
                               "#nav::item { padding: 8px 12px; }"
                               "#nav::item:selected { background: #dde7f3; color: #1d3f66; }")
        self.stack = QStackedWidget()
        body.addWidget(self.nav)
        body.addWidget(self.stack, 1)
        outer.addLayout(body, 1)
        self.setCentralWidget(central)

        self._build_panes()
        self.nav.currentRowChanged.connect(self._on_nav)
        self._build_menus()
        self._build_status()
        self.setAcceptDrops(True)
        if self.nav.count():
            self.nav.setCurrentRow(0)
        if restore_state:
            self._restore()
        self.refresh_attention()

    # -- panes ------------------------------------------------------------
    def _build_panes(self) -> None:
        for name in PANE_NAMES:
            try:
                cls = load_pane_class(name)
                if cls is None:
                    continue
                pane = cls(self.store, self)
            except Exception as exc:  # one broken pane must not take the whole app down
                traceback.print_exc(file=sys.stderr)
                self.pane_errors[name] = f"{type(exc).__name__}: {exc}"
                pane = QLabel(f"The {name} pane could not be opened:\n{exc}")
                pane.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.panes[name] = pane
            self.stack.addWidget(pane)
            title = getattr(pane, "title", None) or name.capitalize()
            item = QListWidgetItem(title)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setSizeHint(QSize(0, 36))
            self.nav.addItem(item)
            message = getattr(pane, "message", None)
            if message is not None and hasattr(message, "connect"):
                message.connect(self.show_message)

    def pane(self, name: str) -> QWidget | None:
        return self.panes.get(name)

    def current_pane_name(self) -> str | None:
        item = self.nav.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def select_pane(self, name: str) -> QWidget:
        """Show pane `name`; LookupError naming the known panes if there is none."""
        if name not in self.panes:
            raise LookupError(f"unknown pane {name!r} (panes: {', '.join(self.panes)})")
        self.nav.setCurrentRow(list(self.panes).index(name))
        return self.panes[name]

    def _on_nav(self, row: int) -> None:
        if row < 0:
            return
        pane = self.stack.widget(row)
        self.stack.setCurrentIndex(row)
        refresh = getattr(pane, "refresh", None)
        if callable(refresh):
            refresh()

    def is_busy(self) -> bool:
        pane = self.stack.currentWidget()
        busy = getattr(pane, "is_busy", None)
        return bool(busy()) if callable(busy) else False

    # -- banner -------------------------------------------------------------
    def set_banner(self, text: str, action_text: str | None = None,
                   action: Callable[[], None] | None = None) -> None:
        """Show an attention banner above the panes, with an optional action button."""
        self.banner.label.setText(text)
        self.banner._callback = action
        self.banner.action_button.setVisible(bool(action_text and action))
        if action_text:
            self.banner.action_button.setText(action_text)
        self.banner.show()

    def clear_banner(self) -> None:
        self.banner.hide()

    def refresh_attention(self) -> None:
        """Banner for model versions flagged "needs attention" (monitoring alerts), whatever
        pane is open; cleared when none is left. Called at start and after ingest/acknowledge."""
        from ..core import registry
        flagged = [v for v in registry.list_versions(self.store) if v.get("attention")]
        if not flagged:
            if getattr(self, "_attention_banner", False):
                self._attention_banner = False
                self.clear_banner()
            return
        first = flagged[0]
        ref = f"{first['model']}:{first['version']}"
        reason = " ".join(str(first["attention"]).split())
        if len(reason) > ATTENTION_CHARS:
            reason = reason[:ATTENTION_CHARS - 1] + "…"
        text = f"⚠ {ref} needs attention: {reason}"
        if len(flagged) > 1:
            text += f"  (and {len(flagged) - 1} more version{'s' if len(flagged) > 2 else ''})"

        def open_monitoring() -> None:
            pane = self.select_pane("monitoring") if "monitoring" in self.panes else None
            if pane is not None and callable(getattr(pane, "select_version", None)):
                pane.select_version(ref)

        self._attention_banner = True
        self.set_banner(text, "Open Monitoring" if "monitoring" in self.panes else None,
                        open_monitoring)
        self.banner.label.setToolTip("\n".join(f"{v['model']}:{v['version']}: {v['attention']}"
                                               for v in flagged))

    # -- menus and status -------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.import_action = QAction("&Import dataset…", self)
        self.import_action.setShortcut(QKeySequence.StandardKey.Open)
        self.import_action.triggered.connect(self._import_dataset)
        self.sample_action = QAction("Open &sample data", self)
        self.sample_action.triggered.connect(self._open_sample)
        has_datasets = "datasets" in self.panes and not isinstance(self.panes["datasets"], QLabel)
        self.import_action.setEnabled(has_datasets)
        self.sample_action.setEnabled(has_datasets)
        file_menu.addAction(self.import_action)
        file_menu.addAction(self.sample_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Lablift", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def _build_status(self) -> None:
        role = self.store.role() or "not registered"
        self.user_label = QLabel(f"User: {self.store.user} ({role})")
        self.store_label = QLabel(f"Store: {self.store.root}")
        self.store_label.setToolTip(str(self.store.root))
        for label in (self.user_label, self.store_label):
            label.setContentsMargins(6, 0, 6, 0)
        self.statusBar().addPermanentWidget(self.user_label)
        self.statusBar().addPermanentWidget(self.store_label)

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def _datasets_pane(self):
        self.select_pane("datasets")
        return self.panes["datasets"]

    def _import_dataset(self) -> None:
        self._datasets_pane().choose_and_import()

    def _open_sample(self) -> None:
        self._datasets_pane().import_sample()

    def _about(self) -> None:
        QMessageBox.about(self, "About Lablift",
                          f"<b>Lablift {__version__}</b><p>Datasets, experiments, approvals, "
                          f"bundles and monitoring for scikit-learn models, recorded in a local "
                          f"lineage store.</p><p>Store: {self.store.root}</p>")

    # -- drag and drop: files dropped anywhere go to the Datasets pane -------------
    def dragEnterEvent(self, event) -> None:
        pane = self.panes.get("datasets")
        if pane is not None and hasattr(pane, "accepts_mime") and pane.accepts_mime(
                event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        pane = self.panes.get("datasets")
        if pane is not None and hasattr(pane, "drop_mime") and pane.drop_mime(event.mimeData()):
            self.select_pane("datasets")
            event.acceptProposedAction()
        else:
            event.ignore()

    # -- window state -----------------------------------------------------------
    def _restore(self) -> None:
        settings = QSettings()
        geometry = settings.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = settings.value("main/state")
        if state is not None:
            self.restoreState(state)
        pane = settings.value("main/pane")
        if pane in self.panes:
            self.select_pane(pane)

    def closeEvent(self, event) -> None:
        if self._keep_settings:
            settings = QSettings()
            settings.setValue("main/geometry", self.saveGeometry())
            settings.setValue("main/state", self.saveState())
            settings.setValue("main/pane", self.current_pane_name())
        cancel_all()
        super().closeEvent(event)
