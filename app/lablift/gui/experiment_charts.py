"""Plots of a run's evaluation (core.evaluation plot data) on a given matplotlib Axes.

Confusion matrix, ROC and precision-recall curves, residuals, permutation importance, and the
overlaid versions for comparing runs. Each function takes an Axes and the plain JSON data the
run recorded in its "plots" artifact, and returns False when there is nothing to draw.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from . import palette

# Not imported from gui/charts: that imports matplotlib, and this module is imported with the
# Experiments pane (matplotlib loads in a worker, gui/lazy_chart.py). Equal to charts.SMALL_FONT.
SMALL_FONT = 8.5
TITLE_SIZE = SMALL_FONT + 1.5
LABEL_SIZE = SMALL_FONT + 0.5
MAX_BARS = 12
MAX_FEATURE_LABEL = 16


def _short(text: Any) -> str:
    from .charts import _short as short
    return short(text)


def _style(ax) -> None:
    from .charts import _style as style
    style(ax)


def colormap(name: str, bad: str | None = None):
    from .charts import colormap as cmap
    return cmap(name, bad)


def _clip(text, limit: int = MAX_FEATURE_LABEL) -> str:
    s = str(text)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def color(i: int) -> str:
    """The i-th series colour (overlaid runs, classes): colour-blind safe."""
    return palette.series(i)


def nothing(ax, text: str) -> bool:
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", color=palette.color("chart_muted"),
            fontsize=SMALL_FONT, transform=ax.transAxes, wrap=True)
    return False


def _title(ax, text: str) -> None:
    ax.set_title(text, fontsize=TITLE_SIZE, loc="left")


def plot_confusion(ax, cm: dict[str, Any] | None, title: str = "Confusion matrix (holdout)") -> bool:
    """Counts with true classes down and predicted classes across; cells annotated."""
    if not cm or not cm.get("matrix"):
        return nothing(ax, "No confusion matrix")
    matrix = np.asarray(cm["matrix"], dtype=float)
    labels = [_short(v) for v in cm["labels"]]
    ax.imshow(matrix, cmap=colormap("heat"), aspect="auto")
    n = len(labels)
    ax.set_xticks(range(n), labels, fontsize=SMALL_FONT, rotation=30 if n > 4 else 0)
    ax.set_yticks(range(n), labels, fontsize=SMALL_FONT)
    ax.set_xlabel("predicted class", fontsize=LABEL_SIZE)
    ax.set_ylabel("true class", fontsize=LABEL_SIZE)
    high = matrix.max() if matrix.size else 0
    if n <= 12:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{int(matrix[i, j]):,}", ha="center", va="center",
                        fontsize=SMALL_FONT,
                        color=palette.color("heat_text_high" if matrix[i, j] > high * 0.6
                                            else "heat_text_low"))
    _title(ax, title)
    return True


def _curves(ax, series: Sequence[tuple[str, dict[str, Any]]], x: str, y: str,
            score: str, score_label: str) -> int:
    drawn = 0
    for i, (label, curve) in enumerate(series):
        if not curve or not curve.get(x):
            continue
        value = curve.get(score)
        if value is None:
            text = label or None
        else:
            text = f"{label} ({score_label} {value:.3f})" if label else f"{score_label} {value:.3f}"
        ax.plot(curve[x], curve[y], color=color(i), linewidth=1.5, label=text)
        drawn += 1
    return drawn


def _curve_series(runs: Sequence[tuple[str, dict[str, Any]]], key: str) -> list:
    """[(label, curve)] from runs' plots: one curve per run (binary) or per class."""
    out = []
    for label, plots in runs:
        curves = (plots or {}).get(key) or []
        if len(curves) == 1:
            out.append((label, curves[0]))
        else:
            out += [(f"{label}: {c['class']}" if label else f"class {c['class']}", c)
                    for c in curves]
    return out


