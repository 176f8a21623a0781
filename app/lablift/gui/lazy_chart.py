"""A chart that imports matplotlib only once it is shown.

matplotlib and its Qt backend take ~0.5 s to import: a pane whose chart sits on a tab the user
has not opened yet (the Datasets pane's Profile) holds a LazyChart, so that the window's first
paint does not wait for them.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget


class LazyChart(QWidget):
    """Holds a gui/charts.py ChartCanvas built when this is first shown or its `canvas` (or
    `figure`) is asked for. `plot(fn)` runs `fn(canvas)` now if the canvas exists or this is
    visible, else when it is shown; each plot replaces the chart, so only the newest pending
    one runs."""

    def __init__(self, parent=None, width: float = 5.0, height: float = 3.5):
        super().__init__(parent)
        self._figsize = (width, height)
        self._canvas = None
        self._pending: Callable[[Any], None] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)  # ChartCanvas' own minimum

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

    def plot(self, fn: Callable[[Any], None]) -> None:
        if self._canvas is None and not self.isVisible():
            self._pending = fn
            return
        fn(self.canvas)

    def show_message(self, text: str) -> None:
        self.plot(lambda canvas: canvas.show_message(text))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._canvas is None:
            self.canvas  # noqa: B018 (builds it, drawing what is pending)
