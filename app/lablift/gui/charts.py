"""Matplotlib charts inside Qt: ChartCanvas and plot functions that draw on a given Axes.

Never pyplot (global state, wrong backend in a Qt app): a Figure per canvas, redrawn with
draw_idle() so repeated updates coalesce into one paint. Plot functions take an Axes and
plain data (profile dicts, metric dicts), so other panes add their own next to these.
"""

from __future__ import annotations

from typing import Any

import matplotlib.dates as mdates
import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtWidgets import QSizePolicy

ACCENT = "#3b75af"
SMALL_FONT = 8.5
MAX_LABEL = 22  # characters of a category label before it is shortened


class ChartCanvas(FigureCanvasQTAgg):
    """A Qt widget holding one matplotlib Figure.

    `ax = canvas.clear()` gives a fresh Axes (or `canvas.clear(nrows, ncols)` a grid);
    draw on it, then `canvas.redraw()`.
    """

    def __init__(self, parent=None, width: float = 5.0, height: float = 3.5, dpi: int = 100):
        self.figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
        super().__init__(self.figure)
        self.setParent(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)

    def clear(self, nrows: int = 1, ncols: int = 1):
        self.figure.clear()
        if nrows == 1 and ncols == 1:
            return self.figure.add_subplot(1, 1, 1)
        return self.figure.subplots(nrows, ncols)

    def redraw(self) -> None:
        self.draw_idle()

    def show_message(self, text: str) -> None:
        """An empty chart with a centred note (nothing selected, nothing to plot)."""
        ax = self.clear()
        ax.set_axis_off()
        ax.text(0.5, 0.5, text, ha="center", va="center", color="#777777", wrap=True,
                transform=ax.transAxes)
        self.redraw()


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=SMALL_FONT)
    ax.grid(axis="both", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)


def _short(text: Any) -> str:
    s = str(text)
    return s if len(s) <= MAX_LABEL else s[:MAX_LABEL - 1] + "…"


_TIME_UNITS = {"s": "s", "ms": "ms", "us": "us", "ns": "ns", "day": "D"}


def _temporal_edges(edges: np.ndarray, dtype: str) -> np.ndarray | None:
    # Profile edges of datetime columns are the integer storage values; the unit is in the dtype.
    inside = dtype[dtype.find("[") + 1: dtype.find("]")].split(",")[0] if "[" in dtype else ""
    unit = _TIME_UNITS.get(inside.strip())
    if unit is None:
        return None
    return np.array(np.round(edges).astype("int64"), dtype=f"datetime64[{unit}]")


def plot_histogram(ax, column: dict[str, Any]) -> bool:
    """Draw a column profile (core.profiling) on `ax`. False when there is nothing to draw.

    Numeric and datetime columns: bars over the histogram's counts and edges. Categorical,
    boolean and text columns: horizontal bars of the most frequent values (`top`).
    """
    name, kind = column.get("name", ""), column.get("kind", "")
    hist, top = column.get("histogram"), column.get("top")
    _style(ax)
    if hist and kind in ("numeric", "datetime", "id-like") or (hist and not top):
        counts = np.asarray(hist["counts"], dtype=float)
        edges = np.asarray(hist["edges"], dtype=float)
        if hist.get("temporal"):
            dates = _temporal_edges(edges, column.get("dtype", ""))
            if dates is not None:
                edges = mdates.date2num(dates.astype("datetime64[us]").astype(object))
                ax.xaxis_date()
                ax.figure.autofmt_xdate()
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=ACCENT,
               edgecolor="white", linewidth=0.5)
        ax.set_xlabel(name, fontsize=SMALL_FONT + 0.5)
        ax.set_ylabel("rows", fontsize=SMALL_FONT + 0.5)
        ax.grid(axis="x", visible=False)
    elif top:
        values = [_short(t["value"]) for t in top][::-1]
        counts = [t["count"] for t in top][::-1]
        ypos = np.arange(len(values))
        ax.barh(ypos, counts, color=ACCENT, height=0.7)
        ax.set_yticks(ypos, values)
        ax.set_xlabel("rows", fontsize=SMALL_FONT + 0.5)
        ax.grid(axis="y", visible=False)
        unique = column.get("unique") or len(top)
        if unique > len(top):
            ax.set_title(f"{name}  ({kind}, top {len(top)} of {unique})",
                         fontsize=SMALL_FONT + 1.5, loc="left")
            return True
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"No distribution to show for {name}", ha="center", va="center",
                color="#777777", transform=ax.transAxes)
        return False
    ax.set_title(f"{name}  ({kind})", fontsize=SMALL_FONT + 1.5, loc="left")
    return True
