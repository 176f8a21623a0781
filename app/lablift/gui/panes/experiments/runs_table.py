"""The runs table: its model (sorted in Python), the filtering proxy, its columns, the worker
that reads it, and the pane part that shows and selects runs."""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QStackedWidget, QTableView, QVBoxLayout, QWidget)

from ....core import datasets, training
from ...format import short_time
from ...tablemodels import ALIGN_LEFT, ALIGN_RIGHT, Column, RecordsTableModel, _is_missing, \
    _sort_key
from .common import bold, fmt_duration, fmt_metric, note, text_of
from .filter import flatten_run

# Holdout metrics shown as table columns (when some run has them); CV means of the primary ones.
KEY_METRICS = ("roc_auc", "accuracy", "f1", "r2", "rmse", "mae")
CV_METRICS = ("roc_auc", "r2")
SELECT_ROW = (QItemSelectionModel.SelectionFlag.ClearAndSelect
              | QItemSelectionModel.SelectionFlag.Rows)


class RunsTableModel(RecordsTableModel):
    """Runs records sorted in Python on precomputed keys.

    A QSortFilterProxyModel sort calls lessThan (Python) ~n·log n times through Qt: seconds at
    10,000 runs. Sorting the list here takes milliseconds; the proxy only filters.
    """

    def __init__(self, columns, parent=None):
        super().__init__(columns, parent=parent)
        self.sort_key: str | None = "id"
        self.sort_order = Qt.SortOrder.DescendingOrder

    def _sorted(self, records: list[dict]) -> list[dict]:
        key = self.sort_key
        if key is None:
            return records
        present = [r for r in records if not _is_missing(r.get(key))]
        missing = [r for r in records if _is_missing(r.get(key))]
        present.sort(key=lambda r: _sort_key(r.get(key)),
                     reverse=self.sort_order == Qt.SortOrder.DescendingOrder)
        return present + missing  # missing values last either way

    def set_records(self, records: Sequence[dict]) -> None:
        super().set_records(self._sorted(list(records)))

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        if column < 0 or column >= len(self.columns):
            return
        self.sort_key, self.sort_order = self.columns[column].key, order
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        old_ids = [self._records[i.row()]["id"] for i in old]
        self._records = self._sorted(self._records)
        where = {r["id"]: n for n, r in enumerate(self._records)}
        self.changePersistentIndexList(
            old, [self.index(where[rid], i.column()) for rid, i in zip(old_ids, old)])
        self.layoutChanged.emit()

    def row_of(self, run_id: int) -> int | None:
        for n, r in enumerate(self._records):
            if r["id"] == run_id:
                return n
        return None


class RunsFilterProxy(QSortFilterProxyModel):
    """Filters by a precomputed set of run ids; sorting is delegated to the source model."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.accepted: set[int] | None = None

    def set_accepted(self, ids: set[int] | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            self.accepted = ids
            self.endFilterChange()
        else:
            self.accepted = ids
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        return self.accepted is None or self.sourceModel().record(row)["id"] in self.accepted

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)


def _metric_columns(records: Sequence[dict]) -> list[Column]:
    present: set[str] = set()
    for r in records:
        present.update(k for k in r if k.startswith(("m.", "cv.")))
    cols = []
    for name in KEY_METRICS:
        if f"m.{name}" in present:
            cols.append(Column(f"m.{name}", name, fmt=fmt_metric, align=ALIGN_RIGHT,
                               tooltip=f"{name} on the holdout rows"))
    for name in CV_METRICS:
        if f"cv.{name}" in present:
            cols.append(Column(f"cv.{name}", f"CV {name}", fmt=fmt_metric, align=ALIGN_RIGHT,
                               tooltip=f"{name}: mean over the cross-validation folds"))
    return cols


def runs_columns(records: Sequence[dict] = ()) -> list[Column]:
    return ([Column("id", "Run", align=ALIGN_RIGHT), Column("status", "Status"),
             Column("dataset", "Dataset"), Column("algorithm", "Algorithm"),
             Column("target", "Target")]
            + _metric_columns(records)
            + [Column("duration_s", "Duration", fmt=fmt_duration, align=ALIGN_RIGHT),
               Column("who", "Who"), Column("when", "When", fmt=short_time, align=ALIGN_LEFT)])


def load_pane_data(store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Worker side of a refresh: the dataset versions (for the form) and the runs records."""
    rows = datasets.list_datasets(store)
    names = {d["id"]: f"{d['name']}:{d['version']}" for d in rows}
    return rows, [flatten_run(r, names) for r in training.list_runs(store)]


def load_run_records(store) -> list[dict[str, Any]]:
    """The runs table's records: one query for runs, one for dataset names."""
    return load_pane_data(store)[1]


