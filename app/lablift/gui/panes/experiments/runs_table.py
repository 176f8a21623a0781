"""The runs table: its columns, the worker that reads what changed and arranges it, and the
pane part that shows and selects runs (the model and view are in runs_model, the data in
runs_data, sorting and filtering in runs_arrange)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QPushButton,
                               QStackedWidget, QVBoxLayout, QWidget)

from ....core import datasets, run_listing
from ....core.errors import PermissionDenied
from ... import context_menu, palette
from ...format import short_time
from ...tablemodels import ALIGN_LEFT, ALIGN_RIGHT, Column
from .common import bold, fmt_duration, fmt_metric, note
from .runs_arrange import Arrangement, arrange
from .runs_data import Change, RunsData, build
from .runs_model import INDENT, RunsTableModel, RunsView
from .runs_sweeps import group_sweeps

__all__ = ["CV_METRICS", "KEY_METRICS", "RunsTable", "RunsTableModel", "RunsUpdate",
           "RunsView", "read_runs", "runs_columns"]

# Holdout metrics shown as table columns (when some run has them); CV means of the primary ones.
KEY_METRICS = ("roc_auc", "accuracy", "f1", "r2", "rmse", "mae")
CV_METRICS = ("roc_auc", "r2")
SELECT_ROW = (QItemSelectionModel.SelectionFlag.ClearAndSelect
              | QItemSelectionModel.SelectionFlag.Rows)


def runs_columns(metric_keys: set[str] = frozenset()) -> list[Column]:
    """The table's columns; a metric's when some run has it (RunsData.metric_keys)."""
    cols = [Column("id", "Run", align=ALIGN_RIGHT), Column("status", "Status"),
            Column("dataset", "Dataset"), Column("algorithm", "Algorithm"),
            Column("target", "Target")]
    for name in KEY_METRICS:
        if f"m.{name}" in metric_keys:
            cols.append(Column(f"m.{name}", name, fmt=fmt_metric, align=ALIGN_RIGHT,
                               tooltip=f"{name} on the holdout rows"))
    for name in CV_METRICS:
        if f"cv.{name}" in metric_keys:
            cols.append(Column(f"cv.{name}", f"CV {name}", fmt=fmt_metric, align=ALIGN_RIGHT,
                               tooltip=f"{name}: mean over the cross-validation folds"))
    return cols + [Column("duration_s", "Duration", fmt=fmt_duration, align=ALIGN_RIGHT),
                   Column("who", "Who"), Column("when", "When", fmt=short_time, align=ALIGN_LEFT)]


@dataclass
class RunsUpdate:
    """A reload's result: the dataset versions (for the form), why this user may not sweep
    (or None), the runs data built on `base` and what changed, its arrangement (None:
    nothing changed, the one shown stands) and the run to show when none is (the latest
    finished, else the latest)."""
    datasets: list[dict[str, Any]]
    sweep_refusal: str | None
    base: RunsData
    data: RunsData
    change: Change
    arrangement: Arrangement | None
    latest: int | None
    train_refusal: str | None = None     # why this user may not train (None: may)
    register_refusal: str | None = None  # ... register a run as a model version


def read_runs(store, base: RunsData, settings: tuple) -> RunsUpdate:
    """Worker side of a reload: read only the runs `base` lacks or holds as running
    (core.run_listing.changed_runs), patch them in, regroup the sweeps they touch, and
    arrange the result by `settings` (sort key, descending, filter text)."""
    rows = datasets.list_datasets(store)
    names = {d["id"]: f"{d['name']}:{d['version']}" for d in rows}
    columns, changed = run_listing.changed_runs(store, base.last_id, base.row_of,
                                                base.running)
    data, change = build(columns, changed, names, base)
    while changed:  # freed a slice at a time: 100,000 rows at once hold the GIL for ~50 ms
        del changed[-5000:]
    if data.sweep_id.any():
        from ....core import sweeps  # with the training stack, as the sweep job needs it
        from ....core.metric_names import primary_metric
        data = group_sweeps(data, sweeps.list_sweeps(store), change, sweeps.best_run,
                            primary_metric)
    refusal, train_refusal, register_refusal = (
        _refusal(store, action) for action in ("sweeps", "training", "registering a model"))
    return RunsUpdate(rows, refusal, base, data, change,
                      None if data is base else arrange(data, *settings), data.latest(),
                      train_refusal, register_refusal)


def _refusal(store, action: str) -> str | None:
    """The core's refusal of `action` for this user (the analyst's actions), or None."""
    try:
        store.require_role(action, "analyst")
    except PermissionDenied as exc:
        return str(exc)
    return None


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
        self.open_sweeps: set[int] = self.runs_model.opened  # kept over reloads
        self._seen_sweeps: set[int] = set()
        self._sized: list[str] | None = None  # the columns last sized
        view = self.runs_view = RunsView()
        view.setModel(self.runs_model)
        view.header().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        view.setSortingEnabled(True)
        # After the two above, which sort by the indicator: the first load arranges.
        self.runs_model.sort_requested.connect(self.arrange_runs)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setAlternatingRowColors(True)
        view.header().setStretchLastSection(True)
        view.header().setHighlightSections(False)
        view.setWordWrap(False)
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # 'quarterly_c…_name:1' keeps ':1'
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

    # -- reloads, sorting and filtering: computed in workers, swapped in here -------------------
    def arrange_settings(self) -> tuple:
        model = self.runs_model
        return (model.sort_key, model.sort_order == Qt.SortOrder.DescendingOrder,
                self.filter_edit.text())

    def arrange_runs(self) -> None:
        """Sort and filter the runs shown by the header's column and the filter box, in a
        worker (the newest request wins); runs_arranged once shown."""
        data, settings = self.runs_model.runs, self.arrange_settings()
        self.start("arrange", lambda progress, cancelled: arrange(data, *settings),
                   self._on_arranged)

    def _on_arranged(self, arrangement: Arrangement) -> None:
        model = self.runs_model
        if arrangement.data is not model.runs:  # a reload landed meanwhile
            self.arrange_runs()
            return
        shown = model.arrangement
        if shown is None or shown.data is not arrangement.data or \
                shown.settings() != arrangement.settings():
            model.show(arrangement)
        self._after_arrangement(arrangement)

    def _after_arrangement(self, arrangement: Arrangement) -> None:
        filtered = bool(arrangement.text.strip())
        self.show_count(arrangement.shown, arrangement.data.n, filtered, arrangement.unknown)
        header = self.runs_view.header()
        keys = [c.key for c in self.runs_model.columns]
        key = self.runs_model.sort_key
        header.blockSignals(True)
        header.setSortIndicator(keys.index(key) if key in keys else -1,
                                self.runs_model.sort_order)
        header.blockSignals(False)
        if arrangement.settings() != self.arrange_settings():
            self.arrange_runs()  # the sort or filter changed while this one was computed
        elif not self.is_busy("arrange"):
            self.runs_arranged.emit()

    def _show_update(self, update: RunsUpdate) -> None:
        model = self.runs_model
        asked = self._select_after_load
        current = asked or self._shown_run
        self._select_after_load = None
        data = update.data
        if update.arrangement is None and update.base is not model.runs:
            data = model.runs  # nothing new, read before what is shown: that stands
        for sid, head in data.heads.items():  # a running sweep opens when first seen
            if sid not in self._seen_sweeps and head["status"] == "running":
                self.open_sweeps.add(sid)
        self._seen_sweeps.update(data.heads)
        if update.arrangement is not None:
            columns = runs_columns(data.metric_keys())
            if [c.key for c in columns] != [c.key for c in model.columns]:
                model.set_columns(columns)
            # Built on what is shown (unless the job queue's listing landed first): signal
            # the rows that changed; else swap them all.
            same_base = update.base is model.runs
            model.show(update.arrangement, update.change.codes() if same_base else None)
        for sid in list(self.open_sweeps):  # opened since (a sweep that just ended): show it
            model.set_open(sid, True)
        if [c.key for c in model.columns] != self._sized:
            self._size_columns()
        self.runs_stack.setCurrentIndex(1 if data.n else 0)
        if model.arrangement is not None:
            self._after_arrangement(model.arrangement)
        if data.n:
            # Else the latest finished run (the one with plots), else the latest run.
            latest = update.latest if data is update.data else data.latest()
            target = current if data.position(current) is not None else latest
            if target == self._shown_run and self._shown_run is not None:
                p = data.position(target)
                if p in set(update.change.changed.tolist()):  # it ended: show how
                    self._show_run(target)
            # A reload keeps the run shown where the user left it (in a sweep left closed
            # too: shown, not selected).
            self.select_run(target, reveal=target != self._shown_run or asked is not None)
        else:
            self.detail_empty.setText("No runs yet: the detail of a run shows here once one "
                                      "has trained.")
            self._show_run(None)

    def _size_columns(self) -> None:
        view, header, model = self.runs_view, self.runs_view.header(), self.runs_model
        metrics = self.fontMetrics()
        # Sized from the header and a sample of rows: sizing to the contents of 100,000 rows
        # would measure every cell on the GUI thread. (Sweep rows span the table: their text
        # does not size a column.)
        rows = [r for r in range(min(24, model.rowCount())) if model.code(r) >= 0]
        self._sized = [c.key for c in model.columns]
        for c, col in enumerate(model.columns):
            texts = [col.title] + [model.index(r, c).data() or "" for r in rows]
            width = max(metrics.horizontalAdvance(t) for t in texts) + 24
            if c == 0 and model.has_sweeps():  # room for the branch arrows
                width += 2 * INDENT
            header.resizeSection(c, min(max(width, 48), 220))
        view.setColumnHidden(0, False)

    # -- selection --------------------------------------------------------------------------------
    def select_run(self, run_id: int, reveal: bool = True) -> bool:
        """Select run `run_id` and show it; `reveal` opens its sweep's row if it is closed."""
        model = self.runs_model
        if model.runs.position(run_id) is None:
            return False
        sweep = model.closed_sweep_of(run_id)
        if sweep is not None and reveal:
            self.open_sweep(sweep)
        index = model.index_of(run_id)
        if not index.isValid():  # filtered out, or in a sweep left closed
            if self._shown_run != run_id:
                self._show_run(run_id)
            return True
        view = self.runs_view
        view.selectionModel().setCurrentIndex(index, SELECT_ROW)
        view.scrollTo(index)
        if self._shown_run != run_id:
            self._show_run(run_id)
        return True

    def run_record(self, run_id: int) -> dict[str, Any] | None:
        return self.runs_model.record_of(run_id)

    def run_at(self, index: QModelIndex) -> dict[str, Any] | None:
        """The run at a view index (None on a sweep row)."""
        return self.runs_model.run_at(index)

    def selected_run_ids(self) -> list[int]:
        """The selected runs (a selected sweep row is not a run)."""
        model = self.runs_model
        ids = (model.run_id_at(i.row()) for i in self.runs_view.selectionModel().selectedRows())
        return [rid for rid in ids if rid is not None]

    def _on_current_run(self, current: QModelIndex, _previous=None) -> None:
        if not current.isValid():
            return
        model = self.runs_model
        run_id = model.run_id_at(current.row())
        if run_id is not None:
            self._show_run(run_id)
            return
        head = model.sweep(model.sweep_at(current.row())) or {}
        if head.get("best_run_id") is not None:  # a sweep row shows its best run
            self._show_run(head["best_run_id"])

    def open_sweep(self, sweep_id: int) -> None:
        """Show the runs of sweep `sweep_id` (now and after reloads)."""
        self.runs_model.set_open(sweep_id, True)

    def _on_selection(self, *_args) -> None:
        # Counted by ranges, not rows: Ctrl+A on 100,000 runs is one range.
        selection, model = self.runs_view.selectionModel(), self.runs_model
        rows = sum(r.bottom() - r.top() + 1 for r in selection.selection())
        heads = sum(selection.isRowSelected(row) for row in model.lookup().head_row.values())
        self.compare_button.setEnabled(rows - heads >= 2)

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
