"""Compare several runs: metrics side by side (the best highlighted), the params that differ,
and their curves overlaid. The runs and their plots are read in a worker."""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QStackedWidget, QTabWidget, QWidget

from ....core import evaluation, training
from ...charts import ChartCanvas
from ...experiment_charts import plot_compare
from .common import BEST_ROLE, RIGHT, Cell, GridModel, clip, fmt_metric, grid_view, note, text_of

SPEC_KEYS = ("dataset_id", "target", "features", "test_size", "cv", "seed", "sensitive")


def _holdout(run: dict[str, Any]) -> dict[str, Any]:
    return (run.get("metrics") or {}).get("holdout") or {}


def _cv_mean(run: dict[str, Any], name: str) -> Any:
    return (((run.get("metrics") or {}).get("cv") or {}).get(name) or {}).get("mean")


def common_task(runs: Sequence[dict[str, Any]]) -> str | None:
    tasks = {r["task"] for r in runs}
    return next(iter(tasks)) if len(tasks) == 1 else None


def load_compared(store, run_ids: Sequence[int]) -> tuple[list[dict], dict[int, dict]]:
    """Worker side: the runs (by id) and, when they share a task, each finished run's plots
    (a run whose artifact cannot be read is left out of the plot)."""
    runs = [training.get_run(store, rid) for rid in sorted(run_ids)]
    plots: dict[int, dict] = {}
    if common_task(runs) is not None:
        for r in runs:
            if r["status"] == "finished":
                try:
                    plots[r["id"]] = training.load_plots(store, r)
                except Exception:  # unreadable artifact: leave that run out of the plot
                    continue
    return runs, plots


def metric_rows(runs: Sequence[dict[str, Any]]) -> list[list[Cell]]:
    """One row per metric (holdout, then CV means), the best value of each row highlighted."""
    task = common_task(runs)
    names = list(evaluation.metric_names(task)) if task else []
    for r in runs:
        names += [n for n in _holdout(r) if n not in names]
    rows: list[tuple[str, list]] = [(n, [_holdout(r).get(n) for r in runs]) for n in names]
    for n in names:
        values = [_cv_mean(r, n) for r in runs]
        if any(v is not None for v in values):
            rows.append((f"CV {n}", values))
    out = []
    for n, values in rows:
        present = [v for v in values if v is not None]
        lower = n.replace("CV ", "") in evaluation.LOWER_IS_BETTER
        best = (min(present) if lower else max(present)) if len(present) > 1 else None
        tip = "best of the compared runs" + (" (lower is better)" if lower else "")
        out.append([Cell(n)] + [
            Cell(fmt_metric(v), align=RIGHT, bold=True, background=BEST_ROLE, tooltip=tip)
            if best is not None and v == best else Cell(fmt_metric(v), align=RIGHT)
            for v in values])
    return out


def param_diff_rows(runs: Sequence[dict[str, Any]]) -> list[list[Cell]]:
    """The spec fields, algorithm and params whose values differ between the runs."""
    keys = sorted(set().union(*[(r.get("params") or {}).keys() for r in runs]))
    candidates = ([(f"spec: {k}", [text_of((r.get("spec") or {}).get(k)) for r in runs])
                   for k in SPEC_KEYS]
                  + [("algorithm", [text_of(r.get("algorithm")) for r in runs])]
                  + [(k, [text_of((r.get("params") or {}).get(k, "—")) for r in runs])
                     for k in keys])
    diff = [[Cell(k)] + [Cell(v) for v in vals] for k, vals in candidates if len(set(vals)) > 1]
    return diff or [[Cell("(no differences)")]]


class Compare:
    """The Compare tab of the Experiments pane."""

    def _build_compare(self) -> QWidget:
        self.compared: list[dict[str, Any]] = []
        self.compare_stack = QStackedWidget()
        self.compare_stack.addWidget(note("Select two or more runs in the table "
                                          "(Ctrl/Shift+click) and press Compare."))
        page = QWidget()
        layout = QHBoxLayout(page)
        layout.setContentsMargins(6, 6, 6, 6)
        tables = QTabWidget()
        tables.setDocumentMode(True)
        row_height = self.fontMetrics().height() + 6
        self.compare_metrics_model = GridModel(parent=self)
        self.compare_params_model = GridModel(parent=self)
        self.compare_metrics = grid_view(self.compare_metrics_model, row_height)
        self.compare_params = grid_view(self.compare_params_model, row_height)
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

    def compare_selected(self) -> None:
        ids = self.selected_run_ids()
        if len(ids) < 2:
            self.notify("Select two or more runs to compare.", "warning", "Compare runs")
            return
        self.compare(ids)

    def compare(self, run_ids: Sequence[int]):
        """Read the runs (and their plots) in a worker, then show them side by side."""
        store, ids = self.store, list(run_ids)
        return self.start("compare", lambda progress, cancelled: load_compared(store, ids),
                          lambda result: self._show_compare(*result))

    def _show_compare(self, runs: list[dict[str, Any]], plots: dict[int, dict]) -> None:
        self.compared = runs
        labels = [f"#{r['id']} {r['algorithm']}" for r in runs]
        # Two-line headers keep the run columns narrow: "#12" over the algorithm.
        headers = [f"#{r['id']}\n{clip(r['algorithm'], 16)}" for r in runs]
        self.compare_metrics_model.set_grid(metric_rows(runs), ["Metric"] + headers,
                                            [None] + labels)
        self.compare_metrics.resizeColumnsToContents()
        self.compare_params_model.set_grid(param_diff_rows(runs), ["Parameter"] + headers,
                                           [None] + labels)
        self.compare_params.resizeColumnsToContents()
        task = common_task(runs)
        if task is None:
            tasks = sorted(r["task"] or "?" for r in runs)
            self.compare_canvas.show_message("The runs have different tasks "
                                             f"({', '.join(sorted(set(tasks)))}): no common plot")
        else:
            series = [(label, plots[r["id"]]) for label, r in zip(labels, runs) if r["id"] in plots]
            plot_compare(self.compare_canvas.figure, task, series, runs[0].get("target") or "")
            self.compare_canvas.redraw()
        self.compare_stack.setCurrentIndex(1)
        self.tabs.setCurrentIndex(1)
