"""The runs table: its columns, the worker that reads it, and the pane part that shows and
selects runs (the model, sweeps grouped and their best marked, is in runs_model)."""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QPushButton,
                               QStackedWidget, QTreeView, QVBoxLayout, QWidget)

from ....core import datasets, training
from ....core.errors import PermissionDenied
from ... import context_menu, palette
from ...format import short_time
from ...tablemodels import ALIGN_LEFT, ALIGN_RIGHT, Column
from .common import bold, fmt_duration, fmt_metric, note, text_of
from .filter import flatten_run
from .runs_model import RunsFilterProxy, RunsTableModel, sweep_rows

__all__ = ["CV_METRICS", "KEY_METRICS", "RunsFilterProxy", "RunsTable", "RunsTableModel",
           "RunsView", "load_pane_data", "load_run_records", "runs_columns", "sweep_rows"]

# Holdout metrics shown as table columns (when some run has them); CV means of the primary ones.
KEY_METRICS = ("roc_auc", "accuracy", "f1", "r2", "rmse", "mae")
CV_METRICS = ("roc_auc", "r2")
SELECT_ROW = (QItemSelectionModel.SelectionFlag.ClearAndSelect
              | QItemSelectionModel.SelectionFlag.Rows)


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


def load_pane_data(store) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Worker side of a refresh: the dataset versions (for the form), the runs records and
    {"sweeps": sweep id -> its row (sweep_rows), "sweep_refusal": why this user may not
    sweep, or None}."""
    rows = datasets.list_datasets(store)
    names = {d["id"]: f"{d['name']}:{d['version']}" for d in rows}
    runs = training.list_runs(store)
    records = [flatten_run(r, names) for r in runs]
    try:
        store.require_role("sweeps", "analyst")
        refusal = None
    except PermissionDenied as exc:
        refusal = str(exc)
    return rows, records, {"sweeps": sweep_rows(store, runs, records),
                           "sweep_refusal": refusal}


def load_run_records(store) -> list[dict[str, Any]]:
    """The runs table's records: one query for runs, one for dataset names."""
    return load_pane_data(store)[1]