class RunsTable:
    """The runs table part of the Experiments pane: heading, filter, Compare, the view."""

    def _build_runs(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(6, 10, 10, 4)
        layout.setSpacing(4)
        head = QHBoxLayout()
        heading = QLabel("Runs")
        bold(heading, 1.2)
        self.count_label = QLabel()
        self.count_label.setStyleSheet("color: #666;")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Select two or more runs (Ctrl/Shift+click) to compare")
        self.compare_button.setEnabled(False)
        self.compare_button.clicked.connect(self.compare_selected)
        head.addWidget(heading)
        head.addSpacing(8)
        head.addWidget(self._build_filter(), 1)
        head.addWidget(self.count_label)
        head.addWidget(self.compare_button)
        layout.addLayout(head)

        self.runs_model = RunsTableModel(runs_columns())
        self.runs_proxy = RunsFilterProxy(self)
        self.runs_proxy.setSourceModel(self.runs_model)
        view = self.runs_view = QTableView()
        view.setModel(self.runs_proxy)
        view.setSortingEnabled(True)
        view.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setAlternatingRowColors(True)
        view.verticalHeader().hide()
        view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        view.horizontalHeader().setStretchLastSection(True)
        view.horizontalHeader().setHighlightSections(False)
        view.setWordWrap(False)
        view.selectionModel().currentRowChanged.connect(self._on_current_run)
        view.selectionModel().selectionChanged.connect(self._on_selection)
        view.doubleClicked.connect(lambda _i: self.tabs.setCurrentIndex(0))
        self.no_runs = note("Train a model to see it here.\n\nChoose a target and an "
                            "algorithm on the left and press Train.")
        self.runs_stack = QStackedWidget()
        self.runs_stack.addWidget(self.no_runs)
        self.runs_stack.addWidget(view)
        layout.addWidget(self.runs_stack, 1)
        return box

    def _show_records(self, records: list[dict]) -> None:
        current = self._select_after_load or self._shown_run
        self._select_after_load = None
        self.runs_model.columns = runs_columns(records)
        self.runs_model.set_records(records)
        self._known = None
        self.runs_stack.setCurrentIndex(1 if records else 0)
        self.apply_filter()
        header = self.runs_view.horizontalHeader()
        key = self.runs_model.sort_key
        keys = [c.key for c in self.runs_model.columns]
        header.blockSignals(True)
        header.setSortIndicator(keys.index(key) if key in keys else -1, self.runs_model.sort_order)
        header.blockSignals(False)
        self._size_columns()
        if records:
            ids = {r["id"] for r in records}
            # Else the latest finished run (the one with plots), else the latest run.
            finished = [r["id"] for r in records if r["status"] == "finished"]
            self.select_run(current if current in ids else max(finished or ids))
        else:
            self.detail_empty.setText("No runs yet: the detail of a run shows here once one "
                                      "has trained.")
            self._show_run(None)

    def _size_columns(self) -> None:
        view, header = self.runs_view, self.runs_view.horizontalHeader()
        metrics = self.fontMetrics()
        # Sized from the header and a sample of rows: resizeColumnsToContents on 10,000 rows
        # would measure every cell on the GUI thread.
        sample = [self.runs_model.record(i) for i in range(min(50, self.runs_model.rowCount()))]
        for c, col in enumerate(self.runs_model.columns):
            texts = [col.title] + [
                (col.fmt(r.get(col.key)) if col.fmt else text_of(r.get(col.key))) for r in sample]
            width = max(metrics.horizontalAdvance(t) for t in texts) + 24
            header.resizeSection(c, min(max(width, 48), 220))
        view.setColumnHidden(0, False)

    def select_run(self, run_id: int) -> bool:
        row = self.runs_model.row_of(run_id)
        if row is None:
            return False
        index = self.runs_proxy.mapFromSource(self.runs_model.index(row, 0))
        if not index.isValid():  # filtered out
            self._show_run(run_id)
            return True
        self.runs_view.selectionModel().setCurrentIndex(index, SELECT_ROW)
        self.runs_view.scrollTo(index)
        if self._shown_run != run_id:
            self._show_run(run_id)
        return True

    def run_record(self, run_id: int) -> dict[str, Any] | None:
        row = self.runs_model.row_of(run_id)
        return None if row is None else self.runs_model.record(row)

    def selected_run_ids(self) -> list[int]:
        rows = self.runs_view.selectionModel().selectedRows()
        return [self.runs_model.record(self.runs_proxy.mapToSource(i).row())["id"] for i in rows]

    def _on_current_run(self, current: QModelIndex, _previous=None) -> None:
        if current.isValid():
            record = self.runs_model.record(self.runs_proxy.mapToSource(current).row())
            self._show_run(record["id"])

    def _on_selection(self, *_args) -> None:
        self.compare_button.setEnabled(len(self.selected_run_ids()) >= 2)
