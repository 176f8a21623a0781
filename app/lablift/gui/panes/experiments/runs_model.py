"""The runs table's model and view: the rows of an Arrangement (runs_arrange) over a RunsData
(runs_data), each sweep's runs under a row of its own, the best marked.

A QTreeView lays out every row through the model's Python index() on each reset, sort or
insert: seconds at 100,000 runs. So the tree is a QTableView over a flat model of the rows
shown (a sweep's runs follow its row while it is open), drawn as a tree by a delegate, with
the QTreeView calls the pane uses (isExpanded, expand, collapse, isFirstColumnSpanned).
Nothing here loops over the runs in Python: a new arrangement swaps in as one layout
change, and a reload that changed a few runs signals those rows (dataChanged, rowsInserted,
rowsRemoved).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRect, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QStyle, QStyledItemDelegate,
                               QStyleOption, QStyleOptionViewItem, QTableView)

from ... import palette
from ...tablemodels import ALIGN_LEFT, RAW_ROLE, header_data
from .common import BOLD
from .runs_arrange import Arrangement, RowLookup, diff_rows, shown_rows
from .runs_data import RunsData

TREE_ROLE = Qt.ItemDataRole.UserRole + 1  # column 0: (depth, open) for the branch delegate
_ROLES = {Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
          Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ForegroundRole,
          Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.FontRole, RAW_ROLE, TREE_ROLE}
INDENT = 20  # pixels per level, the branch arrows' column


class RunsTableModel(QAbstractTableModel):
    """The rows shown: runs, sweep rows (kind "sweep"), a sweep's runs under it when open.
    A row's code (runs_data) says which; `run_at`/`index_of` go between indexes and runs."""

    sort_requested = Signal()  # sort_key/sort_order changed: the pane arranges anew
    arranged = Signal()  # the rows or their spans changed (the view re-spans sweep rows)

    def __init__(self, columns, parent=None):
        super().__init__(parent)
        self.columns = list(columns)
        self.sort_key: str | None = "id"
        self.sort_order = Qt.SortOrder.DescendingOrder
        self.runs = RunsData()
        self.arrangement: Arrangement | None = None
        self.opened: set[int] = set()  # sweep ids shown open (the pane's open_sweeps)
        self._rows = np.zeros(0, np.int64)
        self._lookup: RowLookup | None = None

    # -- content -------------------------------------------------------------------------------
    def show(self, arrangement: Arrangement, touched: np.ndarray | None = None) -> None:
        """Show `arrangement`. With `touched` (the codes a reload changed): the rows that
        changed, came or went are signalled as such when the others kept their order;
        otherwise (a sort, a filter) the rows swap in as one layout change."""
        new = shown_rows(arrangement, self.opened)
        if not len(self._rows):
            self.beginResetModel()
            self._set(arrangement, new)
            self.endResetModel()
        else:
            plan = diff_rows(self._rows, new, touched) if touched is not None else None
            if plan is None:
                self._relayout(arrangement, new)
            else:
                self.arrangement, self.runs = arrangement, arrangement.data
                self._apply(plan, new)
        self.arranged.emit()

    def _set(self, arrangement: Arrangement | None, rows: np.ndarray) -> None:
        self.arrangement = arrangement
        if arrangement is not None:
            self.runs = arrangement.data
        self._rows, self._lookup = rows, None

    def _relayout(self, arrangement: Arrangement | None, rows: np.ndarray) -> None:
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        codes = [int(self._rows[i.row()]) for i in old]  # the selection: a few indexes
        self._set(arrangement, rows)
        lookup = self.lookup()
        self.changePersistentIndexList(old, [
            self.index(lookup.row(code), i.column()) if lookup.row(code) >= 0
            else QModelIndex() for code, i in zip(codes, old)])
        self.layoutChanged.emit()

    def _apply(self, plan, new: np.ndarray) -> None:
        for first, last in plan.removed:
            self.beginRemoveRows(QModelIndex(), first, last)
            self._rows, self._lookup = np.delete(self._rows, np.s_[first:last + 1]), None
            self.endRemoveRows()
        for first, last in plan.inserted:
            self.beginInsertRows(QModelIndex(), first, last)
            self._rows = np.insert(self._rows, first, new[first:last + 1])
            self._lookup = None
            self.endInsertRows()
        self._rows, self._lookup = new, None
        right = len(self.columns) - 1
        for first, last in plan.changed:
            self.dataChanged.emit(self.index(first, 0), self.index(last, right))

    def set_columns(self, columns) -> None:
        """New columns (a metric some run now has): inserted where they go, the others kept."""
        columns = list(columns)
        keys = [c.key for c in columns]
        old = [c.key for c in self.columns]
        if keys == old:
            return
        if all(k in keys for k in old) and [k for k in keys if k in old] == old:
            for n, col in enumerate(columns):
                if n >= len(self.columns) or self.columns[n].key != col.key:
                    self.beginInsertColumns(QModelIndex(), n, n)
                    self.columns.insert(n, col)
                    self.endInsertColumns()
        else:
            self.beginResetModel()
            self.columns = columns
            self.endResetModel()
        self.arranged.emit()

    def set_open(self, sweep_id: int, opened: bool) -> bool:
        """Open or close a sweep's row: its runs inserted under it or removed; False if the
        sweep has no row shown."""
        (self.opened.add if opened else self.opened.discard)(sweep_id)
        head = self.lookup().head_row.get(sweep_id)
        arrangement = self.arrangement
        if head is None or arrangement is None:
            return False
        runs = arrangement.children.get(sweep_id, np.zeros(0, np.int64))
        shown = head + 1 < len(self._rows) and len(runs) and self._rows[head + 1] == runs[0]
        if opened and not shown and len(runs):
            self.beginInsertRows(QModelIndex(), head + 1, head + len(runs))
            self._rows = np.insert(self._rows, head + 1, runs)
            self._lookup = None
            self.endInsertRows()
        elif not opened and shown:
            self.beginRemoveRows(QModelIndex(), head + 1, head + len(runs))
            self._rows = np.delete(self._rows, np.s_[head + 1:head + 1 + len(runs)])
            self._lookup = None
            self.endRemoveRows()
        else:
            return True
        self.arranged.emit()
        return True

    # -- rows and runs ---------------------------------------------------------------------------
    def lookup(self) -> RowLookup:
        if self._lookup is None:
            self._lookup = RowLookup.of(self._rows, self.runs.n)
        return self._lookup

    def code(self, row: int) -> int:
        return int(self._rows[row])

    def has_sweeps(self) -> bool:
        return bool(self.runs.heads)

    def record(self, row: int) -> dict:
        """The row's record: a run (runs_data.RunsData.record), or a sweep row (kind
        "sweep", id None, sweep_id, label, best_run_id...)."""
        code = self.code(row)
        if code < 0:
            return dict(self.runs.heads.get(-code) or {"kind": "sweep", "id": None,
                                                       "sweep_id": -code})
        return self.runs.record(code)

    def run_at(self, index: QModelIndex) -> dict | None:
        """The run at `index`, None on a sweep's row."""
        if not index.isValid() or self.code(index.row()) < 0:
            return None
        return self.runs.record(self.code(index.row()))

    def run_id_at(self, row: int) -> int | None:
        code = self.code(row)
        return int(self.runs.ids[code]) if code >= 0 else None

    def sweep_at(self, row: int) -> int | None:
        code = self.code(row)
        return -code if code < 0 else None

    def record_of(self, run_id: int) -> dict | None:
        p = self.runs.position(run_id)
        return None if p is None else self.runs.record(p)

    def index_of(self, run_id: int, column: int = 0) -> QModelIndex:
        """The run's index, invalid when it is not shown (filtered out, or in a closed
        sweep: see `closed_sweep_of`)."""
        p = self.runs.position(run_id)
        row = -1 if p is None else self.lookup().row(p)
        return self.index(row, column) if row >= 0 else QModelIndex()

    def closed_sweep_of(self, run_id: int) -> int | None:
        """The sweep whose closed row hides run `run_id` (it matches the filter)."""
        p, arrangement = self.runs.position(run_id), self.arrangement
        if p is None or arrangement is None or not self.runs.grouped[p]:
            return None
        sid = int(self.runs.sweep_id[p])
        runs = arrangement.children.get(sid)
        if runs is None or sid in self.opened or not (runs == p).any():
            return None
        return sid

    def sweep_index(self, sweep_id: int, column: int = 0) -> QModelIndex:
        row = self.lookup().head_row.get(sweep_id, -1)
        return self.index(row, column) if row >= 0 else QModelIndex()

    def sweep_ids(self) -> list[int]:
        """The sweeps with a row shown, in the order shown."""
        return sorted(self.lookup().head_row, key=self.lookup().head_row.get)

    def sweep(self, sweep_id: int) -> dict | None:
        return self.runs.heads.get(sweep_id)

    def child_rows(self, row: int) -> list[int]:
        """The rows of the runs shown under the sweep row `row` (none while it is closed)."""
        sweep = self.sweep_at(row)
        if sweep is None or sweep not in self.opened or self.arrangement is None:
            return []
        return list(range(row + 1, row + 1 + len(self.arrangement.children.get(sweep, ()))))

    def is_open_row(self, row: int) -> bool:
        code = self.code(row) if 0 <= row < len(self._rows) else 0
        return code < 0 and -code in self.opened

    # -- Qt ----------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ROLES or not index.isValid():  # a delegate asks for ~8 roles a cell
            return None
        code, column = int(self._rows[index.row()]), index.column()
        if code < 0:
            return self._sweep_data(-code, column, role)
        runs = self.runs
        best = runs.best.get(code) if column == 0 or role == Qt.ItemDataRole.FontRole else None
        if role == Qt.ItemDataRole.FontRole:
            return BOLD if best else None
        if role == Qt.ItemDataRole.BackgroundRole:
            return None
        if role == TREE_ROLE:
            return (1 if runs.grouped[code] else 0, None) if runs.heads else None
        if best is not None and role in (Qt.ItemDataRole.DisplayRole,
                                         Qt.ItemDataRole.ToolTipRole):
            return f"★ {runs.ids[code]}" if role == Qt.ItemDataRole.DisplayRole else best[1]
        col = self.columns[column]
        return col.cell(runs.value(code, col.key), role)

    def _sweep_data(self, sweep_id: int, column: int, role: int) -> Any:
        head = self.runs.heads.get(sweep_id)
        if head is None:
            return None
        if role == Qt.ItemDataRole.FontRole:
            return BOLD
        if role == Qt.ItemDataRole.BackgroundRole:
            return palette.brush("group_bg")
        if column == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return head["label"]
            if role == Qt.ItemDataRole.ToolTipRole:
                return head["tooltip"]
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return ALIGN_LEFT  # it spans the table: read from the left
            if role == TREE_ROLE:
                return 0, sweep_id in self.opened
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, RAW_ROLE):
            return None  # a sweep row keeps the table's own alignment and colours
        col = self.columns[column]
        return col.cell(head.get(col.key), role)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return header_data(self.columns, section, orientation, role)

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """Sort by `column`: recorded here, done in a worker (the pane hears sort_requested)."""
        if 0 <= column < len(self.columns):
            self.sort_key, self.sort_order = self.columns[column].key, order
            self.sort_requested.emit()


