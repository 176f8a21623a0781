"""The main window: navigation list of panes, a stacked area, banner, menus and status bar.

The window works on one store at a time. File → Connect to a team store… / Open a local store
folder… / Recent stores open another one in a worker (a server may be slow), then
`set_store` re-points the window: the old panes are cancelled and retired (deleted once their
workers have ended), new panes are built on the new store, the status bar says who the store
says you are, and a ChangeFeed (gui/changes.py) refreshes the visible pane when colleagues
change the store.

A pane is built when it is first shown or asked for (gui/pane_slots.py): the first paint waits
only for the shell and the pane shown first, and nothing here imports matplotlib, pandas or
scikit-learn before a pane or dialog needs them (tests/test_gui_start_imports.py).
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QPainter
from PySide6.QtWidgets import (QApplication, QFrame, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QMainWindow, QMessageBox,
                               QPushButton, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget)

from .. import __version__
from ..core.errors import LabliftError
from ..core.store import Store
from .changes import ChangeFeed
from .connect import ConnectDialog, server_name, server_place
from . import palette, people
from .pane_slots import PaneSlots, pane_exists
from .panes import PANE_NAMES
from .store_switching import StoreSwitching, is_team, store_location  # noqa: F401
from .workers import Task, cancel_all, run_task
from . import event_notifier, tour, welcome

ATTENTION_CHARS = 120  # of the reason in the banner; the whole text is in its tooltip
CHANGE_DELAY_MS = 150  # entries arriving together are applied as one refresh
CHANGE_RETRY_MS = 500  # while a dialog is open or the pane is loading, try again after this
STORE_LABEL_SHARE = 0.36  # of the window's width, at most, for the store in the status bar


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
        c = palette.color
        self.setStyleSheet(f"#banner {{ background: {c('banner_bg')}; border-bottom: 1px solid "
                           f"{c('banner_border')}; }}"
                           f"#banner QLabel {{ color: {c('banner_text')}; }}")
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


class ElidedLabel(QLabel):
    """A status-bar label that shortens its text with … when the window is narrow (text()
    stays whole; the tooltip shows it too), so a long path or URL never widens the window."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().horizontalAdvance("x" * 12)),
                     hint.height())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle,
                                             rect.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                         text)


HELP_HTML = """<h3>The lifecycle, by role</h3>
<p><b>Analyst</b>: <i>Datasets</i> (Ctrl+1) — import a CSV, Parquet or Excel file (Ctrl+O)
or the sample; <i>Experiments</i> (Ctrl+2) — pick a dataset, target and algorithm, Train,
compare runs, register the best as a model version.</p>
<p><b>Reviewer</b>: <i>Approvals</i> (Ctrl+4) — each pending version with its checks,
fairness and lineage; approve or reject with a comment. Nobody approves what they trained or
registered.</p>
<p><b>Ops</b>: <i>Registry</i> (Ctrl+3) — set the production alias on an approved version,
export its bundle; <i>Monitoring</i> (Ctrl+5) — ingest live batches, watch drift and
alerts.</p>
<p>F5 re-reads the store, Ctrl+F finds in the current pane, Ctrl+L shows the lineage of
the selected item (its data, runs, versions, approvals, bundles, batches). Every change is
recorded in the audit log (<code>lablift audit verify</code>). In a team store who you are is
the database server's; in a local one it is the name you started with, or signed in as
(File → Sign in as…).</p>"""


