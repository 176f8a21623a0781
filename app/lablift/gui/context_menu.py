"""Right-click menus on the app's item views (tables, trees, lists): the pane's own actions for
the selected rows, Copy, Copy as CSV and Export as CSV….

    context_menu.install(self.runs_view, extra=self._context_actions, name="runs")

`extra(rows)` gets the selected rows of the view's source model (mapped through any proxies,
in the order shown) and returns QActions, `(text, slot[, refusal[, tooltip]])` tuples (a
refusal disables the action and is its tooltip: the reason the pane's button gives), or None
for a separator. The menu opens on right-click, Shift+F10 and the Menu key;
`build_menu(view, where)` builds it without showing it, so tests can trigger its actions.

Copy (also Ctrl+C) puts the selected cells on the clipboard as tab-separated text (what a
spreadsheet pastes), with the header line when whole rows are selected; "—" (missing) is an
empty cell. Export as CSV… writes what the view shows to a file (gui/table_export.py).
"""

from __future__ import annotations

import csv
import importlib.util
import io
from typing import Any, Callable, Sequence

from PySide6.QtCore import QAbstractProxyModel, QItemSelectionModel, QModelIndex, QPoint, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QMenu

from .notifications import notify
from .table_export import (DISPLAY, Export, ask_export, cell_text, columns_shown, export_csv,
                           headers_shown, to_source)

__all__ = ["Export", "add_entry", "ask_export", "build_menu", "copy_selection", "export_csv",
           "find_action", "install", "lineage_entry", "open_lineage", "popup",
           "select_source_rows", "selected_source_rows", "selection_table"]

Extra = Callable[[list[int]], list[Any]]


# -- installing --------------------------------------------------------------------------------
def install(view: QAbstractItemView, *, extra: Extra | None = None, name: str = "table") -> None:
    """Give `view` the context menu, Ctrl+C, and Shift+F10 / Menu key to open the menu.
    `name` is the default file name of an export."""
    view._context_menu = (extra, name)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    view.customContextMenuRequested.connect(lambda pos: popup(view, pos))
    # Shortcuts of the view (and its viewport), not of the window: each view copies its own.
    copy = QAction("Copy", view)
    copy.setShortcut(QKeySequence.StandardKey.Copy)
    copy.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    copy.triggered.connect(lambda: copy_selection(view))
    keyboard = QAction("Context menu", view)
    keyboard.setShortcuts([QKeySequence("Shift+F10"), QKeySequence(Qt.Key.Key_Menu)])
    keyboard.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    keyboard.triggered.connect(lambda: popup(view, keyboard_position(view)))
    view.addActions([copy, keyboard])


