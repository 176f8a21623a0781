"""The evidence of one model version, shared by the Registry and Approvals panes.

`EvidenceView.show_detail(detail)` takes a `core.registry.version_detail()` dict and shows:
metrics against gates, the fairness report (table and chart), the model card, the lineage
chain (dataset -> run -> version -> approvals -> bundles) and the diff against production.
It only displays; the panes read the store and act.
"""

from __future__ import annotations

import html
import re
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QScrollArea, QSizePolicy, QSplitter, QStackedWidget,
                               QTableView, QTabWidget, QTextBrowser, QVBoxLayout, QWidget)

from ..core.gates import LOWER_IS_BETTER
from . import context_menu, palette
from .charts import SMALL_FONT, ChartCanvas, _style
from .tablemodels import CellsModel
from .format import fit_name, short_name, short_time
from .format import delta as fmt_delta, metric as fmt  # noqa: F401 (re-exported)

# Palette roles of table cells (CellsModel looks them up when it paints, in the scheme in use).
PASS_BG, PASS_FG = "pass_bg", "pass_text"
FAIL_BG, FAIL_FG = "fail_bg", "fail_text"
INFO_FG = "muted"
BETTER_FG, WORSE_FG = "good", "bad"
MAIN_METRIC = {"classification": "roc_auc", "regression": "r2"}
# core.modelcard's note on an unwritten section names the CLI command; the GUI names its button.
CLI_CARD_HINT = re.compile(r"_Not written yet\. An analyst can write it while the version is "
                           r"pending: `lablift model card [^`]*`\._")


def _details_text(details: Any) -> str:
    """One line for an audit entry's details: the set keys, nested values summarised."""
    if not isinstance(details, dict):
        return "" if details is None else str(details)
    parts = []
    for k, v in details.items():
        if v in (None, "", [], {}):
            continue
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items() if not isinstance(b, (dict, list)))
        elif isinstance(v, list):
            v = ", ".join(map(str, v))
        parts.append(f"{k}: {v}")
    return "; ".join(parts)


def _history_cells(e: dict[str, Any]) -> list[str]:
    """Action and details of an audit entry; an alias move reads as one: 'production rolled
    back', 'loan:3 → loan:2'."""
    d = e.get("details")
    if e["action"] not in ("alias.set", "alias.remove") or not isinstance(d, dict):
        return [e["action"], _details_text(d)]
    verb = ("removed" if e["action"] == "alias.remove"
            else "rolled back" if d.get("rollback") else "set")
    return [f"{d.get('alias')} {verb}", f"{d.get('old') or 'unset'} → {d.get('new') or 'unset'}"]


def _short_label(text: Any, limit: int = 12) -> str:
    s = str(text)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def status_badge(status: str) -> str:
    """Rich-text badge for a version status."""
    fg, bg = palette.badge(status)
    return (f"<span style='background:{bg}; color:{fg}; font-weight:600'>"
            f"&nbsp;{html.escape(status)}&nbsp;</span>")


def main_metric(run: dict[str, Any]) -> tuple[str, float | None] | None:
    hold = (run.get("metrics") or {}).get("holdout") or {}
    name = MAIN_METRIC.get(run.get("task") or "", "")
    if name not in hold:
        name = next(iter(hold), None)
    return (name, hold.get(name)) if name else None


def heading(text: str) -> QLabel:
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


def note_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {palette.color('muted')};")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def make_table(headers: list[str], stretch: int | None = None) -> QTableView:
    """A read-only table view over a CellsModel; column `stretch` takes the spare width (None:
    no column does, so numbers stay next to their labels)."""
    table = QTableView()
    table.setModel(CellsModel(headers, table))
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    table.horizontalHeader().setStretchLastSection(False)
    table.stretch_column = stretch
    table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft
                                                 | Qt.AlignmentFlag.AlignVCenter)
    context_menu.install(table, name="evidence")
    return table


def set_headers(table: QTableView, headers: list[str]) -> None:
    table.model().set_headers(headers)