class MainWindow(StoreSwitching, QMainWindow):
    store_changed = Signal(object)  # the new Store, once the panes are rebuilt on it
    changes_applied = Signal(list)  # audit entries a live refresh has just shown
    attention_read = Signal()  # the attention banner shows what the store says now
    status_read = Signal()  # the status bar shows the role the store says you have

    def __init__(self, store: Store, parent=None, restore_state: bool = True,
                 watch: bool = True, claimed_user: str | None = None,
                 owns_store: bool = False, first_pane: str | None = None):
        """`first_pane`: the pane shown (and so built) first; else the one shown when the
        window was last closed (with `restore_state`), else the first."""
        super().__init__(parent)
        self.store = store
        self.setWindowTitle(f"Lablift — {store.root}")
        self.panes = PaneSlots([], self._build_pane)
        self.pane_errors: dict[str, str] = {}
        self._keep_settings = restore_state
        self._watch = watch
        # The name asked for in an embedded store (a team store's user is the server's).
        self.claimed_user = claimed_user if claimed_user is not None else (
            None if is_team(store) else store.user)
        self.feed: ChangeFeed | None = None
        self.open_task: Task | None = None
        self.connect_dialog: ConnectDialog | None = None
        self.last_dialog: QMessageBox | None = None
        self._owns_store = owns_store  # a store the window owns is closed when it is done
        self._pending_changes: list[dict[str, Any]] = []
        self._live_tip = ""
        self._last_change = ""
        self._retiring: list[dict[str, Any]] = []
        self._status_task: Task | None = None
        self._role_store: Store | None = None  # the store whose role the status bar shows
        self._change_timer = QTimer(self)
        self._change_timer.setSingleShot(True)
        self._change_timer.timeout.connect(self._apply_changes)
        seen = self._head_seq()  # before the panes read: nothing after it goes unseen

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
        c = palette.color
        self.nav.setStyleSheet(f"#nav {{ border: none; border-right: 1px solid {c('nav_border')};"
                               f" background: {c('nav_bg')}; padding-top: 8px; font-size: 11pt;"
                               " outline: 0; }"
                               "#nav::item { padding: 8px 12px; }"
                               f"#nav::item:selected {{ background: {c('nav_selected_bg')};"
                               f" color: {c('nav_selected_text')}; }}")
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
        start = first_pane if first_pane in self.panes else None
        if restore_state:
            saved = self._restore()
            start = start or (saved if saved in self.panes else None)
        if self.nav.count():
            self.select_pane(start or self.nav.item(0).data(Qt.ItemDataRole.UserRole))
        self.refresh_attention()
        welcome.install(self)  # an empty store is offered the sample project (gui/welcome.py)
        if watch:
            self._start_feed(seen)
            # desktop notices of events that concern the user (gui/event_notifier.py)
            event_notifier.install(self)

    # -- panes ------------------------------------------------------------
    def _build_panes(self) -> None:
        """List the panes there are (in the navigation list); each is built when first shown
        or asked for (`self.panes[name]`), on the store the window has then."""
        names = [name for name in PANE_NAMES if pane_exists(name)]
        self.panes = PaneSlots(names, self._build_pane)
        self.nav.blockSignals(True)  # nothing is shown until a row is chosen
        for name in names:
            item = QListWidgetItem(name.capitalize())  # the pane's title once it is built
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setSizeHint(QSize(0, 36))
            self.nav.addItem(item)
        self.nav.blockSignals(False)

    def _build_pane(self, name: str) -> QWidget:
        try:
            cls = load_pane_class(name)
            if cls is None:
                raise LookupError(f"the module lablift.gui.panes.{name} is missing")
            pane = cls(self.store, self)
        except Exception as exc:  # one broken pane must not take the whole app down
            traceback.print_exc(file=sys.stderr)
            self.pane_errors[name] = f"{type(exc).__name__}: {exc}"
            pane = QLabel(f"The {name} pane could not be opened:\n{exc}")
            pane.setAlignment(Qt.AlignmentFlag.AlignCenter)
            if name == "datasets":
                self._update_dataset_actions()
        self.stack.addWidget(pane)
        title = getattr(pane, "title", None)
        row = list(self.panes).index(name)
        if title and self.nav.item(row) is not None:
            self.nav.item(row).setText(title)
        message = getattr(pane, "message", None)
        if message is not None and hasattr(message, "connect"):
            message.connect(self.show_message)
        navigate = getattr(pane, "navigate", None)
        if navigate is not None and hasattr(navigate, "connect"):
            navigate.connect(self._navigate)
        return pane

    def _navigate(self, name: str, ref: Any) -> None:
        """A pane's `navigate(name, ref)`: switch to pane `name` and ask it to show `ref` (a run
        id, a version ref, a dataset id; None for the pane as it is). A pane says how with
        `show_ref(ref)`; the Experiments pane selects the run, reloading its runs when the run
        is not listed yet; other panes `select_version(ref)`. The pane is built first if it
        has not been shown yet."""
        pane = self.panes.get(name)
        if pane is None or isinstance(pane, QLabel):  # not built, or it failed to open
            self.show_message(f"The {name} pane is not available")
            return
        self.select_pane(name)  # its refresh re-reads the store in a worker
        if ref is None:
            return
        show = getattr(pane, "show_ref", None)
        select_run = getattr(pane, "select_run", None)
        select_version = getattr(pane, "select_version", None)
        if callable(show):
            show(ref)
        elif callable(select_run):
            reload = getattr(pane, "reload_runs", None)
            if select_run(ref) is False and callable(reload):
                reload(select=ref)  # not listed yet: selected once loaded
        elif callable(select_version):
            select_version(ref)

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
        item = self.nav.item(row) if row >= 0 else None
        if item is None:
            return
        pane = self.panes[item.data(Qt.ItemDataRole.UserRole)]  # built on first show
        self.stack.setCurrentWidget(pane)
        self._refresh_pane(pane)

    def _refresh_pane(self, pane: QWidget | None) -> bool:
        """Re-read the store into `pane`; a failure (a server gone away) is one line in the
        status bar, never a traceback in front of the user. True if it refreshed."""
        refresh = getattr(pane, "refresh", None)
        if not callable(refresh):
            return False
        try:
            refresh()
        except LabliftError as exc:
            self.show_message(f"Could not refresh {getattr(pane, 'title', 'the pane')}: {exc}")
            return False
        except Exception as exc:  # a bug: the trace is for the developer, a line for the user
            traceback.print_exc(file=sys.stderr)
            self.show_message(f"Could not refresh {getattr(pane, 'title', 'the pane')}: "
                              f"internal error ({type(exc).__name__}: {exc})")
            return False
        return True

    def refresh_current(self) -> None:
        """Re-read the visible pane and the attention banner (View → Refresh, F5)."""
        self._refresh_pane(self.stack.currentWidget())
        self._safe_attention()

    def is_busy(self) -> bool:
        """The shown pane is loading, or the status bar is still reading your role."""
        status = self._status_task
        if status is not None and status.is_running():
            return True
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

    def refresh_attention(self) -> Task:
        """Banner for model versions flagged "needs attention" (monitoring alerts), whatever
        pane is open; cleared when none is left. Called at start, on F5, on colleagues'
        changes and after an ingest or acknowledge. The versions are read in a worker (a team
        store is a server away); `attention_read` follows once the banner shows the result."""
        from ..core import registry
        store = self.store
        previous = getattr(self, "_attention_task", None)
        if previous is not None and previous.is_running():
            previous.cancel()
        task = self._attention_task = run_task(
            lambda progress, cancelled: [v for v in registry.list_versions(store)
                                         if v.get("attention")])

        def shown(flagged) -> None:
            if shiboken6.isValid(self) and self._attention_task is task \
                    and self.store is store:
                self._show_attention(flagged)
                self.attention_read.emit()
        task.finished.connect(shown)
        task.failed.connect(lambda text: self.show_message(
            f"Could not read the versions needing attention: {text}")
            if shiboken6.isValid(self) else None)
        return task

    def _show_attention(self, flagged: list[dict[str, Any]]) -> None:
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
        self._update_dataset_actions()
        file_menu.addAction(self.import_action)
        file_menu.addAction(self.sample_action)
        file_menu.addSeparator()
        self.connect_action = QAction("&Connect to a team store…", self)
        self.connect_action.setStatusTip("Work in a PostgreSQL team store shared by your team")
        self.connect_action.triggered.connect(lambda: self.show_connect_dialog())
        self.open_folder_action = QAction("Open a &local store folder…", self)
        self.open_folder_action.setStatusTip("Work in an embedded store (a folder on this "
                                             "machine or a shared drive)")
        self.open_folder_action.triggered.connect(self.choose_store_folder)
        file_menu.addAction(self.connect_action)
        file_menu.addAction(self.open_folder_action)
        self.recent_menu = file_menu.addMenu("&Recent stores")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        people.add_actions(self, file_menu)  # Sign in as…, Users and roles…
        file_menu.addSeparator()
        self.settings_action = QAction("Se&ttings…", self)
        # Preferences has no keys on some desktops (GNOME, Windows): Ctrl+, there
        self.settings_action.setShortcuts(QKeySequence.keyBindings(
            QKeySequence.StandardKey.Preferences) or [QKeySequence("Ctrl+,")])
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(self._open_settings)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        self.refresh_action = QAction("&Refresh", self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self.refresh_current)
        view_menu.addAction(self.refresh_action)
        self.find_action = QAction("&Find…", self)
        self.find_action.setShortcut(QKeySequence.StandardKey.Find)
        self.find_action.triggered.connect(self.find_in_pane)
        view_menu.addAction(self.find_action)
        self.lineage_action = QAction("&Lineage…", self)
        self.lineage_action.setShortcut(QKeySequence("Ctrl+L"))
        self.lineage_action.setStatusTip("Where the selected item comes from and everything "
                                         "derived from it")
        self.lineage_action.triggered.connect(self.show_selected_lineage)
        view_menu.addAction(self.lineage_action)
        view_menu.addSeparator()
        self.pane_actions: dict[str, QAction] = {}
        for number, name in enumerate(PANE_NAMES, start=1):
            action = QAction(f"&{number} {name.capitalize()}", self)
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            action.triggered.connect(lambda _=False, n=name: self._go_to(n))
            view_menu.addAction(action)
            self.pane_actions[name] = action
        help_menu = self.menuBar().addMenu("&Help")
        self.help_action = QAction("Lablift &help", self)
        self.help_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.help_action.triggered.connect(self.show_help)
        help_menu.addAction(self.help_action)
        self.tour_action = QAction("&Tour", self)
        self.tour_action.setStatusTip("The lifecycle step by step, for analysts, reviewers and ops")
        self.tour_action.triggered.connect(lambda: tour.show_tour(self))
        help_menu.addAction(self.tour_action)
        about = QAction("&About Lablift", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def _open_settings(self):
        from .settings import open_settings  # its pages import scipy and pandas: on demand
        return open_settings(self)

    def _go_to(self, name: str) -> None:
        if name in self.panes:
            self.select_pane(name)

    def show_selected_lineage(self):
        """View → Lineage… (Ctrl+L): the lineage of the current pane's selected item (the
        pane's `selected_ref()`), in a non-modal dialog whose rows open their panes."""
        from .lineage import pane_selection, show_lineage  # core.lineage, bundles: on demand
        selected = pane_selection(self.stack.currentWidget())
        if selected is None:
            self.show_message("Select a dataset version, run or model version first: "
                              "Lineage shows where it comes from and what derives from it")
            return None
        self.lineage_dialog = show_lineage(self, self.store, *selected, navigate=self._navigate)
        return self.lineage_dialog

    def find_in_pane(self) -> None:
        """Ctrl+F: the current pane's search or filter box (a pane names it `focus_find`, or
        its line edit is called filter/find/search)."""
        pane = self.stack.currentWidget()
        focus = getattr(pane, "focus_find", None)
        if callable(focus):
            focus()
            return
        named = getattr(pane, "filter_edit", None)
        if named is not None and named.isVisible():
            named.setFocus()
            named.selectAll()
            return
        from PySide6.QtWidgets import QLineEdit
        for edit in pane.findChildren(QLineEdit) if pane is not None else []:
            name = edit.objectName().lower() + " " + type(edit).__name__.lower()
            if edit.isVisible() and any(w in name for w in ("filter", "find", "search")):
                edit.setFocus()
                edit.selectAll()
                return
        self.show_message("Nothing to search in this pane")

    def show_help(self) -> None:
        """F1: what each role does here, and where (non-modal)."""
        box = QMessageBox(QMessageBox.Icon.Information, "Lablift help", HELP_HTML,
                          QMessageBox.StandardButton.Close, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setModal(False)
        box.show()
        self.help_box = box

    def _update_dataset_actions(self) -> None:
        has_datasets = "datasets" in self.panes and "datasets" not in self.pane_errors
        self.import_action.setEnabled(has_datasets)
        self.sample_action.setEnabled(has_datasets)

    def _build_status(self) -> None:
        self.store_label = ElidedLabel()
        self.user_label = QLabel()
        self.identity_label = QLabel("· identity from the server")
        self.identity_label.setStyleSheet(f"color: {palette.color('muted')};")
        self.live_label = QLabel()
        for label in (self.store_label, self.user_label, self.identity_label, self.live_label):
            label.setContentsMargins(6, 0, 6, 0)
        self.user_label.setContentsMargins(6, 0, 0, 0)  # "User: ana (reviewer) · identity…"
        self.identity_label.setContentsMargins(4, 0, 6, 0)
        bar = self.statusBar()
        bar.addPermanentWidget(self.store_label)
        bar.addPermanentWidget(self.user_label)
        bar.addPermanentWidget(self.identity_label)
        bar.addPermanentWidget(self.live_label)
        self.live_label.hide()
        self._update_status()
        people.install(self)  # the user label opens Sign in as…

    def _update_status(self) -> Task:
        """Which store, and who it says you are: a team store's user is the server's
        authenticated session user; an embedded store's is the name claimed (--user,
        LABLIFT_USER or the login name), taken on trust. The role is read in a worker (a team
        store is a server away); `status_read` follows once the label shows it."""
        store = self.store
        team = is_team(store)
        if team:
            version = getattr(store, "server_version", None)
            self.store_label.setText(f"Team store: {store.root} · {server_name(version)}")
            self.store_label.setToolTip(f"Team store {server_place(store)} (database "
                                        f"{store.database} on PostgreSQL {version})\n"
                                        f"{store.root}")
        else:
            self.store_label.setText(f"Store: {store.root}")
            self.store_label.setToolTip(f"Embedded store (SQLite) in the folder {store.root}")
        self.identity_label.setVisible(team)
        self.store_label.updateGeometry()
        self.store_label.update()
        if self._role_store is not store:  # re-reading the same store: keep it till read
            self._show_role(store, "reading your role…")
        previous = self._status_task
        if previous is not None and previous.is_running():
            previous.cancel()
        task = self._status_task = run_task(lambda progress, cancelled: store.role())

        def current() -> bool:
            return shiboken6.isValid(self) and self._status_task is task \
                and self.store is store

        def read(role) -> None:
            if current():
                self._show_role(store, role or "not registered")
                self.status_read.emit()

        def failed(text: str) -> None:
            if current():
                self._show_role(store, "role unknown")
                self.show_message(f"Could not read your role: {text}")
                self.status_read.emit()
        task.finished.connect(read)
        task.failed.connect(failed)
        return task

    def _show_role(self, store: Store, role: str) -> None:
        self._role_store = store
        self.user_label.setText(f"User: {store.user} ({role})")
        if is_team(store):
            self.user_label.setToolTip(f"The database server authenticated you as "
                                       f"{store.user}: --user and LABLIFT_USER cannot change "
                                       f"it. Your Lablift role: {role}.")
        else:
            self.user_label.setToolTip(f"The name you work under in this embedded store "
                                       f"(--user, LABLIFT_USER or your login name), taken on "
                                       f"trust. Your Lablift role: {role}.")
        self.identity_label.setToolTip(self.user_label.toolTip())

    def status_text(self) -> str:
        """The status bar's store and user, as one line (what the user reads)."""
        text = f"{self.store_label.text()} · {self.user_label.text()}"
        return text + (f" {self.identity_label.text()}" if is_team(self.store) else "")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # The store's name gives way (elided, whole in its tooltip) so that the status bar
        # keeps room for messages, the user and the live indicator.
        self.store_label.setMaximumWidth(max(160, int(self.width() * STORE_LABEL_SHARE)))

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
                          f"bundles and monitoring for scikit-learn models, recorded in a "
                          f"lineage store.</p><p>Store: {self.store.root}</p>")

    # -- colleagues' changes ----------------------------------------------------------------
    def _head_seq(self) -> int | None:
        if not self._watch:
            return None
        from ..core import audit
        try:
            return audit.head(self.store)["seq"]
        except Exception:  # the feed then starts from whatever it finds
            return None

    def _start_feed(self, since: int | None) -> None:
        feed = self.feed = ChangeFeed(store_location(self.store), since=since, parent=self)
        feed.changed.connect(self._on_changes)
        feed.state.connect(self._on_feed_state)
        self._live_tip, self._last_change = "Starting to listen for colleagues' changes", ""
        self.live_label.setText("○ connecting…")
        self.live_label.setStyleSheet(f"color: {palette.color('muted')};")
        self.live_label.setToolTip(self._live_tip)
        self.live_label.show()
        feed.start()

    def _stop_feed(self) -> None:
        feed, self.feed = self.feed, None
        if feed is not None:
            feed.stop()
            for signal, slot in ((feed.changed, self._on_changes),
                                 (feed.state, self._on_feed_state)):
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        if hasattr(self, "live_label"):
            self.live_label.hide()

    def _on_feed_state(self, status: str, text: str) -> None:
        if status == "live":
            how = ("the server announces each change (LISTEN/NOTIFY)" if is_team(self.store)
                   else "the store is checked every half second")
            label, colour = "● live", palette.color("good")
            self._live_tip = f"Colleagues' changes appear here within seconds: {how}"
        elif status == "retrying":
            label, colour = "● paused", palette.color("warn")
            self._live_tip = f"{text[:1].upper()}{text[1:]}. Press F5 to re-read the store."
        else:
            label, colour = "○ not live", palette.color("muted")
            self._live_tip = (f"{text[:1].upper()}{text[1:]}" if text else
                              "Live updates are off: press F5 to re-read the store")
        self.live_label.setText(label)
        self.live_label.setStyleSheet(f"color: {colour};")
        self.live_label.setToolTip(self._live_tip + (f"\n{self._last_change}"
                                                     if self._last_change else ""))

    def _on_changes(self, entries: list) -> None:
        self._pending_changes.extend(entries)
        if not self._change_timer.isActive():
            self._change_timer.start(CHANGE_DELAY_MS)

    def _refresh_blocked(self) -> bool:
        """A dialog is open, a popup is showing or the pane is still loading: refreshing now
        would pull the ground from under the user (or the load)."""
        return (QApplication.activeModalWidget() is not None
                or QApplication.activePopupWidget() is not None or self.is_busy())

    def _apply_changes(self) -> None:
        if not self._pending_changes:
            return
        if self._refresh_blocked():
            self._change_timer.start(CHANGE_RETRY_MS)
            return
        entries, self._pending_changes = self._pending_changes, []
        self._refresh_pane(self.stack.currentWidget())
        self._safe_attention()
        if any(str(e.get("action", "")).startswith(("user.", "resync")) for e in entries):
            self._update_status()  # a role changed (or we cannot know): re-read it
        last = entries[-1]
        self._last_change = (f"Last change: #{last.get('seq')} {last.get('action')} "
                             f"{last.get('entity') or ''}").rstrip()
        self.live_label.setToolTip(f"{self._live_tip}\n{self._last_change}")
        self.changes_applied.emit(entries)

    def _safe_attention(self) -> None:
        self.refresh_attention()  # failures become a status-bar line (a worker reads)

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
    def _restore(self) -> str | None:
        """Restore the geometry and layout; the pane shown last is returned (not built)."""
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
        return pane if isinstance(pane, str) else None

    def closeEvent(self, event) -> None:
        if self._keep_settings:
            settings = QSettings()
            settings.setValue("main/geometry", self.saveGeometry())
            settings.setValue("main/state", self.saveState())
            settings.setValue("main/pane", self.current_pane_name())
        feed = self.feed
        self._stop_feed()
        notifier = getattr(self, "event_notifier", None)
        if notifier is not None:
            notifier.stop()
        self._change_timer.stop()
        cancel_all()
        if feed is not None:
            feed.wait_stopped(2 * feed.wait_s + 1)  # its wait ends within wait_s
        self._finish_retiring(force=True)
        if self._owns_store:
            self.store.close()
        super().closeEvent(event)

