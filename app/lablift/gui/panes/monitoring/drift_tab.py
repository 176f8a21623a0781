"""The Drift tab: drift share per batch, the feature x batch heatmap (a click picks a feature
in a batch) and the selected feature's distribution, reference against batch."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QSplitter, QVBoxLayout, QWidget)

from ... import palette
from ...charts import ChartCanvas
from ...monitoring_charts import (batch_label, describe_test, plot_distribution,
                                  plot_drift_heatmap, plot_drift_share)
from .common import NO_BATCHES


class DriftTab(QSplitter):
    """Draws what `show_report` gives it; `batch_chosen(index)` asks the pane to select a batch
    (from the combo or a heatmap click), which comes back through `show_batch`."""

    batch_chosen = Signal(int)

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.data: dict[str, Any] | None = None
        self.batches: list[dict[str, Any]] = []
        self.features: list[str] = []
        self.batch_index: int | None = None
        self.feature: str | None = None
        self.heatmap_ax = None
        self.share_chart = ChartCanvas(width=6.0, height=2.4)
        self.heatmap_chart = ChartCanvas(width=6.0, height=3.6)
        self.heatmap_chart.mpl_connect("button_press_event", self.on_heatmap_click)
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
        self.batch_combo.currentIndexChanged.connect(
            lambda i: self.batch_chosen.emit(i) if i >= 0 else None)
        head.addWidget(self.batch_combo, 1)
        rl.addLayout(head)
        self.feature_list = QListWidget()
        self.feature_list.setMaximumHeight(150)
        self.feature_list.setAlternatingRowColors(True)
        self.feature_list.currentRowChanged.connect(self._on_feature_row)
        rl.addWidget(self.feature_list)
        self.dist_chart = ChartCanvas(width=4.6, height=3.2)
        rl.addWidget(self.dist_chart, 1)
        self.addWidget(left)
        self.addWidget(right)
        self.setSizes([610, 470])
        self.setChildrenCollapsible(False)

    def show_message(self, text: str) -> None:
        for canvas in (self.share_chart, self.heatmap_chart, self.dist_chart):
            canvas.show_message(text)

    def show_report(self, data: dict[str, Any], batches: list[dict[str, Any]],
                    features: list[str]) -> None:
        """A (re)loaded report: the batch combo and the drift share; `show_batch` follows."""
        self.data, self.batches, self.features = data, batches, features
        self.batch_index = None
        self.batch_combo.blockSignals(True)
        self.batch_combo.clear()
        for b in batches:
            mark = "⚠ " if b.get("dataset_drift") else ""
            self.batch_combo.addItem(f"{mark}{batch_label(b, multiline=False)} · {b['rows']:,} "
                                     f"rows · drift share {b['drift_share'] or 0:.2f}", b["id"])
        self.batch_combo.blockSignals(False)
        if not batches:
            self.feature_list.clear()
            self.show_message(NO_BATCHES)
            return
        ax = self.share_chart.clear()
        plot_drift_share(ax, batches, float(data["report"]["settings"]["drift_share"]))
        self.share_chart.redraw()

    def show_batch(self, index: int) -> None:
        changed = index != self.batch_index
        self.batch_index = index
        if self.batch_combo.currentIndex() != index:
            self.batch_combo.blockSignals(True)
            self.batch_combo.setCurrentIndex(index)
            self.batch_combo.blockSignals(False)
        if changed or self.feature_list.count() != len(self.features):
            self._fill_feature_list()
        if self.feature not in self.features:
            cells = self.cells()
            drifted = [f for f in self.features if (cells.get(f) or {}).get("drifted")]
            self.feature = (drifted or self.features or [None])[0]
        self._redraw_selection()

    def current_batch(self) -> dict[str, Any] | None:
        return self.batches[self.batch_index] if self.batch_index is not None else None

    def cells(self) -> dict[str, dict]:
        """The selected batch's test result per feature."""
        b = self.current_batch()
        return self.data["cells"].get(b["id"], {}) if b and self.data else {}

    def select_feature(self, feature: str, batch_index: int | None = None) -> None:
        self.feature = feature
        if batch_index is not None and batch_index != self.batch_index:
            self.batch_chosen.emit(batch_index)  # the pane selects it; redrawn with `feature`
            return
        self._redraw_selection()

    def on_heatmap_click(self, event) -> None:
        ax = self.heatmap_ax
        if ax is None or event.inaxes is not ax or event.xdata is None:
            return
        j, i = int(round(event.xdata)), int(round(event.ydata))
        if 0 <= i < len(self.features) and 0 <= j < len(self.batches):
            self.select_feature(self.features[i], j)

    # -- drawing ---------------------------------------------------------------------------
    def _fill_feature_list(self) -> None:
        cells = self.cells()
        self.feature_list.blockSignals(True)
        self.feature_list.clear()
        for f in self.features:
            cell = cells.get(f)
            item = QListWidgetItem(f"{'⚠ ' if cell and cell.get('drifted') else '    '}{f}   "
                                   f"{describe_test(cell)}")
            item.setData(Qt.ItemDataRole.UserRole, f)
            if cell and cell.get("drifted"):
                item.setForeground(palette.brush("bad"))
            self.feature_list.addItem(item)
        self.feature_list.blockSignals(False)

    def _on_feature_row(self, row: int) -> None:
        if 0 <= row < len(self.features):
            self.select_feature(self.features[row])

    def _redraw_selection(self) -> None:
        row = self.features.index(self.feature) if self.feature in self.features else -1
        self.feature_list.blockSignals(True)
        self.feature_list.setCurrentRow(row)
        self.feature_list.blockSignals(False)
        self._draw_heatmap()
        self._draw_distribution()

    def _draw_heatmap(self) -> None:
        ids = [b["id"] for b in self.batches]
        cells = [[(self.data["cells"].get(b, {}).get(f) or {}) for b in ids]
                 for f in self.features]
        psi = [[c.get("psi") for c in row] for row in cells]
        drifted = [[c.get("drifted") for c in row] for row in cells]
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
        self.heatmap_ax = ax
        self.heatmap_chart.redraw()

    def _draw_distribution(self) -> None:
        b = self.current_batch()
        if b is None or self.feature is None:
            self.dist_chart.show_message("Select a feature")
            return
        hist = (self.data["histograms"].get(b["id"]) or {}).get(self.feature)
        ax = self.dist_chart.clear()
        plot_distribution(ax, hist, self.feature, batch_label(b, multiline=False),
                          describe_test(self.cells().get(self.feature), short=True))
        self.dist_chart.redraw()
