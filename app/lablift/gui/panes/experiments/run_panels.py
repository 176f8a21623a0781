"""The run-detail plots: four canvases in a 2×2 grid, drawn one per event-loop turn."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QStackedWidget, QWidget

from ... import palette
from ...experiment_charts import nothing, panel_margins, place_axes
from ...lazy_chart import warm_when_idle, when_charts_ready

_panel_class: type | None = None


def panel_canvas_class() -> type:
    """PanelCanvas, defined on first use: it subclasses matplotlib's Qt canvas, and importing
    that on the GUI thread stalled the Experiments pane's first open (gui/lazy_chart.py
    imports it in a worker ahead of the first plot)."""
    global _panel_class
    if _panel_class is None:
        _panel_class = _define_panel_canvas()
    return _panel_class


def __getattr__(name: str):
    if name == "PanelCanvas":
        return panel_canvas_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _define_panel_canvas() -> type:
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    from ...chart_fit import fitted_draw

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

        def draw(self) -> None:
            # A narrow panel thins its ticks and shortens its title rather than cut or overlap.
            fitted_draw(super().draw, self.figure, self.get_renderer)

        def fill(self, draw: Callable[[Any], bool]) -> None:
            """New artists on a fresh Axes; rendering is left to a later draw_idle()."""
            for old in list(self.figure.axes):
                self.figure.delaxes(old)  # not figure.clear(): that clears each Axes first
            ax = self.figure.add_subplot()
            draw(ax)
            self.margins = panel_margins(ax)
            place_axes(ax, self.margins)

        def resizeEvent(self, event) -> None:
            super().resizeEvent(event)  # sets the figure size, then draw_idle
            if self.margins is not None and self.figure.axes:
                place_axes(self.figure.axes[0], self.margins)

    return PanelCanvas


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
        self.message.setStyleSheet(palette.css_text("faint"))
        self.addWidget(self.message)
        self._grid_page = QWidget()
        grid = QGridLayout(self._grid_page)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(0)
        self._canvases: list | None = None  # made with the first plots (see `canvases`)
        self.addWidget(self._grid_page)
        self.setCurrentIndex(1)
        self.figure = _PanelAxes(self)
        self._pending: list[tuple[Any, Callable]] = []  # (PanelCanvas, draw function)
        self._filled: Any = None  # the PanelCanvas filled, its render not yet asked for
        self._waiting: Any = None  # the PanelCanvas whose render was asked for, not yet done
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
        warm_when_idle()  # matplotlib in a worker, ahead of the first plots

    @property
    def canvases(self) -> list:
        """The four panels, made on first use: with the first plots, once a worker has
        imported matplotlib (show_panels), or right away when asked for by name."""
        if self._canvases is None:
            cls = panel_canvas_class()
            grid = self._grid_page.layout()
            self._canvases = [cls() for _ in range(4)]
            for i, canvas in enumerate(self._canvases):
                grid.addWidget(canvas, i // 2, i % 2)
                canvas.mpl_connect("draw_event", lambda _e, c=canvas: self._on_drawn(c))
        return self._canvases

    def is_built(self) -> bool:
        return self._canvases is not None

    def is_busy(self) -> bool:
        if not shiboken6.isValid(self):  # deleted with its window: nothing will draw any more
            return False
        return bool(self._pending) or self._filled is not None or self._waiting is not None

    def show_panels(self, draws: Sequence[Callable[[Any], bool]]) -> None:
        """Replace the panels: one draw function per panel, run in order, one per turn."""
        self.setCurrentIndex(1)
        self._filled = self._waiting = None
        self._watchdog.stop()
        self._step.stop()
        self._pending = [(None, draw) for draw in draws]
        if self._canvases is None:  # the first plots: the panels once matplotlib is imported
            pending = self._pending
            when_charts_ready(lambda: self._start(pending), owner=self)
            return
        self._start(self._pending)

    def _start(self, pending: list[tuple[Any, Callable]]) -> None:
        if pending is not self._pending:
            return  # replaced (newer plots, or a message) while matplotlib was imported
        self._pending = [(canvas, draw) for canvas, (_c, draw) in zip(self.canvases, pending)]
        for canvas, _draw in self._pending:
            canvas.held = True
        # One empty turn first: a render already queued (the canvases' first show, or the
        # previous run's last panel) happens there rather than in the turn of the first fill.
        self._flush = True
        self._watchdog.stop()
        self._step.start()

    def show_message(self, text: str) -> None:
        for canvas in self._canvases or []:
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

    def _on_drawn(self, canvas) -> None:
        if canvas is self._waiting:
            self._waiting = None
            self._watchdog.stop()
            self._step.start()  # the next panel in the next turn
