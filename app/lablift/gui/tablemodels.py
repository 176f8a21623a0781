"""Table models for Qt views: ArrowTableModel (big data, read-only) and RecordsTableModel (lists of dicts)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush

from . import palette

MISSING = "—"
RAW_ROLE = Qt.ItemDataRole.UserRole  # the unformatted value (also the sort key)
ALIGN_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
ALIGN_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


def format_value(value: Any) -> str:
    """Short, readable text for one cell value (None/NaN are handled by the caller)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, np.datetime64):
        # Whole seconds read better than nanoseconds; keep finer units only when they matter.
        if value.dtype != np.dtype("datetime64[D]") and value.astype("datetime64[s]") == value:
            value = value.astype("datetime64[s]")
        return str(value).replace("T", " ")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


class ArrowTableModel(QAbstractTableModel):
    """Read-only model over a pyarrow Table (or pandas DataFrame), fast at millions of rows.

    Cells are converted lazily in blocks of BLOCK rows per column (numpy values + null mask)
    and formatted only when the view asks: a view shows a few dozen rows, so opening a
    1,000,000-row table costs a few milliseconds, not a full conversion.
    """

    BLOCK = 65536

    def __init__(self, table: pa.Table | Any | None = None, parent=None):
        super().__init__(parent)
        self._table = pa.table({})
        self._numeric: list[bool] = []
        self._blocks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray | None]] = {}
        if table is not None:
            self.set_table(table)

    def set_table(self, table: pa.Table | Any) -> None:
        if not isinstance(table, pa.Table):  # a pandas DataFrame
            table = pa.Table.from_pandas(table, preserve_index=False)
        self.beginResetModel()
        self._table = table
        self._numeric = [pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
                         or pa.types.is_decimal(f.type) for f in table.schema]
        self._blocks.clear()
        self.endResetModel()

    def table(self) -> pa.Table:
        return self._table

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else self._table.num_rows

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else self._table.num_columns

    def _block(self, col: int, block: int) -> tuple[np.ndarray, np.ndarray | None]:
        key = (col, block)
        cached = self._blocks.get(key)
        if cached is None:
            chunk = self._table.column(col).slice(block * self.BLOCK, self.BLOCK)
            mask = chunk.is_null().to_numpy(zero_copy_only=False) if chunk.null_count else None
            values = chunk.to_numpy(zero_copy_only=False)
            cached = self._blocks[key] = (values, mask)
        return cached

    def value(self, row: int, col: int) -> Any:
        """The cell's value (None when missing)."""
        values, mask = self._block(col, row // self.BLOCK)
        i = row % self.BLOCK
        if mask is not None and mask[i]:
            return None
        v = values[i]
        return None if _is_missing(v) else v

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole or role == Qt.ItemDataRole.ToolTipRole:
            v = self.value(r, c)
            return MISSING if v is None else format_value(v)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return ALIGN_RIGHT if self._numeric[c] else ALIGN_LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            return palette.brush("faint") if self.value(r, c) is None else None
        if role == RAW_ROLE:
            v = self.value(r, c)
            return v.item() if isinstance(v, np.generic) else v
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            if section >= self._table.num_columns:
                return None
            field = self._table.schema.field(section)
            if role == Qt.ItemDataRole.DisplayRole:
                return field.name
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{field.name}: {field.type}"
        elif role == Qt.ItemDataRole.DisplayRole:
            return str(section + 1)
        return None


@dataclass
class Column:
    """One column of a RecordsTableModel: `key` in each record, header `title`.

    `fmt(value) -> str` formats the display text (default: format_value, "—" for None);
    numbers are right-aligned unless `align` says otherwise; `tooltip` is the header tooltip.
    """
    key: str
    title: str
    fmt: Callable[[Any], str] | None = None
    align: int | None = None
    tooltip: str | None = None

    def cell(self, value: Any, role: int) -> Any:
        """What a model's data() answers for `value` in this column, for the usual roles."""
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if self.fmt is not None:
                return self.fmt(value)
            return MISSING if _is_missing(value) else format_value(value)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if self.align is not None:
                return self.align
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            return ALIGN_RIGHT if numeric else ALIGN_LEFT
        if role == Qt.ItemDataRole.ForegroundRole and _is_missing(value) and self.fmt is None:
            return palette.brush("faint")
        if role == RAW_ROLE:
            return value
        return None


class RecordsTableModel(QAbstractTableModel):
    """Read-only model over a list of dicts (dataset versions, runs, ...), sortable via a proxy.

    Use `make_sort_proxy(model)` (or any QSortFilterProxyModel with sortRole RAW_ROLE) so
    columns sort by value, not by display text.
    """

    def __init__(self, columns: Sequence[Column], records: Sequence[dict] = (), parent=None):
        super().__init__(parent)
        self.columns = list(columns)
        self._records: list[dict] = list(records)

    def set_records(self, records: Sequence[dict]) -> None:
        self.beginResetModel()
        self._records = list(records)
        self.endResetModel()

    def records(self) -> list[dict]:
        return list(self._records)

    def record(self, row: int) -> dict:
        return self._records[row]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        col = self.columns[index.column()]
        return col.cell(self._records[index.row()].get(col.key), role)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return header_data(self.columns, section, orientation, role)


def header_data(columns: Sequence[Column], section: int, orientation: Qt.Orientation,
                role: int) -> Any:
    """headerData for a model over `columns`: the title, and the whole title as tooltip."""
    if orientation != Qt.Orientation.Horizontal or section >= len(columns):
        return None
    if role == Qt.ItemDataRole.DisplayRole:
        return columns[section].title
    if role == Qt.ItemDataRole.ToolTipRole:  # the whole title, should the header elide it
        return columns[section].tooltip or columns[section].title
    return None


def _sort_key(value: Any) -> tuple:
    # Missing values sort last; numbers before text so mixed columns still order sensibly.
    if _is_missing(value):
        return (2, 0)
    if isinstance(value, (int, float)):
        return (0, float(value))
    if isinstance(value, (datetime, date)):
        return (1, value.isoformat())
    return (1, str(value).lower())


class RecordsSortProxy(QSortFilterProxyModel):
    """Sorts by RAW_ROLE values with a total order (None last), whatever their types."""

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        return _sort_key(left.data(RAW_ROLE)) < _sort_key(right.data(RAW_ROLE))


def make_sort_proxy(model: QAbstractTableModel, parent=None) -> RecordsSortProxy:
    proxy = RecordsSortProxy(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(RAW_ROLE)
    return proxy


class CellsModel(QAbstractTableModel):
    """A small read-only grid of prepared cells: (text, foreground, background, alignment);
    a colour is a QColor or a palette role, looked up when painted (so it follows the theme)."""

    def __init__(self, headers: list[str], parent=None):
        super().__init__(parent)
        self._headers = list(headers)
        self._rows: list[list[tuple]] = []

    def set_headers(self, headers: list[str]) -> None:
        self.beginResetModel()
        self._headers = list(headers)
        self._rows = []
        self.endResetModel()

    def set_rows(self, rows: list[list[tuple]]) -> None:
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._headers)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if (role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole)
                and orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._headers)):
            return self._headers[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if index.column() >= len(row):
            return None
        text, fg, bg, align = row[index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return text
        if role == Qt.ItemDataRole.ForegroundRole and fg is not None:
            return palette.brush(fg) if isinstance(fg, str) else QBrush(fg)
        if role == Qt.ItemDataRole.BackgroundRole and bg is not None:
            return palette.brush(bg) if isinstance(bg, str) else QBrush(bg)
        if role == Qt.ItemDataRole.TextAlignmentRole and align is not None:
            return int(align)
        return None
