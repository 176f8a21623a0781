"""Settings → Monitoring: the store's drift thresholds, per-column drift tests and alert
limits (core.monitoring.settings). Read in a worker; written by the dialog through
`update_settings` (admin, audited as monitor.settings); each field is checked as it is typed
against the same bounds core applies, so a mistake is named before anything is written."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QVBoxLayout, QWidget)

from ...core import drift, evaluation
from ...core.errors import LabliftError
from ...core.monitoring.settings import NUMERIC_SETTINGS, settings, update_settings
from ..drift_tests import TEST_TEXT
from ..tablemodels import Column
from .common import FieldMessage, RefusalNote, RuleList, SettingsPage, muted

ACTION = "changing monitoring settings"  # as core's update_settings names it
ROLES = ("admin",)
# key: (label, what it does); the drift group first, then the alert limits
DRIFT_FIELDS = {
    "p_threshold": ("p-value threshold",
                    "KS, chi² and Z-test flag a column as drifted when p is below this"),
    "distance_threshold": ("Distance threshold",
                           "Wasserstein, Jensen-Shannon and PSI flag a column as drifted "
                           "when the distance is above this"),
    "drift_share": ("Share of drifted columns",
                    "A batch has dataset drift when at least this share of its columns "
                    "drifted"),
}
ALERT_FIELDS = {
    "metric_tolerance": ("Metric tolerance",
                         "Without a fixed gate, a batch metric alerts when it is worse than "
                         "the holdout figure by more than this"),
    "latency_p99_ms": ("Latency budget, p99 (ms)", "Logged requests slower than this alert"),
    "max_error_rate": ("Failed requests, at most", "Share of refused requests in a log"),
    "missing_rate_tolerance": ("Missing values tolerance",
                               "A column alerts when its missing share is above the training "
                               "share by more than this"),
}
NUMBER_FIELDS = {**DRIFT_FIELDS, **ALERT_FIELDS}
NUMBER_WIDTH = 160
METRICS = evaluation.CLASSIFICATION_METRICS + evaluation.REGRESSION_METRICS


def number_problem(key: str, text: str) -> str | None:
    """What core would refuse in `text` for setting `key`, named by its label."""
    label = f"{NUMBER_FIELDS[key][0]} ({key})"
    try:
        num = float(text)
    except ValueError:
        return f"{label}: {text.strip()!r} is not a number" if text.strip() else \
            f"{label}: enter a number"
    lo, hi, inclusive = NUMERIC_SETTINGS[key]
    if not (num >= lo if inclusive else num > lo) or num > hi:
        return f"{label}: {num:g} is outside {'[' if inclusive else '('}{lo:g}, {hi:g}]"
    return None


def exact(value: Any) -> str:
    """The number as text that reads back to the same float (so an untouched field is never
    taken for an edit): 0.05, 100, 1e-06."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def metrics_of(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def _read(store) -> dict[str, Any]:
    try:
        store.require_role(ACTION, *ROLES)
        refusal = None
    except LabliftError as exc:
        refusal = str(exc)
    return {"settings": settings(store), "refusal": refusal}