class RunsView(QTreeView):
    """The runs tree; `horizontalHeader()` as a QTableView names it, for code written for one."""

    def horizontalHeader(self):
        return self.header()


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
        self.count_label.setStyleSheet(palette.css_text("muted"))
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
        self.open_sweeps: set[int] = set()  # sweep rows shown expanded (kept over reloads)
        self._seen_sweeps: set[int] = set()
        view = self.runs_view = RunsView()
        view.setModel(self.runs_proxy)
        view.setSortingEnabled(True)
        view.header().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setAlternatingRowColors(True)
        view.setUniformRowHeights(True)  # 10,000 rows: no per-row size hints
        view.setRootIsDecorated(False)  # until there is a sweep to open
        view.header().setStretchLastSection(True)
        view.header().setHighlightSections(False)
        view.setWordWrap(False)
        view.expanded.connect(lambda i: self._sweep_toggled(i, True))
        view.collapsed.connect(lambda i: self._sweep_toggled(i, False))
        # Expanded and spanned rows are the view's, lost when the proxy drops a row or the
        # model resets: put the sweep rows back once per change (coalesced).
        self._regroup_timer = QTimer(self)
        self._regroup_timer.setSingleShot(True)
        self._regroup_timer.setInterval(0)
        self._regroup_timer.timeout.connect(self._show_sweep_rows)
        for signal in (self.runs_proxy.modelReset, self.runs_proxy.layoutChanged,
                       self.runs_proxy.rowsInserted):
            signal.connect(self._regroup_timer.start)
        view.selectionModel().currentRowChanged.connect(self._on_current_run)
        view.selectionModel().selectionChanged.connect(self._on_selection)
        view.doubleClicked.connect(lambda _i: self.tabs.setCurrentIndex(0))
        context_menu.install(view, extra=self._context_actions, name="runs")
        self.no_runs = note("Train a model to see it here.\n\nChoose a target and an "
                            "algorithm on the left and press Train.")
        self.runs_stack = QStackedWidget()
        self.runs_stack.addWidget(self.no_runs)
        self.runs_stack.addWidget(view)
        layout.addWidget(self.runs_stack, 1)
        return box

    def _show_records(self, records: list[dict], sweep_heads: dict[int, dict] | None = None
                      ) -> None:
        asked = self._select_after_load
        current = asked or self._shown_run
        self._select_after_load = None
        self.runs_model.columns = runs_columns(records)
        self.runs_model.set_records(records, sweep_heads)
        for sid, head in (sweep_heads or {}).items():  # a running sweep opens when first seen
            if sid not in self._seen_sweeps and head["status"] == "running":
                self.open_sweeps.add(sid)
        self._seen_sweeps.update(sweep_heads or {})
        self.runs_view.setRootIsDecorated(bool(sweep_heads))
        self._known = None
        self.runs_stack.setCurrentIndex(1 if records else 0)
        self.apply_filter()
        self._show_sweep_rows()
        header = self.runs_view.header()
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
            # A reload keeps the selection where the user left it (in a closed sweep too).
            target = current if current in ids else max(finished or ids)
            self.select_run(target, reveal=target != self._shown_run or asked is not None)
        else:
            self.detail_empty.setText("No runs yet: the detail of a run shows here once one "
                                      "has trained.")
            self._show_run(None)

    def _size_columns(self) -> None:
        view, header = self.runs_view, self.runs_view.header()
        metrics = self.fontMetrics()
        # Sized from the header and a sample of rows: resizeColumnsToContents on 10,000 rows
        # would measure every cell on the GUI thread.
        # (sweep rows span the table: their text does not size a column)
        sample = [r for r in (self.runs_model.record(i)
                              for i in range(min(50, self.runs_model.rowCount())))
                  if r.get("kind") != "sweep"]
        for c, col in enumerate(self.runs_model.columns):
            texts = [col.title] + [
                (col.fmt(r.get(col.key)) if col.fmt else text_of(r.get(col.key))) for r in sample]
            width = max(metrics.horizontalAdvance(t) for t in texts) + 24
            if c == 0 and view.rootIsDecorated():  # room for the branch arrows
                width += view.indentation() + metrics.horizontalAdvance("★ ")
            header.resizeSection(c, min(max(width, 48), 220))
        view.setColumnHidden(0, False)

    def select_run(self, run_id: int, reveal: bool = True) -> bool:
        """Select run `run_id` and show it; `reveal` opens its sweep's row if it is closed."""
        source = self.runs_model.index_of(run_id)
        if not source.isValid():
            return False
        index = self.runs_proxy.mapFromSource(source)
        if not index.isValid():  # filtered out
            self._show_run(run_id)
            return True
        view = self.runs_view
        hidden = index.parent().isValid() and not view.isExpanded(index.parent())
        if hidden and reveal:  # a sweep's run: open its sweep
            view.expand(index.parent())
        # Scrolling to a run in a closed sweep would open it: not when it is to stay closed.
        view.setAutoScroll(reveal or not hidden)
        view.selectionModel().setCurrentIndex(index, SELECT_ROW)
        view.setAutoScroll(True)
        if reveal or not hidden:
            view.scrollTo(index)
        if self._shown_run != run_id:
            self._show_run(run_id)
        return True

    def run_record(self, run_id: int) -> dict[str, Any] | None:
        return self.runs_model.run_at(self.runs_model.index_of(run_id))

    def run_at(self, index: QModelIndex) -> dict[str, Any] | None:
        """The run at a view index (None on a sweep row)."""
        return self.runs_model.run_at(self.runs_proxy.mapToSource(index))

    def selected_run_ids(self) -> list[int]:
        """The selected runs (a selected sweep row is not a run)."""
        runs = (self.run_at(i) for i in self.runs_view.selectionModel().selectedRows())
        return [r["id"] for r in runs if r is not None]

    def _on_current_run(self, current: QModelIndex, _previous=None) -> None:
        if not current.isValid():
            return
        record = self.runs_model.node(self.runs_proxy.mapToSource(current))
        if record.get("kind") != "sweep":
            self._show_run(record["id"])
        elif record.get("best_run_id") is not None:  # a sweep row shows its best run
            self._show_run(record["best_run_id"])

    # -- sweep rows: open or closed as the user left them, spanning the table -------------------
    def _sweep_toggled(self, index: QModelIndex, opened: bool) -> None:
        head = self.runs_model.node(self.runs_proxy.mapToSource(index))
        if head.get("kind") == "sweep":
            (self.open_sweeps.add if opened else self.open_sweeps.discard)(head["sweep_id"])

    def _show_sweep_rows(self) -> None:
        view, proxy, model = self.runs_view, self.runs_proxy, self.runs_model
        for sid in model.sweep_ids():
            index = proxy.mapFromSource(model.sweep_index(sid))
            if not index.isValid():
                continue
            view.setFirstColumnSpanned(index.row(), QModelIndex(), True)
            if sid in self.open_sweeps and not view.isExpanded(index):
                view.expand(index)

    def open_sweep(self, sweep_id: int) -> None:
        """Show the runs of sweep `sweep_id` (now and after reloads)."""
        self.open_sweeps.add(sweep_id)
        self._show_sweep_rows()

    def _on_selection(self, *_args) -> None:
        self.compare_button.setEnabled(len(self.selected_run_ids()) >= 2)

    def _context_actions(self, rows: list[int]) -> list:
        """Right-click entries for the selected runs; the one under the cursor is current (and
        shown in Run detail), the others count for Compare."""
        current = self.runs_view.currentIndex()
        if not current.isValid():
            return []
        record = self.run_at(current)
        if record is None:  # a sweep row
            return []
        run_id = record["id"]
        open_run = (f"Open run #{run_id}", lambda: (self.select_run(run_id),
                                                    self.tabs.setCurrentIndex(0)))
        compare = ("Compare selected", self.compare_selected,
                   None if len(self.selected_run_ids()) >= 2
                   else self.compare_button.toolTip())
        entries = [open_run, compare]
        if not self.register_button.isHidden():  # hidden when the registry is not installed
            why = None
            if record["status"] != "finished":
                why = f"Run {run_id} is {record['status']}: only a finished run can be registered"
            elif self.is_busy("register"):
                why = "A registration is running"
            entries.append(("Register as model version…",
                            lambda: (self.select_run(run_id), self.register_selected()), why,
                            self.register_button.toolTip()))
        found = self.dataset_combo.findText(record["dataset"])
        dataset_id = self.dataset_combo.itemData(found) if found >= 0 else None
        entries += [None,
                    (f"Open dataset {record['dataset']}",
                     lambda: self.navigate.emit("datasets", dataset_id),
                     None if dataset_id is not None else
                     f"Dataset {record['dataset']} is not in the store's list"),
                    context_menu.lineage_entry(self, self.store, "run", run_id,
                                               self.navigate.emit)]
        return entries
