"""The Alerts tab: a version's alerts, newest first; the selected open ones can be
acknowledged (the pane does it in a worker when `acknowledge_requested` fires)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from ... import palette
from ...format import short_time
from ...tablemodels import ALIGN_RIGHT, Column, RecordsTableModel, make_sort_proxy
from .common import sentence

ACK_TIP = "Mark the selected open alerts as seen (lablift monitor ack ID)"


class AlertsTab(QWidget):
    acknowledge_requested = Signal(list)  # the ids of the selected open alerts

    def __init__(self, parent=None):
        super().__init__(parent)
        self.refusal: str | None = None  # why this user may not acknowledge, if so
        self.busy = False
        layout = QVBoxLayout(self)
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
            lambda *_: self.update_button())
        layout.addWidget(self.alerts_view, 1)
        row = QHBoxLayout()
        self.alerts_hint = QLabel("Acknowledging the last open alert clears the version's "
                                  "“needs attention” flag.")
        self.alerts_hint.setStyleSheet(palette.css_text("muted"))
        self.alerts_hint.setWordWrap(True)
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.setEnabled(False)
        self.ack_button.clicked.connect(
            lambda: self.acknowledge_requested.emit([a["id"] for a in self.chosen()]))
        row.addWidget(self.alerts_hint, 1)
        row.addWidget(self.ack_button)
        layout.addLayout(row)

    def show_alerts(self, alerts: list[dict[str, Any]]) -> int:
        """List `alerts`; the number still open."""
        self.alerts_model.set_records(alerts)
        self.update_button()
        return len(self.open_alerts())

    def open_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts_model.records() if not a.get("acknowledged_by")]

    def selected_alerts(self) -> list[dict[str, Any]]:
        rows = {self.alerts_proxy.mapToSource(i).row()
                for i in self.alerts_view.selectionModel().selectedRows()}
        return [self.alerts_model.record(r) for r in sorted(rows)]

    def chosen(self) -> list[dict[str, Any]]:
        """The selected alerts that are still open."""
        return [a for a in self.selected_alerts() if not a.get("acknowledged_by")]

    def select_alerts(self, ids: list[int]) -> None:
        sel = self.alerts_view.selectionModel()
        sel.clearSelection()
        for r in range(self.alerts_proxy.rowCount()):
            index = self.alerts_proxy.index(r, 0)
            if self.alerts_model.record(self.alerts_proxy.mapToSource(index).row())["id"] in ids:
                sel.select(index, QItemSelectionModel.SelectionFlag.Select
                           | QItemSelectionModel.SelectionFlag.Rows)

    def set_refusal(self, refusal: str | None) -> None:
        """Why the user may not acknowledge (None: they may); the button says so."""
        self.refusal = refusal
        self.update_button()

    def update_button(self) -> None:
        chosen = self.chosen()
        self.ack_button.setEnabled(bool(chosen) and self.refusal is None and not self.busy)
        self.ack_button.setText(f"Acknowledge {len(chosen)}" if len(chosen) > 1
                                else "Acknowledge")
        self.ack_button.setToolTip(sentence(self.refusal) if self.refusal else ACK_TIP)
