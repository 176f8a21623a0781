"""Charts that import matplotlib off the GUI thread, and only once one is needed.

matplotlib and its Qt backend take ~0.5-1 s to import: a pane whose chart sits on a tab the
user has not opened yet (the Datasets pane's Profile) holds a LazyChart, so that the window's
first paint does not wait for them. `when_charts_ready(fn)` runs `fn` on the GUI thread once
the chart modules are imported, importing them in a worker first if need be (pure-Python
module imports are fine there; the Qt widgets are made on the GUI thread, afterwards);
`warm_when_idle()` starts that import once the event loop is idle, ahead of the first chart.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QThreadPool, QTimer
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from .workers import Task, run_task

# What the first chart would otherwise import on the GUI thread. (gui/charts connects to the
# palette's theme signal as it is imported: a function slot is called in the emitting GUI
# thread whichever thread connected it, tests/test_gui_start_imports.py checks a theme switch.)
CHART_MODULES = ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg",
                 "matplotlib.backends.backend_qtagg", "lablift.gui.chart_fit",
                 "lablift.gui.charts", "lablift.gui.experiment_charts")

_task: Task | None = None
_pool: QThreadPool | None = None  # a thread of its own: not queued behind the pane's loads
_waiting: list[tuple[QObject | None, Callable[[], None]]] = []


def charts_ready() -> bool:
    """The chart modules are imported: a chart can be made now without an import stall."""
    return all(name in sys.modules for name in CHART_MODULES)


def import_chart_modules(progress=None, cancelled=None) -> list[str]:
    """Worker side: import the chart modules (no figure is drawn here: matplotlib is not
    thread-safe, and the first chart may be drawn on the GUI thread as soon as this ends)."""
    for name in CHART_MODULES:
        importlib.import_module(name)
    return list(CHART_MODULES)


def start_warm() -> Task | None:
    """Import the chart modules in a worker (once; None when they are imported already)."""
    global _task, _pool
    if _task is None and not charts_ready():
        if _pool is None:
            _pool = QThreadPool()
            _pool.setMaxThreadCount(1)
        _task = run_task(import_chart_modules, pool=_pool)
        _task.done.connect(_on_warmed)
    return _task


def warm_when_idle() -> None:
    """Start the import once the events queued now have been handled (a 0 ms timer)."""
    QTimer.singleShot(0, start_warm)


def _on_warmed() -> None:
    global _task
    _task = None
    waiting, _waiting[:] = list(_waiting), []
    for owner, fn in waiting:
        # A failed import is not retried in the worker: fn imports on the GUI thread and
        # whatever error there is shows where the chart is drawn.
        if owner is None or shiboken6.isValid(owner):
            fn()


def when_charts_ready(fn: Callable[[], None], owner: QObject | None = None) -> None:
    """Run `fn` now if the chart modules are imported, else once a worker has imported them
    (skipped if `owner` has been deleted by then)."""
    if charts_ready():
        fn()
        return
    _waiting.append((owner, fn))
    start_warm()


class LazyChart(QWidget):
    """Holds a gui/charts.py ChartCanvas built when this is first shown (once the chart
    modules are imported, in a worker) or when its `canvas` (or `figure`) is asked for.
    `plot(fn)` runs `fn(canvas)` now if the canvas exists, else once it is built; each plot
    replaces the chart, so only the newest pending one runs."""

    def __init__(self, parent=None, width: float = 5.0, height: float = 3.5):
        super().__init__(parent)
        self._figsize = (width, height)
        self._canvas = None
        self._pending: Callable[[Any], None] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)  # ChartCanvas' own minimum
        # Built a turn after it is shown: the window paints first, and a chart moved on to a
        # hidden tab meanwhile (a layout settling) is not built at all.
        self._shown = QTimer(self)
        self._shown.setSingleShot(True)
        self._shown.setInterval(0)
        self._shown.timeout.connect(lambda: when_charts_ready(self._build, owner=self))

    @property
    def canvas(self):
        if self._canvas is None:
            from .charts import ChartCanvas
            width, height = self._figsize
            self._canvas = ChartCanvas(width=width, height=height)
            self.layout().addWidget(self._canvas)
            pending, self._pending = self._pending, None
            if pending is not None:
                pending(self._canvas)
        return self._canvas

    @property
    def figure(self):
        return self.canvas.figure

    def is_built(self) -> bool:
        return self._canvas is not None

    def is_waiting(self) -> bool:
        """A plot waits for the chart modules (imported in a worker) to be drawn."""
        return self._canvas is None and self._pending is not None and self.isVisible()

    def plot(self, fn: Callable[[Any], None]) -> None:
        if self._canvas is not None:
            fn(self._canvas)
            return
        self._pending = fn
        if self.isVisible():
            self._shown.start()

    def show_message(self, text: str) -> None:
        self.plot(lambda canvas: canvas.show_message(text))

    def _build(self) -> None:
        if self._canvas is None and self.isVisible():
            self.canvas  # noqa: B018 (builds it, drawing what is pending)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._canvas is None:
            self._shown.start()
