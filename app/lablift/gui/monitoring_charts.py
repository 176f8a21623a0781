"""Monitoring plots on a given matplotlib Axes, from the plain data of core.monitoring.report.

Drift share per batch with the dataset-drift threshold, the feature x batch heatmap (colour:
PSI, the one statistic comparable across tests; drifted cells marked by their own test),
reference-vs-current distributions, metrics over time against the holdout figure and the gate,
latency percentiles with request volume. Each function returns False when there is nothing to
draw (and leaves a note on the Axes instead).
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np
from matplotlib.ticker import FuncFormatter, Locator, NullLocator

from . import palette
from .charts import SMALL_FONT, _short, _style, colormap
from .experiment_charts import color, nothing

TITLE_SIZE = SMALL_FONT + 1.5
LABEL_SIZE = SMALL_FONT + 0.5
PSI_MAX = 0.5  # colour scale top: PSI >= 0.25 is already a large shift by convention
P_VALUE_TESTS = {"ks", "chisquare", "z"}
TEST_NAMES = {"ks": "KS", "chisquare": "chi²", "z": "Z-test", "wasserstein": "Wasserstein",
              "jensenshannon": "Jensen-Shannon", "psi": "PSI"}
TEST_SHORT = {**TEST_NAMES, "jensenshannon": "JS", "z": "Z"}  # chart titles are narrow


def _title(ax, text: str) -> None:
    ax.set_title(text, fontsize=TITLE_SIZE, loc="left")


def _short_window(window: str) -> str:
    """'2026-03-02' -> '03-02', 'week of 2026-03-02' -> 'wk 03-02' (tick labels)."""
    m = re.fullmatch(r"(week of )?\d{4}-(\d\d-\d\d)", window)
    if m:
        return ("wk " if m.group(1) else "") + m.group(2)
    return _short(window)


def __getattr__(name: str) -> str:
    # The old constant, for callers that import it: the scheme in use's drift red.
    if name == "DRIFT_RED":
        return _red()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _red() -> str:
    return palette.color("chart_bad")


def batch_window(batch: dict[str, Any]) -> str:
    """The batch's window ('week of 2026-03-02', 'rows 1-120'), else the start of its time
    span, else ''."""
    if batch.get("window"):
        return str(batch["window"])
    span = batch.get("window_span") or {}
    return str(span.get("start") or "")[:10]


def batch_label(batch: dict[str, Any], multiline: bool = True) -> str:
    """'#3' plus its window, short for chart ticks ('#3\nwk 03-02') or in full on one line."""
    window = batch_window(batch)
    if not window:
        return f"#{batch['id']}"
    if multiline:
        return f"#{batch['id']}\n{_short_window(window)}"
    return f"#{batch['id']} {window}"


class _LabelLocator(Locator):
    """Ticks at 0..n-1, thinned at draw time so the labels fit the axis as it is now sized
    (a resized chart re-thins them; a fixed step would overlap or waste space)."""

    def __init__(self, labels: Sequence[str], vertical: bool = False):
        self.labels = list(labels)
        self.vertical = vertical

    def __call__(self):
        n = len(self.labels)
        if n == 0:
            return []
        box = self.axis.axes.get_window_extent()
        points = (box.height if self.vertical else box.width) * 72 / self.axis.axes.figure.dpi
        if self.vertical:
            per = (SMALL_FONT + 3) * max(len(str(l).split("\n")) for l in self.labels)
        else:
            longest = max(len(line) for l in self.labels for line in str(l).split("\n"))
            per = longest * SMALL_FONT * 0.62 + 8
        fit = max(1, int(points // per))
        step = max(1, math.ceil(n / fit))
        return list(range(0, n, step))

    def tick_values(self, vmin, vmax):
        return self()


def _batch_ticks(ax, labels: Sequence[str], axis: str = "x") -> None:
    labels = list(labels)

    def label(value, _pos=None) -> str:
        i = int(round(value))
        return labels[i] if 0 <= i < len(labels) and abs(value - i) < 1e-6 else ""
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(_LabelLocator(labels, vertical=axis != "x"))
    target.set_major_formatter(FuncFormatter(label))
    target.set_minor_locator(NullLocator())
    ax.tick_params(axis=axis, labelsize=SMALL_FONT - 0.5 if axis == "x" else SMALL_FONT)
    if axis == "x":
        ax.set_xlim(-0.6, len(labels) - 0.4)


def _batches_with(batches: Sequence[dict[str, Any]], ids: set) -> list[dict[str, Any]]:
    """The batches that have data for a chart, in batch order (the x axis of that chart)."""
    return [b for b in batches if b["id"] in ids]


def plot_drift_share(ax, batches: Sequence[dict[str, Any]], threshold: float) -> bool:
    """Bars of the share of drifted features per batch (red: dataset drift); the threshold as
    a dashed line."""
    if not batches:
        return nothing(ax, "No batches")
    _style(ax)
    x = np.arange(len(batches))
    share = np.array([b.get("drift_share") or 0.0 for b in batches], dtype=float)
    drifted = np.array([bool(b.get("dataset_drift")) for b in batches])
    if (~drifted).any():
        ax.bar(x[~drifted], share[~drifted], color=palette.color("chart_accent"), width=0.6,
               label="no dataset drift")
    if drifted.any():
        ax.bar(x[drifted], share[drifted], color=_red(), width=0.6, label="dataset drift")
    ax.axhline(threshold, color=palette.color("chart_strong"), linestyle="--", linewidth=1,
               label=f"threshold {threshold:g}")
    if len(batches) <= 20:
        for xi, s, b in zip(x, share, batches):
            n, total = b.get("n_drifted"), b.get("n_columns")
            text = f"{n}/{total}" if n is not None and total else f"{s:.2f}"
            ax.text(xi, s + 0.02, text, ha="center", va="bottom", fontsize=SMALL_FONT - 1,
                    color=palette.color("chart_strong"))
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("share of features drifted", fontsize=LABEL_SIZE)
    ax.grid(axis="x", visible=False)
    _batch_ticks(ax, [batch_label(b) for b in batches])
    ax.legend(fontsize=SMALL_FONT - 1, frameon=False, loc="upper left", ncols=3)
    _title(ax, "Drift share per batch")
    return True


def plot_drift_heatmap(ax, features: Sequence[str], batches: Sequence[dict[str, Any]],
                       psi: Sequence[Sequence[float | None]],
                       drifted: Sequence[Sequence[bool | None]],
                       selected: tuple[int, int] | None = None):
    """Features down, batches across; colour = PSI, 'x' = drifted by the column's test, grey =
    not measured. Returns the image (for a colorbar) or None when there is nothing."""
    if not features or not batches:
        nothing(ax, "No drift measured yet")
        return None
    values = np.array([[np.nan if v is None else float(v) for v in row] for row in psi],
                      dtype=float)
    masked = np.ma.masked_invalid(values)
    cmap = colormap("psi", bad="chart_missing")  # grey: not measured in that batch
    top = max(PSI_MAX, float(np.nanmax(values)) if np.isfinite(values).any() else 0.0)
    image = ax.imshow(masked, cmap=cmap, vmin=0.0, vmax=min(top, 1.0), aspect="auto",
                      interpolation="nearest")
    image.clipped = top > 1.0  # the colorbar then shows an arrow: larger values exist
    rows, cols = np.nonzero(np.array([[bool(v) for v in row] for row in drifted], dtype=bool))
    if rows.size:
        ax.scatter(cols, rows, marker="x", s=28, linewidths=1.4,
                   color=palette.color("chart_marker"),
                   label="drifted (test)")
    if selected is not None:
        i, j = selected
        ax.add_patch(_cell_outline(j, i))
    _batch_ticks(ax, [_short(f) for f in features], axis="y")
    _batch_ticks(ax, [batch_label(b) for b in batches])
    ax.set_xlim(-0.5, len(batches) - 0.5)
    ax.set_ylim(len(features) - 0.5, -0.5)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if rows.size:
        ax.legend(fontsize=SMALL_FONT - 1, frameon=False, loc="lower left",
                  bbox_to_anchor=(0.0, 1.0), borderaxespad=0.1, handletextpad=0.2)
    ax.set_title("Feature drift across batches (colour: PSI)", fontsize=TITLE_SIZE, loc="right")
    return image


def _cell_outline(x: int, y: int):
    from matplotlib.patches import Rectangle
    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False,
                     edgecolor=palette.color("chart_accent"), linewidth=2.2,
                     gid="selected-cell", clip_on=False)  # whole outline on edge cells too


def describe_test(cell: dict[str, Any] | None, short: bool = False) -> str:
    """'KS p = 0.0003 (≤ 0.05): drifted · PSI 0.42' for one feature of one batch."""
    if not cell or not cell.get("test"):
        return "not measured"
    test = cell["test"]
    name = (TEST_SHORT if short else TEST_NAMES).get(test, test)
    thr = cell.get("threshold")
    if test in P_VALUE_TESTS and cell.get("p_value") is not None:
        head = f"{name} p = {cell['p_value']:.2g}"
        head += f" ({'≤' if cell.get('drifted') else '>'} {thr:g})" if thr is not None else ""
    elif cell.get("statistic") is not None:
        head = f"{name} {cell['statistic']:.3g}"
        head += f" ({'≥' if cell.get('drifted') else '<'} {thr:g})" if thr is not None else ""
    else:
        head = name
    head += ": drifted" if cell.get("drifted") else ": no drift"
    if cell.get("psi") is not None:
        head += f" · PSI {cell['psi']:.3g}"
    return head


def plot_distribution(ax, hist: dict[str, Any] | None, feature: str, batch: str,
                      summary: str = "") -> bool:
    """Reference (training) against the batch: shares per bin for numeric features, per
    category (horizontal bars) for categorical ones."""
    if not hist:
        return nothing(ax, f"No distribution stored for {feature} in batch {batch}")
    _style(ax)
    ref = np.asarray(hist.get("reference") or [], dtype=float)
    cur = np.asarray(hist.get("current") or [], dtype=float)
    n_ref, n_cur = int(ref.sum()), int(cur.sum())
    ref_share = ref / n_ref if n_ref else ref
    cur_share = cur / n_cur if n_cur else cur
    ref_label = f"reference (training, {n_ref:,} rows)"
    cur_label = f"batch {batch} ({n_cur:,} rows)"
    if "edges" in hist:
        edges = np.asarray(hist["edges"], dtype=float)
        ax.stairs(ref_share, edges, fill=True,
                  color=palette.color("chart_reference"), alpha=0.55,
                  label=ref_label)
        ax.stairs(cur_share, edges, color=_red(), linewidth=1.8, label=cur_label)
        ax.set_xlabel(feature, fontsize=LABEL_SIZE)
        ax.set_ylabel("share of rows", fontsize=LABEL_SIZE)
        ax.grid(axis="x", visible=False)
    else:
        cats = [_short(c) for c in hist.get("categories") or []][::-1]
        y = np.arange(len(cats))
        ax.barh(y + 0.2, ref_share[::-1], height=0.4,
                color=palette.color("chart_reference"), label=ref_label)
        ax.barh(y - 0.2, cur_share[::-1], height=0.4, color=_red(), label=cur_label)
        ax.set_yticks(y, cats, fontsize=SMALL_FONT)
        ax.set_xlabel("share of rows", fontsize=LABEL_SIZE)
        ax.grid(axis="y", visible=False)
    ax.legend(fontsize=SMALL_FONT - 1, frameon=False, loc="best")
    _title(ax, f"{_short(feature)} in batch {batch.split()[0]} vs reference"
               + (f"\n{summary}" if summary else ""))
    return True


def plot_metric_series(ax, metric: str, batches: Sequence[dict[str, Any]],
                       points: Sequence[dict[str, Any]], holdout: float | None,
                       gates: Sequence[dict[str, Any]], tolerance: float | None,
                       lower_is_better: bool = False) -> bool:
    """One metric per labelled batch, with the holdout figure and the gate (or, without a
    gate, the alert level holdout ± tolerance) as horizontal lines."""
    pts = [p for p in points if p.get("value") is not None]
    if not pts:
        return nothing(ax, f"No {metric} yet: ingest a batch with a label column")
    _style(ax)
    shown = _batches_with(batches, {p["batch_id"] for p in pts})
    index = {b["id"]: i for i, b in enumerate(shown)}
    x = [index[p["batch_id"]] for p in pts]
    y = [p["value"] for p in pts]
    ax.plot(x, y, marker="o", color=color(0), linewidth=1.8, label=f"{metric} on the batch")
    if holdout is not None:
        ax.axhline(holdout, color=color(2), linestyle=":", linewidth=1.6,
                   label=f"holdout {holdout:.3g}")
    gate_lines = [g for g in gates if str(g.get("metric", "")).removeprefix("cv.") == metric
                  and g.get("threshold") is not None]
    for g in gate_lines:
        ax.axhline(float(g["threshold"]), color=_red(), linestyle="--", linewidth=1.4,
                   label=f"gate {g.get('op', '')} {float(g['threshold']):g}")
    fails = np.zeros(len(y), dtype=bool)
    values = np.asarray(y, dtype=float)
    for g in gate_lines:
        t = float(g["threshold"])
        fails |= values < t if g.get("op", ">=") == ">=" else values > t
    if not gate_lines and holdout is not None and tolerance is not None:
        level = holdout * (1 + tolerance) if lower_is_better else holdout - tolerance
        ax.axhline(level, color=_red(), linestyle="--", linewidth=1.2, alpha=0.8,
                   label=f"alert level {level:.3g}")
        fails |= values > level if lower_is_better else values < level
    if fails.any():
        ax.scatter(np.asarray(x)[fails], values[fails], s=55, color=_red(), zorder=3,
                   label="fails the gate" if gate_lines else "beyond the alert level")
    ax.set_ylabel(metric, fontsize=LABEL_SIZE)
    _batch_ticks(ax, [batch_label(b) for b in shown])
    ax.margins(y=0.25)
    ax.legend(fontsize=SMALL_FONT - 1, frameon=False, loc="best")
    _title(ax, f"{metric} over time (labelled batches)")
    return True


def plot_latency(ax, batches: Sequence[dict[str, Any]], latency: Sequence[dict[str, Any]],
                 budget: float | None, error_budget: float | None = None) -> bool:
    """p50/p95/p99 latency (ms) per log batch, the p99 budget, requests as grey bars on a
    second axis with the failed ones in red on top of them; the legend gives the error rate
    over all requests (in red above `error_budget`)."""
    rows = [r for r in latency if r.get("p50") is not None or r.get("requests")]
    if not rows:
        return nothing(ax, "No prediction logs yet: latency comes from serve.py --log files")
    _style(ax)
    shown = _batches_with(batches, {r["batch_id"] for r in rows})
    index = {b["id"]: i for i, b in enumerate(shown)}
    x = np.array([index[r["batch_id"]] for r in rows], dtype=float)
    volume = ax.twinx()
    requests = [r.get("requests") or 0 for r in rows]
    failed = [r.get("errors") or 0 for r in rows]
    rate = sum(failed) / max(sum(requests), 1)
    volume.bar(x, requests, width=0.5, color=palette.color("chart_volume"), zorder=0,
               label=f"requests ({rate:.1%} failed)")
    if any(failed):  # the failed part of each bar, from its top down
        volume.bar(x, failed, bottom=[n - f for n, f in zip(requests, failed)], width=0.5,
                   color=_red(), alpha=0.75, label="failed", zorder=0)
    volume.set_ylim(0, max(max(requests), 1) * 2.2)  # bars in the lower half, under the legend
    muted = palette.color("chart_muted")
    volume.set_ylabel("requests per batch", fontsize=LABEL_SIZE, color=muted)
    volume.tick_params(labelsize=SMALL_FONT, colors=muted)
    volume.spines[["top"]].set_visible(False)
    ax.set_zorder(volume.get_zorder() + 1)
    ax.patch.set_visible(False)  # the volume bars show through behind the lines
    for i, key in enumerate(("p50", "p95", "p99")):
        ax.plot(x, [r.get(key) for r in rows], marker="o", markersize=4, color=color(i),
                linewidth=1.6, label=key)
    if budget is not None:
        ax.axhline(budget, color=_red(), linestyle="--", linewidth=1.3,
                   label=f"p99 budget {budget:g} ms")
    ax.set_ylabel("latency (ms)", fontsize=LABEL_SIZE)
    ax.set_ylim(bottom=0)
    _batch_ticks(ax, [batch_label(b) for b in shown])
    lines, labels = ax.get_legend_handles_labels()
    bars, bar_labels = volume.get_legend_handles_labels()
    legend = ax.legend(lines + bars, labels + bar_labels, fontsize=SMALL_FONT - 1,
                       frameon=False, loc="upper left", ncols=3)
    if error_budget is not None and rate > error_budget:
        for text in legend.get_texts():
            if text.get_text().startswith("requests ("):
                text.set_color(_red())
    ax.margins(y=0.3)
    _title(ax, "Latency per batch (prediction logs)")
    return True
