"""Compare several runs as `lablift run compare` does (core/run_compare.py): the first run is
A, the baseline; every metric with each run's value, its delta against A and whether that is
better or worse (lower is better for losses and errors), the setup, the parameters that
differ, the checks of each run's newest version, a retrained challenger's comparison with its
champion, and the notes (different holdout rows, unfinished runs, different tasks). The
tables are the CLI's own (core/run_compare_format.py), coloured through the palette; the
runs' curves are overlaid beside them. The comparison and the plots are read in a worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QStackedWidget, QTabWidget, QVBoxLayout, QWidget

from ....core import run_compare, run_compare_format, training
from ... import palette
from ...lazy_chart import LazyChart
from .common import BEST_ROLE, RIGHT, Cell, GridModel, clip, grid_view, html, note

MISSING = run_compare_format.MISSING_MD  # "—", as the other tables of the pane spell it
VERDICT_ROLES = {"better": "good", "worse": "bad", "same": "faint"}
CHECK_ROLES = {"pass": ("pass_text", "pass_bg"), "FAIL": ("fail_text", "fail_bg"),
               "info": ("faint", None)}


@dataclass
class ToneCell(Cell):
    foreground: str | None = None  # a palette role, looked up when painted


class CompareModel(GridModel):
    """GridModel whose cells may carry a text colour (a palette role: it follows the theme)."""

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid():
            row = self._cells[index.row()] if index.row() < len(self._cells) else []
            cell = row[index.column()] if index.column() < len(row) else None
            fg = getattr(cell, "foreground", None)
            return palette.brush(fg) if fg else None
        return super().data(index, role)


def load_compared(store, run_ids: Sequence[int]) -> tuple[dict[str, Any], dict[int, dict]]:
    """Worker side: the comparison of the runs (the first is A) and, when they share a task,
    each finished run's plots (a run whose artifact cannot be read is left out of the plot)."""
    cmp = run_compare.compare(store, list(run_ids))
    plots: dict[int, dict] = {}
    if cmp["task"] is not None and cmp["same_task"]:
        for r in cmp["runs"]:
            if r["status"] == "finished" and r["id"] not in plots:
                try:
                    plots[r["id"]] = training.load_plots(store, r["id"])
                except Exception:  # unreadable artifact: leave that run out of the plot
                    continue
    return cmp, plots


def sections(cmp: dict[str, Any]) -> dict[str, list[tuple[str, list[str], list[list[str]],
                                                           set[int]]]]:
    """The CLI's tables by part: setup, metrics, differences, retrain (one per challenger),
    checks; each (title, header, rows, right-aligned columns)."""
    out = run_compare_format.sections(cmp, MISSING, lambda v: v or MISSING)
    parts = {"setup": [out[0]], "metrics": [out[1]]}
    rest = out[2:]
    parts["differences"] = [rest.pop(0)] if cmp["differences"] else []
    parts["retrain"] = [rest.pop(0) for _ in cmp["retrain"]]
    parts["checks"] = [rest.pop(0)] if cmp["checks"] else []
    return parts


def metric_grid(cmp: dict[str, Any]) -> tuple[list[str], list[list[Cell]]]:
    """The metrics table: A's value, then per run its value, delta and verdict; the best value
    of a row highlighted, verdicts and deltas in the palette's good / bad colours."""
    (_title, header, rows, _right), = sections(cmp)["metrics"]
    grid = []
    for m, texts in zip(cmp["metrics"], rows):
        lower = m["direction"] == "lower"
        tip = f"{m['metric']}: " + ("lower is better" if lower else "higher is better")
        # "↓" for the CLI's "(lower is better)": the name column stays narrow (the tip says it)
        name = m["metric"] + (" ↓" if lower else "")
        cells: list[Cell] = [Cell(name, tooltip=tip)]
        best = set(m["best"] or ())
        for i, run in enumerate(cmp["runs"]):
            value_col = 1 if i == 0 else 3 * i - 1
            is_best = run["label"] in best
            cells.append(Cell(texts[value_col], align=RIGHT, bold=is_best,
                              background=BEST_ROLE if is_best else None,
                              tooltip="best of the compared runs" + (" (lower is better)"
                                                                      if lower else "")
                              if is_best else None))
            if i:
                tone = VERDICT_ROLES.get(m["verdicts"][i])
                cells.append(ToneCell(texts[value_col + 1], align=RIGHT, foreground=tone))
                cells.append(ToneCell(texts[value_col + 2], bold=tone in ("good", "bad"),
                                      foreground=tone))
        grid.append(cells)
    return [h.replace(" - ", " − ") for h in header], grid