def plot_roc(ax, runs: Sequence[tuple[str, dict[str, Any]]], title: str = "ROC (holdout)") -> bool:
    """ROC of one run (runs=[("", plots)]) or several overlaid (runs=[(label, plots), ...])."""
    _style(ax)
    series = _curve_series(runs, "roc")
    if not _curves(ax, series, "fpr", "tpr", "auc", "AUC"):
        ax.cla()
        return nothing(ax, "No ROC curve (the model gives no probabilities)")
    ax.plot([0, 1], [0, 1], color=palette.color("chart_guide"), linestyle="--", linewidth=0.8,
            label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate", fontsize=LABEL_SIZE)
    ax.set_ylabel("true positive rate", fontsize=LABEL_SIZE)
    ax.legend(fontsize=SMALL_FONT - 0.5, loc="lower right", frameon=False)
    _title(ax, title)
    return True


def plot_pr(ax, runs: Sequence[tuple[str, dict[str, Any]]],
            title: str = "Precision-recall (holdout)") -> bool:
    _style(ax)
    series = _curve_series(runs, "pr")
    if not _curves(ax, series, "recall", "precision", "average_precision", "AP"):
        ax.cla()
        return nothing(ax, "No precision-recall curve (the model gives no probabilities)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall", fontsize=LABEL_SIZE)
    ax.set_ylabel("precision", fontsize=LABEL_SIZE)
    ax.legend(fontsize=SMALL_FONT - 0.5, loc="lower left", frameon=False)
    _title(ax, title)
    return True


def plot_residuals(ax, runs: Sequence[tuple[str, dict[str, Any]]], target: str = "",
                   title: str = "Residuals (holdout)") -> bool:
    """Residual (actual - predicted) against predicted, one colour per run."""
    _style(ax)
    drawn = 0
    for i, (label, plots) in enumerate(runs):
        res = (plots or {}).get("residuals")
        if not res or not res.get("predicted"):
            continue
        alpha = 0.55 if len(runs) == 1 else 0.4
        ax.scatter(res["predicted"], res["residual"], s=9, alpha=alpha, color=color(i),
                   edgecolors="none", label=label or None)
        drawn += 1
    if not drawn:
        ax.cla()
        return nothing(ax, "No residuals")
    ax.axhline(0.0, color=palette.color("chart_axis"), linewidth=0.8)
    unit = f" {target}" if target else ""
    ax.set_xlabel(f"predicted{unit}", fontsize=LABEL_SIZE)
    ax.set_ylabel("actual − predicted", fontsize=LABEL_SIZE)
    if len(runs) > 1:
        ax.legend(fontsize=SMALL_FONT - 0.5, frameon=False, markerscale=1.5)
    _title(ax, title)
    return True


def plot_actual_vs_predicted(ax, plots: dict[str, Any], target: str = "") -> bool:
    _style(ax)
    res = (plots or {}).get("residuals")
    if not res or not res.get("predicted"):
        return nothing(ax, "No predictions")
    actual, predicted = np.asarray(res["actual"]), np.asarray(res["predicted"])
    ax.scatter(actual, predicted, s=9, alpha=0.55, color=palette.color("chart_accent"),
               edgecolors="none")
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color=palette.color("chart_guide"), linestyle="--",
            linewidth=0.8,
            label="perfect")
    unit = f" {target}" if target else ""
    ax.set_xlabel(f"actual{unit}", fontsize=LABEL_SIZE)
    ax.set_ylabel(f"predicted{unit}", fontsize=LABEL_SIZE)
    ax.legend(fontsize=SMALL_FONT - 0.5, frameon=False, loc="upper left")
    _title(ax, "Actual vs predicted (holdout)")
    return True


def plot_residual_histogram(ax, plots: dict[str, Any]) -> bool:
    _style(ax)
    res = (plots or {}).get("residuals")
    if not res or not res.get("residual"):
        return nothing(ax, "No residuals")
    ax.hist(res["residual"], bins=30, color=palette.color("chart_accent"),
            edgecolor=palette.color("chart_face"), linewidth=0.5)
    ax.axvline(0.0, color=palette.color("chart_axis"), linewidth=0.8)
    ax.set_xlabel("actual − predicted", fontsize=LABEL_SIZE)
    ax.set_ylabel("holdout rows", fontsize=LABEL_SIZE)
    ax.grid(axis="x", visible=False)
    _title(ax, "Residual distribution")
    return True