def fill_table(table: QTableView, rows: list[list[Any]], numeric: set[int] = frozenset()
               ) -> None:
    """Rows of cells (text, or (text, fg, bg) tuples); numeric columns right-aligned."""
    right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
    cells = []
    for row in rows:
        out = []
        for c, cell in enumerate(row):
            fg = bg = None
            if isinstance(cell, tuple):
                cell, fg, bg = cell
            out.append((cell if isinstance(cell, str) else fmt(cell), fg, bg,
                        right if c in numeric else None))
        cells.append(out)
    table.model().set_rows(cells)
    header = table.horizontalHeader()
    stretch = getattr(table, "stretch_column", None)
    if stretch is not None and stretch < table.model().columnCount():
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    table.resizeColumnsToContents()
    for c in range(table.model().columnCount()):
        if header.sectionResizeMode(c) != QHeaderView.ResizeMode.Stretch:
            header.resizeSection(c, min(max(header.sectionSize(c) + 16, 80), 360))


def result_cell(passed: bool) -> tuple[str, str, str]:
    return ("pass", PASS_FG, PASS_BG) if passed else ("FAIL", FAIL_FG, FAIL_BG)


def table_height(table: QTableView, max_rows: int) -> int:
    rows = min(max(table.model().rowCount(), 1), max_rows)
    return table.horizontalHeader().height() + rows * table.verticalHeader().defaultSectionSize() + 6


# -- fairness chart ---------------------------------------------------------------------------
def plot_group_rates(ax, report: dict[str, Any]) -> bool:
    """Grouped bars per group: selection rate, TPR, FPR (binary classifiers) or MAE/RMSE
    (regressors), with the four-fifths line over the selection rates. False if nothing to draw."""
    groups = report.get("groups") or []
    _style(ax)
    ax.grid(axis="x", visible=False)
    if not groups:
        ax.set_axis_off()
        return False
    multiclass = report.get("task") != "regression" and report.get("mode") != "binary"
    if report.get("task") == "regression":
        metrics = [("mae", "MAE"), ("rmse", "RMSE")]
    elif not multiclass:
        metrics = [("selection_rate", "selection rate"), ("tpr", "TPR"), ("fpr", "FPR")]
    else:  # multiclass: each class's selection rate (one-vs-rest) by group
        metrics = [(c, _short_label(c)) for c in (report.get("per_class") or {})]

    def value(g: dict, key: str) -> float:
        v = (g.get("selection_rate") or {}).get(key) if multiclass else g.get(key)
        return v or 0.0

    n = len(groups)
    width = 0.8 / n
    for i, g in enumerate(groups):
        xs = [m + (i - (n - 1) / 2) * width for m in range(len(metrics))]
        ys = [value(g, key) for key, _ in metrics]
        label = f"{g['group']} (n={g['count']})"
        ax.bar(xs, ys, width=width * 0.92, color=palette.series(i),
               label=label)
    ax.set_xticks(range(len(metrics)), [t for _, t in metrics])
    if len(metrics) > 6:
        ax.tick_params(axis="x", labelrotation=25)
    if report.get("task") != "regression":
        ax.set_ylim(0, 1.08)
        ax.set_ylabel("selection rate" if multiclass else "rate", fontsize=SMALL_FONT + 0.5)
    if report.get("task") != "regression":
        # The four-fifths line over each selection-rate cluster: 0.8 x the highest group's rate.
        threshold = (report.get("four_fifths") or {}).get("threshold", 0.8)
        keys = [k for k, _ in metrics] if multiclass else ["selection_rate"]
        labelled = False
        for m, key in enumerate(keys):
            top = max(value(g, key) for g in groups)
            if top > 0:
                y = threshold * top
                label = None
                if not labelled:
                    label = ("4/5 of top selection rate" if multiclass
                             else f"4/5 of top selection rate ({y:.2f})")
                    labelled = True
                ax.hlines(y, m - 0.45, m + 0.45, colors=palette.color("chart_bad"), linestyles="--",
                          linewidth=1.2, label=label)
    # Below the axes (outside, laid out by constrained layout), so it never hides a bar.
    ax.figure.legend(fontsize=SMALL_FONT, loc="outside lower center", frameon=False,
                     ncol=min(n + 1, 3))
    ax.set_title(f"By {report.get('sensitive') or 'group'}", fontsize=SMALL_FONT + 1.5,
                 loc="left")
    return True



