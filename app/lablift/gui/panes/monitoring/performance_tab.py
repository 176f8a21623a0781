"""The Performance tab: a metric over time against the holdout figure and the gate (labelled
batches), and latency, volume and errors from prediction logs."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from ....core import monitoring
from ...charts import ChartCanvas
from ...monitoring_charts import plot_latency, plot_metric_series


class PerformanceTab(QSplitter):
    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.report: dict[str, Any] | None = None
        self.batches: list[dict[str, Any]] = []
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 4, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("Metric"))
        self.metric_combo = QComboBox()
        self.metric_combo.currentIndexChanged.connect(lambda _i: self.draw_metrics())
        head.addWidget(self.metric_combo)
        head.addStretch(1)
        ll.addLayout(head)
        self.metric_chart = ChartCanvas(width=5.2, height=3.6)
        ll.addWidget(self.metric_chart, 1)
        self.latency_chart = ChartCanvas(width=5.2, height=3.6)
        self.addWidget(left)
        self.addWidget(self.latency_chart)
        self.setSizes([540, 540])
        self.setChildrenCollapsible(False)
        self._logged: bool | None = None  # whether the latency chart has prediction logs

    def show_report(self, report: dict[str, Any], batches: list[dict[str, Any]]) -> None:
        """Offer the report's metrics (the gated ones first) and draw both charts."""
        self.report, self.batches = report, batches
        metrics = report["metrics"]
        names = list(metrics["series"])
        keep = self.metric_combo.currentText()
        gated = [str(g.get("metric", "")).removeprefix("cv.") for g in metrics["gates"]]
        preferred = [n for n in gated if n in names] + [
            n for n in report["settings"].get("alert_metrics", []) if n in names]
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        self.metric_combo.addItems(names)
        choice = keep if keep in names else (preferred[0] if preferred else
                                             (names[0] if names else ""))
        if choice:
            self.metric_combo.setCurrentText(choice)
        self.metric_combo.setEnabled(bool(names))
        self.metric_combo.blockSignals(False)
        ax = self.latency_chart.clear()
        logged = plot_latency(ax, batches, report["latency"],
                              report["settings"].get("latency_p99_ms"),
                              report["settings"].get("max_error_rate"))
        if logged != self._logged:  # no logs: the metric chart takes most of the width
            self._logged = logged
            self.setSizes([1000, 1000] if logged else [3000, 1000])  # weights, not pixels
        self.latency_chart.redraw()
        self.draw_metrics()

    def draw_metrics(self) -> None:
        if not self.report:
            return
        metrics = self.report["metrics"]
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
