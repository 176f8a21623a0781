"""The Monitoring pane: one model version's production batches against its training data.

Drift share per batch, the feature x batch drift heatmap, reference-vs-batch distributions of
the selected feature, metrics over time against the holdout figure and the gate, latency from
prediction logs, alerts (acknowledge), data-quality findings per batch, and "Retrain
challenger". Reading the report, ingesting and retraining run in workers through
core.monitoring; the pane only draws. Role checks are the core's: refusals become dialogs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QSettings, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox,
                               QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QListWidgetItem, QMessageBox, QPushButton,
                               QSizePolicy, QSpinBox, QSplitter, QStackedWidget, QTableView, QTabWidget,
                               QVBoxLayout, QWidget)

from ...core import monitoring, registry, training
from ...core.errors import LabliftError
from ..charts import ChartCanvas
from ..drift_tests import DriftTestsPanel, drift_inputs
from ..evidence import STATUS_COLOURS
from ..monitoring_charts import (batch_label, batch_window, describe_test, plot_distribution,
                                 plot_drift_heatmap, plot_drift_share, plot_latency,
                                 plot_metric_series)
from ..tablemodels import ALIGN_RIGHT, Column, RecordsTableModel, make_sort_proxy
from ..workers import Task, run_task
from .datasets import ImportBar, short_time

FILE_FILTER = ("Batches and prediction logs (*.csv *.tsv *.txt *.parquet *.pq *.parq *.xlsx "
               "*.jsonl *.ndjson *.log);;All files (*)")
PREDICTION = "prediction"
NO_BATCHES = "Ingest a production batch or a serve.py prediction log to see drift."
TIMESTAMP_NAMES = ("timestamp", "ts", "time", "date", "datetime", "event_time", "created_at")
NONE_CHOICE = "(none)"
WINDOWS = (("auto", None), ("one batch per day", "day"), ("one batch per week", "week"),
           ("every N rows", "rows"))


def _bold(label: QLabel, scale: float = 1.2) -> QLabel:
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)
    return label


def _status_badge(status: str) -> str:
    fg, bg = STATUS_COLOURS.get(status, ("#333", "#eee"))
    return (f"<span style='background:{bg}; color:{fg}; font-weight:600'>&nbsp;{status}"
            f"&nbsp;</span>")


def _esc(text: Any) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def peek_columns(path: str) -> list[str]:
    """Column names of a batch file from its first rows (the options dialog offers them)."""
    import pandas as pd
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq", ".parq"):
        import pyarrow.parquet as pq
        return list(pq.read_schema(p).names)
    if suffix in (".xlsx", ".xlsm"):
        return [str(c) for c in pd.read_excel(p, nrows=0).columns]
    with open(p, "rb") as f:
        head = f.read(65536)
    if suffix in monitoring.LOG_SUFFIXES or head.lstrip().startswith(b"{"):
        first = None
        for line in head.decode("utf-8", "replace").splitlines():
            if line.strip():
                rec = json.loads(line)
                if "inputs" not in rec and "error" in rec:  # a failed request: no inputs
                    first = first or rec
                    continue
                cols = list((rec.get("inputs") or {}).keys())
                return cols + [k for k in rec if k != "inputs"]
        return list(first) if first else []
    sep = "\t" if suffix in (".tsv", ".tab") else None
    frame = pd.read_csv(p, nrows=20, sep=sep, engine="python")
    return [str(c) for c in frame.columns]


class IngestOptionsDialog(QDialog):
    """Label column, timestamp column, window and (advanced) drift test per column."""

    def __init__(self, parent, path: str, columns: list[str], label: str | None,
                 timestamp: str | None, inputs: list[dict[str, Any]] | None = None,
                 configured_tests: dict[str, str] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Ingest batch")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        intro = QLabel(f"<b>{_esc(Path(path).name)}</b><br><span style='color:#555'>"
                       f"{len(columns)} columns. The batch is measured against the model "
                       f"version's training data.</span>")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.label_combo = QComboBox()
        self.label_combo.setEditable(True)
        self.label_combo.addItems([NONE_CHOICE] + columns)
        self.label_combo.setToolTip("Actual outcomes: with them each batch gets the model's "
                                    "metrics, compared with the holdout figures")
        if label in columns:
            self.label_combo.setCurrentText(label)
        self.ts_combo = QComboBox()
        self.ts_combo.setEditable(True)
        self.ts_combo.addItems([NONE_CHOICE] + columns)
        self.ts_combo.setToolTip("A time column splits the file into windows (charts over time)")
        if timestamp in columns:
            self.ts_combo.setCurrentText(timestamp)
        self.window_combo = QComboBox()
        for text, _ in WINDOWS:
            self.window_combo.addItem(text)
        self.window_combo.setToolTip("auto: the whole file is one batch, or one per day when a "
                                     "timestamp column is chosen")
        self.rows_spin = QSpinBox()
        self.rows_spin.setRange(1, 100_000_000)
        self.rows_spin.setValue(1000)
        self.rows_spin.setSuffix(" rows")
        self.rows_spin.setEnabled(False)
        self.window_combo.currentIndexChanged.connect(
            lambda i: self.rows_spin.setEnabled(WINDOWS[i][1] == "rows"))
        window_row = QHBoxLayout()
        window_row.addWidget(self.window_combo, 1)
        window_row.addWidget(self.rows_spin)
        form.addRow("Label column:", self.label_combo)
        form.addRow("Timestamp column:", self.ts_combo)
        form.addRow("Window:", window_row)
        layout.addLayout(form)
        # a test can only be set for a column the file has (the core refuses the others)
        inputs = list(inputs or [])
        present = [c for c in inputs if not columns or c["name"] in columns]
        self.drift_tests = DriftTestsPanel(present, configured_tests)
        if len(present) < len(inputs):
            self.drift_tests.setToolTip("Not in this file: " + ", ".join(
                c["name"] for c in inputs if c not in present))
        layout.addWidget(self.drift_tests)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Ingest")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def options(self) -> dict[str, Any]:
        def col(combo: QComboBox) -> str | None:
            text = combo.currentText().strip()
            return None if not text or text == NONE_CHOICE else text
        window = WINDOWS[self.window_combo.currentIndex()][1]
        if window == "rows":
            window = str(self.rows_spin.value())
        return {"label": col(self.label_combo), "timestamp": col(self.ts_combo),
                "window": window, "tests": self.drift_tests.tests() or None}

    @staticmethod
    def ask(parent, path: str, columns: list[str], label: str | None = None,
            timestamp: str | None = None, inputs: list[dict[str, Any]] | None = None,
            configured_tests: dict[str, str] | None = None) -> dict[str, Any] | None:
        """The chosen options, or None when cancelled (modal)."""
        dialog = IngestOptionsDialog(parent, path, columns, label, timestamp, inputs,
                                     configured_tests)
        return dialog.options() if dialog.exec() == QDialog.DialogCode.Accepted else None


class RetrainDialog(QDialog):
    """Champion against challenger on the latest labelled batch; the challenger is pending."""

    def __init__(self, parent, result: dict[str, Any]):
        super().__init__(parent)
        ch, champ, ds = result["challenger"], result["champion"], result["dataset"]
        self.setWindowTitle(f"Challenger {ch['ref']} registered")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        batches = ", ".join(f"#{b}" for b in result.get("batches", []))
        head = QLabel(
            f"<b>{_esc(ch['ref'])}</b> {_status_badge(ch['status'])} is a challenger of "
            f"<b>{_esc(champ['ref'])}</b>, trained with the same spec on "
            f"{_esc(ds['name'])}:{ds['version']} ({ds['rows']:,} rows: the reference plus "
            f"batches {batches}).<br><span style='color:#555'>It goes through Approvals like "
            f"any version: a reviewer other than you decides.</span>")
        head.setWordWrap(True)
        layout.addWidget(head)
        comparison = result.get("comparison")
        self.rows: list[dict[str, Any]] = []
        if comparison:
            note = QLabel(f"On the latest labelled batch #{comparison['batch_id']} "
                          f"({comparison['rows']:,} rows; {comparison.get('note', '')}):")
            note.setWordWrap(True)
            layout.addWidget(note)
            for name, value in (comparison.get("champion") or {}).items():
                other = (comparison.get("challenger") or {}).get(name)
                self.rows.append({"metric": name, "champion": value, "challenger": other,
                                  "change": None if value is None or other is None
                                  else other - value})
            model = RecordsTableModel([
                Column("metric", "Metric"),
                Column("champion", f"Champion {champ['ref']}", fmt=_fmt4, align=ALIGN_RIGHT),
                Column("challenger", f"Challenger {ch['ref']}", fmt=_fmt4, align=ALIGN_RIGHT),
                Column("change", "Change", fmt=_signed, align=ALIGN_RIGHT)], self.rows, self)
            self.table = QTableView()
            self.table.setModel(model)
            self.table.verticalHeader().hide()
            self.table.horizontalHeader().setSectionResizeMode(
                QHeaderView.ResizeMode.ResizeToContents)
            self.table.horizontalHeader().setStretchLastSection(True)
            self.table.setMinimumHeight(230)
            layout.addWidget(self.table)
        else:
            layout.addWidget(QLabel("No comparison: the latest labelled batch lacks inputs the "
                                    "model needs."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.approvals_button = buttons.addButton("Open Approvals",
                                                  QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)


def _fmt4(value: Any) -> str:
    return "—" if value is None else f"{value:.4f}"


def _signed(value: Any) -> str:
    return "—" if value is None else f"{value:+.4f}"


def load_monitoring(store, ref: str) -> dict[str, Any]:
    """Everything the pane draws for one version (runs in a worker): the core report, each
    batch's per-feature test results and stored histograms, and the training target."""
    report = monitoring.report(store, ref)
    cells: dict[int, dict[str, dict]] = {}
    hists: dict[int, dict[str, dict]] = {}
    for b in report["batches"]:
        row = monitoring.get_batch(store, b["id"])
        b["source_path"] = row.get("source_path")
        result = row.get("result") or {}
        cols = list((result.get("drift") or {}).get("columns", []))
        if result.get("prediction_drift"):
            cols.append({**result["prediction_drift"], "name": PREDICTION})
        cells[b["id"]] = {c["name"]: {k: c.get(k) for k in ("test", "statistic", "p_value",
                                                              "threshold", "drifted", "psi")}
                          for c in cols}
        hists[b["id"]] = {c["name"]: c.get("histogram") for c in cols}
    run = training.get_run(store, report["version"]["run_id"])
    return {"ref": ref, "report": report, "cells": cells, "histograms": hists,
            "target": run["spec"].get("target"), "task": run.get("task"),
            "inputs": drift_inputs(store, run)}


