"""The Experiments pane: a training form, a queue of runs in workers, the runs table, run detail
and the comparison of several runs.

Everything goes through core (datasets, catalogue, training, registry). Training, reproducing,
registering and loading the runs list run in workers (gui.workers); queued runs train one after
another, so a queue never oversubscribes the cores that scikit-learn and the GUI share.
"""

from __future__ import annotations

import importlib
import json
import operator
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence

import shiboken6
from PySide6.QtCore import (QEvent, QItemSelectionModel, QModelIndex, QSortFilterProxyModel, Qt,
                            QThreadPool, QTimer, Signal)
from PySide6.QtGui import QBrush, QColor, QFont, QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDoubleSpinBox,
                               QFormLayout, QFrame, QGridLayout, QGroupBox, QHBoxLayout,
                               QHeaderView,
                               QInputDialog, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QMessageBox, QPlainTextEdit, QProgressBar, QPushButton,
                               QScrollArea, QSizePolicy, QSpinBox, QSplitter, QStackedWidget,
                               QTableView, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from ...core import catalogue, datasets, evaluation, training
from ...core.errors import LabliftError
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from ..charts import ChartCanvas
from ..experiment_charts import nothing, panel_margins, place_axes, plot_compare, run_panels
from ..hyperform import HyperparameterForm
from ..tablemodels import (ALIGN_LEFT, ALIGN_RIGHT, Column, RecordsTableModel, _is_missing,
                           _sort_key)
from ..widgets import EmptyState, empty_or_main, side_by_side
from ..workers import Task, run_task, while_alive
from .datasets import short_time

try:
    from ...core import registry as core_registry
except ImportError:  # the registry is optional for this pane
    core_registry = None

ID_ROLE = Qt.ItemDataRole.UserRole
# Holdout metrics shown as table columns (when some run has them); CV means of the primary ones.
KEY_METRICS = ("roc_auc", "accuracy", "f1", "r2", "rmse", "mae")
CV_METRICS = ("roc_auc", "r2")
FILTER_HELP = ("Filter: any text, or field expressions such as roc_auc>0.8  algorithm=random_forest"
               "  cv.r2>=0.5  max_depth=none  (space = and)")
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
SELECT_ROW = (QItemSelectionModel.SelectionFlag.ClearAndSelect
              | QItemSelectionModel.SelectionFlag.Rows)
BEST_BRUSH = QBrush(QColor("#d7f0dc"))
MONO = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


# -- runs as flat records, and the filter language ---------------------------------------------

def _fmt_metric(value: Any) -> str:
    return "—" if _is_missing(value) else f"{value:.4f}"


def _fmt_duration(value: Any) -> str:
    if _is_missing(value):
        return "—"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def flatten_run(run: dict[str, Any], dataset_names: dict[int, str]) -> dict[str, Any]:
    """One runs-table record: display columns plus `fields` (every param and metric) for filters."""
    metrics = run.get("metrics") or {}
    holdout, cv = metrics.get("holdout") or {}, metrics.get("cv") or {}
    rec = {"id": run["id"], "status": run["status"],
           "dataset": dataset_names.get(run["dataset_id"], f"#{run['dataset_id']}"),
           "algorithm": run.get("algorithm"), "target": run.get("target"),
           "task": run.get("task"), "seed": run.get("seed"), "who": run.get("created_by"),
           "when": run.get("created_at"), "duration_s": run.get("duration_s"),
           "sweep_id": run.get("sweep_id")}
    fields: dict[str, Any] = {k: v for k, v in rec.items()}
    fields["created_by"] = rec["who"]
    fields["duration"] = rec["duration_s"]
    for name, value in (run.get("params") or {}).items():
        fields[name.lower()] = value
    for name, value in holdout.items():
        rec[f"m.{name}"] = value
        fields[name.lower()] = value
        fields[f"holdout.{name}".lower()] = value
    for name, summary in cv.items():
        mean = (summary or {}).get("mean")
        rec[f"cv.{name}"] = mean
        fields[f"cv.{name}".lower()] = mean
        fields[f"cv_{name}".lower()] = mean
    rec["fields"] = fields
    rec["text"] = " ".join(f"{k}={_text(v)}" for k, v in fields.items()).lower()
    return rec


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "==": operator.eq,
    "=": operator.eq, ">": operator.gt, "<": operator.lt}
_TERM = re.compile(r"^([A-Za-z_][\w.]*)(>=|<=|!=|==|=|>|<)(.*)$")
_SPACES_AROUND_OP = re.compile(r"\s*(>=|<=|!=|==|=|>|<)\s*")


@dataclass
class Term:
    field: str | None  # None: free text matched against every column
    op: str
    value: str

    def matches(self, rec: dict[str, Any]) -> bool:
        if self.field is None:
            return self.value in rec["text"]
        fields = rec["fields"]
        if self.field not in fields:
            return False
        have = fields[self.field]
        want = self.value
        if want in ("none", "null", ""):
            return (have is None) == (self.op in ("=", "=="))
        if have is None:
            return False
        if isinstance(have, (int, float)) and not isinstance(have, bool):
            try:
                number = float(want)
            except ValueError:
                return False
            return _OPS[self.op](float(have), number)
        if self.op in ("=", "=="):
            return _text(have).lower() == want
        if self.op == "!=":
            return _text(have).lower() != want
        return _OPS[self.op](_text(have).lower(), want)


def parse_filter(text: str) -> list[Term]:
    """'roc_auc > 0.8 forest' -> [Term('roc_auc','>','0.8'), Term(None,'','forest')]."""
    text = _SPACES_AROUND_OP.sub(r"\1", text.strip().lower())
    terms = []
    for token in text.split():
        m = _TERM.match(token)
        if m:
            terms.append(Term(m.group(1), m.group(2), m.group(3).strip("'\"")))
        else:
            terms.append(Term(None, "", token))
    return terms


def known_fields(records: Sequence[dict[str, Any]]) -> set[str]:
    known: set[str] = set()
    for rec in records:
        known.update(rec["fields"])
    return known


def filter_records(records: Sequence[dict[str, Any]], text: str,
                   known: set[str] | None = None) -> tuple[set[int] | None, list[str]]:
    """Ids of the records matching `text` (None = no filter) and the unknown field names."""
    terms = parse_filter(text)
    if not terms:
        return None, []
    if known is None:
        known = known_fields(records)
    unknown = sorted({t.field for t in terms if t.field is not None and t.field not in known})
    ids = {rec["id"] for rec in records if all(t.matches(rec) for t in terms)}
    return ids, unknown


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
            cols.append(Column(f"m.{name}", name, fmt=_fmt_metric, align=ALIGN_RIGHT,
                               tooltip=f"{name} on the holdout rows"))
    for name in CV_METRICS:
        if f"cv.{name}" in present:
            cols.append(Column(f"cv.{name}", f"CV {name}", fmt=_fmt_metric, align=ALIGN_RIGHT,
                               tooltip=f"{name}: mean over the cross-validation folds"))
    return cols


def runs_columns(records: Sequence[dict] = ()) -> list[Column]:
    return ([Column("id", "Run", align=ALIGN_RIGHT), Column("status", "Status"),
             Column("dataset", "Dataset"), Column("algorithm", "Algorithm"),
             Column("target", "Target")]
            + _metric_columns(records)
            + [Column("duration_s", "Duration", fmt=_fmt_duration, align=ALIGN_RIGHT),
               Column("who", "Who"), Column("when", "When", fmt=short_time, align=ALIGN_LEFT)])


def load_run_records(store) -> list[dict[str, Any]]:
    """Worker side of the runs table: one query for runs, one for dataset names."""
    names = {d["id"]: f"{d['name']}:{d['version']}" for d in datasets.list_datasets(store)}
    return [flatten_run(r, names) for r in training.list_runs(store)]