class BranchDelegate(QStyledItemDelegate):
    """Column 0 drawn as a tree's: a sweep row's open/closed arrow, its runs indented."""

    def paint(self, painter, option, index) -> None:
        tree = index.data(TREE_ROLE)
        if tree is None:
            return super().paint(painter, option, index)
        depth, opened = tree
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, widget)
        if opened is not None:
            branch = QStyleOption()
            branch.initFrom(widget) if widget is not None else None
            branch.rect = QRect(opt.rect.left(), opt.rect.top(), INDENT, opt.rect.height())
            branch.state = (QStyle.StateFlag.State_Children | QStyle.StateFlag.State_Item
                            | (QStyle.StateFlag.State_Open if opened else
                               QStyle.StateFlag.State_None)
                            | (opt.state & QStyle.StateFlag.State_Selected))
            style.drawPrimitive(QStyle.PrimitiveElement.PE_IndicatorBranch, branch, painter,
                                widget)
        opt.rect = opt.rect.adjusted(INDENT * (depth + 1), 0, 0, 0)
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)


class RunsView(QTableView):
    """The runs table, a tree of sweeps drawn flat (see the module doc), with QTreeView's
    expand API; `header()` as a QTreeView names its header."""

    expanded = Signal(QModelIndex)
    collapsed = Signal(QModelIndex)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setItemDelegateForColumn(0, BranchDelegate(self))
        self.verticalHeader().hide()
        self.setShowGrid(False)
        self.setCornerButtonEnabled(False)
        self.setTabKeyNavigation(False)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)

    def header(self):
        return self.horizontalHeader()

    def setModel(self, model) -> None:
        super().setModel(model)
        model.arranged.connect(self._span_sweep_rows)

    def _span_sweep_rows(self) -> None:
        # A sweep's row spans the table; Qt keeps spans over inserted and removed rows but
        # not over a layout change: set them again (one per sweep shown).
        model = self.model()
        self.clearSpans()
        columns = model.columnCount()
        if columns > 1:
            for row in model.lookup().head_row.values():
                self.setSpan(row, 0, 1, columns)

    def isFirstColumnSpanned(self, row: int, _parent: QModelIndex = QModelIndex()) -> bool:
        return self.columnSpan(row, 0) > 1

    def isExpanded(self, index: QModelIndex) -> bool:
        return index.isValid() and self.model().is_open_row(index.row())

    def setExpanded(self, index: QModelIndex, opened: bool) -> None:
        model = self.model()
        sweep = model.sweep_at(index.row()) if index.isValid() else None
        if sweep is None or self.isExpanded(index) == opened:
            return
        current = self.currentIndex()
        if not opened and current.row() in model.child_rows(index.row()):
            self.setCurrentIndex(model.index(index.row(), 0))  # as a tree: onto the sweep
        model.set_open(sweep, opened)
        (self.expanded if opened else self.collapsed).emit(model.index(index.row(), 0))

    def expand(self, index: QModelIndex) -> None:
        self.setExpanded(index, True)

    def collapse(self, index: QModelIndex) -> None:
        self.setExpanded(index, False)

    def mousePressEvent(self, event) -> None:
        index = self.indexAt(event.position().toPoint())
        if (index.isValid() and self.model().sweep_at(index.row()) is not None
                and event.position().x() - self.visualRect(index).left() < INDENT):
            self.setExpanded(index, not self.isExpanded(index))  # the arrow
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        index = self.indexAt(event.position().toPoint())
        if index.isValid() and self.model().sweep_at(index.row()) is not None:
            self.setExpanded(index, not self.isExpanded(index))
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event) -> None:
        index, model = self.currentIndex(), self.model()
        key = event.key()
        if index.isValid() and key in (Qt.Key.Key_Right, Qt.Key.Key_Left, Qt.Key.Key_Plus,
                                       Qt.Key.Key_Minus):
            opening = key in (Qt.Key.Key_Right, Qt.Key.Key_Plus)
            if model.sweep_at(index.row()) is not None:
                if self.isExpanded(index) != opening:
                    self.setExpanded(index, opening)
                    return
            elif not opening:  # from a sweep's run to its sweep's row
                run = model.runs.position(model.run_id_at(index.row()))
                if run is not None and model.runs.grouped[run]:
                    head = model.sweep_index(int(model.runs.sweep_id[run]))
                    if head.isValid():
                        self.setCurrentIndex(head)
                        return
        super().keyPressEvent(event)