def plot_importance(ax, importance: Sequence[dict[str, Any]] | None, task: str = "",
                    limit: int = MAX_BARS) -> bool:
    """Horizontal bars of the mean score drop (± std) when each feature is shuffled."""
    _style(ax)
    if not importance:
        return nothing(ax, "No permutation importance")
    rows = list(importance)[:limit][::-1]
    ypos = np.arange(len(rows))
    means = [r["mean"] for r in rows]
    ax.barh(ypos, means, xerr=[r.get("std", 0.0) for r in rows],
            color=palette.color("chart_accent"), height=0.65,
            error_kw={"elinewidth": 0.8, "ecolor": palette.color("chart_axis"), "capsize": 2})
    ax.set_yticks(ypos, [_clip(r["feature"]) for r in rows], fontsize=SMALL_FONT)
    ax.axvline(0.0, color=palette.color("chart_axis"), linewidth=0.6)
    score = "accuracy" if task == "classification" else "R²" if task == "regression" else "score"
    ax.set_xlabel(f"drop in {score}", fontsize=LABEL_SIZE)
    ax.grid(axis="y", visible=False)
    more = len(importance) - len(rows)
    # "Feature importance" rather than "permutation importance": it fits beside long labels.
    _title(ax, "Feature importance" + (f" (top {len(rows)})" if more > 0 else ""))
    return True


def _unit_ticks(ax, drawn: bool) -> bool:
    """Fixed ticks on a [0, 1] × [0, 1] panel: fewer tick artists to build and render."""
    if drawn:
        ax.set_xticks([0.0, 0.5, 1.0])
        ax.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    return drawn


def run_panels(run: dict[str, Any], plots: dict[str, Any]) -> list[Callable[[Any], bool]]:
    """The four panels of a run's detail, each a function drawing on one Axes, in order."""
    task, target = run.get("task"), run.get("target") or ""
    if task == "classification":
        first = [lambda ax: plot_confusion(ax, plots.get("confusion_matrix")),
                 lambda ax: _unit_ticks(ax, plot_roc(ax, [("", plots)])),
                 lambda ax: _unit_ticks(ax, plot_pr(ax, [("", plots)]))]
    else:
        first = [lambda ax: plot_actual_vs_predicted(ax, plots, target),
                 lambda ax: plot_residuals(ax, [("", plots)], target),
                 lambda ax: plot_residual_histogram(ax, plots)]
    return first + [lambda ax: plot_importance(ax, plots.get("importance"), task or "")]


def plot_run(figure, run: dict[str, Any], plots: dict[str, Any]) -> None:
    """The run-detail figure: 2×2 panels chosen by the run's task."""
    figure.clear()
    axes = figure.subplots(2, 2).ravel()
    for ax, draw in zip(axes, run_panels(run, plots)):
        draw(ax)


_MEASURE = None


@functools.lru_cache(maxsize=8)
def _font(size: float):
    from matplotlib.font_manager import FontProperties
    return FontProperties(size=size)


def _text_px(text: str, size: float, dpi: float) -> tuple[float, float]:
    """Width and height in pixels of a one-line label (FreeType metrics, no figure draw)."""
    global _MEASURE
    from matplotlib.backends.backend_agg import RendererAgg
    if _MEASURE is None or _MEASURE.dpi != dpi:
        _MEASURE = RendererAgg(1, 1, dpi)
    w, h, _d = _MEASURE.get_text_width_height_descent(text or " ", _font(size), ismath=False)
    return w, h


def _tick_texts(axis, low: float, high: float) -> list[str]:
    ticks = [t for t in axis.get_majorticklocs() if min(low, high) <= t <= max(low, high)]
    return [t for t in axis.get_major_formatter().format_ticks(ticks) if t] or ["0"]