# Imported in a worker when the pane opens. The first import of scikit-learn, SciPy and
# Parquet holds the GIL for up to a few hundred ms at a time (loading shared libraries, module
# init); if the first training run did it, the GUI thread would stall that long mid-run.
WARM_MODULES = ("sklearn.base", "sklearn.model_selection", "sklearn.metrics", "sklearn.pipeline",
                "sklearn.compose", "sklearn.impute", "sklearn.preprocessing",
                "sklearn.calibration", "scipy.stats", "pyarrow.parquet")
_warmed = False


def warm_up_imports(progress=None, cancelled=None) -> list[str]:
    global _warmed
    names = list(WARM_MODULES) + sorted({path.rpartition(".")[0]
                                         for algo in catalogue.ALGORITHMS.values()
                                         for path in algo.estimators.values()})
    for name in names:
        if cancelled is not None and cancelled():
            return []
        importlib.import_module(name)
    # A tiny run through core's compute (no store) also triggers the lazy imports and caches
    # that only the first fit, CV split, metric or Parquet write would otherwise hit.
    try:
        _tiny_compute()
    except Exception:  # a warm-up must never matter
        pass
    _warmed = True
    return names


def _tiny_compute() -> None:
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(0)
    n = 60
    X = pd.DataFrame({"a": rng.normal(size=n), "c": np.array(["x", "y", "z"])[np.arange(n) % 3]})
    y = pd.Series(np.arange(n) % 2)
    profile = {"rows": n, "columns": [{"name": "a", "kind": "numeric", "dtype": "double"},
                                      {"name": "c", "kind": "categorical", "dtype": "string"}]}
    spec = {"dataset_id": 0, "target": "t", "features": ["a", "c"], "algorithm": "decision_tree",
            "params": {}, "task": "classification", "test_size": 0.25, "cv": 2, "seed": 0,
            "sensitive": None, "classes": [0, 1]}
    rows = np.arange(n)
    training.compute(training.Prepared(spec=spec, dataset={}, profile=profile, X=X, y=y,
                                       train_rows=rows[:45], test_rows=rows[45:]))


def lower_thread_priority(niceness: int = 10) -> None:
    """Make the calling thread nicer to the GUI thread (Linux: per-thread nice value).

    Under CPU contention the OS then schedules the GUI thread first whenever both are
    runnable, which shortens event-loop stalls while a run trains. Elsewhere: no-op.
    """
    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid),
                                                      niceness))
        except OSError:
            pass


# -- queue of jobs -----------------------------------------------------------------------------

@dataclass
class Job:
    kind: str  # train | reproduce
    label: str
    spec: dict[str, Any] | None = None
    run_id: int | None = None
    state: str = "queued"  # running, finished, failed, cancelled
    fraction: float = 0.0
    task: Task | None = None
    item: QListWidgetItem | None = None
    result: Any = None
    error: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """Short name for progress lines: the algorithm, or what is reproduced."""
        if self.kind == "train" and self.spec:
            return self.spec["algorithm"]
        return f"reproduce #{self.run_id}" if self.run_id is not None else self.label


STATE_COLORS = {"queued": "#666666", "running": "#1d4f91", "finished": "#1e7b34",
                "failed": "#b00020", "cancelled": "#8a6d00"}


# -- the pane ----------------------------------------------------------------------------------

def _bold(widget: QWidget, scale: float = 1.0) -> None:
    font = QFont(widget.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * scale)
    widget.setFont(font)


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet("color: #666; font-size: 11pt;")
    return label


class PanelCanvas(FigureCanvasQTAgg):
    """One run-detail panel: a Figure with a single Axes placed by pixel margins.

    No layout engine: the margins are measured once per plot (font metrics of the labels)
    and re-applied on resize, instead of constrained_layout's tight-bbox pass on every draw.
    """

    def __init__(self, width: float = 3.0, height: float = 2.3, dpi: int = 100):
        self.figure = Figure(figsize=(width, height), dpi=dpi)
        super().__init__(self.figure)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 90)
        self.margins: tuple[float, float, float, float] | None = None
        self.held = False  # RunPanels renders it at its turn: no draw from resizes meanwhile

    def draw_idle(self) -> None:
        if not self.held:
            super().draw_idle()

    def fill(self, draw: Callable[[Any], bool]) -> None:
        """New artists on a fresh Axes; rendering is left to a later draw_idle()."""
        for old in list(self.figure.axes):
            self.figure.delaxes(old)  # not figure.clear(): it first clears each Axes, for nothing
        ax = self.figure.add_subplot()
        draw(ax)
        self.margins = panel_margins(ax)
        place_axes(ax, self.margins)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)  # sets the figure size, then draw_idle
        if self.margins is not None and self.figure.axes:
            place_axes(self.figure.axes[0], self.margins)


class _PanelAxes:
    """`panels.figure.axes`: the four panels' Axes in reading order, like one 2×2 figure."""

    def __init__(self, panels: "RunPanels"):
        self._panels = panels

    @property
    def axes(self) -> list:
        return [a for c in self._panels.canvases for a in c.figure.axes]


