"""Plots of a run's evaluation (core.evaluation plot data) on a given matplotlib Axes.

Confusion matrix, ROC and precision-recall curves, residuals, permutation importance, and the
overlaid versions for comparing runs. Each function takes an Axes and the plain JSON data the
run recorded in its "plots" artifact, and returns False when there is nothing to draw.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .charts import ACCENT, SMALL_FONT, _short, _style

TITLE_SIZE = SMALL_FONT + 1.5
LABEL_SIZE = SMALL_FONT + 0.5
# Colour-blind-safe cycle (Okabe-Ito) for overlaid runs and classes.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")
MAX_BARS = 12
MAX_FEATURE_LABEL = 16


def _clip(text, limit: int = MAX_FEATURE_LABEL) -> str:
    s = str(text)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nothing(ax, text: str) -> bool:
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", color="#777777", fontsize=SMALL_FONT,
            transform=ax.transAxes, wrap=True)
    return False


def _title(ax, text: str) -> None:
    ax.set_title(text, fontsize=TITLE_SIZE, loc="left")


def plot_confusion(ax, cm: dict[str, Any] | None, title: str = "Confusion matrix (holdout)") -> bool:
    """Counts with true classes down and predicted classes across; cells annotated."""
    if not cm or not cm.get("matrix"):
        return nothing(ax, "No confusion matrix")
    matrix = np.asarray(cm["matrix"], dtype=float)
    labels = [_short(v) for v in cm["labels"]]
    ax.imshow(matrix, cmap="Blues", aspect="auto")
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
                        color="white" if matrix[i, j] > high * 0.6 else "#222222")
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
    ax.plot([0, 1], [0, 1], color="#aaaaaa", linestyle="--", linewidth=0.8, label="chance")
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
    ax.axhline(0.0, color="#555555", linewidth=0.8)
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
    ax.scatter(actual, predicted, s=9, alpha=0.55, color=ACCENT, edgecolors="none")
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="#aaaaaa", linestyle="--", linewidth=0.8,
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
    ax.hist(res["residual"], bins=30, color=ACCENT, edgecolor="white", linewidth=0.5)
    ax.axvline(0.0, color="#555555", linewidth=0.8)
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
    ax.barh(ypos, means, xerr=[r.get("std", 0.0) for r in rows], color=ACCENT, height=0.65,
            error_kw={"elinewidth": 0.8, "ecolor": "#555555", "capsize": 2})
    ax.set_yticks(ypos, [_clip(r["feature"]) for r in rows], fontsize=SMALL_FONT)
    ax.axvline(0.0, color="#555555", linewidth=0.6)
    score = "accuracy" if task == "classification" else "R²" if task == "regression" else "score"
    ax.set_xlabel(f"drop in {score}", fontsize=LABEL_SIZE)
    ax.grid(axis="y", visible=False)
    more = len(importance) - len(rows)
    # "Feature importance" rather than "permutation importance": it fits beside long labels.
    _title(ax, "Feature importance" + (f" (top {len(rows)})" if more > 0 else ""))
    return True


def plot_run(figure, run: dict[str, Any], plots: dict[str, Any]) -> None:
    """The run-detail figure: 2×2 panels chosen by the run's task."""
    figure.clear()
    axes = figure.subplots(2, 2).ravel()
    task, target = run.get("task"), run.get("target") or ""
    if task == "classification":
        plot_confusion(axes[0], plots.get("confusion_matrix"))
        plot_roc(axes[1], [("", plots)])
        plot_pr(axes[2], [("", plots)])
    else:
        plot_actual_vs_predicted(axes[0], plots, target)
        plot_residuals(axes[1], [("", plots)], target)
        plot_residual_histogram(axes[2], plots)
    plot_importance(axes[3], plots.get("importance"), task or "")


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
