"""Matplotlib charts inside Qt: ChartCanvas and plot functions that draw on a given Axes.

Never pyplot (global state, wrong backend in a Qt app): a Figure per canvas, redrawn with
draw_idle() so repeated updates coalesce into one paint. Plot functions take an Axes and
plain data (profile dicts, metric dicts), so other panes add their own next to these.

Colours come from gui/palette.py: the scheme's rcParams are matplotlib's defaults here, and a
theme switch re-colours every canvas' figure in place (`restyle_figure`), without a replot.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.colors import LinearSegmentedColormap, to_hex, to_rgba
from matplotlib.figure import Figure, FigureBase
from PySide6.QtWidgets import QApplication, QSizePolicy

from . import palette
from .chart_fit import cut_in_the_middle, fitted_draw

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

    def draw(self) -> None:
        # Thinned ticks and shortened titles once measured: nothing overlaps or is cut.
        fitted_draw(super().draw, self.figure, self.get_renderer)

    def show_message(self, text: str) -> None:
        """An empty chart with a centred note (nothing selected, nothing to plot)."""
        ax = self.clear()
        ax.set_axis_off()
        ax.text(0.5, 0.5, text, ha="center", va="center", color=palette.color("chart_muted"),
                wrap=True, transform=ax.transAxes)
        self.redraw()


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=SMALL_FONT)
    ax.grid(axis="both", linewidth=0.6)  # grid.color: the palette's
    ax.set_axisbelow(True)


# -- theme ----------------------------------------------------------------------------------
_theme = {"scheme": None}
_CMAP_PREFIX = "lablift_"


def colormap(name: str, bad: str | None = None):
    """The palette's sequential colour map `name` ("heat", "psi"); `bad`: the role of masked
    cells."""
    cmap = LinearSegmentedColormap.from_list(f"{_CMAP_PREFIX}{name}_{palette.scheme()}",
                                             palette.colormap(name))
    return cmap.with_extremes(bad=palette.color(bad)) if bad else cmap


def apply_theme() -> None:
    """Matplotlib's defaults (faces, text, ticks, grid, series cycle) from the palette."""
    matplotlib.rcParams.update(palette.mpl_style())
    _theme["scheme"] = palette.scheme()


def _swapped(value, table: dict[str, str]):
    """`value` (a colour, or rows of RGBA) in the new scheme, or None if none of it changes."""
    if isinstance(value, str) and value.lower() in ("none", "auto", "inherit"):
        return None
    try:
        rows = np.atleast_2d(np.asarray([to_rgba(value)] if isinstance(value, (str, tuple))
                                        else value, dtype=float))
    except (ValueError, TypeError):
        return None
    if rows.size == 0 or rows.shape[1] != 4:
        return None
    out, changed = rows.copy(), False
    for i, rgba in enumerate(rows):
        new = table.get(to_hex(rgba[:3]))
        if new is not None:
            out[i, :3] = to_rgba(new)[:3]
            changed = True
    if not changed:
        return None
    return tuple(out[0]) if isinstance(value, (str, tuple)) or len(out) == 1 else out


def restyle_figure(figure, table: dict[str, str]) -> None:
    """Re-colour a drawn figure: each colour of the old scheme (`table` keys) becomes the new
    one's, the palette's colour maps become the new scheme's."""
    for artist in figure.findobj():
        if isinstance(artist, (FigureBase, Axes)):
            continue  # their patch is an artist of its own: one swap, not two
        get_cmap = getattr(artist, "get_cmap", None)
        if get_cmap is not None and getattr(artist, "get_array", lambda: None)() is not None:
            _restyle_cmap(artist, table)
            continue  # its faces are the colour map's
        for prop in ("color", "facecolor", "edgecolor", "markerfacecolor", "markeredgecolor"):
            getter = getattr(artist, f"get_{prop}", None)
            setter = getattr(artist, f"set_{prop}", None)
            if getter is None or setter is None:
                continue
            new = _swapped(getter(), table)
            if new is not None:
                setter(new)
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for kw in (getattr(axis, "_major_tick_kw", {}), getattr(axis, "_minor_tick_kw", {})):
                for key, value in list(kw.items()):  # ticks made later, e.g. on a resize
                    if "color" in key and (new := _swapped(value, table)) is not None:
                        kw[key] = new


def _restyle_cmap(mappable, table: dict[str, str]) -> None:
    cmap = mappable.get_cmap()
    name = cmap.name.removeprefix(_CMAP_PREFIX).rpartition("_")[0]
    if not cmap.name.startswith(_CMAP_PREFIX) or name not in palette.COLORMAPS:
        return
    bad_rgba = cmap.get_bad()
    bad = table.get(to_hex(bad_rgba[:3])) if bad_rgba[3] > 0 else None  # not the default clear
    new = LinearSegmentedColormap.from_list(f"{_CMAP_PREFIX}{name}_{palette.scheme()}",
                                            palette.colormap(name))
    mappable.set_cmap(new.with_extremes(bad=bad) if bad else new)


def _on_theme_changed(scheme: str) -> None:
    old = _theme["scheme"]
    apply_theme()
    table = palette.translation(old, scheme) if old else {}
    if not table or not isinstance(QApplication.instance(), QApplication):
        return
    for widget in QApplication.allWidgets():
        if isinstance(widget, FigureCanvasQTAgg):
            restyle_figure(widget.figure, table)
            widget.draw_idle()


apply_theme()
palette.notifier.changed.connect(_on_theme_changed)


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
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge",
               color=palette.color("chart_accent"), edgecolor=palette.color("chart_face"),
               linewidth=0.5)
        cut_in_the_middle(ax.set_xlabel(name, fontsize=SMALL_FONT + 0.5))
        ax.set_ylabel("rows", fontsize=SMALL_FONT + 0.5)
        ax.grid(axis="x", visible=False)
    elif top:
        values = [_short(t["value"]) for t in top][::-1]
        counts = [t["count"] for t in top][::-1]
        ypos = np.arange(len(values))
        ax.barh(ypos, counts, color=palette.color("chart_accent"), height=0.7)
        ax.set_yticks(ypos, values)
        ax.set_xlabel("rows", fontsize=SMALL_FONT + 0.5)
        ax.grid(axis="y", visible=False)
        unique = column.get("unique") or len(top)
        if unique > len(top):
            cut_in_the_middle(ax.set_title(f"{name}  ({kind}, top {len(top)} of {unique})",
                                           fontsize=SMALL_FONT + 1.5, loc="left"))
            return True
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"No distribution to show for {name}", ha="center", va="center",
                color=palette.color("chart_muted"), transform=ax.transAxes)
        return False
    cut_in_the_middle(ax.set_title(f"{name}  ({kind})", fontsize=SMALL_FONT + 1.5, loc="left"))
    return True