def plain_grid(header: list[str], rows: list[list[str]], right: set[int]
               ) -> tuple[list[str], list[list[Cell]]]:
    return header, [[Cell(t, align=RIGHT if c in right else None) for c, t in enumerate(r)]
                    for r in rows]


def retrain_grid(cmp: dict[str, Any]) -> tuple[list[str], list[list[Cell]], str]:
    """The retrained challengers' tables, one after another (a title row between them)."""
    header: list[str] = []
    grid: list[list[Cell]] = []
    titles = []
    for t, (title, head, rows, right) in zip(cmp["retrain"], sections(cmp)["retrain"]):
        header = header or ["metric", "A", "challenger", "challenger − A", "vs A"]
        if len(cmp["retrain"]) > 1:
            grid.append([Cell(f"{t['label']} ({t['challenger']})", bold=True)])
        for m, texts in zip(t["metrics"], rows):
            tone = VERDICT_ROLES.get(m["verdict"])
            grid.append([Cell(texts[0]), Cell(texts[1], align=RIGHT),
                         Cell(texts[2], align=RIGHT),
                         ToneCell(texts[3], align=RIGHT, foreground=tone),
                         ToneCell(texts[4], bold=tone in ("good", "bad"), foreground=tone)])
        titles.append(title)
    return header, grid, "\n".join(titles)


def check_grid(cmp: dict[str, Any]) -> tuple[list[str], list[list[Cell]]]:
    (_title, header, rows, _right), = sections(cmp)["checks"] or [("", [], [], set())]
    grid = []
    for texts in rows:
        cells: list[Cell] = [Cell(texts[0])]
        for t in texts[1:]:
            fg, bg = CHECK_ROLES.get(t.split(" ")[0], (None, None))
            cells.append(ToneCell(t, foreground=fg, background=bg))
        grid.append(cells)
    return header, grid


def summary_html(cmp: dict[str, Any]) -> str:
    """Who is A, B...; each run against A (as the CLI's summary lines); the notes in the
    palette's warning colour."""
    who = " · ".join(f"<b>{r['label']}</b> = run {r['id']} {html(r['algorithm'] or '')}"
                     for r in cmp["runs"])
    lines = [f"{who} <span style='color:{palette.color('muted')}'>(deltas against A)</span>"]
    for s in cmp["summary"]:
        text = html(run_compare_format.summary_line(cmp, s))
        p = s["primary"]
        role = VERDICT_ROLES.get(p["verdict"]) if p else None
        lines.append(f"<span style='color:{palette.color(role)}'>{text}</span>" if role
                     else text)
    lines += [f"<span style='color:{palette.color('warn')}'>note: {html(n)}</span>"
              for n in cmp["notes"]]
    return "<br>".join(lines)