class Pane(QWidget):
    title = "Monitoring"
    message = Signal(str)
    loaded = Signal()  # a version's report was drawn

    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.store = store
        self.load_task: Task | None = None
        self.ingest_task: Task | None = None
        self.retrain_task: Task | None = None
        self.data: dict[str, Any] | None = None
        self.features: list[str] = []
        self.batches: list[dict[str, Any]] = []
        self.batch_index: int | None = None
        self.feature: str | None = None
        self.last_dialog: QMessageBox | None = None
        self.retrain_dialog: RetrainDialog | None = None
        self.last_ingest: list[dict[str, Any]] = []
        self._select_batch_after_load: int | None = None
        self._ref: str | None = None
        self._build()
        self.refresh()

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.pages = QStackedWidget()
        self.empty = self._build_empty()
        self.pages.addWidget(self.empty)
        main = QWidget()
        layout = QVBoxLayout(main)
        layout.setContentsMargins(10, 8, 10, 4)
        layout.setSpacing(6)
        top = QHBoxLayout()
        top.addWidget(_bold(QLabel("Model version")))
        self.version_combo = QComboBox()
        self.version_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.version_combo.setMinimumContentsLength(30)
        self.version_combo.setMinimumWidth(160)
        self.version_combo.currentIndexChanged.connect(self._on_version)
        top.addWidget(self.version_combo)
        self.version_info = QLabel()
        self.version_info.setTextFormat(Qt.TextFormat.RichText)
        self.version_info.setMinimumWidth(0)
        self.version_info.setSizePolicy(QSizePolicy.Policy.Ignored,
                                        QSizePolicy.Policy.Preferred)
        top.addWidget(self.version_info, 1)
        self.ingest_button = QPushButton("Ingest batch…")
        self.ingest_button.setToolTip("Measure a CSV/Parquet batch or a serve.py --log file "
                                      "against this version's training data")
        self.ingest_button.clicked.connect(self.choose_and_ingest)
        self.retrain_button = QPushButton("Retrain challenger")
        self.retrain_button.setToolTip("Train the same spec on the training data plus the "
                                       "labelled batches; registered as a pending challenger")
        self.retrain_button.clicked.connect(self.retrain)
        top.addWidget(self.ingest_button)
        top.addWidget(self.retrain_button)
        layout.addLayout(top)
        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setTextFormat(Qt.TextFormat.RichText)
        self.notice.setStyleSheet("#notice { background: #eef3f9; border: 1px solid #c9d6e6;"
                                  " padding: 4px 8px; }")
        self.notice.linkActivated.connect(self._on_notice_link)
        self.notice.hide()
        layout.addWidget(self.notice)

        self.content = QStackedWidget()
        self.no_batches = QWidget()
        nb = QVBoxLayout(self.no_batches)
        nb.addStretch(2)
        self.no_batches_title = _bold(QLabel("No batches yet"), 1.5)
        self.no_batches_text = QLabel(NO_BATCHES)
        self.no_batches_text.setStyleSheet("color: #555;")
        self.no_batches_button = QPushButton("Ingest batch…")
        self.no_batches_button.setMinimumSize(160, 34)
        self.no_batches_button.clicked.connect(self.choose_and_ingest)
        for w in (self.no_batches_title, self.no_batches_text):
            w.setAlignment(Qt.AlignmentFlag.AlignCenter)
            nb.addWidget(w)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.no_batches_button)
        row.addStretch(1)
        nb.addSpacing(12)
        nb.addLayout(row)
        nb.addStretch(3)
        self.content.addWidget(self.no_batches)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_drift_tab(), "Drift")
        self.tabs.addTab(self._build_performance_tab(), "Performance")
        self.tabs.addTab(self._build_alerts_tab(), "Alerts")
        self.tabs.addTab(self._build_batches_tab(), "Batches and data quality")
        self.content.addWidget(self.tabs)
        layout.addWidget(self.content, 1)
        self.pages.addWidget(main)

        self.progress_bar = ImportBar()
        self.progress_bar.cancel_button.clicked.connect(self.cancel)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.pages, 1)
        outer.addWidget(self.progress_bar)

    def _build_empty(self) -> QWidget:
        w = QWidget()
        layout = QVBoxLayout(w)
        layout.addStretch(2)
        title = _bold(QLabel("No registered model versions"), 1.6)
        self.empty_text = QLabel(
            "Monitoring measures production data against a registered model version.\n"
            "Train a run in Experiments and register it (Registry); then ingest production "
            "batches\nor serve.py prediction logs here to see drift, performance and latency.")
        self.empty_text.setStyleSheet("color: #555;")
        self.empty_text.setWordWrap(True)
        for label in (title, self.empty_text):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(label)
        button = QPushButton("Open Experiments")
        button.setMinimumSize(160, 34)
        button.clicked.connect(lambda: self._go("experiments"))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button)
        row.addStretch(1)
        layout.addSpacing(16)
        layout.addLayout(row)
        layout.addStretch(3)
        return w

    def _build_drift_tab(self) -> QWidget:
        self.share_chart = ChartCanvas(width=6.0, height=2.4)
        self.heatmap_chart = ChartCanvas(width=6.0, height=3.6)
        self.heatmap_chart.mpl_connect("button_press_event", self._on_heatmap_click)
        self.heatmap_chart.setToolTip("Click a cell to see that feature in that batch")
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.share_chart)
        left.addWidget(self.heatmap_chart)
        left.setSizes([230, 380])
        left.setChildrenCollapsible(False)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 4, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("Batch"))
        self.batch_combo = QComboBox()
        self.batch_combo.currentIndexChanged.connect(self._on_batch_combo)
        head.addWidget(self.batch_combo, 1)
        rl.addLayout(head)
        self.feature_list = QListWidget()
        self.feature_list.setMaximumHeight(150)
        self.feature_list.setAlternatingRowColors(True)
        self.feature_list.currentRowChanged.connect(self._on_feature_row)
        rl.addWidget(self.feature_list)
        self.dist_chart = ChartCanvas(width=4.6, height=3.2)
        rl.addWidget(self.dist_chart, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([610, 470])
        split.setChildrenCollapsible(False)
        return split

    def _build_performance_tab(self) -> QWidget:
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 4, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("Metric"))
        self.metric_combo = QComboBox()
        self.metric_combo.currentIndexChanged.connect(lambda _i: self._draw_metrics())
        head.addWidget(self.metric_combo)
        head.addStretch(1)
        ll.addLayout(head)
        self.metric_chart = ChartCanvas(width=5.2, height=3.6)
        ll.addWidget(self.metric_chart, 1)
        self.latency_chart = ChartCanvas(width=5.2, height=3.6)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.latency_chart)
        split.setSizes([540, 540])
        split.setChildrenCollapsible(False)
        return split

    def _build_alerts_tab(self) -> QWidget:
        w = QWidget()
        layout = QVBoxLayout(w)
        layout.setContentsMargins(0, 6, 0, 0)
        self.alerts_model = RecordsTableModel([
            Column("id", "#", align=ALIGN_RIGHT, tooltip="alert id (lablift monitor ack ID)"),
            Column("created_at", "When", fmt=short_time),
            Column("batch_id", "Batch", fmt=lambda v: f"#{v}" if v else "—",
                   align=ALIGN_RIGHT),
            Column("kind", "Kind"),
            Column("message", "Message"),
            Column("acknowledged_by", "Acknowledged", fmt=lambda v: v or "open"),
            Column("acknowledged_at", "At", fmt=short_time),
        ])
        self.alerts_proxy = make_sort_proxy(self.alerts_model, self)
        self.alerts_view = QTableView()
        self.alerts_view.setModel(self.alerts_proxy)
        self.alerts_view.setSortingEnabled(True)
        self.alerts_view.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # newest first
        self.alerts_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.alerts_view.setAlternatingRowColors(True)
        self.alerts_view.setWordWrap(False)
        self.alerts_view.verticalHeader().hide()
        header = self.alerts_view.horizontalHeader()
        for c in (0, 1, 2, 3, 5, 6):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.alerts_view.selectionModel().selectionChanged.connect(
            lambda *_: self._update_ack_button())
        layout.addWidget(self.alerts_view, 1)
        row = QHBoxLayout()
        self.alerts_hint = QLabel("Acknowledging the last open alert clears the version's "
                                  "“needs attention” flag.")
        self.alerts_hint.setStyleSheet("color: #666;")
        self.alerts_hint.setWordWrap(True)
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.setEnabled(False)
        self.ack_button.clicked.connect(self.acknowledge_selected)
        row.addWidget(self.alerts_hint, 1)
        row.addWidget(self.ack_button)
        layout.addLayout(row)
        return w

    def _build_batches_tab(self) -> QWidget:
        self.batches_model = RecordsTableModel([
            Column("id", "#", align=ALIGN_RIGHT),
            Column("window_text", "Window", fmt=lambda v: v or "—"),
            Column("source", "Source"),
            Column("rows", "Rows", fmt=lambda v: f"{v:,}", align=ALIGN_RIGHT),
            Column("drift_share", "Drift share", fmt=lambda v: "—" if v is None else f"{v:.2f}",
                   align=ALIGN_RIGHT),
            Column("drift_text", "Drifted"),
            Column("labelled_rows", "Labelled", fmt=lambda v: f"{v:,}" if v else "—",
                   align=ALIGN_RIGHT),
            Column("n_findings", "Findings", align=ALIGN_RIGHT),
            Column("created_at", "Ingested", fmt=short_time),
        ])
        self.batches_view = QTableView()
        self.batches_view.setModel(self.batches_model)
        self.batches_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.batches_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.batches_view.setAlternatingRowColors(True)
        self.batches_view.verticalHeader().hide()
        self.batches_view.horizontalHeader().setStretchLastSection(True)
        self.batches_view.selectionModel().currentRowChanged.connect(
            lambda cur, _prev: cur.isValid() and self.select_batch(cur.row()))
        self.findings_title = QLabel("Data quality")
        self.findings_model = RecordsTableModel([
            Column("severity", "Severity"), Column("check", "Check"),
            Column("column", "Column"), Column("message", "Finding")])
        self.findings_view = QTableView()
        self.findings_view.setModel(self.findings_model)
        self.findings_view.setWordWrap(True)
        self.findings_view.setAlternatingRowColors(True)
        self.findings_view.verticalHeader().hide()
        header = self.findings_view.horizontalHeader()
        for c in range(3):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 6, 0, 0)
        rl.addWidget(self.findings_title)
        rl.addWidget(self.findings_view, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.batches_view)
        split.addWidget(right)
        split.setSizes([260, 340])
        split.setChildrenCollapsible(False)
        return split

    # -- versions -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the versions; keep the selected one, else the first with batches."""
        versions = registry.list_versions(self.store)
        counts = monitoring.batch_counts(self.store)
        self._versions = versions
        keep = self._ref
        self.version_combo.blockSignals(True)
        self.version_combo.clear()
        for v in versions:
            ref = f"{v['model']}:{v['version']}"
            n = counts.get(v["id"], 0)
            text = f"{'⚠ ' if v.get('attention') else ''}{ref} — {v['status']} · {n} batch" \
                   f"{'es' if n != 1 else ''}"
            self.version_combo.addItem(text, ref)
            i = self.version_combo.count() - 1
            tip = f"{ref} ({v['status']}), {n} monitoring batches"
            if v.get("attention"):
                tip += f"\nNeeds attention: {v['attention']}"
            self.version_combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.version_combo.blockSignals(False)
        self.pages.setCurrentIndex(1 if versions else 0)
        self._refresh_attention()
        if not versions:
            self._ref = None
            return
        refs = [self.version_combo.itemData(i) for i in range(self.version_combo.count())]
        with_batches = [f"{v['model']}:{v['version']}" for v in versions
                        if counts.get(v["id"])]
        chosen = keep if keep in refs else (with_batches[0] if with_batches else refs[0])
        self.version_combo.blockSignals(True)
        self.version_combo.setCurrentIndex(refs.index(chosen))
        self.version_combo.blockSignals(False)
        self._show_version(chosen, force=True)

    def version_refs(self) -> list[str]:
        return [self.version_combo.itemData(i) for i in range(self.version_combo.count())]

    def selected_ref(self) -> str | None:
        return self._ref

    def select_version(self, ref: str) -> bool:
        """Show NAME:VERSION (or any ref the registry resolves); False if it is not listed."""
        refs = self.version_refs()
        if ref not in refs:
            try:
                v = registry.resolve_version(self.store, ref)
            except LabliftError:
                return False
            ref = f"{v['model']}:{v['version']}"
            if ref not in refs:
                self.refresh()
                refs = self.version_refs()
                if ref not in refs:
                    return False
        self.version_combo.setCurrentIndex(refs.index(ref))  # -> _on_version
        return True

    def _on_version(self, index: int) -> None:
        if index >= 0:
            self._show_version(self.version_combo.itemData(index))

    def _version_row(self, ref: str) -> dict[str, Any] | None:
        return next((v for v in self._versions if f"{v['model']}:{v['version']}" == ref), None)

    def _show_version(self, ref: str, force: bool = False) -> None:
        if ref == self._ref and not force:
            return
        if ref != self._ref:
            self.notice.hide()
            self.data = None
            self.batch_index = self.feature = None
        self._ref = ref
        v = self._version_row(ref) or {}
        info = f"&nbsp;{_status_badge(v.get('status', ''))}"
        if v.get("challenger_of"):
            info += "&nbsp;<span style='color:#555'>challenger</span>"
        if v.get("attention"):
            info += "&nbsp;&nbsp;<span style='color:#8a4b00'><b>⚠ needs attention</b></span>"
        self.version_info.setText(info)
        self.version_info.setToolTip(v.get("attention") or "")
        self.reload()

    # -- loading the report ----------------------------------------------------------------
    def reload(self, select_batch: int | None = None) -> None:
        """Read the selected version's report in a worker, then draw it."""
        if self._ref is None:
            return
        if select_batch is not None:
            self._select_batch_after_load = select_batch
        if self.load_task is not None and self.load_task.is_running():
            self.load_task.cancel()
        store, ref = self.store, self._ref
        if self.data is None:
            self._show_loading()
        task = self.load_task = run_task(lambda progress, cancelled: load_monitoring(store, ref))
        task.finished.connect(lambda data, t=task: self._on_loaded(t, data))
        task.failed.connect(lambda msg, t=task: self._on_load_failed(t, msg))

    def _show_loading(self) -> None:
        for canvas in (self.share_chart, self.heatmap_chart, self.dist_chart):
            canvas.show_message("Loading…")

    def _on_load_failed(self, task: Task, message: str) -> None:
        if task is self.load_task:
            self.message.emit(f"Could not read the monitoring report: {message}")
            self.share_chart.show_message(f"Could not read the report:\n{message}")

    def _on_loaded(self, task: Task, data: dict[str, Any]) -> None:
        if task is not self.load_task or data["ref"] != self._ref:
            return  # an older selection's report
        self.data = data
        report = data["report"]
        self.batches = report["batches"]
        self.features = list(report["features"])
        if any(PREDICTION in cells for cells in data["cells"].values()):
            self.features.append(PREDICTION)
        self.content.setCurrentIndex(1 if self.batches else 0)
        if not self.batches:
            self.no_batches_title.setText(f"No batches for {self._ref} yet")
        self._fill_batches()
        self._fill_alerts()
        self._fill_metrics_combo()
        self._draw_share()
        self._draw_latency()
        want = self._select_batch_after_load
        self._select_batch_after_load = None
        ids = [b["id"] for b in self.batches]
        if self.batches:
            if want in ids:
                index = ids.index(want)
            elif self.batch_index is not None and self.batch_index < len(ids):
                index = self.batch_index  # a reload of the same version keeps its place
            else:
                index = len(ids) - 1  # the latest batch
            self.batch_index = None
            self.select_batch(index)
        else:
            self.batch_index = None
            self.feature_list.clear()
            self.heatmap_chart.show_message(NO_BATCHES)
            self.dist_chart.show_message(NO_BATCHES)
        self._draw_metrics()
        self.loaded.emit()

    # -- tables -------------------------------------------------------------------------------
    def _fill_batches(self) -> None:
        quality = self.data["report"]["quality"]
        counts: dict[int, int] = {}
        for f in quality:
            counts[f["batch_id"]] = counts.get(f["batch_id"], 0) + 1
        records = []
        for b in self.batches:
            n, total = b.get("n_drifted"), b.get("n_columns")
            drift_text = (f"{n} of {total}" if total else "—") + \
                (" · dataset drift" if b.get("dataset_drift") else "")
            records.append({**b, "window_text": batch_window(b),
                            "source": Path(b.get("source_path") or "").name,
                            "drift_text": drift_text, "n_findings": counts.get(b["id"], 0)})
        self.batches_model.set_records(records)
        self.batches_view.resizeColumnsToContents()
        self.batch_combo.blockSignals(True)
        self.batch_combo.clear()
        for b in self.batches:
            mark = "⚠ " if b.get("dataset_drift") else ""
            self.batch_combo.addItem(f"{mark}{batch_label(b, multiline=False)} · {b['rows']:,} "
                                     f"rows · drift share {b['drift_share'] or 0:.2f}", b["id"])
        self.batch_combo.blockSignals(False)

    def _fill_alerts(self) -> None:
        alerts = self.data["report"]["alerts"]
        self.alerts_model.set_records(alerts)
        open_n = sum(1 for a in alerts if not a.get("acknowledged_by"))
        self.tabs.setTabText(2, f"Alerts ({open_n} open)" if open_n else "Alerts")
        self._update_ack_button()

    def open_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts_model.records() if not a.get("acknowledged_by")]

    def _selected_alerts(self) -> list[dict[str, Any]]:
        rows = {self.alerts_proxy.mapToSource(i).row()
                for i in self.alerts_view.selectionModel().selectedRows()}
        return [self.alerts_model.record(r) for r in sorted(rows)]

    def _update_ack_button(self) -> None:
        chosen = [a for a in self._selected_alerts() if not a.get("acknowledged_by")]
        self.ack_button.setEnabled(bool(chosen))
        self.ack_button.setText(f"Acknowledge {len(chosen)}" if len(chosen) > 1
                                else "Acknowledge")

    def select_alerts(self, ids: list[int]) -> None:
        sel = self.alerts_view.selectionModel()
        sel.clearSelection()
        for r in range(self.alerts_proxy.rowCount()):
            index = self.alerts_proxy.index(r, 0)
            if self.alerts_model.record(self.alerts_proxy.mapToSource(index).row())["id"] in ids:
                sel.select(index, QItemSelectionModel.SelectionFlag.Select
                           | QItemSelectionModel.SelectionFlag.Rows)

    def acknowledge_selected(self) -> int:
        """Acknowledge the selected open alerts (core checks the role); the number done."""
        done = 0
        for alert in self._selected_alerts():
            if alert.get("acknowledged_by"):
                continue
            try:
                result = monitoring.acknowledge(self.store, alert["id"])
            except LabliftError as exc:
                self._refused("Acknowledge", str(exc))
                break
            done += 1
            left = result.get("open_alerts")
        if done:
            text = f"Acknowledged {done} alert{'s' if done != 1 else ''}"
            if left == 0:
                text += f"; {self._ref} no longer needs attention"
            self.message.emit(text)
            self.refresh()  # the version's attention mark may be gone
        return done

    # -- batch and feature selection ----------------------------------------------------------
    def select_batch(self, index: int) -> None:
        if not self.batches or not (0 <= index < len(self.batches)):
            return
        changed = index != self.batch_index
        self.batch_index = index
        if self.batch_combo.currentIndex() != index:
            self.batch_combo.blockSignals(True)
            self.batch_combo.setCurrentIndex(index)
            self.batch_combo.blockSignals(False)
        current = self.batches_view.selectionModel().currentIndex()
        if not current.isValid() or current.row() != index:
            self.batches_view.selectionModel().blockSignals(True)
            self.batches_view.selectionModel().setCurrentIndex(
                self.batches_model.index(index, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
            self.batches_view.selectionModel().blockSignals(False)
        self._fill_findings()
        if changed or self.feature_list.count() != len(self.features):
            self._fill_feature_list()
        if self.feature not in self.features:
            cells = self._cells()
            drifted = [f for f in self.features if (cells.get(f) or {}).get("drifted")]
            self.feature = (drifted or self.features or [None])[0]
        self._sync_feature_list()
        self._draw_heatmap()
        self._draw_distribution()

    def _on_batch_combo(self, index: int) -> None:
        if index >= 0:
            self.select_batch(index)

    def current_batch(self) -> dict[str, Any] | None:
        return self.batches[self.batch_index] if self.batch_index is not None else None

    def _cells(self) -> dict[str, dict]:
        b = self.current_batch()
        return self.data["cells"].get(b["id"], {}) if b and self.data else {}

    def _fill_feature_list(self) -> None:
        cells = self._cells()
        self.feature_list.blockSignals(True)
        self.feature_list.clear()
        for f in self.features:
            cell = cells.get(f)
            item = QListWidgetItem(f"{'⚠ ' if cell and cell.get('drifted') else '    '}{f}   "
                                   f"{describe_test(cell)}")
            item.setData(Qt.ItemDataRole.UserRole, f)
            if cell and cell.get("drifted"):
                item.setForeground(Qt.GlobalColor.darkRed)
            self.feature_list.addItem(item)
        self.feature_list.blockSignals(False)

    def _sync_feature_list(self) -> None:
        row = self.features.index(self.feature) if self.feature in self.features else -1
        self.feature_list.blockSignals(True)
        self.feature_list.setCurrentRow(row)
        self.feature_list.blockSignals(False)

    def _on_feature_row(self, row: int) -> None:
        if 0 <= row < len(self.features):
            self.select_feature(self.features[row])

    def select_feature(self, feature: str, batch_index: int | None = None) -> None:
        self.feature = feature
        if batch_index is not None and batch_index != self.batch_index:
            self.select_batch(batch_index)  # redraws with the new feature
            return
        self._sync_feature_list()
        self._draw_heatmap()
        self._draw_distribution()

    def _on_heatmap_click(self, event) -> None:
        ax = getattr(self, "_heatmap_ax", None)
        if ax is None or event.inaxes is not ax or event.xdata is None:
            return
        j, i = int(round(event.xdata)), int(round(event.ydata))
        if 0 <= i < len(self.features) and 0 <= j < len(self.batches):
            self.select_feature(self.features[i], j)

    def _fill_findings(self) -> None:
        b = self.current_batch()
        findings = [f for f in self.data["report"]["quality"] if f["batch_id"] == b["id"]]
        order = {"error": 0, "warning": 1, "info": 2}
        findings.sort(key=lambda f: order.get(f.get("severity"), 3))
        self.findings_model.set_records(findings)
        self.findings_view.resizeRowsToContents()
        self.findings_title.setText(
            f"<b>Data quality of batch {_esc(batch_label(b, multiline=False))}</b>: "
            + (f"{len(findings)} finding{'s' if len(findings) != 1 else ''}" if findings
               else "no findings (schema, ranges, categories and missing values as in "
                    "training)"))

    # -- charts --------------------------------------------------------------------------------
    def _draw_share(self) -> None:
        if not self.batches:
            self.share_chart.show_message(NO_BATCHES)
            return
        ax = self.share_chart.clear()
        plot_drift_share(ax, self.batches, float(self.data["report"]["settings"]["drift_share"]))
        self.share_chart.redraw()

    def _draw_heatmap(self) -> None:
        ids = [b["id"] for b in self.batches]
        psi, drifted = [], []
        for f in self.features:
            psi.append([(self.data["cells"].get(b, {}).get(f) or {}).get("psi") for b in ids])
            drifted.append([(self.data["cells"].get(b, {}).get(f) or {}).get("drifted")
                            for b in ids])
        fig = self.heatmap_chart.figure
        ax = self.heatmap_chart.clear()
        selected = None
        if self.feature in self.features and self.batch_index is not None:
            selected = (self.features.index(self.feature), self.batch_index)
        image = plot_drift_heatmap(ax, self.features, self.batches, psi, drifted, selected)
        if image is not None:
            bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02,
                               extend="max" if getattr(image, "clipped", False) else "neither")
            bar.set_label("PSI (≥ 0.25: large shift)", fontsize=8)
            bar.ax.tick_params(labelsize=8)
        self._heatmap_ax = ax
        self.heatmap_chart.redraw()

    def _draw_distribution(self) -> None:
        b = self.current_batch()
        if b is None or self.feature is None:
            self.dist_chart.show_message("Select a feature")
            return
        hist = (self.data["histograms"].get(b["id"]) or {}).get(self.feature)
        ax = self.dist_chart.clear()
        plot_distribution(ax, hist, self.feature, batch_label(b, multiline=False),
                          describe_test(self._cells().get(self.feature), short=True))
        self.dist_chart.redraw()

    def _fill_metrics_combo(self) -> None:
        metrics = self.data["report"]["metrics"]
        names = list(metrics["series"])
        keep = self.metric_combo.currentText()
        gated = [str(g.get("metric", "")).removeprefix("cv.") for g in metrics["gates"]]
        preferred = [n for n in gated if n in names] + [
            n for n in self.data["report"]["settings"].get("alert_metrics", []) if n in names]
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        self.metric_combo.addItems(names)
        choice = keep if keep in names else (preferred[0] if preferred else
                                             (names[0] if names else ""))
        if choice:
            self.metric_combo.setCurrentText(choice)
        self.metric_combo.setEnabled(bool(names))
        self.metric_combo.blockSignals(False)

    def _draw_metrics(self) -> None:
        if not self.data:
            return
        metrics = self.data["report"]["metrics"]
        name = self.metric_combo.currentText()
        ax = self.metric_chart.clear()
        if not name:
            plot_metric_series(ax, "metrics", self.batches, [], None, [], None)
        else:
            plot_metric_series(ax, name, self.batches, metrics["series"].get(name, []),
                               metrics["holdout"].get(name), metrics["gates"],
                               metrics.get("tolerance"),
                               lower_is_better=name in monitoring.LOWER_IS_BETTER)
        self.metric_chart.redraw()

    def _draw_latency(self) -> None:
        report = self.data["report"]
        ax = self.latency_chart.clear()
        plot_latency(ax, self.batches, report["latency"],
                     report["settings"].get("latency_p99_ms"),
                     report["settings"].get("max_error_rate"))
        self.latency_chart.redraw()

    # -- ingest ---------------------------------------------------------------------------------
    def choose_and_ingest(self) -> None:
        if self._ref is None:
            return
        settings = QSettings()
        start = str(settings.value("monitoring/last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, f"Ingest a batch for {self._ref}", start,
                                              FILE_FILTER)
        if not path:
            return
        settings.setValue("monitoring/last_dir", str(Path(path).parent))
        try:
            columns = peek_columns(path)
        except Exception as exc:  # unreadable header: the core will name the problem
            columns = []
            self.message.emit(f"Could not read the columns of {Path(path).name}: {exc}")
        target = self.data.get("target") if self.data else None
        timestamp = next((c for c in columns if c.lower() in TIMESTAMP_NAMES), None)
        extra = {}
        if self.data and self.data.get("inputs"):  # the advanced per-column drift tests
            extra = {"inputs": self.data["inputs"], "configured_tests":
                     dict(self.data["report"].get("settings", {}).get("tests") or {})}
        options = IngestOptionsDialog.ask(self, path, columns, label=target,
                                          timestamp=timestamp, **extra)
        if options is not None:
            self.ingest_file(path, **options)

    def ingest_file(self, path: str, label: str | None = None, timestamp: str | None = None,
                    window: str | None = None,
                    tests: dict[str, str] | None = None) -> Task | None:
        """Ingest `path` for the selected version in a worker (progress, Cancel)."""
        if self._ref is None or self._running():
            return None
        store, ref = self.store, self._ref
        name = Path(path).name
        task = self.ingest_task = run_task(
            lambda progress, cancelled: monitoring.ingest(
                store, ref, path, label=label, timestamp=timestamp, window=window,
                tests=tests, progress=progress, cancelled=cancelled))
        task.progress.connect(lambda f, m: self._progress(f, f"Ingesting {name}: {m}"))
        task.finished.connect(lambda result: self._on_ingested(ref, name, result))
        task.failed.connect(lambda msg: self._failed("Ingest failed",
                                                     f"Could not ingest {path}\n\n{msg}\n\n"
                                                     f"Nothing was changed in the store."))
        task.cancelled.connect(lambda: self.message.emit(
            f"Ingest of {name} cancelled; nothing was changed"))
        task.done.connect(self._task_done)
        self._start_progress(f"Ingesting {name}…")
        return task

    def _on_ingested(self, ref: str, name: str, result: dict[str, Any]) -> None:
        batches = result.get("batches") if "batches" in result else [result]
        self.last_ingest = batches
        n_alerts = sum(len(b.get("alerts") or []) for b in batches)
        n_findings = sum(len(b.get("quality") or []) for b in batches)
        drifted = [b for b in batches if b.get("dataset_drift")]
        if len(batches) == 1:
            b = batches[0]
            head = (f"<b>Batch #{b['id']}</b> from {_esc(name)}: {b['rows']:,} rows, "
                    f"{b.get('n_drifted') or 0} of {b.get('n_columns') or 0} features drifted"
                    + (" — <b style='color:#c0392b'>dataset drift</b>" if drifted else ""))
        else:
            head = (f"<b>{len(batches)} batches</b> (#{batches[0]['id']}–#{batches[-1]['id']}) "
                    f"from {_esc(name)}; {len(drifted)} with dataset drift")
        parts = [head]
        if n_alerts:
            parts.append(f"<a href='alerts'>{n_alerts} alert{'s' if n_alerts != 1 else ''}</a>")
        if n_findings:
            parts.append(f"<a href='quality'>{n_findings} data-quality finding"
                         f"{'s' if n_findings != 1 else ''}</a>")
        else:
            parts.append("no data-quality findings")
        self.notice.setText(" · ".join(parts))
        self.notice.show()
        self.message.emit(f"Ingested {len(batches)} batch{'es' if len(batches) != 1 else ''} "
                          f"for {ref}")
        self._select_batch_after_load = batches[-1]["id"]
        self.refresh()  # batch counts and attention marks changed; reloads the report

    def _on_notice_link(self, link: str) -> None:
        self.tabs.setCurrentIndex(2 if link == "alerts" else 3)

    # -- retrain --------------------------------------------------------------------------------
    def retrain(self) -> Task | None:
        """Retrain a challenger of the selected version in a worker."""
        if self._ref is None or self._running():
            return None
        store, ref = self.store, self._ref
        task = self.retrain_task = run_task(
            lambda progress, cancelled: monitoring.retrain(store, ref, progress=progress,
                                                           cancelled=cancelled))
        task.progress.connect(lambda f, m: self._progress(f, f"Retraining {ref}: {m}"))
        task.finished.connect(self._on_retrained)
        task.failed.connect(lambda msg: self._failed("Retrain failed", msg))
        task.cancelled.connect(lambda: self.message.emit(f"Retraining {ref} cancelled"))
        task.done.connect(self._task_done)
        self._start_progress(f"Retraining a challenger of {ref}…")
        return task

    def _on_retrained(self, result: dict[str, Any]) -> None:
        ch = result["challenger"]
        self.message.emit(f"Challenger {ch['ref']} registered ({ch['status']}); it needs "
                          f"approval")
        self.refresh()
        dialog = self.retrain_dialog = RetrainDialog(self, result)
        dialog.approvals_button.clicked.connect(lambda: (dialog.accept(),
                                                         self._go("approvals", ch["ref"])))
        dialog.open()

    # -- progress and errors ------------------------------------------------------------------
    def _running(self) -> bool:
        return any(t is not None and t.is_running() for t in (self.ingest_task,
                                                              self.retrain_task))

    def _start_progress(self, text: str) -> None:
        self.progress_bar.label.setText(text)
        self.progress_bar.bar.setValue(0)
        self.progress_bar.cancel_button.setEnabled(True)
        self.progress_bar.cancel_button.setText("Cancel")
        self.progress_bar.show()
        for w in (self.ingest_button, self.retrain_button, self.no_batches_button,
                  self.version_combo):
            w.setEnabled(False)

    def _progress(self, fraction: float, text: str) -> None:
        self.progress_bar.bar.setValue(round(fraction * 100))
        self.progress_bar.label.setText(text)

    def _task_done(self) -> None:
        self.progress_bar.hide()
        for w in (self.ingest_button, self.retrain_button, self.no_batches_button,
                  self.version_combo):
            w.setEnabled(True)

    def cancel(self) -> None:
        for task in (self.ingest_task, self.retrain_task):
            if task is not None and task.is_running():
                task.cancel()
                self.progress_bar.cancel_button.setEnabled(False)
                self.progress_bar.cancel_button.setText("Cancelling…")

    def _failed(self, title: str, text: str) -> None:
        self.message.emit(f"{title}: {text.splitlines()[0]}")
        self._dialog(QMessageBox.Icon.Critical, title, text)

    def _refused(self, title: str, text: str) -> None:
        self.message.emit(f"{title}: {text}")
        self._dialog(QMessageBox.Icon.Warning, title, text)

    def _dialog(self, icon, title: str, text: str) -> QMessageBox:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()  # window-modal without blocking the event loop
        self.last_dialog = box
        return box

    def is_busy(self) -> bool:
        return any(t is not None and t.is_running()
                   for t in (self.load_task, self.ingest_task, self.retrain_task))

    # -- the main window ----------------------------------------------------------------------
    def _refresh_attention(self) -> None:
        win = self.window()
        refresh = getattr(win, "refresh_attention", None)
        if callable(refresh):
            refresh()

    def _go(self, pane: str, ref: str | None = None) -> None:
        win = self.window()
        if hasattr(win, "select_pane"):
            try:
                target = win.select_pane(pane)
            except LookupError:
                return
            select = getattr(target, "select_version", None)
            if ref and callable(select):
                select(ref)
