"""The Monitoring pane's dialogs: choosing a batch file and its ingest options, the retrain
confirmation (what is trained on what data) and the retrain result (champion against
challenger)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QHeaderView, QLabel, QSpinBox, QTableView,
                               QVBoxLayout)

from ... import context_menu, palette
from ...drift_tests import DriftTestsPanel
from ...format import delta
from ...monitoring_charts import batch_window
from ...tablemodels import ALIGN_RIGHT, Column, RecordsTableModel
from .common import esc, plural, status_badge
from .data import peek_columns

FILE_FILTER = ("Batches and prediction logs (*.csv *.tsv *.txt *.parquet *.pq *.parq *.xlsx "
               "*.jsonl *.ndjson *.log);;All files (*)")
TIMESTAMP_NAMES = ("timestamp", "ts", "time", "date", "datetime", "event_time", "created_at")
NONE_CHOICE = "(none)"
WINDOWS = (("auto", None), ("one batch per day", "day"), ("one batch per week", "week"),
           ("every N rows", "rows"))


def _four(value: Any) -> str:
    return "—" if value is None else f"{value:.4f}"


def _table(model: RecordsTableModel, min_height: int) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setMinimumHeight(min_height)
    context_menu.install(table, name="retrain")
    return table


def _wrapped(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class IngestOptionsDialog(QDialog):
    """Label column, timestamp column, window and (advanced) drift test per column."""

    def __init__(self, parent, path: str, columns: list[str], label: str | None,
                 timestamp: str | None, inputs: list[dict[str, Any]] | None = None,
                 configured_tests: dict[str, str] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Ingest batch")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        layout.addWidget(_wrapped(
            f"<b>{esc(Path(path).name)}</b><br><span style='color:{palette.color('muted')}'>"
            f"{len(columns)} "
            f"columns. The batch is measured against the model version's training data.</span>"))
        form = QFormLayout()
        self.label_combo = self._column_combo(columns, label)
        self.label_combo.setToolTip("Actual outcomes: with them each batch gets the model's "
                                    "metrics, compared with the holdout figures")
        self.ts_combo = self._column_combo(columns, timestamp)
        self.ts_combo.setToolTip("A time column splits the file into windows (charts over time)")
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

    @staticmethod
    def _column_combo(columns: list[str], chosen: str | None) -> QComboBox:
        combo = QComboBox()
        combo.setEditable(True)
        combo.addItems([NONE_CHOICE] + columns)
        if chosen in columns:
            combo.setCurrentText(chosen)
        return combo

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


def ask_ingest(parent, ref: str, data: dict[str, Any] | None,
               tell: Callable[[str], None]) -> tuple[str, dict[str, Any]] | None:
    """Ask for a batch file for version `ref`, then its options, offering the file's columns
    with the model's target as label (`data`: the pane's report, if read); (path, options), or
    None when cancelled. `tell` gets a line when the file's columns cannot be read."""
    settings = QSettings()
    start = str(settings.value("monitoring/last_dir", str(Path.home())))
    path, _ = QFileDialog.getOpenFileName(parent, f"Ingest a batch for {ref}", start,
                                          FILE_FILTER)
    if not path:
        return None
    settings.setValue("monitoring/last_dir", str(Path(path).parent))
    try:
        columns = peek_columns(path)  # the file's first rows, not the store
    except Exception as exc:  # unreadable header: the core will name the problem
        columns = []
        tell(f"Could not read the columns of {Path(path).name}: {exc}")
    timestamp = next((c for c in columns if c.lower() in TIMESTAMP_NAMES), None)
    extra = {}
    if data and data.get("inputs"):  # the advanced per-column drift tests
        extra = {"inputs": data["inputs"], "configured_tests":
                 dict(data["report"].get("settings", {}).get("tests") or {})}
    options = IngestOptionsDialog.ask(parent, path, columns,
                                      label=data.get("target") if data else None,
                                      timestamp=timestamp, **extra)
    return None if options is None else (path, options)