class RunPanels(QStackedWidget):
    """The run-detail plots as four canvases in a 2×2 grid, drawn one per event-loop turn.

    One Figure of four panels renders in one go on the GUI thread (~250 ms with its layout);
    here each turn does one step: fill a panel's Axes, or render it (draw_idle), and the next
    panel starts only once the previous one has rendered. The longest stall is one step.
    """

    done = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #777777")
        self.addWidget(self.message)
        grid_page = QWidget()
        grid = QGridLayout(grid_page)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(0)
        self.canvases = [PanelCanvas() for _ in range(4)]
        for i, canvas in enumerate(self.canvases):
            grid.addWidget(canvas, i // 2, i % 2)
            canvas.mpl_connect("draw_event", lambda _e, c=canvas: self._on_drawn(c))
        self.addWidget(grid_page)
        self.setCurrentIndex(1)
        self.figure = _PanelAxes(self)
        self._pending: list[tuple[PanelCanvas, Callable]] = []
        self._filled: PanelCanvas | None = None  # filled, its render not yet asked for
        self._waiting: PanelCanvas | None = None  # render asked for, not yet done
        self._flush = False
        self._step = QTimer(self)
        self._step.setSingleShot(True)
        self._step.setInterval(0)
        self._step.timeout.connect(self._next)
        # If a panel never reports its render (an exception in draw), move on anyway.
        self._watchdog = QTimer(self)
        self._watchdog.setSingleShot(True)
        self._watchdog.setInterval(1000)
        self._watchdog.timeout.connect(self._next)
        self.setMinimumSize(240, 180)

    def is_busy(self) -> bool:
        if not shiboken6.isValid(self):  # deleted with its window: nothing will draw any more
            return False
        return bool(self._pending) or self._filled is not None or self._waiting is not None

    def show_panels(self, draws: Sequence[Callable[[Any], bool]]) -> None:
        """Replace the panels: one draw function per panel, run in order, one per turn."""
        self.setCurrentIndex(1)
        self._pending = list(zip(self.canvases, draws))
        self._filled = self._waiting = None
        for canvas, _draw in self._pending:
            canvas.held = True
        # One empty turn first: a render already queued (the canvases' first show, or the
        # previous run's last panel) happens there rather than in the turn of the first fill.
        self._flush = True
        self._watchdog.stop()
        self._step.start()

    def show_message(self, text: str) -> None:
        for canvas in self.canvases:
            canvas.held = False
        self._pending, self._filled, self._waiting = [], None, None
        self._flush = False
        self._step.stop()
        self._watchdog.stop()
        self.message.setText(text)
        self.setCurrentIndex(0)
        self.done.emit()

    def _next(self) -> None:
        # The render is asked for from its own timer turn: draw_idle() posts it, and Qt would
        # run it right after the fill, before any other timer (one long stall, not two short).
        self._watchdog.stop()
        self._waiting = None
        if self._flush:
            self._flush = False
            self._step.start()
            return
        if self._filled is not None:
            self._waiting, self._filled = self._filled, None
            self._watchdog.start()
            self._waiting.held = False
            self._waiting.draw_idle()
            return
        if not self._pending:
            self.done.emit()
            return
        canvas, draw = self._pending.pop(0)
        try:
            canvas.fill(draw)
        except Exception as exc:  # odd plot data: say so in that panel, draw the others
            note = f"This plot cannot be drawn: {exc}"
            canvas.fill(lambda ax: nothing(ax, note))
        self._filled = canvas
        self._step.start()

    def _on_drawn(self, canvas: PanelCanvas) -> None:
        if canvas is self._waiting:
            self._waiting = None
            self._watchdog.stop()
            self._step.start()  # the next panel in the next turn


class Pane(QWidget):
    title = "Experiments"
    message = Signal(str)
    runs_loaded = Signal()

    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.store = store
        self.jobs: list[Job] = []
        self.load_task: Task | None = None
        self.side_task: Task | None = None  # register
        self.plots_task: Task | None = None  # the shown run's plots artifact
        self._reload_again = False
        self._select_after_load: int | None = None
        self._dataset_ids: list[int] = []
        self._dataset: dict[str, Any] | None = None
        self._checked: dict[str, bool] = {}
        self._shown_run: int | None = None
        self._loaded_pending = False
        self._known: set[str] | None = None
        self._stopping = False
        self._watched_window: QWidget | None = None
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)
        self._filter_timer.timeout.connect(self.apply_filter)
        # One thread of its own: queued jobs run one after another, at a lower OS priority,
        # and never hold up the global pool's short loads.
        self.train_pool = QThreadPool(self)
        self.train_pool.setMaxThreadCount(1)
        self._build()
        self.warm_task: Task | None = None if _warmed else run_task(warm_up_imports)
        self.refresh()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.no_datasets = EmptyState(
            "No datasets to train on",
            "Import a data file in the Datasets pane first (or open the bundled sample "
            "there);\nits versions then appear here to train models on.",
            [("go_button", "Go to Datasets")], wrap=False)
        self.no_datasets.go_button.clicked.connect(self._go_to_datasets)
        left = self._build_form()
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self._build_runs())
        right.addWidget(self._build_bottom())
        right.setSizes([230, 520])
        right.setChildrenCollapsible(False)
        self.right_split = right
        self.splitter = side_by_side(left, right, [322, 798])
        self.pages = empty_or_main(self, self.no_datasets, self.splitter)

    def _build_form(self) -> QWidget:
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(10, 10, 10, 6)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        body_layout.addLayout(form)
        body_layout.addStretch(1)  # spare height below the form, not between its rows
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(4)
        heading = QLabel("Train a model")
        _bold(heading, 1.2)
        form.addRow(heading)
        self.dataset_combo = QComboBox()
        self.dataset_combo.setToolTip("Dataset version (NAME:VERSION) to train on")
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset)
        form.addRow("Dataset", self.dataset_combo)
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("The column the model predicts")
        self.target_combo.currentIndexChanged.connect(self._on_target)
        form.addRow("Target", self.target_combo)
        self.task_combo = QComboBox()
        self.task_combo.addItem("auto", None)
        self.task_combo.addItem("classification", "classification")
        self.task_combo.addItem("regression", "regression")
        self.task_combo.setToolTip("Inferred from the target; choose one to override")
        self.task_combo.currentIndexChanged.connect(self._on_task)
        form.addRow("Task", self.task_combo)

        features_box = QWidget()
        fl = QVBoxLayout(features_box)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.setSpacing(2)
        self.features_list = QListWidget()
        self.features_list.setToolTip("Columns the model uses. Datetime, text and id-like "
                                      "columns are off by default.")
        self.features_list.setMinimumHeight(120)
        self.features_list.setMaximumHeight(140)
        self.features_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.features_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.features_list.itemChanged.connect(self._on_feature_toggled)
        fl.addWidget(self.features_list)
        fbuttons = QHBoxLayout()
        self.features_count = QLabel()
        self.features_count.setStyleSheet("color: #666;")
        all_button = QPushButton("All")
        none_button = QPushButton("None")
        for b in (all_button, none_button):
            b.setFlat(True)
            b.setStyleSheet("QPushButton { color: #1d4f91; padding: 0 6px; }")
        all_button.clicked.connect(lambda: self._check_all(True))
        none_button.clicked.connect(lambda: self._check_all(False))
        fbuttons.addWidget(self.features_count, 1)
        fbuttons.addWidget(all_button)
        fbuttons.addWidget(none_button)
        fl.addLayout(fbuttons)
        form.addRow("Features", features_box)

        self.sensitive_combo = QComboBox()
        self.sensitive_combo.setToolTip("Optional column for the fairness report (e.g. gender)")
        form.addRow("Sensitive", self.sensitive_combo)
        self.algorithm_combo = QComboBox()
        self.algorithm_combo.currentIndexChanged.connect(self._on_algorithm)
        form.addRow("Algorithm", self.algorithm_combo)
        self.hyper_box = QGroupBox("Hyperparameters")
        hl = QVBoxLayout(self.hyper_box)
        hl.setContentsMargins(8, 6, 8, 6)
        self.hyperform = HyperparameterForm()
        hl.addWidget(self.hyperform)
        form.addRow(self.hyper_box)

        split = QHBoxLayout()
        self.test_size = QDoubleSpinBox()
        self.test_size.setRange(0.05, 0.9)
        self.test_size.setSingleStep(0.05)
        self.test_size.setDecimals(2)
        self.test_size.setValue(0.2)
        self.test_size.setToolTip("Fraction of rows held out for the final evaluation "
                                  "(stratified for classification)")
        self.cv_folds = QSpinBox()
        self.cv_folds.setRange(1, 20)
        self.cv_folds.setSpecialValueText("off")
        self.cv_folds.setValue(5)
        self.cv_folds.setToolTip("k-fold cross-validation on the training rows (off: holdout only)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 999999)
        self.seed.setToolTip("Random seed of the split, the folds and the estimator")
        for label, w in (("Test", self.test_size), ("CV", self.cv_folds),
                         ("Seed", self.seed)):
            lab = QLabel(label)
            lab.setToolTip(w.toolTip())
            split.addWidget(lab)
            split.addWidget(w, 1)
        form.addRow(split)  # spans both columns: three spin boxes need the width

        for combo in (self.dataset_combo, self.target_combo, self.task_combo,
                      self.sensitive_combo, self.algorithm_combo):
            # Long names must not widen the form past its column (they elide instead).
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)

        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Train stays visible under the scrolling form, whatever its length.
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.setMinimumHeight(32)
        self.train_button.setToolTip("Queue a run with these settings; runs train one after "
                                     "another in the background")
        self.train_button.clicked.connect(self.train)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 4)
        tl.setSpacing(4)
        tl.addWidget(scroll, 1)
        train_row = QHBoxLayout()
        train_row.setContentsMargins(10, 0, 10, 0)
        train_row.addWidget(self.train_button)
        tl.addLayout(train_row)

        # Activity: progress of the running job, Cancel, the queue and a live log.
        activity = QWidget()
        al = QVBoxLayout(activity)
        al.setContentsMargins(10, 4, 10, 8)
        al.setSpacing(4)
        self.activity_label = QLabel("Idle")
        self.activity_label.setStyleSheet("color: #444;")
        # Ignored: a long progress message must not widen the column (it is cut instead).
        self.activity_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                          QSizePolicy.Policy.Preferred)
        al.addWidget(self.activity_label)
        row = QHBoxLayout()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the running job (it is recorded as cancelled); "
                                      "queued jobs stay queued")
        self.cancel_button.clicked.connect(self.cancel_running)
        self.clear_queue_button = QPushButton("Clear queue")
        self.clear_queue_button.setToolTip("Drop the jobs that have not started")
        self.clear_queue_button.setEnabled(False)
        self.clear_queue_button.clicked.connect(self.clear_queue)
        row.addWidget(self.progress_bar, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.clear_queue_button)
        al.addLayout(row)
        self.activity_tabs = QTabWidget()
        self.activity_tabs.setDocumentMode(True)
        self.queue_list = QListWidget()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(MONO)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("Progress of training runs appears here.")
        self.activity_tabs.addTab(self.log, "Log")
        self.activity_tabs.addTab(self.queue_list, "Queue")
        al.addWidget(self.activity_tabs, 1)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(top)
        left.addWidget(activity)
        left.setSizes([625, 105])
        left.setChildrenCollapsible(False)
        left.setMinimumWidth(300)
        self.left_split = left
        return left

    def _build_runs(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(6, 10, 10, 4)
        layout.setSpacing(4)
        head = QHBoxLayout()
        heading = QLabel("Runs")
        _bold(heading, 1.2)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(FILTER_HELP)
        self.filter_edit.setToolTip(
            "Free text matches any column, param or metric.\n"
            "FIELD OP VALUE with OP one of = != > >= < <= compares one field:\n"
            "  metrics (holdout): roc_auc accuracy f1 r2 rmse ...; CV means: cv.roc_auc\n"
            "  params: n_estimators max_depth C ...; columns: status algorithm dataset "
            "target who id\n"
            "Terms separated by spaces must all match.")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        self.count_label = QLabel()
        self.count_label.setStyleSheet("color: #666;")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Select two or more runs (Ctrl/Shift+click) to compare")
        self.compare_button.setEnabled(False)
        self.compare_button.clicked.connect(self.compare_selected)
        head.addWidget(heading)
        head.addSpacing(8)
        head.addWidget(self.filter_edit, 1)
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
        self.no_runs = _note("Train a model to see it here.\n\nChoose a target and an "
                             "algorithm on the left and press Train.")
        self.runs_stack = QStackedWidget()
        self.runs_stack.addWidget(self.no_runs)
        self.runs_stack.addWidget(view)
        layout.addWidget(self.runs_stack, 1)
        return box

    def _build_bottom(self) -> QWidget:
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_detail(), "Run detail")
        self.tabs.addTab(self._build_compare(), "Compare")
        wrap = QWidget()
        layout = QVBoxLayout(wrap)
        layout.setContentsMargins(6, 0, 10, 8)
        layout.addWidget(self.tabs)
        return wrap

    def _build_detail(self) -> QWidget:
        self.detail_stack = QStackedWidget()
        self.detail_empty = _note("Select a run to see its metrics and plots.")
        self.detail_stack.addWidget(self.detail_empty)
        page = QWidget()
        outer = QHBoxLayout(page)
        outer.setContentsMargins(6, 6, 6, 6)
        info = QWidget()
        il = QVBoxLayout(info)
        il.setContentsMargins(0, 0, 0, 0)
        il.setSpacing(4)
        self.detail_header = QLabel()
        self.detail_header.setTextFormat(Qt.TextFormat.RichText)
        self.detail_header.setWordWrap(True)
        self.detail_header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        il.addWidget(self.detail_header)
        buttons = QHBoxLayout()
        self.reproduce_button = QPushButton("Reproduce")
        self.reproduce_button.setToolTip("Re-train from the recorded data, spec and seed and "
                                         "check the holdout predictions are identical")
        self.reproduce_button.clicked.connect(self.reproduce_selected)
        self.register_button = QPushButton("Register…")
        self.register_button.setToolTip("Register this run as a new version of a model")
        self.register_button.clicked.connect(self.register_selected)
        self.register_button.setVisible(core_registry is not None
                                        and hasattr(core_registry, "register"))
        buttons.addWidget(self.reproduce_button)
        buttons.addWidget(self.register_button)
        buttons.addStretch(1)
        il.addLayout(buttons)
        self.info_tabs = QTabWidget()
        self.info_tabs.setDocumentMode(True)
        self.metrics_table = self._table(["Metric", "Holdout", "CV mean ± std"])
        self.params_table = self._table(["Parameter", "Value"])
        self.spec_text = QPlainTextEdit()
        self.env_text = QPlainTextEdit()
        for t in (self.spec_text, self.env_text):
            t.setReadOnly(True)
            t.setFont(MONO)
            t.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.info_tabs.addTab(self.metrics_table, "Metrics")
        self.info_tabs.addTab(self.params_table, "Params")
        self.info_tabs.addTab(self.spec_text, "Spec")
        self.info_tabs.addTab(self.env_text, "Env")
        self.info_tabs.setTabToolTip(3, "Environment: Python, platform, package versions, "
                                        "artifacts")
        il.addWidget(self.info_tabs, 1)
        self.detail_canvas = RunPanels()
        self.detail_canvas.done.connect(self._maybe_loaded)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(info)
        split.addWidget(self.detail_canvas)
        split.setSizes([310, 500])
        split.setChildrenCollapsible(False)
        info.setMinimumWidth(240)
        outer.addWidget(split)
        self.detail_split = split
        self.detail_stack.addWidget(page)
        return self.detail_stack

    def _build_compare(self) -> QWidget:
        self.compare_stack = QStackedWidget()
        self.compare_stack.addWidget(_note("Select two or more runs in the table "
                                           "(Ctrl/Shift+click) and press Compare."))
        page = QWidget()
        layout = QHBoxLayout(page)
        layout.setContentsMargins(6, 6, 6, 6)
        tables = QTabWidget()
        tables.setDocumentMode(True)
        self.compare_metrics = self._table([])
        self.compare_params = self._table([])
        tables.addTab(self.compare_metrics, "Metrics")
        tables.addTab(self.compare_params, "Params that differ")
        self.compare_canvas = ChartCanvas(width=6.0, height=4.0)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(tables)
        split.addWidget(self.compare_canvas)
        split.setSizes([390, 400])
        split.setChildrenCollapsible(False)
        layout.addWidget(split)
        self.compare_stack.addWidget(page)
        return self.compare_stack

    def _table(self, headers: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.horizontalHeader().setStretchLastSection(True)
        table.setWordWrap(False)
        return table

    # -- refresh: datasets and runs -----------------------------------------------------------
    def refresh(self) -> None:
        self._refresh_datasets()
        self.reload_runs()

    def _refresh_datasets(self) -> None:
        rows = datasets.list_datasets(self.store)
        ids = [r["id"] for r in rows]
        self.pages.setCurrentIndex(1 if rows else 0)
        if ids == self._dataset_ids:
            return
        keep = self.dataset_combo.currentData()
        previous = set(self._dataset_ids)
        self._dataset_ids = ids
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        for r in rows:
            self.dataset_combo.addItem(f"{r['name']}:{r['version']}", r["id"])
        self.dataset_combo.blockSignals(False)
        if not rows:
            self._dataset = None
            return
        # The newest version is chosen at first, and again when a new one was imported since
        # (that is the one the user came to train on); otherwise the choice is kept.
        added = [r for r in rows if r["id"] not in previous]
        newest = max(added or rows, key=lambda r: (r["created_at"], r["id"]))["id"]
        chosen = keep if keep in ids and not (added and previous) else newest
        self.dataset_combo.setCurrentIndex(ids.index(chosen))
        if self._dataset is None or self._dataset["id"] != chosen:
            self._on_dataset()

    def _go_to_datasets(self) -> None:
        window = self.window()
        if hasattr(window, "select_pane"):
            window.select_pane("datasets")

    def reload_runs(self, select: int | None = None) -> None:
        """Re-read the runs list in a worker; `select` a run id once loaded."""
        if select is not None:
            self._select_after_load = select
        if self.load_task is not None and self.load_task.is_running():
            self._reload_again = True  # the running load may predate the change
            return
        store = self.store
        task = self.load_task = run_task(lambda progress, cancelled: load_run_records(store))
        task.finished.connect(self._on_runs_loaded)
        task.failed.connect(lambda msg: self.message.emit(f"Could not read the runs: {msg}"))
        task.done.connect(self._after_load)

    @while_alive
    def _after_load(self) -> None:
        if self._reload_again:
            self._reload_again = False
            self.reload_runs()

    @while_alive
    def _on_runs_loaded(self, records: list[dict]) -> None:
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
            target = current if current in ids else max(finished or ids)
            self.select_run(target)
        else:
            self.detail_empty.setText("No runs yet: the detail of a run shows here once one "
                                      "has trained.")
            self._show_run(None)
        # Once the selected run's panels are filled too (they draw over the next turns).
        self._loaded_pending = True
        self._maybe_loaded()

    def _detail_busy(self) -> bool:
        return (self.plots_task is not None and self.plots_task.is_running()) \
            or self.detail_canvas.is_busy()

    @while_alive
    def _maybe_loaded(self) -> None:
        if self._loaded_pending and not self._detail_busy():
            self._loaded_pending = False
            self.runs_loaded.emit()

    def _size_columns(self) -> None:
        view, header = self.runs_view, self.runs_view.horizontalHeader()
        metrics = self.fontMetrics()
        # Sized from the header and a sample of rows: resizeColumnsToContents on 10,000 rows
        # would measure every cell on the GUI thread.
        sample = [self.runs_model.record(i) for i in range(min(50, self.runs_model.rowCount()))]
        for c, col in enumerate(self.runs_model.columns):
            texts = [col.title] + [
                (col.fmt(r.get(col.key)) if col.fmt else _text(r.get(col.key))) for r in sample]
            width = max(metrics.horizontalAdvance(t) for t in texts) + 24
            header.resizeSection(c, min(max(width, 48), 220))
        view.setColumnHidden(0, False)

    def is_busy(self) -> bool:
        return (self.load_task is not None and self.load_task.is_running()) \
            or self._detail_busy()

    # -- filter -------------------------------------------------------------------------------
    def apply_filter(self) -> None:
        text = self.filter_edit.text()
        records = self.runs_model.records()
        if self._known is None:  # once per load, not per keystroke
            self._known = known_fields(records)
        ids, unknown = filter_records(records, text, self._known)
        self.runs_proxy.set_accepted(ids)
        shown, total = self.runs_proxy.rowCount(), len(records)
        note = f"{shown:,} of {total:,} runs" if ids is not None else f"{total:,} runs"
        if unknown:
            note += f" · unknown field {', '.join(unknown)}"
        self.count_label.setText(note)
        self.count_label.setStyleSheet("color: #b00020;" if unknown else "color: #666;")

    # -- the form -----------------------------------------------------------------------------
    def _columns(self) -> list[dict[str, Any]]:
        return (self._dataset or {}).get("profile", {}).get("columns", [])

    def _on_dataset(self, *_args) -> None:
        dataset_id = self.dataset_combo.currentData()
        if dataset_id is None:
            return
        from ...core import datasets as core_datasets
        self._dataset = core_datasets.get(self.store, dataset_id)
        columns = self._columns()
        names = [c["name"] for c in columns]
        keep = self.target_combo.currentText()
        self.target_combo.blockSignals(True)
        self.target_combo.clear()
        for c in columns:
            self.target_combo.addItem(c["name"])
            self.target_combo.setItemData(self.target_combo.count() - 1,
                                          f"{c['name']}: {c['kind']} ({c['dtype']})",
                                          Qt.ItemDataRole.ToolTipRole)
        self.target_combo.blockSignals(False)
        keep_sensitive = self.sensitive_combo.currentText()
        self.sensitive_combo.clear()
        self.sensitive_combo.addItem("(none)", None)
        for n in names:
            self.sensitive_combo.addItem(n, n)
        if keep_sensitive in names:
            self.sensitive_combo.setCurrentText(keep_sensitive)
        if names:
            # The last column is the usual place for a label.
            self.target_combo.setCurrentIndex(names.index(keep) if keep in names
                                              else len(names) - 1)
        self._on_target()

    def _on_target(self, *_args) -> None:
        target = self.target_combo.currentText()
        by_name = {c["name"]: c for c in self._columns()}
        col = by_name.get(target)
        inferred = catalogue.infer_task(col) if col else "classification"
        self.task_combo.setItemText(0, f"auto ({inferred})")
        self._inferred_task = inferred
        self.features_list.blockSignals(True)
        self.features_list.clear()
        rows = (self._dataset or {}).get("profile", {}).get("rows", 0)
        for c in self._columns():
            if c["name"] == target:
                continue
            item = QListWidgetItem(f"{c['name']}  ({c['kind']})")
            item.setData(ID_ROLE, c["name"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            default = c["kind"] not in catalogue.EXCLUDED_KINDS and c.get("missing", 0) < rows
            checked = self._checked.get(c["name"], default)
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            tip = f"{c['name']}: {c['kind']}, {c['dtype']}"
            if not default:
                tip += " (off by default: " + (
                    "all missing" if c.get("missing", 0) >= rows else f"{c['kind']} column") + ")"
                item.setForeground(QBrush(QColor("#777777")))
            item.setToolTip(tip)
            self.features_list.addItem(item)
        self.features_list.blockSignals(False)
        self._update_feature_count()
        self._on_task()

    def _on_feature_toggled(self, item: QListWidgetItem) -> None:
        self._checked[item.data(ID_ROLE)] = item.checkState() == Qt.CheckState.Checked
        self._update_feature_count()

    def _check_all(self, on: bool) -> None:
        self.features_list.blockSignals(True)
        for i in range(self.features_list.count()):
            item = self.features_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self._checked[item.data(ID_ROLE)] = on
        self.features_list.blockSignals(False)
        self._update_feature_count()

    def _update_feature_count(self) -> None:
        n = len(self.checked_features())
        self.features_count.setText(f"{n} of {self.features_list.count()} checked")

    def checked_features(self) -> list[str]:
        return [self.features_list.item(i).data(ID_ROLE) for i in range(self.features_list.count())
                if self.features_list.item(i).checkState() == Qt.CheckState.Checked]

    def set_features(self, names: Sequence[str]) -> None:
        """Check exactly `names` (used by tests and by "train again with these settings")."""
        wanted = set(names)
        self.features_list.blockSignals(True)
        for i in range(self.features_list.count()):
            item = self.features_list.item(i)
            on = item.data(ID_ROLE) in wanted
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self._checked[item.data(ID_ROLE)] = on
        self.features_list.blockSignals(False)
        self._update_feature_count()

    def task(self) -> str:
        return self.task_combo.currentData() or getattr(self, "_inferred_task", "classification")

    def _on_task(self, *_args) -> None:
        task = self.task()
        keep = self.algorithm_combo.currentData()
        self.algorithm_combo.blockSignals(True)
        self.algorithm_combo.clear()
        for algo in catalogue.algorithms(task):
            self.algorithm_combo.addItem(algo.label, algo.name)
        names = [a.name for a in catalogue.algorithms(task)]
        chosen = keep if keep in names else catalogue.DEFAULT_ALGORITHM[task]
        self.algorithm_combo.setCurrentIndex(names.index(chosen))
        self.algorithm_combo.blockSignals(False)
        self._on_algorithm()

    def _on_algorithm(self, *_args) -> None:
        name = self.algorithm_combo.currentData()
        if name is None:
            return
        algo = catalogue.get(name)
        self.algorithm_combo.setToolTip(f"{algo.label}: {algo.estimators.get(self.task(), '')}")
        if self.hyperform.algorithm != name or self.hyperform.task != self.task():
            self.hyperform.set_algorithm(name, self.task())
        self.hyper_box.setTitle(f"Hyperparameters of {algo.label.lower()}")

    def set_algorithm(self, name: str) -> None:
        index = self.algorithm_combo.findData(name)
        if index < 0:
            raise LookupError(f"algorithm {name} is not offered for {self.task()}")
        self.algorithm_combo.setCurrentIndex(index)

    def set_target(self, name: str) -> None:
        index = self.target_combo.findText(name)
        if index < 0:
            raise LookupError(f"no column {name}")
        self.target_combo.setCurrentIndex(index)

    def build_spec(self) -> tuple[dict[str, Any] | None, list[str]]:
        """The spec the form describes, or (None, errors) — checked before any work starts."""
        errors = []
        dataset_id = self.dataset_combo.currentData()
        target = self.target_combo.currentText()
        algorithm = self.algorithm_combo.currentData()
        features = self.checked_features()
        task = self.task()
        if dataset_id is None:
            errors.append("Choose a dataset version (import one in the Datasets pane).")
        if not target:
            errors.append("Choose a target column.")
        if not features:
            errors.append("Check at least one feature column.")
        else:
            by_name = {c["name"]: c for c in self._columns()}
            if all(by_name[f]["kind"] == "datetime" for f in features if f in by_name):
                errors.append("Datetime columns are not used as features: check at least one "
                              "numeric, categorical or boolean column.")
        col = {c["name"]: c for c in self._columns()}.get(target)
        if col and task == "regression" and col["kind"] != "numeric":
            errors.append(f"Regression needs a numeric target; {target} is {col['kind']}. "
                          f"Choose classification.")
        params = self.hyperform.values()
        if algorithm is None:
            errors.append(f"Choose an algorithm for {task}.")
        else:
            try:
                params = catalogue.validate_params(algorithm, task, params)
            except LabliftError as exc:
                errors.append(str(exc))
        cv = self.cv_folds.value()
        if errors:
            return None, errors
        spec = {"dataset_id": dataset_id, "target": target, "features": features,
                "algorithm": algorithm, "params": params,
                "task": self.task_combo.currentData(), "test_size": round(self.test_size.value(), 4),
                "cv": 0 if cv <= 1 else cv, "seed": self.seed.value(),
                "sensitive": self.sensitive_combo.currentData()}
        return spec, []

    # -- queue ----------------------------------------------------------------------------------
    def train(self) -> Job | None:
        """Queue a run with the form's settings (errors in a dialog, nothing queued)."""
        spec, errors = self.build_spec()
        if errors:
            QMessageBox.warning(self, "Cannot train", "Please fix these first:\n\n• "
                                + "\n• ".join(errors))
            return None
        label = (f"{self.dataset_combo.currentText()} → {spec['target']} · "
                 f"{self.algorithm_combo.currentText()}")
        return self._enqueue(Job("train", label, spec=spec))

    def _enqueue(self, job: Job) -> Job:
        job.item = QListWidgetItem()
        self.queue_list.addItem(job.item)
        self.jobs.append(job)
        self._show_job(job)
        self._log(f"Queued: {job.label}")
        if not self.running_job():
            self._start_next()
        self._update_queue_buttons()
        return job

    def running_job(self) -> Job | None:
        return next((j for j in self.jobs if j.state == "running"), None)

    def queued_jobs(self) -> list[Job]:
        return [j for j in self.jobs if j.state == "queued"]

    @while_alive
    def _start_next(self) -> None:
        queued = self.queued_jobs()
        if not queued or self.running_job() or self._stopping:
            self._update_queue_buttons()
            return
        job = queued[0]
        job.state = "running"
        store = self.store
        kind, spec, run_id = job.kind, job.spec, job.run_id

        def fn(progress, cancelled):
            lower_thread_priority()
            if kind == "train":
                return training.train(store, spec, progress, cancelled)
            return training.reproduce(store, run_id, progress, cancelled)

        task = job.task = run_task(fn, pool=self.train_pool)
        task.progress.connect(lambda f, m, j=job: self._on_job_progress(j, f, m))
        task.finished.connect(lambda result, j=job: self._on_job_finished(j, result))
        task.failed.connect(lambda msg, j=job: self._on_job_failed(j, msg))
        task.cancelled.connect(lambda j=job: self._on_job_cancelled(j))
        task.done.connect(self._start_next)
        self.progress_bar.setValue(0)
        self._set_activity(f"{job.tag}: starting")
        self._log(f"Started: {job.label}")
        self._show_job(job)
        self._update_queue_buttons()

    def _show_job(self, job: Job) -> None:
        if job.item is None:
            return
        state = job.state + (f" {job.fraction:.0%}" if job.state == "running" else "")
        job.item.setText(f"[{state}]  {job.label}")
        job.item.setForeground(QBrush(QColor(STATE_COLORS.get(job.state, "#000000"))))
        if job.error:
            job.item.setToolTip(job.error)

    def _update_queue_buttons(self) -> None:
        running = self.running_job()
        self.cancel_button.setEnabled(running is not None
                                      and not running.task.is_cancel_requested())
        self.clear_queue_button.setEnabled(bool(self.queued_jobs()))
        n = len(self.queued_jobs())
        self.activity_tabs.setTabText(1, f"Queue ({n} waiting)" if n else "Queue")
        if running is None:
            self._set_activity("Idle" if not n else f"{n} queued")

    def _set_activity(self, text: str) -> None:
        self.progress_bar.setTextVisible(self.running_job() is not None)
        self.activity_label.setText(text)
        self.activity_label.setToolTip(text)

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"{datetime.now().strftime('%H:%M:%S')}  {text}")

    @while_alive
    def _on_job_progress(self, job: Job, fraction: float, text: str) -> None:
        job.fraction = fraction
        self.progress_bar.setValue(round(fraction * 100))
        self._set_activity(f"{job.tag}: {text}")
        self._log(f"{job.tag}: {text}")
        self._show_job(job)

    def _finish(self, job: Job, state: str) -> None:
        job.state = state
        self._show_job(job)
        if job.kind == "reproduce" and job.run_id == self._shown_run:
            self.reproduce_button.setEnabled(True)
        self.progress_bar.setValue(100 if state == "finished" else 0)
        self._update_queue_buttons()

    @while_alive
    def _on_job_finished(self, job: Job, result: Any) -> None:
        job.result = result
        self._finish(job, "finished")
        if job.kind == "train":
            run = result
            name, value, source = evaluation.primary_metric(run["task"], run["metrics"])
            score = f", {name} {value:.4f} ({source})" if value is not None else ""
            text = f"Run {run['id']} finished in {run['duration_s']:.1f} s{score}"
            self._log(text)
            self.message.emit(text)
            self.reload_runs(select=run["id"])
        else:
            self._report_reproduce(result)
            self.reload_runs(select=result.get("new_run_id") or result["run_id"])

    @while_alive
    def _on_job_failed(self, job: Job, message: str) -> None:
        job.error = message
        self._finish(job, "failed")
        self._log(f"Failed: {job.label}: {message}")
        self.message.emit(f"{job.label} failed")
        self.reload_runs()
        what = "Training" if job.kind == "train" else f"Reproducing run {job.run_id}"
        QMessageBox.critical(self, f"{what} failed", f"{job.label}\n\n{message}")

    @while_alive
    def _on_job_cancelled(self, job: Job) -> None:
        self._finish(job, "cancelled")
        self._log(f"Cancelled: {job.label}")
        self.message.emit(f"{job.label} cancelled")
        self.reload_runs()

    # -- quitting: the window closes -> cancel, drop the queue, let the run record itself ---------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        window = self.window()
        if window is not self and window is not self._watched_window:
            window.installEventFilter(self)
            self._watched_window = window

    def eventFilter(self, obj, event) -> bool:
        if obj is self._watched_window and event.type() == QEvent.Type.Close:
            self.stop_all()
        return False

    def stop_all(self, wait_ms: int = 5000) -> bool:
        """Drop queued jobs, cancel the running one and wait (at most `wait_ms`) until it has
        recorded itself as cancelled. True if nothing is left running."""
        self._stopping = True
        self.clear_queue()
        self.cancel_running()
        return self.train_pool.waitForDone(wait_ms)

    def cancel_running(self) -> None:
        job = self.running_job()
        if job is not None and job.task is not None:
            job.task.cancel()
            self._log(f"Cancelling: {job.label}")
            self._set_activity(f"{job.tag}: cancelling…")
        self._update_queue_buttons()

    def clear_queue(self) -> None:
        for job in self.queued_jobs():
            job.state = "cancelled"
            job.error = "removed from the queue before it started"
            self._show_job(job)
            self._log(f"Removed from the queue: {job.label}")
        self._update_queue_buttons()

    # -- runs table selection and detail ----------------------------------------------------------
    def select_run(self, run_id: int) -> bool:
        row = self.runs_model.row_of(run_id)
        if row is None:
            return False
        index = self.runs_proxy.mapFromSource(self.runs_model.index(row, 0))
        if not index.isValid():  # filtered out
            self._show_run(run_id)
            return True
        self.runs_view.selectionModel().setCurrentIndex(
            index, SELECT_ROW)
        self.runs_view.scrollTo(index)
        if self._shown_run != run_id:
            self._show_run(run_id)
        return True

    def selected_run_ids(self) -> list[int]:
        rows = self.runs_view.selectionModel().selectedRows()
        return [self.runs_model.record(self.runs_proxy.mapToSource(i).row())["id"] for i in rows]

    def _on_current_run(self, current: QModelIndex, _previous=None) -> None:
        if current.isValid():
            record = self.runs_model.record(self.runs_proxy.mapToSource(current).row())
            self._show_run(record["id"])

    def _on_selection(self, *_args) -> None:
        self.compare_button.setEnabled(len(self.selected_run_ids()) >= 2)

    def _show_run(self, run_id: int | None) -> None:
        self._shown_run = run_id
        if run_id is None:
            self._shown_key = None
            self.detail_stack.setCurrentIndex(0)
            return
        try:
            run = training.get_run(self.store, run_id)
        except LabliftError as exc:
            self.detail_empty.setText(str(exc))
            self.detail_stack.setCurrentIndex(0)
            return
        self.detail_stack.setCurrentIndex(1)
        # Matplotlib draws on the GUI thread (one panel per turn, see RunPanels): a reload of the
        # runs table that leaves the same run selected must not redraw it.
        key = (run["id"], run["status"], run.get("predictions_sha256"))
        if key == getattr(self, "_shown_key", None):
            return
        self._shown_key = key
        self.shown_run = run
        name = next((r["dataset"] for r in self.runs_model.records() if r["id"] == run_id),
                    f"#{run['dataset_id']}")
        status_color = STATE_COLORS.get(run["status"], "#333")
        duration = _fmt_duration(run.get("duration_s"))
        extra = ""
        if run.get("reproduces"):
            extra += f" · reproduces run {run['reproduces']}"
        if run.get("sweep_id"):
            extra += f" · sweep {run['sweep_id']}"
        self.detail_header.setText(
            f"<span style='font-size:12pt'><b>Run {run['id']}</b> · {run['algorithm']}</span> "
            f"<span style='color:{status_color}'><b>{run['status']}</b></span><br>"
            f"<span style='color:#555'>{name} → {run['target']} ({run['task']}), seed "
            f"{run['seed']}</span><br><span style='color:#777'>{short_time(run['created_at'])} by "
            f"{run['created_by']} · {duration}{extra}</span>"
            + (f"<br><span style='color:#b00020'>{_html(run.get('error') or '')}</span>"
               if run["status"] != "finished" and run.get("error") else ""))
        finished = run["status"] == "finished"
        self.reproduce_button.setEnabled(finished and not self._has_job_for(run["id"]))
        self.register_button.setEnabled(finished)
        self._fill_metrics(run)
        self._fill_params(run)
        self.spec_text.setPlainText(json.dumps(run.get("spec") or {}, indent=2, default=str))
        env = dict(run.get("environment") or {})
        env["predictions_sha256"] = run.get("predictions_sha256")
        env["artifacts"] = run.get("artifacts")
        self.env_text.setPlainText(json.dumps(env, indent=2, default=str))
        if not finished:
            self.detail_canvas.show_message(f"Run {run['id']} is {run['status']}: no plots")
            return
        # The plots artifact is read (hash-checked) and decoded in a worker; the panels then
        # draw one per event-loop turn.
        store = self.store
        task = self.plots_task = run_task(
            lambda progress, cancelled: training.load_plots(store, run))
        task.finished.connect(lambda plots, run=run, key=key: self._on_plots(run, key, plots))
        task.failed.connect(lambda msg, run=run, key=key: self._on_plots_failed(run, key, msg))
        task.done.connect(self._maybe_loaded)

    @while_alive
    def _on_plots(self, run: dict[str, Any], key: tuple, plots: dict[str, Any]) -> None:
        if key == self._shown_key:  # else another run was selected meanwhile
            self.detail_canvas.show_panels(run_panels(run, plots))

    @while_alive
    def _on_plots_failed(self, run: dict[str, Any], key: tuple, message: str) -> None:
        if key == self._shown_key:  # a missing or corrupt artifact: say so, keep the pane alive
            self.detail_canvas.show_message(
                f"The plots of run {run['id']} cannot be read: {message}")

    def _has_job_for(self, run_id: int) -> bool:
        return any(j.kind == "reproduce" and j.run_id == run_id and j.state in ("queued", "running")
                   for j in self.jobs)

    def _fill_metrics(self, run: dict[str, Any]) -> None:
        metrics = run.get("metrics") or {}
        holdout, cv = metrics.get("holdout") or {}, metrics.get("cv") or {}
        names = list(evaluation.metric_names(run.get("task") or "classification"))
        names += [n for n in list(holdout) + list(cv) if n not in names]
        table = self.metrics_table
        table.setRowCount(0)
        if not holdout and not cv:
            return
        table.setRowCount(len(names))
        for i, n in enumerate(names):
            c = cv.get(n) or {}
            mean, std = c.get("mean"), c.get("std")
            cv_text = "—" if mean is None else f"{mean:.4f} ± {std or 0:.3f}"
            for j, text in enumerate((n, _fmt_metric(holdout.get(n)), cv_text)):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(RIGHT)
                table.setItem(i, j, item)
        table.resizeColumnsToContents()

    def _fill_params(self, run: dict[str, Any]) -> None:
        params = run.get("params") or {}
        chosen = set((run.get("spec") or {}).get("params") or {})
        table = self.params_table
        table.setRowCount(len(params))
        for i, (k, v) in enumerate(sorted(params.items())):
            key = QTableWidgetItem(k)
            value = QTableWidgetItem(_text(v))
            if k in chosen:  # set in the spec, not a library default
                for it in (key, value):
                    f = it.font()
                    f.setBold(True)
                    it.setFont(f)
            table.setItem(i, 0, key)
            table.setItem(i, 1, value)
        table.resizeColumnsToContents()

    # -- compare ------------------------------------------------------------------------------------
    def compare_selected(self) -> None:
        ids = self.selected_run_ids()
        if len(ids) < 2:
            QMessageBox.information(self, "Compare runs", "Select two or more runs to compare.")
            return
        self.compare(ids)

    def compare(self, run_ids: Sequence[int]) -> None:
        runs = [training.get_run(self.store, rid) for rid in sorted(run_ids)]
        self.compared = runs
        labels = [f"#{r['id']} {r['algorithm']}" for r in runs]
        # Two-line headers keep the run columns narrow: "#12" over the algorithm.
        headers = [f"#{r['id']}\n{_clip(r['algorithm'], 16)}" for r in runs]
        tasks = {r["task"] for r in runs}
        # Metrics side by side; the best value of each row highlighted.
        rows: list[tuple[str, list]] = []
        task = next(iter(tasks)) if len(tasks) == 1 else None
        names = list(evaluation.metric_names(task)) if task else []
        for r in runs:
            for n in ((r.get("metrics") or {}).get("holdout") or {}):
                if n not in names:
                    names.append(n)
        for n in names:
            rows.append((n, [((r.get("metrics") or {}).get("holdout") or {}).get(n)
                             for r in runs]))
        for n in names:
            values = [(((r.get("metrics") or {}).get("cv") or {}).get(n) or {}).get("mean")
                      for r in runs]
            if any(v is not None for v in values):
                rows.append((f"CV {n}", values))
        table = self.compare_metrics
        table.clear()
        table.setColumnCount(len(runs) + 1)
        table.setHorizontalHeaderLabels(["Metric"] + headers)
        for j, label in enumerate(labels):
            table.horizontalHeaderItem(j + 1).setToolTip(label)
        table.setRowCount(len(rows))
        for i, (n, values) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(n))
            present = [v for v in values if v is not None]
            lower = n.replace("CV ", "") in evaluation.LOWER_IS_BETTER
            best = (min(present) if lower else max(present)) if len(present) > 1 else None
            for j, v in enumerate(values):
                item = QTableWidgetItem(_fmt_metric(v))
                item.setTextAlignment(RIGHT)
                if best is not None and v == best:
                    item.setBackground(BEST_BRUSH)
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                    item.setToolTip("best of the compared runs" + (" (lower is better)"
                                                                   if lower else ""))
                table.setItem(i, j + 1, item)
        table.resizeColumnsToContents()
        # Params (and spec fields) that differ between the runs.
        keys = sorted(set().union(*[(r.get("params") or {}).keys() for r in runs]))
        spec_keys = ("dataset_id", "target", "features", "test_size", "cv", "seed", "sensitive")
        diff: list[tuple[str, list[str]]] = []
        for k in spec_keys:
            vals = [_text((r.get("spec") or {}).get(k)) for r in runs]
            if len(set(vals)) > 1:
                diff.append((f"spec: {k}", vals))
        for k in ("algorithm",):
            vals = [_text(r.get(k)) for r in runs]
            if len(set(vals)) > 1:
                diff.append((k, vals))
        for k in keys:
            vals = [_text((r.get("params") or {}).get(k, "—")) for r in runs]
            if len(set(vals)) > 1:
                diff.append((k, vals))
        pt = self.compare_params
        pt.clear()
        pt.setColumnCount(len(runs) + 1)
        pt.setHorizontalHeaderLabels(["Parameter"] + headers)
        pt.setRowCount(max(len(diff), 1))
        if not diff:
            pt.setItem(0, 0, QTableWidgetItem("(no differences)"))
        for i, (k, vals) in enumerate(diff):
            pt.setItem(i, 0, QTableWidgetItem(k))
            for j, v in enumerate(vals):
                pt.setItem(i, j + 1, QTableWidgetItem(v))
        pt.resizeColumnsToContents()
        # Curves overlaid.
        if task is None:
            self.compare_canvas.show_message("The runs have different tasks "
                                             f"({', '.join(sorted(t or '?' for t in tasks))}): "
                                             "no common plot")
        else:
            series = []
            for label, r in zip(labels, runs):
                if r["status"] == "finished":
                    try:
                        series.append((label, training.load_plots(self.store, r)))
                    except Exception:  # unreadable artifact: leave that run out of the plot
                        continue
            plot_compare(self.compare_canvas.figure, task, series, runs[0].get("target") or "")
            self.compare_canvas.redraw()
        self.compare_stack.setCurrentIndex(1)
        self.tabs.setCurrentIndex(1)

    # -- reproduce and register ---------------------------------------------------------------
    def current_run_id(self) -> int | None:
        return self._shown_run

    def reproduce_selected(self) -> Job | None:
        run_id = self._shown_run
        if run_id is None:
            return None
        job = self._enqueue(Job("reproduce", f"Reproduce run {run_id}", run_id=run_id))
        self.reproduce_button.setEnabled(False)
        return job

    def _report_reproduce(self, result: dict[str, Any]) -> None:
        rid, new = result["run_id"], result.get("new_run_id")
        if result.get("identical"):
            text = (f"Run {rid} reproduced exactly: run {new} has identical holdout predictions "
                    f"(sha256 {result['predictions_sha256']['new'][:12]}…).")
            self._log(text)
            self.message.emit(text)
            QMessageBox.information(self, "Reproduced", text)
        else:
            changes = result.get("changes") or ["the predictions differ"]
            text = (f"Run {rid} was NOT reproduced exactly"
                    + (f" (new run {new})" if new else "") + ". What changed:\n\n• "
                    + "\n• ".join(changes))
            self._log(text.replace("\n\n", " ").replace("\n", " "))
            self.message.emit(f"Run {rid} was not reproduced exactly")
            QMessageBox.warning(self, "Not reproduced", text)

    def register_selected(self) -> None:
        run_id = self._shown_run
        if run_id is None or core_registry is None:
            return
        run = training.get_run(self.store, run_id)
        suggestion = f"{run['target']}_{run['algorithm']}".replace("-", "_")
        name, ok = QInputDialog.getText(self, "Register model",
                                        f"Register run {run_id} as a new version of model:",
                                        text=suggestion)
        if not ok or not name.strip():
            return
        self.register(run_id, name.strip())

    def register(self, run_id: int, name: str) -> Task:
        store = self.store
        task = self.side_task = run_task(
            lambda progress, cancelled: core_registry.register(store, run_id, name))
        task.finished.connect(self._on_registered)
        task.failed.connect(lambda msg: self._on_register_failed(run_id, name, msg))
        self.register_button.setEnabled(False)
        task.done.connect(self._on_register_done)
        return task

    @while_alive
    def _on_register_failed(self, run_id: int, name: str, message: str) -> None:
        QMessageBox.critical(self, "Register failed",
                             f"Run {run_id} was not registered as {name}:\n\n{message}")

    @while_alive
    def _on_register_done(self) -> None:
        self.register_button.setEnabled(True)

    @while_alive
    def _on_registered(self, version: dict[str, Any]) -> None:
        checks = version.get("checks") or []
        failed = [c for c in checks if not c.get("passed")]
        text = (f"Registered run {version['run_id']} as {version['model']}:{version['version']} "
                f"({version['status']}); {len(checks) - len(failed)} of {len(checks)} checks "
                f"passed")
        self._log(text)
        self.message.emit(text)
        QMessageBox.information(self, "Registered", text + (
            "\n\nFailing: " + ", ".join(c["name"] for c in failed) if failed else ""))


def _clip(text: Any, limit: int) -> str:
    s = str(text)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
