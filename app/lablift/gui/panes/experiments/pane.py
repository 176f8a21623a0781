"""The Experiments pane: its parts (form, job queue, runs table and filter, run detail,
compare) put together on PaneBase, and the load that feeds them."""

from __future__ import annotations

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import QSplitter, QTabWidget, QVBoxLayout, QWidget

from ...pane import PaneBase
from ...widgets import EmptyState, empty_or_main, side_by_side
from ...workers import Task, run_task, while_alive
from . import job_queue
from .compare import Compare
from .detail import RunDetail
from .filter import RunFilter
from .job_queue import Job, JobQueue, warm_up_imports
from .runs_table import RunsTable, RunsUpdate, read_runs
from .sweep_form import SweepLauncher
from .train_form import TrainForm


class Pane(TrainForm, SweepLauncher, JobQueue, RunsTable, RunFilter, RunDetail, Compare,
           PaneBase):
    title = "Experiments"
    runs_loaded = Signal()  # the runs table and the selected run's panels are shown
    runs_arranged = Signal()  # the runs shown follow the sort and filter asked for

    def __init__(self, store, parent=None):
        super().__init__(store, parent)
        self.jobs: list[Job] = []
        self._select_after_load: int | None = None
        self._loaded_pending = False
        self._stopping = False
        self._watched_window: QWidget | None = None
        # One thread of its own: queued jobs run one after another, at a lower OS priority,
        # and never hold up the global pool's short loads.
        self.train_pool = QThreadPool(self)
        self.train_pool.setMaxThreadCount(1)
        self._build()
        # Not a pane task (`start`): importing libraries reads no store and must not count
        # as busy.
        self.warm_task: Task | None = None if job_queue.warm() else run_task(warm_up_imports)
        self.refresh()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.no_datasets = EmptyState(
            "No datasets to train on",
            "Import a data file in the Datasets pane first (or open the bundled sample "
            "there);\nits versions then appear here to train models on.",
            [("go_button", "Go to Datasets")], wrap=False)
        self.no_datasets.go_button.clicked.connect(self._go_to_datasets)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self._build_form())
        left.addWidget(self._build_activity())
        left.setSizes([625, 105])
        left.setChildrenCollapsible(False)
        left.setMinimumWidth(300)
        left.setMaximumWidth(540)  # room for long feature names; more would only stretch fields
        self.left_split = left
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self._build_runs())
        right.addWidget(self._build_bottom())
        right.setSizes([230, 520])
        right.setChildrenCollapsible(False)
        self.right_split = right
        self.splitter = side_by_side(left, right, [322, 798])
        # A fifth of any change in width goes to the form: long column names in Features
        # show whole on a wide screen, and a small window keeps its width for runs and plots.
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 4)
        self.pages = empty_or_main(self, self.no_datasets, self.splitter)

    def _build_bottom(self) -> QWidget:
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_detail(), "Run detail")
        self.tabs.addTab(self._build_compare(), "Compare")
        wrap = QWidget()
        layout = QVBoxLayout(wrap)
        layout.setContentsMargins(6, 0, 10, 8)
        layout.addWidget(self.tabs)
        return wrap

    def _go_to_datasets(self) -> None:
        self.navigate.emit("datasets", None)

    # -- refresh: datasets and runs, read together in a worker -----------------------------
    def refresh(self) -> None:
        self.reload_runs()

    def reload_runs(self, select: int | None = None) -> None:
        """Re-read the dataset versions and the runs in a worker (the newest request wins);
        `select` a run id once loaded."""
        if select is not None:
            self._select_after_load = select
        # Only what changed since the runs shown is read (runs_table.read_runs).
        store, base, settings = self.store, self.runs_model.runs, self.arrange_settings()
        self.start("load", lambda progress, cancelled: read_runs(store, base, settings),
                   self._on_loaded,
                   on_failed=lambda msg: self.notify(f"Could not read the runs: {msg}"))

    def _on_loaded(self, update: RunsUpdate) -> None:
        self._show_datasets(update.datasets)
        self.set_sweep_refusal(update.sweep_refusal)
        self.set_train_refusal(update.train_refusal)
        self.set_register_refusal(update.register_refusal)
        self._show_update(update)
        # Once the selected run's panels are filled too (they draw over the next turns).
        self._loaded_pending = True
        self._maybe_loaded()

    @while_alive
    def _maybe_loaded(self) -> None:
        if self._loaded_pending and not self._detail_busy():
            self._loaded_pending = False
            self.runs_loaded.emit()

    def is_busy(self, purpose: str | None = None) -> bool:
        """A task of `purpose` runs; without one: any task runs or the run panels still draw."""
        if purpose is not None:
            return super().is_busy(purpose)
        canvas = getattr(self, "detail_canvas", None)
        return super().is_busy() or (canvas is not None and canvas.is_busy())

    def show_ref(self, ref: int | tuple[str, int]) -> None:
        """Navigation from another pane: a run id shows that run (once loaded if not listed
        yet); ("dataset", id) puts that dataset version in the train form."""
        if isinstance(ref, tuple) and ref[0] == "dataset":
            self.choose_dataset(int(ref[1]))
            return
        if not self.select_run(ref):
            self.reload_runs(select=ref)

    def selected_ref(self) -> tuple[str, int] | None:
        """The shown run, for View → Lineage…"""
        return None if self._shown_run is None else ("run", self._shown_run)