def panel_margins(ax) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) pixel margins an Axes needs for its tick labels, axis labels
    and title, from font metrics of the label strings.

    Replaces constrained_layout, whose per-draw tight-bbox pass over every tick label cost
    more than drawing the panel itself (the run-detail panels stalled the GUI thread).
    """
    if not ax.axison:
        return 4.0, 4.0, 4.0, 4.0
    dpi = ax.figure.dpi
    pt = dpi / 72.0
    tick_pad = (3.5 + 3.5) * pt  # default tick length + pad
    label_pad = 4.0 * pt
    ticks = SMALL_FONT
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    y_w = max(_text_px(t, ticks, dpi)[0] for t in _tick_texts(ax.yaxis, y0, y1))
    x_texts = _tick_texts(ax.xaxis, x0, x1)
    labels = ax.xaxis.get_majorticklabels()
    rotation = labels[0].get_rotation() if labels else 0.0
    x_sizes = [_text_px(t, ticks, dpi) for t in x_texts]
    if rotation:
        r = np.radians(rotation)
        x_h = max(w * np.sin(r) + h * np.cos(r) for w, h in x_sizes)
    else:
        x_h = max(h for _w, h in x_sizes)
    left = 6 + y_w + tick_pad + (_text_px("Ag", LABEL_SIZE, dpi)[1] + label_pad
                                 if ax.get_ylabel() else 0)
    bottom = 6 + x_h + tick_pad + (_text_px("Ag", LABEL_SIZE, dpi)[1] + label_pad
                                   if ax.get_xlabel() else 0)
    title = ax.get_title(loc="left")
    top = 6 + (_text_px(title, TITLE_SIZE, dpi)[1] + 6 * pt if title else 0)
    # Half the widest x tick label may hang over the right edge.
    right = 6 + max(x_sizes[-1][0] / 2 if not rotation else 0, 4)
    return left, bottom, right, top


def place_axes(ax, margins: tuple[float, float, float, float]) -> None:
    """Position a figure's only Axes by pixel margins (kept as fractions until the next resize)."""
    fig = ax.figure
    width, height = fig.bbox.width, fig.bbox.height
    left, bottom, right, top = margins
    l_frac, r_frac = left / width, 1 - right / width
    b_frac, t_frac = bottom / height, 1 - top / height
    if r_frac - l_frac < 0.2:  # too narrow for the labels: keep a usable plot area
        l_frac, r_frac = min(l_frac, 0.4), max(r_frac, 0.6)
    if t_frac - b_frac < 0.2:
        b_frac, t_frac = min(b_frac, 0.4), max(t_frac, 0.6)
    ax.set_position([l_frac, b_frac, r_frac - l_frac, t_frac - b_frac])
    # A left title starts at the axes' left edge; beside long tick labels (importance) it may
    # not fit there, so it moves left as far as needed (down to the figure's edge).
    title = ax.get_title(loc="left")
    if title:
        axes_w = (r_frac - l_frac) * width
        overflow = l_frac * width + _text_px(title, TITLE_SIZE, fig.dpi)[0] - (width - 4)
        shift = min(max(overflow, 0.0), l_frac * width - 4)
        # y given: no automatic title placement, whose overlap check measures every tick label
        # on each draw (nothing sits above these panels' axes anyway).
        ax.set_title(title, fontsize=TITLE_SIZE, loc="left",
                     x=-shift / axes_w if shift > 0 else 0.0, y=1.0)


def plot_compare(figure, task: str, runs: Sequence[tuple[str, dict[str, Any]]],
                 target: str = "") -> None:
    """Overlaid curves of several runs: ROC and PR (classification) or residuals (regression)."""
    figure.clear()
    if task == "classification":
        a, b = figure.subplots(2, 1)  # stacked: each curve gets the full width
        plot_roc(a, runs, "ROC curves (holdout)")
        plot_pr(b, runs, "Precision-recall curves (holdout)")
    else:
        ax = figure.add_subplot(1, 1, 1)
        plot_residuals(ax, runs, target, "Residuals (holdout), overlaid")