class MonitoringPage(SettingsPage):
    title = "Monitoring"
    store_level = True

    def __init__(self, store, parent=None):
        super().__init__(store, parent)
        self.baseline: dict[str, Any] | None = None
        self.refusal: str | None = None
        self.edits: dict[str, QLineEdit] = {}
        self.messages: dict[str, FieldMessage] = {}
        outer = QVBoxLayout(self)
        self.note = RefusalNote()
        self.status = muted(QLabel())
        outer.addWidget(self.note)
        outer.addWidget(self.status)
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        drift_box = QGroupBox("Drift")
        self._form(drift_box, DRIFT_FIELDS)
        self.tests = RuleList([Column("column", "Column"), Column("test_text", "Drift test")],
                              "Every column uses the default test (Evidently's choice by "
                              "column kind and size).", "drift test per column",
                              stretch=1)
        self.tests.changed.connect(self.changed)
        tests_box = QGroupBox("Drift test per column")
        tests_layout = QVBoxLayout(tests_box)
        tests_layout.addWidget(self.tests)
        add = QHBoxLayout()
        self.test_column = QLineEdit()
        self.test_column.setPlaceholderText("column name")
        self.test_column.setAccessibleName("column for a drift test")
        self.test_choice = QComboBox()
        for test in drift.TESTS:
            self.test_choice.addItem(TEST_TEXT.get(test, test), test)
        self.test_choice.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.test_choice.setMinimumContentsLength(6)
        self.add_test_button = QPushButton("Add")
        self.add_test_button.clicked.connect(self.add_test)
        self.test_column.returnPressed.connect(self.add_test)
        self.test_column.textChanged.connect(lambda: self.test_message.show_problem(None))
        add.addWidget(self.test_column, 1)
        add.addWidget(self.test_choice, 1)
        add.addWidget(self.add_test_button)
        self.test_message = FieldMessage()
        tests_layout.addLayout(add)
        tests_layout.addWidget(self.test_message)
        tests_layout.addWidget(muted(QLabel(
            "A test set here applies to that column in every model of the store; the "
            "ingest dialog can still choose one for a single batch.")))
        alert_box = QGroupBox("Alerts")
        alert_form = self._form(alert_box, ALERT_FIELDS)
        self.metrics_edit = QLineEdit()
        self.metrics_edit.setAccessibleName("alert_metrics")
        self.metrics_edit.setToolTip("Metrics compared with the holdout figure when no gate "
                                     "names them, comma-separated: " + ", ".join(METRICS))
        self.metrics_edit.textChanged.connect(self._check_metrics)
        self.messages["alert_metrics"] = FieldMessage()
        alert_form.addRow(QLabel("Metrics compared"),
                          self._field(self.metrics_edit, self.messages["alert_metrics"]))
        body.addWidget(drift_box)
        body.addWidget(tests_box)
        body.addWidget(alert_box)
        body.addStretch(1)
        outer.addWidget(self.body, 1)
        self.body.setEnabled(False)
        self.refresh()

    def _form(self, box: QGroupBox, fields: dict[str, tuple[str, str]]) -> QFormLayout:
        form = QFormLayout(box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for key, (label, tip) in fields.items():
            edit = QLineEdit()
            edit.setMaximumWidth(NUMBER_WIDTH)
            edit.setAccessibleName(key)
            edit.setToolTip(f"{tip} (setting monitoring.{key})")
            edit.textChanged.connect(lambda _t, k=key: self._check(k))
            self.edits[key] = edit
            self.messages[key] = FieldMessage()
            name = QLabel(label)
            name.setToolTip(edit.toolTip())
            form.addRow(name, self._field(edit, self.messages[key]))
        return form

    @staticmethod
    def _field(edit: QWidget, message: FieldMessage) -> QWidget:
        host = QWidget()
        column = QVBoxLayout(host)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(edit)
        column.addWidget(message)
        return host

    # -- reading ------------------------------------------------------------------------
    def refresh(self) -> None:
        self.read_store("the store's monitoring settings", "the monitoring settings", _read,
                        self.show_settings)

    def show_settings(self, data: dict[str, Any]) -> None:
        self.baseline, self.refusal = data["settings"], data["refusal"]
        values = self.baseline
        for key, edit in self.edits.items():
            edit.setText(exact(values[key]))
        self.metrics_edit.setText(", ".join(values.get("alert_metrics") or []))
        self.tests.set_rows([self._test_row(c, t) for c, t in (values.get("tests")
                                                               or {}).items()])
        self.status.hide()
        self.note.show_reason(self.refusal)
        self.body.setEnabled(self.refusal is None)
        self.body.setToolTip(self.refusal or "")
        self.changed.emit()

    @staticmethod
    def _test_row(column: str, test: str) -> dict[str, str]:
        return {"column": column, "test": test, "test_text": TEST_TEXT.get(test, test)}

    # -- editing ------------------------------------------------------------------------
    def _check(self, key: str) -> str | None:
        problem = number_problem(key, self.edits[key].text())
        self.messages[key].show_problem(problem)
        self.changed.emit()
        return problem

    def _metrics_problem(self) -> str | None:
        bad = [n for n in metrics_of(self.metrics_edit.text()) if n not in METRICS]
        return (f"Metrics compared (alert_metrics): {bad[0]!r} is not a metric; metrics: "
                f"{', '.join(METRICS)}") if bad else None

    def _check_metrics(self) -> str | None:
        problem = self._metrics_problem()
        self.messages["alert_metrics"].show_problem(problem)
        self.changed.emit()
        return problem

    def add_test(self) -> None:
        column = self.test_column.text().strip()
        if not column:
            self.test_message.show_problem("Column: type the name of a model input column")
            return
        test = self.test_choice.currentData()
        self.tests.add(self._test_row(column, test), same=lambda r: r["column"] == column)
        self.test_column.clear()
        self.test_message.show_problem(None)

    def changes(self) -> dict[str, Any]:
        """What differs from the store (only well-formed fields; see problems())."""
        if self.baseline is None or self.refusal is not None:
            return {}
        out: dict[str, Any] = {}
        for key, edit in self.edits.items():
            if number_problem(key, edit.text()) is None and \
                    float(edit.text()) != float(self.baseline[key]):
                out[key] = float(edit.text())
        metrics = metrics_of(self.metrics_edit.text())
        if metrics != list(self.baseline.get("alert_metrics") or []):
            out["alert_metrics"] = metrics
        tests = {r["column"]: r["test"] for r in self.tests.rows()}
        if tests != dict(self.baseline.get("tests") or {}):
            out["tests"] = tests
        return out

    def _problems(self, show: bool) -> list[str]:
        if self.baseline is None or self.refusal is not None:
            return []
        found = {key: number_problem(key, edit.text()) for key, edit in self.edits.items()}
        found["alert_metrics"] = self._metrics_problem()
        typed = self.test_column.text().strip()
        found["tests"] = (f"Column: {typed!r} is typed but not added; press Add, or clear "
                          f"the column") if typed else None
        if show:
            for key, problem in found.items():
                (self.test_message if key == "tests" else self.messages[key]).show_problem(
                    problem)
        return [p for p in found.values() if p]

    def has_changes(self) -> bool:
        return bool(self.changes() or self._problems(show=False))  # a mistake: Apply names it

    def problems(self) -> list[str]:
        return self._problems(show=True)

    def prepare(self) -> dict[str, Any] | None:
        return self.changes() or None

    def write(self, store, payload: dict[str, Any]) -> dict[str, Any]:
        return update_settings(store, payload)

    def written(self, result: Any) -> None:
        if result is not None:
            self.show_settings({"settings": result, "refusal": self.refusal})
