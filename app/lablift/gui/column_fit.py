"""Lists that stay readable when narrow: the main column (a name) keeps a usable width, and the
least important columns step aside (hidden) until the view is wide enough for them again.

    fit_columns(self.tree, main=0, optional=[4, 3, 2])  # Created goes first, then By, Aliases

What a hidden column said stays in each row's tooltip (the panes put it there), and a column
comes back by itself as soon as the view has room for it. A plain stretch or ResizeToContents
cannot do this: Qt gives the other columns their width first and the name gets what is left.
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView

MAIN_MIN = 150  # pixels the main column keeps before another column is hidden


class ColumnFitter(QObject):
    """Hides `optional` columns (least important first) of `view` while the main column would
    get less than `main_min` pixels beside them; shows them again when there is room."""

    def __init__(self, view: QAbstractItemView, main: int, optional: Sequence[int],
                 main_min: int = MAIN_MIN):
        super().__init__(view)
        self.view, self.main, self.optional, self.main_min = view, main, list(optional), main_min
        self.hidden: list[int] = []
        self._again = QTimer(self)  # after the model changed: once its rows are laid out
        self._again.setSingleShot(True)
        self._again.setInterval(0)
        self._again.timeout.connect(self.refit)
        view.viewport().installEventFilter(self)
        model = view.model()
        for signal in (model.modelReset, model.rowsInserted, model.layoutChanged,
                       model.dataChanged):
            signal.connect(self._again.start)

    def header(self) -> QHeaderView:
        view = self.view
        return view.header() if isinstance(view, QTreeView) else view.horizontalHeader()

    def _wanted(self, column: int) -> int:
        """The width `column` takes when shown: its contents' or its header's, whichever is
        wider (what ResizeToContents would give it)."""
        header = self.header()
        if not self.view.isColumnHidden(column) and \
                header.sectionResizeMode(column) != QHeaderView.ResizeMode.ResizeToContents:
            return header.sectionSize(column)
        return max(self.view.sizeHintForColumn(column), header.sectionSizeHint(column))

    def refit(self) -> None:
        header = self.header()
        room = self.view.viewport().width()
        others = [c for c in range(header.count()) if c != self.main]
        widths = {c: self._wanted(c) for c in others}
        hidden: list[int] = []
        for column in self.optional:
            if room - sum(w for c, w in widths.items() if c not in hidden) >= self.main_min:
                break
            hidden.append(column)
        if hidden != self.hidden:
            self.hidden = hidden
            for column in self.optional:
                self.view.setColumnHidden(column, column in hidden)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.refit()
        return False


def fit_columns(view: QAbstractItemView, main: int, optional: Sequence[int],
                main_min: int = MAIN_MIN) -> ColumnFitter:
    """Keep `view`'s `main` column readable by hiding `optional` ones while narrow (see the
    module doc); returns the fitter (its `hidden` columns, `refit()`)."""
    return ColumnFitter(view, main, optional, main_min)