def gui_note(note: str) -> str:
    """A check's note as the GUI says it: the core's note for "no gates" names the command
    line; in the app, store-wide gates are in the Settings dialog."""
    if note.startswith("no metric gates are configured"):
        first = note.split(";")[0]
        return (first[:1].upper() + first[1:] + ". An admin sets store-wide default gates in "
                "File → Settings… → Gates (a model's own gates: `lablift model gates`).")
    return note


class HiddenAwareChart(ChartCanvas):
    """Draws only while visible: a chart on a hidden tab has no real size yet, and laying out
    a legend at the placeholder size fails. The pending draw happens when it is shown."""

    _stale = False

    def draw(self) -> None:
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        super().draw()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self.draw_idle()

    def sizeHint(self) -> QSize:
        # The canvas' own hint is its current size, which would keep a scrolled page as tall
        # as it once was; hint the minimum and let the layout hand out the rest.
        return self.minimumSize()


# -- lineage -----------------------------------------------------------------------------------
class StepCard(QFrame):
    """One link of the lineage chain: a title, a few lines and optional buttons."""

    def __init__(self, kind: str, title: str, lines: list[str], parent=None):
        super().__init__(parent)
        self.setObjectName("step")
        self.setStyleSheet(f"#step {{ background: {palette.color('panel_bg')}; border: 1px "
                           f"solid {palette.color('panel_border')}; border-radius: 4px; }}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        faint, muted = palette.color("faint"), palette.color("muted")
        text = QLabel(f"<span style='color:{faint}; font-size:8.5pt'>{html.escape(kind.upper())}"
                      f"</span><br><b>{title}</b>"
                      + "".join(f"<br><span style='color:{muted}'>{line}</span>"
                                for line in lines))
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = text
        layout.addWidget(text, 1)
        self.buttons = QVBoxLayout()
        layout.addLayout(self.buttons)

    def add_button(self, text: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.clicked.connect(slot)
        self.buttons.addWidget(button)
        return button


def _arrow() -> QLabel:
    label = QLabel("↓")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet(f"color: {palette.color('faint')}; font-size: 13pt;")
    return label


class LineageChain(QScrollArea):
    """dataset NAME:VERSION (sha256) -> run #id -> version -> approvals -> bundles."""

    open_run = Signal(int)
    open_dataset = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.cards: list[StepCard] = []
        self.run_button: QPushButton | None = None
        self.data_button: QPushButton | None = None
        self.setWidget(QWidget())

    def show_detail(self, d: dict[str, Any]) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(2)
        self.cards = []
        e = html.escape
        ds, run = d.get("dataset"), d.get("run") or {}
        if ds:
            card = StepCard("dataset", f"{e(short_name(ds['name']))}:{ds['version']}", [
                f"sha256 <code>{ds['sha256'][:12]}</code>… · {ds.get('rows') or 0:,} rows × "
                f"{ds.get('columns')} columns",
                f"imported by {e(str(ds.get('created_by')))} on {short_time(ds.get('created_at'))}"])
            self.data_button = card.add_button("Open data", lambda: self.open_dataset.emit(ds["id"]))
        else:
            card = StepCard("dataset", "unknown", ["the run's dataset is not in the store"])
            self.data_button = None
        self.cards.append(card)
        metric = main_metric(run)
        run_lines = [f"{e(str(run.get('algorithm')))} · {e(str(run.get('task')))} of "
                     f"<code>{e(str(run.get('target')))}</code> · seed {run.get('seed')}"]
        if metric:
            run_lines.append(f"{metric[0]} {fmt(metric[1])} (holdout)")
        run_lines.append(f"trained by {e(str(run.get('created_by')))} on "
                         f"{short_time(run.get('created_at'))}")
        card = StepCard("run", f"run #{run.get('id')}", run_lines)
        self.run_button = card.add_button("Open run", lambda: self.open_run.emit(run["id"]))
        self.cards.append(card)
        version_lines = [f"{status_badge(d['status'])}"
                         + (f" · aliases: {e(', '.join(d['aliases']))}" if d.get("aliases") else ""),
                         f"registered by {e(d['created_by'])} on {short_time(d['created_at'])}"]
        lineage = d.get("lineage") or {}
        if lineage.get("supersedes"):
            version_lines.append(f"supersedes rejected {e(lineage['supersedes'])}")
        if d.get("challenger_of"):
            version_lines.append(f"challenger of {e(d['challenger_of'])}")
        self.cards.append(StepCard("model version", e(short_name(d["ref"])), version_lines))
        approvals = d.get("approvals") or []
        lines = []
        for a in approvals:
            line = (f"<b>{e(a['decision'])}</b> by {e(a['user'])} on {short_time(a['at'])}"
                    + (f" — “{e(a['comment'])}”" if a.get("comment") else ""))
            if a.get("override_reason"):
                line += (f"<br><span style='color:{palette.color('bad')}'>override of failing "
                         f"checks: “{e(a['override_reason'])}”</span>")
            lines.append(line)
        self.cards.append(StepCard("approvals", f"{len(approvals)} decision"
                                   f"{'' if len(approvals) == 1 else 's'}",
                                   lines or ["no decision yet"]))
        bundles = d.get("bundles") or []
        lines = [f"<code>{e(b['path'])}</code><br>exported by {e(str(b.get('created_by')))} on "
                 f"{short_time(b.get('created_at'))} · manifest sha256 "
                 f"<code>{(b.get('manifest_sha256') or '')[:12]}</code>" for b in bundles]
        self.cards.append(StepCard("bundles", f"{len(bundles)} exported",
                                   lines or ["not exported"]))
        for i, card in enumerate(self.cards):
            if i:
                layout.addWidget(_arrow())
            layout.addWidget(card)
        layout.addStretch(1)
        self.setWidget(body)

    def text(self) -> str:
        """Plain text of the chain (tests, accessibility)."""
        from PySide6.QtGui import QTextDocumentFragment
        return "\n".join(QTextDocumentFragment.fromHtml(c.text.text()).toPlainText()
                         for c in self.cards)


def _scrolled(page: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(page)
    return area


# -- the view ----------------------------------------------------------------------------------
class EvidenceView(QWidget):
    """Header plus tabs: Checks, Fairness, Model card, Lineage, vs production."""

    open_run = Signal(int)
    open_dataset = Signal(int)

    def __init__(self, parent=None, first: str = "checks"):
        super().__init__(parent)
        self.detail: dict[str, Any] | None = None
        self._shown_names = ("", "")  # the names as the header last showed them
        # What the model card says about an unwritten section (the CLI's hint, in GUI terms).
        self.card_hint = ("_Not written yet: an analyst can write it with Edit card… in the "
                          "Registry pane while the version is pending._")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                            | Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.header.linkActivated.connect(self._on_link)
        policy = self.header.sizePolicy()  # its width comes from the view, not from a long name
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.header.setSizePolicy(policy)
        self.header.setMinimumWidth(160)
        layout.addWidget(self.header)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)
        pages = {"checks": (self._build_checks(), "Checks"),
                 "fairness": (self._build_fairness(), "Fairness"),
                 "card": (self._build_card(), "Model card"),
                 "lineage": (self._build_lineage(), "Lineage"),
                 "diff": (self._build_diff(), "vs production"),
                 "history": (self._build_history(), "History")}
        order = [first] + [k for k in pages if k != first]
        self.tab_index = {}
        for key in order:
            widget, title = pages[key]
            if key in ("checks", "fairness", "diff"):
                widget = _scrolled(widget)  # a small window scrolls instead of squashing
            self.tab_index[key] = self.tabs.addTab(widget, title)

    def select_tab(self, key: str) -> None:
        self.tabs.setCurrentIndex(self.tab_index[key])

    # -- checks ------------------------------------------------------------
    def _build_checks(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 8, 8, 8)
        self.checks_summary = QLabel()
        self.checks_summary.setTextFormat(Qt.TextFormat.RichText)
        self.checks_summary.setWordWrap(True)
        layout.addWidget(self.checks_summary)
        self.gates_table = make_table(["Check", "Value", "Threshold", "Result"], stretch=0)
        layout.addWidget(self.gates_table)
        self.checks_note = note_label()
        layout.addWidget(self.checks_note)
        layout.addWidget(heading("Metrics of the run"))
        self.metrics_table = make_table(["Metric", "Holdout", "CV mean", "CV std"])
        layout.addWidget(self.metrics_table, 1)
        return page

    def _show_checks(self, d: dict[str, Any]) -> None:
        gating = [c for c in d.get("checks") or [] if not c.get("informational")]
        rows = []
        for c in gating:
            det = c.get("details") or {}
            if "no_worse_than" in det:
                tol = det.get("tolerance") or 0
                sign = "≤" if det.get("direction") == "lower" else "≥"
                threshold = (f"{sign} production {fmt(det.get('production_value'))}"
                             + (f" (tolerance {tol:g})" if tol else ""))
            elif "op" in det:
                threshold = f"{det['op'].replace('>=', '≥').replace('<=', '≤')} {det['threshold']:g}"
            else:
                threshold = "—"
            rows.append([c["name"], det.get("value"), threshold, result_cell(c["passed"])])
        fill_table(self.gates_table, rows, numeric={1})
        self.gates_table.setFixedHeight(table_height(self.gates_table, 6))
        failed = [c for c in gating if not c["passed"]]
        if not gating:
            summary = "No gating checks ran for this version."
        elif failed:
            summary = (f"<b style='color:{palette.color('bad')}'>{len(failed)} of "
                       f"{len(gating)} check"
                       f"{'s' if len(gating) > 1 else ''} failed</b>: approval needs an "
                       f"override reason.")
        else:
            summary = (f"<b style='color:{palette.color('good')}'>All {len(gating)} check"
                       f"{'s' if len(gating) > 1 else ''} passed.</b>")
        self.checks_summary.setText(summary)
        notes = [gui_note(c["details"]["note"]) for c in d.get("checks") or []
                 if c.get("informational") and (c.get("details") or {}).get("note")]
        notes += [f"{c['name']}: {c['details']['note']}" for c in gating
                  if (c.get("details") or {}).get("note") and c["kind"] == "metric"]
        self.checks_note.setText("\n".join(notes))
        self.checks_note.setVisible(bool(notes))
        metrics = (d.get("run") or {}).get("metrics") or {}
        hold, cv = metrics.get("holdout") or {}, metrics.get("cv") or {}
        gated = {(c.get("details") or {}).get("metric"): c["passed"] for c in gating}
        mrows = []
        for name in list(hold) + [k for k in cv if k not in hold]:
            cell: Any = name
            if name in gated:
                text, fg, _bg = result_cell(gated[name])
                cell = (f"{name}  (gate: {text})", fg, None)
            mrows.append([cell, hold.get(name), (cv.get(name) or {}).get("mean"),
                          (cv.get(name) or {}).get("std")])
        fill_table(self.metrics_table, mrows, numeric={1, 2, 3})

    # -- fairness ------------------------------------------------------------
    def _build_fairness(self) -> QWidget:
        self.fairness_stack = QStackedWidget()
        self.fairness_empty = note_label()
        self.fairness_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.fairness_stack.addWidget(self.fairness_empty)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 8, 8, 8)
        self.fairness_summary = QLabel()
        self.fairness_summary.setTextFormat(Qt.TextFormat.RichText)
        self.fairness_summary.setWordWrap(True)
        layout.addWidget(self.fairness_summary)
        self.fairness_table = make_table([])
        self.fairness_chart = HiddenAwareChart(width=5.0, height=2.6)
        self.fairness_chart.setMinimumSize(420, 240)  # smaller collapses the legend layout
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.fairness_table)
        split.addWidget(self.fairness_chart)
        split.setChildrenCollapsible(False)
        split.setSizes([120, 300])
        self.fairness_split = split
        layout.addWidget(split, 1)
        self.fairness_note = note_label()
        self.fairness_note.setStyleSheet(f"color: {palette.color('muted')}; font-style: italic;")
        layout.addWidget(self.fairness_note)
        self.fairness_stack.addWidget(page)
        return self.fairness_stack

    def _show_fairness(self, d: dict[str, Any]) -> None:
        rep = d.get("fairness")
        if not rep:
            self.fairness_empty.setText(
                "No fairness report: the run named no sensitive column.\n"
                "Train with a sensitive column (e.g. --sensitive gender) to get per-group rates.")
            self.fairness_stack.setCurrentIndex(0)
            self.fairness_chart.show_message("No fairness report")
            return
        self.fairness_stack.setCurrentIndex(1)
        groups = rep.get("groups") or []
        if rep.get("task") == "regression":
            headers = ["Group", "Count", "MAE", "RMSE", "Mean error", "Mean true", "Mean pred"]
            keys = ["count", "mae", "rmse", "mean_error", "mean_true", "mean_pred"]
            rows = [[g["group"]] + [g.get(k) for k in keys] for g in groups]
            summary = (f"MAE difference {fmt(rep.get('mae_difference'))}, ratio "
                       f"{fmt(rep.get('mae_ratio'))}; RMSE difference "
                       f"{fmt(rep.get('rmse_difference'))}, ratio {fmt(rep.get('rmse_ratio'))}")
        elif rep.get("mode") == "binary":
            headers = ["Group", "Count", "Selection rate", "TPR", "FPR", "Precision", "Accuracy"]
            keys = ["count", "selection_rate", "tpr", "fpr", "precision", "accuracy"]
            rows = [[g["group"]] + [g.get(k) for k in keys] for g in groups]
            overall = rep.get("overall") or {}
            rows.append([("overall", INFO_FG, None)] + [overall.get(k) for k in keys])
            summary = self._parity_summary(rep)
        else:  # multiclass: one row per class (one-vs-rest), selection rate per group
            per_class = rep.get("per_class") or {}
            headers = (["Class"] + [f"{g['group']} sel. rate" for g in groups]
                       + ["DP difference", "DP ratio"])
            rows = []
            for c, r in per_class.items():
                ratio = r.get("demographic_parity_ratio")
                flagged = ratio is not None and ratio < (rep.get("four_fifths") or {}).get(
                    "threshold", 0.8)
                rows.append([c] + [(g.get("selection_rate") or {}).get(c) for g in groups]
                            + [r.get("demographic_parity_difference"),
                               (fmt(ratio), FAIL_FG, FAIL_BG) if flagged else ratio])
            by_group = ", ".join(f"{html.escape(str(g['group']))} (n={g['count']}, accuracy "
                                 f"{fmt(g.get('accuracy'), 3)})" for g in groups)
            summary = (self._parity_summary(rep) + f" Worst over classes "
                       f"({html.escape(str(rep.get('mode')))}). Groups: {by_group}.")
        set_headers(self.fairness_table, headers)
        fill_table(self.fairness_table, rows, numeric=set(range(1, len(headers))))
        self.fairness_split.setSizes([table_height(self.fairness_table, 6), 300])
        head = (f"Sensitive column <b>{html.escape(str(rep.get('sensitive')))}</b>, "
                f"{rep.get('rows', '')} holdout rows"
                + (f", positive label <code>{html.escape(str(rep.get('pos_label')))}</code>"
                   if rep.get("mode") == "binary" else "") + ". ")
        self.fairness_summary.setText(head + summary)
        notes = []
        if (rep.get("four_fifths") or {}).get("note"):
            notes.append(rep["four_fifths"]["note"])
        notes += list(rep.get("notes") or [])
        self.fairness_note.setText("\n".join(notes))
        self.fairness_note.setVisible(bool(notes))
        ax = self.fairness_chart.clear()
        plot_group_rates(ax, rep)
        self.fairness_chart.redraw()

    @staticmethod
    def _parity_summary(rep: dict[str, Any]) -> str:
        ff = rep.get("four_fifths") or {}
        flag = (f" <b style='color:{palette.color('bad')}'>below four-fifths: flagged</b>"
                if ff.get("flagged") else " (four-fifths rule: not flagged)")
        return (f"Demographic parity difference {fmt(rep.get('demographic_parity_difference'))},"
                f" ratio <b>{fmt(rep.get('demographic_parity_ratio'))}</b>{flag}; equalized odds "
                f"difference {fmt(rep.get('equalized_odds_difference'))}.")

    # -- model card -------------------------------------------------------------
    def _build_card(self) -> QWidget:
        self.card_browser = QTextBrowser()
        self.card_browser.setOpenExternalLinks(False)
        self.card_browser.document().setDocumentMargin(12)
        return self.card_browser

    def _show_card(self, d: dict[str, Any]) -> None:
        text = d.get("model_card")
        if text is None:
            from ..core import modelcard
            text = modelcard.render(d)
        self.card_browser.setMarkdown(CLI_CARD_HINT.sub(self.card_hint, text))

    # -- lineage ------------------------------------------------------------------
    def _build_lineage(self) -> QWidget:
        self.lineage = LineageChain()
        self.lineage.open_run.connect(self.open_run)
        self.lineage.open_dataset.connect(self.open_dataset)
        return self.lineage

    # -- diff against production ---------------------------------------------------
    def _build_diff(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 8, 8, 8)
        self.diff_summary = QLabel()
        self.diff_summary.setTextFormat(Qt.TextFormat.RichText)
        self.diff_summary.setWordWrap(True)
        layout.addWidget(self.diff_summary)
        self.diff_body = QWidget()
        body = QVBoxLayout(self.diff_body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(heading("Holdout metrics"))
        self.diff_metrics = make_table(["Metric", "This version", "Production", "Δ"])
        body.addWidget(self.diff_metrics, 1)
        body.addWidget(heading("Parameters changed"))
        self.diff_params = make_table(["Parameter", "Production", "This version"], stretch=0)
        body.addWidget(self.diff_params, 1)
        self.diff_note = note_label()
        body.addWidget(self.diff_note)
        layout.addWidget(self.diff_body, 1)
        return page

    def _show_diff(self, d: dict[str, Any]) -> None:
        diff = d.get("diff")
        if not diff:
            if d.get("production") == d.get("ref"):
                text = f"This version is the production version of {html.escape(d['name'])}."
            else:
                text = (f"No production version of {html.escape(d['name'])} yet: nothing to "
                        f"compare against.")
            self.diff_summary.setText(text)
            self.diff_body.hide()
            return
        self.diff_body.show()
        rows = []
        for name, m in (diff.get("metrics") or {}).get("holdout", {}).items():
            delta = m.get("delta")
            colour = None
            if delta:
                better = delta < 0 if name in LOWER_IS_BETTER else delta > 0
                colour = BETTER_FG if better else WORSE_FG
            rows.append([name, m.get("candidate"), m.get("production"),
                         (fmt_delta(delta), colour, None)])
        fill_table(self.diff_metrics, rows, numeric={1, 2, 3})
        prows = [[k, fmt(v.get("production")), fmt(v.get("candidate"))]
                 for k, v in (diff.get("params_changed") or {}).items()]
        fill_table(self.diff_params, prows or [["(none)", "", ""]])
        algo = diff.get("algorithm") or {}
        data = diff.get("dataset") or {}
        e = html.escape
        parts = [f"Compared with production <b>{e(diff['against'])}</b>."]
        if algo.get("changed"):
            parts.append(f"Algorithm changed: {e(str(algo.get('production')))} → "
                         f"<b>{e(str(algo.get('candidate')))}</b>.")
        else:
            parts.append(f"Same algorithm ({e(str(algo.get('candidate')))}).")
        if diff.get("dataset_changed"):
            parts.append(f"Data changed: {e(str(data.get('production')))} → "
                         f"<b>{e(str(data.get('candidate')))}</b>.")
        else:
            parts.append(f"Same data ({e(str(data.get('candidate')))}).")
        if diff.get("features_added"):
            parts.append("Features added: " + e(", ".join(diff["features_added"])) + ".")
        if diff.get("features_removed"):
            parts.append("Features removed: " + e(", ".join(diff["features_removed"])) + ".")
        self.diff_summary.setText(" ".join(parts))
        note = diff.get("note") or ""
        self.diff_note.setText("Green: better than production, red: worse. "
                               + note[:1].upper() + note[1:] + ("." if note else ""))

    # -- history (the version's audit entries) ------------------------------------------
    def _build_history(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(note_label("Entries of the hash-chained audit log for this version "
                                    "and the alias moves to or from it, newest first "
                                    "(`lablift audit verify` checks the chain)."))
        self.history_table = make_table(["#", "When", "Who", "Action", "Details"], stretch=4)
        layout.addWidget(self.history_table, 1)
        return page

    def _show_history(self, d: dict[str, Any]) -> None:
        rows = [[e["seq"], short_time(e["ts"]), e["user"], *_history_cells(e)]
                for e in d.get("history") or []]
        fill_table(self.history_table, rows, numeric={0})
        # '#' holds a few digits: its width goes to Details (alias moves, comments)
        self.history_table.resizeColumnToContents(0)

    def _on_link(self, link: str) -> None:
        kind, _, ident = link.partition(":")
        if ident.isdigit():
            (self.open_run if kind == "run" else self.open_dataset).emit(int(ident))

    # -- public ---------------------------------------------------------------------
    def show_detail(self, d: dict[str, Any]) -> None:
        """Show a core.registry.version_detail() dict."""
        self.detail = d
        self._show_header(d)
        self._show_checks(d)
        self._show_fairness(d)
        self._show_card(d)
        self.lineage.show_detail(d)
        self._show_diff(d)
        self._show_history(d)

    def _names(self) -> tuple[str, str]:
        """The version's name (13pt, beside its badge) and its dataset's (a link in the line
        below) as the header has room for them: whole in a wide window, cut in the middle in a
        narrow one."""
        d = self.detail or {}
        font = QFont(self.header.font())
        font.setPointSizeF(13)
        font.setBold(True)
        width, ds = self.header.width(), d.get("dataset") or {}
        return (fit_name(d.get("ref") or "", QFontMetrics(font).horizontalAdvance, width - 140),
                fit_name(f"{ds.get('name')}:{ds.get('version')}",
                         self.header.fontMetrics().horizontalAdvance, width - 40))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.detail is not None and self._names() != self._shown_names:
            self._show_header(self.detail)

    def _show_header(self, d: dict[str, Any]) -> None:
        e = html.escape
        run = d.get("run") or {}
        ds = d.get("dataset") or {}
        ref, data = self._shown_names = self._names()
        aliases = (f" &nbsp;<span style='color:{palette.color('accent')}'>aliases: "
                   f"{e(', '.join(d['aliases']))}"
                   f"</span>" if d.get("aliases") else "")
        # The run and the data are links: one click to the Experiments / Datasets pane.
        line2 = (f"registered by {e(d['created_by'])} on {short_time(d['created_at'])} · "
                 f"<a href='run:{run.get('id')}'>run #{run.get('id')}</a> "
                 f"{e(str(run.get('algorithm')))} trained by {e(str(run.get('created_by')))}"
                 + (f" · data <a href='dataset:{ds['id']}'>{e(data)}</a>" if ds else ""))
        # Long names are cut in the middle (rich text cannot elide); the tooltip has them whole.
        self.header.setToolTip(f"{d['ref']}" + (f"\ndata {ds['name']}:{ds['version']}" if ds
                                                 else ""))
        text = (f"<span style='font-size:13pt'><b>{e(ref)}</b></span>"
                f"&nbsp;&nbsp;"
                f"{status_badge(d['status'])}{aliases}<br>"
                f"<span style='color:{palette.color('muted')}'>{line2}</span>")
        if d.get("description"):
            text += f"<br>{e(d['description'])}"
        if d.get("attention"):
            text += (f"<br><span style='color:{palette.color('warn')}'><b>⚠ needs attention:</b> "
                     f"{e(d['attention'])}</span>")
        self.header.setText(text)