class ComparePage(QWidget):
    """The tables beside the chart when there is room for both; in a narrow window the chart
    is the tables' last tab ("Curves"), so that no column of the tables is cut."""

    WIDE = 900  # px: the metrics of two runs (five columns) beside a legible chart

    def __init__(self, tables: QTabWidget, chart: QWidget, split: QSplitter):
        super().__init__()
        self.tables, self.chart, self.split = tables, chart, split
        self.wide: bool | None = None

    def arrange(self, width: int) -> None:
        wide = width >= self.WIDE
        if wide == self.wide:
            return
        self.wide = wide
        index = self.tables.indexOf(self.chart)
        if wide:
            if index >= 0:
                self.tables.removeTab(index)
            self.split.addWidget(self.chart)
            self.split.setSizes([int(width * 0.58), int(width * 0.42)])
            self.chart.show()  # re-parented out of the tab, where it was hidden
        else:  # the tab widget shows it when its tab is chosen: not before (no chart made)
            self.tables.addTab(self.chart, "Curves")
            self.tables.setTabToolTip(self.tables.count() - 1, "The runs' holdout curves, "
                                      "overlaid")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.arrange(event.size().width())


class Compare:
    """The Compare tab of the Experiments pane."""

    def _build_compare(self) -> QWidget:
        self.compared: list[dict[str, Any]] = []  # the runs compared (core entries), A first
        self.comparison: dict[str, Any] | None = None
        self.compare_stack = QStackedWidget()
        self.compare_stack.addWidget(note("Select two or more runs in the table "
                                          "(Ctrl/Shift+click) and press Compare."))
        self.compare_tables = tables = QTabWidget()
        # matplotlib is imported in a worker: the chart is made once shown (gui/lazy_chart.py)
        self.compare_canvas = LazyChart(width=6.0, height=4.0)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(tables)
        split.setChildrenCollapsible(False)
        self.compare_split = split
        page = self.compare_page = ComparePage(tables, self.compare_canvas, split)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.compare_summary = QLabel()
        self.compare_summary.setTextFormat(Qt.TextFormat.RichText)
        self.compare_summary.setWordWrap(True)
        self.compare_summary.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.compare_summary)
        tables.setDocumentMode(True)
        row_height = self.fontMetrics().height() + 6
        self.compare_metrics_model = CompareModel(parent=self)
        self.compare_setup_model = CompareModel(parent=self)
        self.compare_params_model = CompareModel(parent=self)
        self.compare_checks_model = CompareModel(parent=self)
        self.compare_retrain_model = CompareModel(parent=self)
        self.compare_metrics = grid_view(self.compare_metrics_model, row_height)
        self.compare_setup = grid_view(self.compare_setup_model, row_height)
        self.compare_params = grid_view(self.compare_params_model, row_height)
        self.compare_checks = grid_view(self.compare_checks_model, row_height)
        self.compare_retrain = grid_view(self.compare_retrain_model, row_height)
        self.compare_equal = QLabel()
        self.compare_equal.setWordWrap(True)
        self.compare_equal.setStyleSheet(palette.css_text("muted"))
        params_page = QWidget()
        params_layout = QVBoxLayout(params_page)
        params_layout.setContentsMargins(0, 0, 0, 0)
        params_layout.addWidget(self.compare_params, 1)
        params_layout.addWidget(self.compare_equal)
        self.compare_retrain_title = QLabel()
        self.compare_retrain_title.setWordWrap(True)
        retrain_page = QWidget()
        retrain_layout = QVBoxLayout(retrain_page)
        retrain_layout.setContentsMargins(0, 0, 0, 0)
        retrain_layout.addWidget(self.compare_retrain_title)
        retrain_layout.addWidget(self.compare_retrain, 1)
        tables.addTab(self.compare_metrics, "Metrics")
        tables.addTab(self.compare_setup, "Setup")
        tables.addTab(params_page, "Differences")
        tables.addTab(self.compare_checks, "Checks")
        tables.addTab(retrain_page, "Retrain")
        tables.setTabToolTip(2, "Spec fields and parameters whose values differ")
        tables.setTabToolTip(3, "Checks of the version each run was last registered as")
        tables.setTabToolTip(4, "A retrained challenger of A's version against it, on the "
                                "rows the retrain held out")
        page.arrange(0)  # in its tab (not shown, not made) until a resize says there is room
        layout.addWidget(split, 1)
        self.compare_stack.addWidget(page)
        return self.compare_stack

    def compare_selected(self) -> None:
        ids = self.selected_run_ids()
        if len(ids) < 2:
            self.notify("Select two or more runs to compare.", "warning", "Compare runs")
            return
        if len(ids) > len(run_compare.LABELS):
            self.notify(f"Select at most {len(run_compare.LABELS)} runs to compare "
                        f"({len(ids)} are selected).", "warning", "Compare runs")
            return
        self.compare(sorted(ids))  # the oldest is A, the baseline

    def compare(self, run_ids: Sequence[int]):
        """Compare the runs (the first is A) in a worker, then show the result."""
        store, ids = self.store, list(run_ids)
        return self.start("compare", lambda progress, cancelled: load_compared(store, ids),
                          lambda result: self._show_compare(*result),
                          failure_title="Compare runs")

    def _show_compare(self, cmp: dict[str, Any], plots: dict[int, dict]) -> None:
        self.comparison = cmp
        self.compared = cmp["runs"]
        runs = cmp["runs"]
        tips = [None] + [f"{r['label']}: run {r['id']} {r['algorithm']}" for r in runs]
        self.compare_summary.setText(summary_html(cmp))
        header, grid = metric_grid(cmp)
        self.compare_metrics_model.set_grid(grid, header, [None] + [
            next((t for r, t in zip(runs, tips[1:]) if h.startswith(r["label"])), None)
            for h in header[1:]])
        parts = sections(cmp)
        (_t, setup_head, setup_rows, _r), = parts["setup"]
        head, grid = plain_grid(setup_head, setup_rows, set())
        self.compare_setup_model.set_grid(grid, head, tips)
        if parts["differences"]:
            (_t, head, rows, right), = parts["differences"]
            head, grid = plain_grid(head, rows, right)
            self.compare_params_model.set_grid(grid, head, tips)
        else:
            self.compare_params_model.set_grid([[Cell("(no differences)")]], ["parameter"])
        self.compare_equal.setText("Equal in all runs: " + run_compare_format.equal_text(cmp))
        head, grid = check_grid(cmp)
        self.compare_checks_model.set_grid(grid, head, tips)
        head, rows, title = retrain_grid(cmp)
        self.compare_retrain_model.set_grid(rows, head)
        self.compare_retrain_title.setText(title)
        tables = self.compare_tables
        tables.setTabText(2, f"Differences ({len(cmp['differences'])})")
        tables.setTabVisible(3, bool(cmp["checks"]))
        tables.setTabVisible(4, bool(cmp["retrain"]))
        for view in (self.compare_metrics, self.compare_setup, self.compare_params,
                     self.compare_checks, self.compare_retrain):
            view.resizeColumnsToContents()
            header_view = view.horizontalHeader()
            for c in range(header_view.count()):  # a long cell (features, notes) stays a cell
                header_view.resizeSection(c, min(header_view.sectionSize(c), 260))
        self._plot_compare(cmp, plots)
        self.compare_stack.setCurrentIndex(1)
        self.tabs.setCurrentIndex(1)

    def _plot_compare(self, cmp: dict[str, Any], plots: dict[int, dict]) -> None:
        runs, task = cmp["runs"], cmp["task"]
        if task is None or not cmp["same_task"]:
            tasks = sorted({r["task"] or "?" for r in runs})
            self.compare_canvas.show_message(
                f"The runs have different tasks ({', '.join(tasks)}): no common plot")
            return
        series = [(f"{r['label']}: #{r['id']} {clip(r['algorithm'], 18)}", plots[r["id"]])
                  for r in runs if r["id"] in plots]
        target = runs[0].get("target") or ""

        def draw(canvas) -> None:
            from ...experiment_charts import plot_compare
            plot_compare(canvas.figure, task, series, target)
            canvas.redraw()
        self.compare_canvas.plot(draw)
