"""The "Batches and data quality" tab: every batch of the version, and the data-quality
findings of the selected one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QSplitter, QTableView,
                               QVBoxLayout, QWidget)

from ...format import short_time
from ...monitoring_charts import batch_label, batch_window
from ...tablemodels import ALIGN_RIGHT, Column, RecordsTableModel
from .common import esc, plural

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


class BatchesTab(QSplitter):
    """`batch_chosen(index)` when the user selects a row; `show_batch` selects it here."""

    batch_chosen = Signal(int)

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Vertical, parent)
        self.quality: list[dict[str, Any]] = []
        self.batches: list[dict[str, Any]] = []
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
            Column("shadow_text", "Shadow", fmt=lambda v: v or "—"),
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
            lambda cur, _prev: cur.isValid() and self.batch_chosen.emit(cur.row()))
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
        self.shadow_label = QLabel()  # the selected batch's champion vs challenger, if any
        self.shadow_label.setWordWrap(True)
        self.shadow_label.hide()
        rl.addWidget(self.shadow_label)
        rl.addWidget(self.findings_title)
        rl.addWidget(self.findings_view, 1)
        self.addWidget(self.batches_view)
        self.addWidget(right)
        self.setSizes([260, 340])
        self.setChildrenCollapsible(False)

    def show_report(self, report: dict[str, Any], batches: list[dict[str, Any]]) -> None:
        self.quality, self.batches = report["quality"], batches
        counts: dict[int, int] = {}
        for f in self.quality:
            counts[f["batch_id"]] = counts.get(f["batch_id"], 0) + 1
        records = []
        for b in batches:
            n, total = b.get("n_drifted"), b.get("n_columns")
            drift_text = (f"{n} of {total}" if total else "—") + \
                (" · dataset drift" if b.get("dataset_drift") else "")
            records.append({**b, "window_text": batch_window(b),
                            "source": Path(b.get("source_path") or "").name,
                            "drift_text": drift_text, "n_findings": counts.get(b["id"], 0),
                            "shadow_text": shadow_cell(b.get("shadow"))})
        self.batches_model.set_records(records)
        self.batches_view.resizeColumnsToContents()
        if not batches:
            self.findings_model.set_records([])
            self.findings_title.setText("Data quality")
            self.shadow_label.hide()

    def show_batch(self, index: int) -> None:
        """Select row `index` (without echoing `batch_chosen`) and list its findings."""
        selection = self.batches_view.selectionModel()
        current = selection.currentIndex()
        if not current.isValid() or current.row() != index:
            selection.blockSignals(True)
            selection.setCurrentIndex(self.batches_model.index(index, 0),
                                      QItemSelectionModel.SelectionFlag.ClearAndSelect
                                      | QItemSelectionModel.SelectionFlag.Rows)
            selection.blockSignals(False)
        b = self.batches[index]
        shadow = b.get("shadow")
        self.shadow_label.setVisible(bool(shadow))
        self.shadow_label.setText(shadow_html(shadow) if shadow else "")
        findings = [f for f in self.quality if f["batch_id"] == b["id"]]
        findings.sort(key=lambda f: SEVERITY_ORDER.get(f.get("severity"), 3))
        self.findings_model.set_records(findings)
        self.findings_view.resizeRowsToContents()
        self.findings_title.setText(
            f"<b>Data quality of batch {esc(batch_label(b, multiline=False))}</b>: "
            + (plural(len(findings), "finding") if findings
               else "no findings (schema, ranges, categories and missing values as in "
                    "training)"))


def shadow_cell(s: dict[str, Any] | None) -> str | None:
    """The batches table's Shadow cell: agreement with the challenger logged beside it."""
    if not s or s.get("agreement") is None:
        return None
    return f"{s['agreement']:.1%} agree" + (f", {s['errors']} errors" if s.get("errors") else "")


def shadow_html(s: dict[str, Any]) -> str:
    """Champion vs challenger of a `serve.py --shadow` log, for the selected batch."""
    lines = [f"<b>Shadow {esc(s.get('challenger') or '?')}</b> beside "
             f"<b>{esc(s.get('champion') or '?')}</b>: {s['compared_rows']:,} of "
             f"{s['rows']:,} rows compared"]
    if s.get("agreement") is not None:
        lines.append(f"same prediction on {s['agreement']:.1%} ({s['disagreements']:,} differ)")
    if s.get("probabilities"):
        lines.append(f"probabilities differ by {s['probabilities']['mean_abs_diff']:.4f} "
                     f"on average")
    lat = s.get("latency_ms") or {}
    for who in ("champion", "challenger"):
        if lat.get(who):
            lines.append(f"{who} latency p50 {lat[who]['p50']:.1f} ms, p95 "
                         f"{lat[who]['p95']:.1f} ms")
    if s.get("errors"):
        lines.append(f"{plural(s['errors'], 'shadow error')}: "
                     f"{esc('; '.join(s.get('error_messages') or []))}")
    m = s.get("metrics")
    if m:
        lines.append(f"on {m['rows']:,} labelled rows: " + ", ".join(
            f"{esc(k)} {v:.3f} → {m['challenger'][k]:.3f}" for k, v in m["champion"].items()
            if v is not None and m["challenger"].get(k) is not None))
    return lines[0] + "<br>" + " · ".join(lines[1:])
