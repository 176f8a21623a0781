"""The lineage dialog: an item's lineage (core/lineage.py) as a tree rooted at the dataset
version it descends from, the item highlighted and its path expanded.

    show_lineage(parent, store, "version", "loans:1", navigate=main_window._navigate)

Double-click or Enter on a row emits `navigate(pane, ref)`: the main window opens that item
in its pane; right-click offers every pane that shows it. The store is read in a worker.
A pane takes part in View → Lineage… (Ctrl+L) by defining `selected_ref() -> (kind, ref)`.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import (QColor, QFont, QIcon, QKeySequence, QPainter, QPixmap,
                           QShortcut, QStandardItem, QStandardItemModel)
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QLabel, QMenu,
                               QTreeView, QVBoxLayout, QWidget)

from ..core import lineage as core_lineage
from . import palette
from .format import short_time
from .notifications import notify
from .workers import Task, run_task, while_alive

NODE_ROLE = Qt.ItemDataRole.UserRole + 1  # the node dict of core.lineage, on column 0
COLUMNS = ("Item", "Status", "Who", "When", "Detail")
KIND_NAMES = {"dataset": "Dataset", "sweep": "Sweep", "run": "Run", "version": "Version",
              "approval": "Approval", "alias": "Alias", "bundle": "Bundle", "batch": "Batch"}
# status words and their palette role in the Status column
STATUS_ROLES = {"approved": "good", "rejected": "bad", "failed": "bad", "interrupted": "bad",
                "abandoned": "bad", "drift": "bad", "pending": "warn", "running": "warn",
                "exporting": "warn"}
DETAIL_CHARS = 400  # of the selected row's detail under the tree
PANE_TITLES = {"datasets": "Datasets", "experiments": "Experiments", "registry": "Registry",
               "approvals": "Approvals", "monitoring": "Monitoring"}

Navigate = Callable[[str, object], None]


def targets_of(node: dict[str, Any]) -> list[tuple[str, Any]]:
    """Where `node` is shown: (pane, ref) pairs, the first one what double-click opens.
    Approvals, aliases and bundles are shown with their version in the Registry (the
    Approvals pane lists only versions still pending)."""
    kind, ref, version = node["kind"], node["ref"], node.get("version_ref")
    if kind == "dataset":
        return [("datasets", ref), ("experiments", None)]
    if kind == "sweep":
        return [("experiments", node.get("run"))]
    if kind == "run":
        return [("experiments", ref)]
    if kind == "version":
        pending = [("approvals", ref)] if node["status"] == "pending" else []
        return [("registry", ref), *pending, ("monitoring", ref)]
    if kind == "batch":
        return [("monitoring", version), ("registry", version)]
    return [("registry", version)]  # approval, alias, bundle


def pane_selection(pane: QWidget | None) -> tuple[str, Any] | None:
    """What `pane` has selected, as (kind, ref) for `lineage`, from its `selected_ref()`; a
    bare string is a model version ref (the Monitoring pane's)."""
    method = getattr(pane, "selected_ref", None)
    if not callable(method):
        return None
    selected = method()
    if isinstance(selected, str) and selected:
        return "version", selected
    if isinstance(selected, (tuple, list)) and len(selected) == 2 and selected[1] is not None:
        return str(selected[0]), selected[1]
    return None


def _kind_icon(kind: str, _cache: dict[tuple, QIcon] = {}) -> QIcon:  # noqa: B006 (a cache)
    """A dot in the kind's colour."""
    role = f"kind_{kind}" if f"kind_{kind}" in palette.ROLES else "faint"
    colour = palette.color(role)
    icon = _cache.get((kind, colour))
    if icon is None:
        pixmap = QPixmap(14, 14)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        painter.drawEllipse(2, 2, 10, 10)
        painter.end()
        icon = _cache[(kind, colour)] = QIcon(pixmap)
    return icon


class LineageDialog(QDialog):
    """Non-modal: the lineage of (kind, ref), read in a worker when shown and on F5."""

    navigate = Signal(str, object)  # (pane name, ref): open that item in its pane
    loaded = Signal()  # the tree shows the newest read

    def __init__(self, store, kind: str, ref: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.store, self.kind, self.ref = store, kind, ref
        self.graph: dict[str, Any] | None = None
        self.task: Task | None = None
        self.setModal(False)
        self.setWindowTitle(f"Lineage of {kind} {ref}")
        self.resize(980, 560)
        layout = QVBoxLayout(self)
        self.heading = QLabel(f"Lineage of {kind} {ref}: reading the store…")
        self.heading.setWordWrap(True)
        layout.addWidget(self.heading)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setUniformRowHeights(True)
        self.tree.setIconSize(QSize(14, 14))
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setStretchLastSection(True)
        self.tree.activated.connect(self._open)  # double-click, Enter
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.selectionModel().currentRowChanged.connect(self._show_detail)
        layout.addWidget(self.tree, 1)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setStyleSheet(palette.css_text("muted"))
        layout.addWidget(self.detail)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("Open", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.setToolTip("Open the selected item in its pane (double-click, Enter)")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(lambda: self._open(self.tree.currentIndex()))
        self.refresh_button = buttons.addButton("Refresh", QDialogButtonBox.ButtonRole.ResetRole)
        self.refresh_button.clicked.connect(self.refresh)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        QShortcut(QKeySequence.StandardKey.Refresh, self, activated=self.refresh)
        self.refresh()

    # -- reading --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the lineage in a worker; the newest read wins."""
        if self.task is not None and self.task.is_running():
            self.task.cancel()
        store, kind, ref = self.store, self.kind, self.ref
        task = self.task = run_task(lambda progress, cancelled: core_lineage.lineage(
            store, kind, ref))
        task.finished.connect(lambda graph: self._on_read(task, graph))
        task.failed.connect(lambda text: self._on_failed(task, text))

    def is_busy(self) -> bool:
        return self.task is not None and self.task.is_running()

    @while_alive
    def _on_read(self, task: Task, graph: dict[str, Any]) -> None:
        if task is not self.task:
            return
        self.graph = graph
        self._fill(graph)
        self.loaded.emit()

    @while_alive
    def _on_failed(self, task: Task, text: str) -> None:
        if task is not self.task:
            return
        self.heading.setText(f"Could not read the lineage of {self.kind} {self.ref}: {text}")
        notify(text, "error", "Lineage", parent=self)

    # -- the tree ---------------------------------------------------------------------------
    def _fill(self, graph: dict[str, Any]) -> None:
        self.model.removeRows(0, self.model.rowCount())
        rows: dict[str, list[QStandardItem]] = {}
        focus_index = None
        for node in graph["nodes"]:
            row = self._row(node)
            parent = rows.get(node["parent"]) if node["parent"] else None
            (parent[0] if parent else self.model.invisibleRootItem()).appendRow(row)
            rows[node["id"]] = row
        for node in graph["nodes"]:
            index = rows[node["id"]][0].index()
            if node["on_path"]:
                self.tree.expand(index)
            if node["focus"]:
                focus_index = index
        focus = next((n for n in graph["nodes"] if n["focus"]), None)
        where = f"{KIND_NAMES.get(focus['kind'], focus['kind'])} {focus['label']}" if focus \
            else f"{self.kind} {self.ref}"
        self.heading.setText(
            f"Lineage of <b>{_html(where)}</b>: {len(graph['nodes'])} items, from the dataset "
            f"version it descends from to everything derived. Double-click a row to open it."
            + (f" (cut at {core_lineage.MAX_DATASETS} dataset versions)"
               if graph.get("truncated") else ""))
        header = self.tree.header()
        for column in range(len(COLUMNS) - 1):
            self.tree.resizeColumnToContents(column)
        header.resizeSection(0, min(header.sectionSize(0) + 12, 460))
        if focus_index is not None:
            self.tree.setCurrentIndex(focus_index)
            self.tree.scrollTo(focus_index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def _row(self, node: dict[str, Any]) -> list[QStandardItem]:
        kind = node["kind"]
        cells = [f"{KIND_NAMES.get(kind, kind)}  {node['label']}", node["status"],
                 node["who"] or "", short_time(node["when"]), node["detail"]]
        row = [QStandardItem(text) for text in cells]
        row[0].setIcon(_kind_icon(kind))
        row[0].setData(node, NODE_ROLE)
        tip = "\n".join(filter(None, [cells[0], node["detail"], self._where_tip(node)]))
        for item in row:
            item.setToolTip(tip)
        role = STATUS_ROLES.get(node["status"].split(",")[0].split(" ")[0])
        if role:
            row[1].setForeground(palette.brush(role))
        if node["focus"]:
            font = QFont(row[0].font())
            font.setBold(True)
            for item in row:
                item.setFont(font)
                item.setBackground(palette.brush("focus_bg"))
        return row

    @staticmethod
    def _where_tip(node: dict[str, Any]) -> str:
        pane = targets_of(node)[0][0]
        return f"Double-click to open it in {PANE_TITLES.get(pane, pane)}"

    def node_at(self, index) -> dict[str, Any] | None:
        if not index.isValid():
            return None
        return index.siblingAtColumn(0).data(NODE_ROLE)

    def current_node(self) -> dict[str, Any] | None:
        return self.node_at(self.tree.currentIndex())

    def _show_detail(self, current, _previous=None) -> None:
        node = self.node_at(current)
        self.open_button.setEnabled(node is not None)
        if node is None:
            self.detail.clear()
            return
        text = " · ".join(filter(None, [
            f"{KIND_NAMES.get(node['kind'], node['kind'])} {node['label']}", node["status"],
            node["who"] and f"by {node['who']}", short_time(node["when"]), node["detail"]]))
        # a few lines at most, so the tree keeps its room; the row's tooltip has it all
        self.detail.setText(text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS - 1] + "…")

    # -- navigation -------------------------------------------------------------------------
    def _open(self, index) -> None:
        node = self.node_at(index)
        if node is not None:
            pane, ref = targets_of(node)[0]
            self.navigate.emit(pane, ref)

    def _context_menu(self, pos: QPoint) -> QMenu | None:
        index = self.tree.indexAt(pos)
        node = self.node_at(index)
        if node is None:
            return None
        self.tree.setCurrentIndex(index)
        menu = QMenu(self.tree)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        for pane, ref in targets_of(node):
            action = menu.addAction(f"Open in {PANE_TITLES.get(pane, pane)}")
            action.triggered.connect(lambda _=False, p=pane, r=ref: self.navigate.emit(p, r))
        menu.popup(self.tree.viewport().mapToGlobal(pos))
        return menu


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def show_lineage(parent: QWidget, store, kind: str, ref,
                 navigate: Callable[[str, object], None] | None = None) -> LineageDialog:
    """Open a (non-modal) lineage dialog of `ref` of `kind` over `parent`; `navigate(pane,
    ref)` is called when the user opens a row. An unknown kind or ref is said in the dialog
    (and through notify) once the worker has looked."""
    dialog = LineageDialog(store, kind, ref, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if navigate is not None:
        dialog.navigate.connect(navigate)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