def labelled_batches(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The batches a retrain learns from: those ingested with a label column."""
    return [b for b in batches if b.get("label_column")]


class RetrainConfirmDialog(QDialog):
    """Before retraining: which version, with what spec, on which dataset and batches; the
    challenger it makes is pending. OK ("Retrain") starts it, Cancel changes nothing."""

    def __init__(self, parent, ref: str, training: dict[str, Any],
                 batches: list[dict[str, Any]]):
        super().__init__(parent)
        self.setWindowTitle(f"Retrain a challenger of {ref}")
        self.setMinimumWidth(540)
        ds = training["dataset"]
        self.batches = labelled_batches(batches)
        self.labelled_rows = sum(b.get("labelled_rows") or 0 for b in self.batches)
        layout = QVBoxLayout(self)
        cv = f", {training['cv']}-fold cross-validation" if training.get("cv") else ""
        self.summary = _wrapped(
            f"<b>Train a challenger of {esc(ref)}</b> with the same spec as its run "
            f"#{training['run_id']}: {esc(training.get('algorithm') or '?')}, target "
            f"<b>{esc(training.get('target') or '?')}</b>, "
            f"{plural(training.get('features') or 0, 'feature')}{cv}.<br><br>"
            f"<b>On</b> dataset {esc(ds['name'])}:{ds['version']} "
            f"({plural(ds.get('rows') or 0, 'row')}, the training data of {esc(ref)}) "
            f"<b>plus</b> {plural(len(self.batches), 'labelled batch', 'es')} "
            f"({plural(self.labelled_rows, 'labelled row')}):")
        layout.addWidget(self.summary)
        model = RecordsTableModel([
            Column("id", "Batch", fmt=lambda v: f"#{v}", align=ALIGN_RIGHT),
            Column("window_text", "Window", fmt=lambda v: v or "—"),
            Column("label_column", "Label column"),
            Column("labelled_rows", "Labelled rows", fmt=lambda v: f"{v or 0:,}",
                   align=ALIGN_RIGHT)],
            [{**b, "window_text": batch_window(b)} for b in self.batches], self)
        self.table = _table(model, 140)
        layout.addWidget(self.table)
        layout.addWidget(_wrapped(
            f"<span style='color:{palette.color('muted')}'>The newest labelled batch (or, with "
            f"one, its newest rows) is held out: champion and challenger are compared on rows "
            f"neither trained on. The combined data is imported as a new dataset version "
            f"and the challenger is registered <b>pending</b>: it goes through Approvals, where "
            f"a reviewer other than you decides. {esc(ref)} stays as it is.</span>"))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Retrain")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)


class RetrainDialog(QDialog):
    """Champion against challenger on the held-out rows (named: batch, count, how chosen);
    the challenger is pending."""

    def __init__(self, parent, result: dict[str, Any]):
        super().__init__(parent)
        ch, champ, ds = result["challenger"], result["champion"], result["dataset"]
        self.setWindowTitle(f"Challenger {ch['ref']} registered")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        batches = ", ".join(f"#{b}" for b in result.get("batches", []))
        batches = f"batches {batches}" if batches else "no monitoring batch"
        layout.addWidget(_wrapped(
            f"<b>{esc(ch['ref'])}</b> {status_badge(ch['status'])} is a challenger of "
            f"<b>{esc(champ['ref'])}</b>, trained with the same spec on "
            f"{esc(ds['name'])}:{ds['version']} ({ds['rows']:,} rows: the reference plus "
            f"{batches}).<br><span style='color:{palette.color('muted')}'>It goes "
            f"through Approvals like "
            f"any version: a reviewer other than you decides.</span>"))
        comparison = result.get("comparison")
        self.rows: list[dict[str, Any]] = []
        if comparison:
            self.holdout_label = _wrapped(
                f"On <b>{comparison['rows']:,} held-out rows</b> of batch "
                f"#{comparison['batch_id']}, which neither model trained on: "
                f"{esc(comparison.get('note', ''))}.")
            layout.addWidget(self.holdout_label)
            for name, value in (comparison.get("champion") or {}).items():
                other = (comparison.get("challenger") or {}).get(name)
                self.rows.append({"metric": name, "champion": value, "challenger": other,
                                  "change": None if value is None or other is None
                                  else other - value})
            model = RecordsTableModel([
                Column("metric", "Metric"),
                Column("champion", f"Champion {champ['ref']}", fmt=_four, align=ALIGN_RIGHT),
                Column("challenger", f"Challenger {ch['ref']}", fmt=_four, align=ALIGN_RIGHT),
                Column("change", "Change", fmt=delta, align=ALIGN_RIGHT)], self.rows, self)
            self.table = _table(model, 230)
            layout.addWidget(self.table)
        else:
            layout.addWidget(QLabel("No comparison: the held-out labelled rows lack inputs the "
                                    "model needs."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.approvals_button = buttons.addButton("Open Approvals",
                                                  QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
