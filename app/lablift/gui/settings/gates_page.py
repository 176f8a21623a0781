"""Settings → Gates: the store's default metric gates (for models without gates of their own)
and fairness gates (where a run named a sensitive column). A gate is checked by
core.gates.validate_gate as it is added; the lists are written by the dialog through
core.registry.set_policy (admin, audited as policy.gates)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QVBoxLayout, QWidget)

from ...core import evaluation, fairness, gates, registry
from ...core.errors import LabliftError
from ..tablemodels import Column
from .common import FieldMessage, RefusalNote, RuleList, SettingsPage, muted

ACTION = "setting the gate policy"  # as core's set_policy names it
ROLES = ("admin",)
FIELD_WIDTH = 280
PRODUCTION = "production"  # the rule combo's data for "no worse than production"
RULES = ((">=", "at least (>=)"), ("<=", "at most (<=)"),
         (PRODUCTION, "no worse than production"))


def applies_to(metric: str) -> str:
    """Which runs a store gate is checked on (a setting gate only applies to its task)."""
    base = metric[3:] if metric.startswith("cv.") else metric
    if base in evaluation.REGRESSION_METRICS or metric in fairness.REGRESSION_SUMMARY:
        return "regressors"
    return "classifiers"


def gate_row(gate: dict[str, Any]) -> dict[str, Any]:
    return {"gate": gate, "text": gates.describe(gate), "applies": applies_to(gate["metric"])}


class GateEditor(QWidget):
    """One list of gates with an add row: metric, rule, value, Add; the core's message for a
    gate it refuses is shown under the row, naming the field."""

    changed = Signal()

    def __init__(self, metrics: list[str], rules, fairness_only: bool, empty_text: str,
                 accessible: str, parent=None):
        super().__init__(parent)
        self.fairness_only = fairness_only
        self.list = RuleList([Column("text", "Gate"), Column("applies", "Checked on")],
                             empty_text, accessible)
        self.list.changed.connect(self.changed)
        self.metric = QComboBox()
        self.metric.addItems(metrics)
        self.metric.setAccessibleName(f"{accessible}: metric")
        self.rule = QComboBox()
        for data, text in rules:
            self.rule.addItem(text, data)
        self.rule.setAccessibleName(f"{accessible}: rule")
        self.value = QLineEdit()
        self.value.setAccessibleName(f"{accessible}: threshold")
        self.value.setPlaceholderText("threshold")
        self.value_label = QLabel("Threshold")
        self.add_button = QPushButton("Add")
        self.message = FieldMessage()
        for combo in (self.metric, self.rule):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        self.rule.currentIndexChanged.connect(self._rule_changed)
        self.add_button.clicked.connect(self.add)
        self.value.returnPressed.connect(self.add)
        for signal in (self.value.textChanged, self.metric.currentIndexChanged,
                       self.rule.currentIndexChanged):
            signal.connect(lambda *_: self.message.show_problem(None))  # a new attempt
        # one field a row: the page stays readable in a narrow dialog
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("Metric", self.metric)
        form.addRow("Rule", self.rule)
        value_row = QHBoxLayout()
        value_row.addWidget(self.value, 1)
        value_row.addWidget(self.add_button)
        value_row.addStretch(0)
        form.addRow(self.value_label, value_row)
        for field in (self.metric, self.rule, self.value):
            field.setMaximumWidth(FIELD_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(form)
        layout.addWidget(self.message)

    def _rule_changed(self) -> None:
        production = self.rule.currentData() == PRODUCTION
        self.value_label.setText("Tolerance" if production else "Threshold")
        self.value.setPlaceholderText("0" if production else "threshold")
        self.value.setAccessibleName(self.value.accessibleName().rsplit(":", 1)[0]
                                     + (": tolerance" if production else ": threshold"))

    def typed(self) -> dict[str, Any]:
        metric, rule, text = self.metric.currentText(), self.rule.currentData(), \
            self.value.text().strip()
        if rule == PRODUCTION:
            return {"metric": metric, "no_worse_than": PRODUCTION, "tolerance": text or 0.0}
        return {"metric": metric, "op": rule, "threshold": text}

    def check(self) -> dict[str, Any]:
        """The typed gate as core normalises it; LabliftError naming the field if refused."""
        gate = gates.validate_gate(self.typed())
        if self.fairness_only and not gates.is_fairness_metric(gate["metric"]):
            raise LabliftError(f"fairness gates must name fairness metrics, not "
                               f"{gate['metric']}")
        return gate

    def add(self) -> bool:
        try:
            gate = self.check()
        except LabliftError as exc:
            self.message.show_problem(str(exc))
            return False
        # one gate per metric and rule: a new threshold replaces the old one
        self.list.add(gate_row(gate), same=lambda r: r["gate"]["metric"] == gate["metric"]
                      and r["gate"].get("op") == gate.get("op"))
        self.value.clear()
        self.message.show_problem(None)
        return True

    def gates(self) -> list[dict[str, Any]]:
        return [r["gate"] for r in self.list.rows()]

    def pending_problem(self) -> str | None:
        """A value typed but not added: Apply refuses it rather than guess."""
        if not self.value.text().strip():
            return None
        try:
            self.check()
        except LabliftError as exc:
            return str(exc)
        return (f"{self.value_label.text()}: {self.value.text().strip()!r} is typed but not "
                f"added; press Add, or clear it")


def _read(store) -> dict[str, Any]:
    try:
        store.require_role(ACTION, *ROLES)
        refusal = None
    except LabliftError as exc:
        refusal = str(exc)
    return {"policy": registry.policy(store), "refusal": refusal}


class GatesPage(SettingsPage):
    title = "Gates"
    store_level = True

    def __init__(self, store, parent=None):
        super().__init__(store, parent)
        self.baseline: dict[str, list] | None = None
        self.refusal: str | None = None
        outer = QVBoxLayout(self)
        self.note = RefusalNote()
        self.status = muted(QLabel())
        outer.addWidget(self.note)
        outer.addWidget(self.status)
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        metrics = list(gates.HOLDOUT_METRICS) + [f"cv.{m}" for m in gates.HOLDOUT_METRICS]
        default_box = QGroupBox("Default metric gates")
        box = QVBoxLayout(default_box)
        box.addWidget(muted(QLabel("Checked when a run is registered, for models that have no "
                                   "gates of their own. cv.NAME is the cross-validated "
                                   "mean.")))
        self.default = GateEditor(metrics, RULES, False, "No default gates: registering says "
                                  "that none are configured.", "default gates")
        box.addWidget(self.default)
        fair_box = QGroupBox("Fairness gates")
        box = QVBoxLayout(fair_box)
        box.addWidget(muted(QLabel("Checked where the run named a sensitive column, unless the "
                                   "model's own gates name the same metric.")))
        self.fairness = GateEditor(list(fairness.SUMMARY_METRICS), RULES[:2], True,
                                   "No fairness gates: the fairness report is informational.",
                                   "fairness gates")
        box.addWidget(self.fairness)
        for editor in (self.default, self.fairness):
            editor.changed.connect(self.changed)
            editor.value.textChanged.connect(self.changed)
        body.addWidget(default_box)
        body.addWidget(fair_box)
        body.addStretch(1)
        outer.addWidget(self.body, 1)
        self.body.setEnabled(False)
        self.refresh()

    def refresh(self) -> None:
        self.read_store("the store's gate policy", "the gate policy", _read, self.show_policy)

    def show_policy(self, data: dict[str, Any]) -> None:
        policy, self.refusal = data["policy"], data["refusal"]
        self.baseline = {k: [gates.validate_gate(g) for g in policy.get(k) or []]
                         for k in ("default_gates", "fairness_gates")}
        self.default.list.set_rows([gate_row(g) for g in self.baseline["default_gates"]])
        self.fairness.list.set_rows([gate_row(g) for g in self.baseline["fairness_gates"]])
        self.status.hide()
        self.note.show_reason(self.refusal)
        self.body.setEnabled(self.refusal is None)
        self.body.setToolTip(self.refusal or "")
        self.changed.emit()

    def _editors(self) -> dict[str, GateEditor]:
        return {"default_gates": self.default, "fairness_gates": self.fairness}

    def changes(self) -> dict[str, list]:
        if self.baseline is None or self.refusal is not None:
            return {}
        return {key: editor.gates() for key, editor in self._editors().items()
                if editor.gates() != self.baseline[key]}

    def has_changes(self) -> bool:
        return bool(self.changes()) or any(e.value.text().strip()
                                           for e in self._editors().values())

    def problems(self) -> list[str]:
        if self.baseline is None or self.refusal is not None:
            return []
        found = []
        for editor in self._editors().values():
            problem = editor.pending_problem()
            editor.message.show_problem(problem)
            if problem:
                found.append(problem)
        return found

    def prepare(self) -> dict[str, list] | None:
        return self.changes() or None

    def write(self, store, payload: dict[str, list]) -> dict[str, Any]:
        return registry.set_policy(store, **payload)

    def written(self, result: Any) -> None:
        self.show_policy({"policy": result, "refusal": self.refusal})