def keyboard_position(view: QAbstractItemView) -> QPoint:
    """Where a keyboard-opened menu appears: on the current row, else mid-view (viewport
    coordinates)."""
    current = view.currentIndex()
    rect = view.visualRect(current) if current.isValid() else None
    if rect is not None and rect.isValid() and view.viewport().rect().intersects(rect):
        return QPoint(rect.left() + min(rect.width() // 2, 40), rect.center().y())
    return view.viewport().rect().center()


def popup(view: QAbstractItemView, pos: QPoint) -> QMenu:
    """Build the menu for viewport position `pos` and show it there (without blocking)."""
    menu = build_menu(view, pos)
    menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    menu.popup(view.viewport().mapToGlobal(pos))
    return menu


# -- the menu ------------------------------------------------------------------------------------
def build_menu(view: QAbstractItemView, where: QPoint | Sequence[int] | None = None) -> QMenu:
    """The menu for `view`: `where` is a viewport position (its row is selected, as a
    right-click does), source rows to select, or None for the current selection."""
    if isinstance(where, QPoint):
        _select_at(view, where)
    elif where is not None:
        select_source_rows(view, list(where))
    extra, name = getattr(view, "_context_menu", (None, "table"))
    menu = QMenu(view)
    menu.setToolTipsVisible(True)
    menu.setObjectName("contextMenu")
    entries = extra(selected_source_rows(view)) if extra is not None else []
    for entry in entries:
        add_entry(menu, entry)
    if entries:
        menu.addSeparator()
    chosen = bool(_selected_indexes(view))
    empty = "Select a row or cell first"
    add_entry(menu, ("Copy", lambda: copy_selection(view), None if chosen else empty,
                     "Copy the selected cells as tab-separated text"))
    shown = menu.actions()[-1]  # the key is shown here; install's action handles it
    shown.setShortcut(QKeySequence.StandardKey.Copy)
    shown.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
    add_entry(menu, ("Copy as CSV", lambda: copy_selection(view, ","),
                     None if chosen else empty, "Copy the selected cells as comma-separated text"))
    menu.addSeparator()
    rows = view.model().rowCount(view.rootIndex()) if view.model() is not None else 0
    add_entry(menu, ("Export as CSV…", lambda: ask_export(view, name),
                     None if rows else "There are no rows to export",
                     "Write every row shown, with the visible columns, to a CSV file"))
    return menu


def add_entry(menu: QMenu, entry: Any) -> QAction | None:
    """Add a QAction, a (text, slot[, refusal[, tooltip]]) tuple, or None (a separator)."""
    if entry is None:
        menu.addSeparator()
        return None
    if isinstance(entry, QAction):
        menu.addAction(entry)
        return entry
    text, slot, *rest = entry
    refusal = rest[0] if rest else None
    tip = rest[1] if len(rest) > 1 else None
    action = QAction(text, menu)
    action.triggered.connect(lambda _checked=False, f=slot: f())
    action.setEnabled(refusal is None)
    if refusal or tip:
        action.setToolTip(refusal or tip)
        action.setStatusTip(refusal or tip)
    menu.addAction(action)
    return action


def find_action(menu: QMenu, text: str) -> QAction | None:
    """The menu's action whose text is `text` (ignoring "&" mnemonics)."""
    return next((a for a in menu.actions() if a.text().replace("&", "") == text), None)


# -- selection ------------------------------------------------------------------------------------
def _path(index: QModelIndex) -> tuple[int, ...]:
    out = []
    while index.isValid():
        out.append(index.row())
        index = index.parent()
    return tuple(reversed(out))


def _selected_indexes(view: QAbstractItemView) -> list[QModelIndex]:
    selection = view.selectionModel()
    if selection is None:
        return []
    shown = set(columns_shown(view))
    indexes = [i for i in selection.selectedIndexes() if i.column() in shown]
    if not indexes and view.currentIndex().isValid():
        indexes = [view.currentIndex()]
    return indexes


def selected_source_rows(view: QAbstractItemView) -> list[int]:
    """The selected rows, as rows of the source model, in the order shown (a tree gives rows
    relative to each item's parent)."""
    by_path: dict[tuple, int] = {}
    for index in _selected_indexes(view):
        by_path.setdefault(_path(index), to_source(view.model(), index)[1].row())
    return [by_path[p] for p in sorted(by_path)]


def select_source_rows(view: QAbstractItemView, rows: list[int]) -> None:
    """Select source `rows` (top-level rows of a tree), the first one current."""
    model = view.model()
    chain = []
    while isinstance(model, QAbstractProxyModel):
        chain.append(model)
        model = model.sourceModel()
    selection = view.selectionModel()
    flags = QItemSelectionModel.SelectionFlag
    first = True
    for row in rows:
        index = model.index(row, 0)
        for proxy in reversed(chain):
            index = proxy.mapFromSource(index)
        if not index.isValid():  # filtered out of the view
            continue
        how = (flags.ClearAndSelect if first else flags.Select) | flags.Rows
        if first:
            selection.setCurrentIndex(index, how)
        else:
            selection.select(index, how)
        first = False


def _select_at(view: QAbstractItemView, pos: QPoint) -> None:
    index = view.indexAt(pos)
    if index.isValid() and not view.selectionModel().isSelected(index):
        rows = view.selectionBehavior() == QAbstractItemView.SelectionBehavior.SelectRows
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        view.selectionModel().setCurrentIndex(
            index, flags | QItemSelectionModel.SelectionFlag.Rows if rows else flags)


# -- copy -----------------------------------------------------------------------------------------
def selection_table(view: QAbstractItemView) -> list[list[str]]:
    """The selected cells as rows of text: whole rows with the header line first, else the
    selected cells within the columns touched (others empty)."""
    indexes = _selected_indexes(view)
    if not indexes:
        return []
    columns = columns_shown(view)
    by_row: dict[tuple, dict[int, QModelIndex]] = {}
    for index in indexes:
        by_row.setdefault(_path(index), {})[index.column()] = index
    whole = all(len(cells) == len(columns) for cells in by_row.values())
    used = columns if whole else [c for c in columns if any(c in r for r in by_row.values())]
    out = []
    headers = headers_shown(view, used) if whole else None
    if headers is not None:
        out.append(headers)
    for path in sorted(by_row):
        cells = by_row[path]
        out.append([cell_text(cells[c].data(DISPLAY)) if c in cells else "" for c in used])
    return out


def to_text(rows: list[list[str]], delimiter: str = "\t") -> str:
    if delimiter == "\t":  # what spreadsheets paste: no quoting, so no tabs or newlines inside
        return "\n".join("\t".join(" ".join(c.split()) if ("\t" in c or "\n" in c) else c
                                   for c in row) for row in rows) + ("\n" if rows else "")
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def copy_selection(view: QAbstractItemView, delimiter: str = "\t") -> str:
    """Put the selection on the clipboard (tab- or comma-separated); returns the text."""
    text = to_text(selection_table(view), delimiter)
    if text:
        QGuiApplication.clipboard().setText(text)
    return text


# -- lineage ---------------------------------------------------------------------------------------
def lineage_refusal() -> str | None:
    """Why "Open lineage" is unavailable (None: it is available)."""
    if importlib.util.find_spec(f"{__package__}.lineage") is None:
        return "The lineage view is not part of this version"
    return None


def open_lineage(parent, store, kind: str, ref: Any,
                 navigate: Callable[[str, Any], None] | None = None):
    """The lineage dialog of (`kind`, `ref`); imported here so a menu works without it."""
    try:
        from .lineage import show_lineage
    except ImportError:
        notify("The lineage view is not part of this version", "warning", "Lineage", parent)
        return None
    return show_lineage(parent, store, kind, ref, navigate)


def lineage_entry(parent, store, kind: str, ref: Any,
                  navigate: Callable[[str, Any], None] | None = None,
                  text: str = "Open lineage") -> tuple:
    """A menu entry opening the lineage of (`kind`, `ref`); disabled without a ref."""
    why = "Nothing is selected" if ref is None else lineage_refusal()
    return (text, lambda: open_lineage(parent, store, kind, ref, navigate), why,
            f"Where {kind} {ref} came from and what was made from it")
