"""What the Experiments pane's parts share: value spelling, small widgets, and a read-only
grid model (metrics, params, comparisons) shown in QTableViews."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontDatabase
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableView, QWidget

from ... import context_menu, palette
from ...format import metric
from ...tablemodels import CellsModel, _is_missing

MONO = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
BEST_ROLE = "best_bg"  # the palette role of the best value's cell
BOLD = QFont()
BOLD.setBold(True)
# Palette roles of a run's or job's state.
STATE_ROLES = {"queued": "faint", "running": "accent", "finished": "good", "failed": "bad",
               "cancelled": "warn"}


def state_color(state: str) -> str:
    return palette.color(STATE_ROLES.get(state, "other_text"))


def best_brush() -> QBrush:
    """The background of a best value's cell, in the scheme in use."""
    return palette.brush(BEST_ROLE)


def fmt_metric(value: Any) -> str:
    # fixed decimals in a metric column, so the values of a column line up (0.7900, 0.7273)
    if _is_missing(value):
        return "—"
    if isinstance(value, float) and abs(value) < 1000:
        return f"{value:.4f}"
    return metric(value)


def fmt_duration(value: Any) -> str:
    if _is_missing(value):
        return "—"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def text_of(value: Any) -> str:
    """A param or field value as filters and tables spell it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def clip(text: Any, limit: int) -> str:
    s = str(text)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def bold(widget: QWidget, scale: float = 1.0) -> None:
    font = QFont(widget.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * scale)
    widget.setFont(font)


def note(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {palette.color('muted')}; font-size: 11pt;")
    return label


@dataclass
class Cell:
    text: str
    bold: bool = False
    background: QColor | str | None = None  # a colour or a palette role
    tooltip: str | None = None
    align: int | None = None


class GridModel(CellsModel):
    """CellsModel with bold cells, cell tooltips and header tooltips, filled from Cells."""

    def __init__(self, headers: Sequence[str] = (), parent=None):
        super().__init__(list(headers), parent)
        self._tips: list[str | None] = []
        self._cells: list[list[Cell]] = []

    def set_grid(self, rows: Sequence[Sequence[Cell]], headers: Sequence[str] | None = None,
                 tips: Sequence[str | None] = ()) -> None:
        if headers is not None:
            self.set_headers(list(headers))
            self._tips = list(tips)
        self._cells = [list(r) for r in rows]
        self.set_rows([[(c.text, None, c.background, c.align) for c in r] for r in self._cells])

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal:
            return self._tips[section] if 0 <= section < len(self._tips) else None
        return super().headerData(section, orientation, role)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.FontRole) and index.isValid():
            row = self._cells[index.row()] if index.row() < len(self._cells) else []
            cell = row[index.column()] if index.column() < len(row) else None
            if cell is None:
                return None
            if role == Qt.ItemDataRole.ToolTipRole:
                return cell.tooltip or cell.text
            return BOLD if cell.bold else None
        return super().data(index, role)


def grid_view(model: GridModel, row_height: int) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(row_height)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setAlternatingRowColors(True)
    view.horizontalHeader().setStretchLastSection(True)
    view.setWordWrap(False)
    context_menu.install(view, name="run")
    return view
