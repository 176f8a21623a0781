"""The Monitoring pane's top row: the model version picker, the chosen version's status and
marks, and the two actions (the pane connects and gates them)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from ... import palette
from .common import bold, plural, status_badge


def version_ref(v: dict[str, Any]) -> str:
    return f"{v['model']}:{v['version']}"


class VersionBar(QWidget):
    """`version_chosen(ref)` when the user picks a version (not when `fill`/`choose` set it)."""

    version_chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        top = QHBoxLayout(self)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(bold(QLabel("Model version")))
        self.version_combo = QComboBox()
        self.version_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        # Long refs elide here (each item's tooltip has it whole), so at 1024 px the status
        # and "needs attention" beside it still show.
        self.version_combo.setMinimumContentsLength(24)
        self.version_combo.setMinimumWidth(160)
        self.version_combo.currentIndexChanged.connect(
            lambda i: self.version_chosen.emit(self.version_combo.itemData(i)) if i >= 0
            else None)
        top.addWidget(self.version_combo)
        self.version_info = QLabel()
        self.version_info.setTextFormat(Qt.TextFormat.RichText)
        self.version_info.setMinimumWidth(0)
        self.version_info.setSizePolicy(QSizePolicy.Policy.Ignored,
                                        QSizePolicy.Policy.Preferred)
        top.addWidget(self.version_info, 1)
        self.ingest_button = QPushButton("Ingest batch…")
        self.retrain_button = QPushButton("Retrain challenger…")
        top.addWidget(self.ingest_button)
        top.addWidget(self.retrain_button)

    def fill(self, versions: list[dict[str, Any]], counts: dict[int, int]) -> None:
        """List `versions` with their batch counts and attention marks (nothing chosen)."""
        self.version_combo.blockSignals(True)
        self.version_combo.clear()
        for v in versions:
            ref = version_ref(v)
            n = counts.get(v["id"], 0)
            self.version_combo.addItem(f"{'⚠ ' if v.get('attention') else ''}{ref} — "
                                       f"{v['status']} · {plural(n, 'batch', 'es')}", ref)
            tip = f"{ref} ({v['status']}), {n} monitoring batches"
            if v.get("attention"):
                tip += f"\nNeeds attention: {v['attention']}"
            self.version_combo.setItemData(self.version_combo.count() - 1, tip,
                                           Qt.ItemDataRole.ToolTipRole)
        self.version_combo.blockSignals(False)

    def refs(self) -> list[str]:
        return [self.version_combo.itemData(i) for i in range(self.version_combo.count())]

    def choose(self, ref: str) -> None:
        """Show `ref` as chosen without `version_chosen`."""
        self.version_combo.blockSignals(True)
        self.version_combo.setCurrentIndex(self.refs().index(ref))
        self.version_combo.blockSignals(False)

    def show_info(self, v: dict[str, Any]) -> None:
        """The chosen version's status badge and marks (challenger, needs attention)."""
        info = f"&nbsp;{status_badge(v.get('status', ''))}"
        if v.get("challenger_of"):
            info += f"&nbsp;<span style='color:{palette.color('muted')}'>challenger</span>"
        if v.get("attention"):
            info += (f"&nbsp;&nbsp;<span style='color:{palette.color('warn')}'><b>⚠ needs "
                     f"attention</b></span>")
        self.version_info.setText(info)
        self.version_info.setToolTip(v.get("attention") or "")
